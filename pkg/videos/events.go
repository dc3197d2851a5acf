package videos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/webhooks"
)

// EventData is the data of render.succeeded and render.failed.
type EventData struct {
	VideoID         string   `json:"videoId"`
	Workspace       string   `json:"workspace"`
	Environment     string   `json:"environment"`
	Status          string   `json:"status"`
	DurationSeconds *float64 `json:"durationSeconds,omitempty"`
	SizeBytes       *int64   `json:"sizeBytes,omitempty"`
	// DownloadURL is a presigned link valid DownloadTTL from the event's
	// timestamp; later, GET /v1/videos/{id}/download gives a fresh one.
	DownloadURL       string `json:"downloadUrl,omitempty"`
	DownloadExpiresAt string `json:"downloadExpiresAt,omitempty"`
	Error             *Error `json:"error,omitempty"`
}

// Emitter publishes the events of finished videos.
type Emitter struct {
	Publisher webhooks.Publisher
	Now       func() time.Time
	// Presigner and Bucket sign the download link of render.succeeded;
	// without them the event carries none.
	Presigner Presigner
	Bucket    string
}

// Terminal publishes the event of a finished video: render.succeeded or
// render.failed (cancelled videos emit nothing). The event's id and
// timestamp derive from the video and its finish time, so publishing again
// after a partial failure sends the very same event, which receivers
// deduplicate on its id.
func (e *Emitter) Terminal(ctx context.Context, v Video) error {
	d := EventData{VideoID: v.ID, Workspace: v.Workspace, Environment: string(v.Env), Status: v.Status}
	typ := webhooks.RenderSucceeded
	switch v.Status {
	case Succeeded:
		dur, size := v.Duration, v.SizeBytes
		d.DurationSeconds, d.SizeBytes = &dur, &size
		if e.Presigner != nil && v.S3Key != "" {
			req, err := e.Presigner.PresignGetObject(ctx, &s3.GetObjectInput{
				Bucket: &e.Bucket, Key: &v.S3Key,
				ResponseContentType:        aws.String("video/mp4"),
				ResponseContentDisposition: aws.String(`attachment; filename="` + v.ID + `.mp4"`),
			}, s3.WithPresignExpires(DownloadTTL))
			if err != nil {
				return fmt.Errorf("presign the download link of %s: %w", v.ID, err)
			}
			d.DownloadURL = req.URL
			d.DownloadExpiresAt = e.Now().Add(DownloadTTL).UTC().Format(TimeFormat)
		}
	case Failed:
		typ = webhooks.RenderFailed
		d.Error = v.Error
	default:
		return nil
	}
	at := e.Now()
	if v.FinishedAt != nil {
		at = *v.FinishedAt
	}
	seed := sha256.Sum256([]byte(typ + "/" + v.ID))
	ev, err := webhooks.NewEvent(typ, d, at, bytes.NewReader(seed[:]))
	if err != nil {
		return err
	}
	return e.Publisher.Publish(ctx, ev, webhooks.Route{Workspace: v.Workspace, Environment: string(v.Env), WebhookURL: v.WebhookURL})
}
