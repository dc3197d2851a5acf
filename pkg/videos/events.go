package videos

import (
	"context"
	"path"
	"time"

	"github.com/framegate/framegate/pkg/webhooks"
)

// EventData is the data of render.succeeded and render.failed. The
// download and thumbnail links are not here: the event carries links to
// the video and its poster (webhooks.Link), which become downloadUrl,
// downloadExpiresAt and thumbnailUrl, signed when the event is sent, so
// they work when it arrives, retries included.
type EventData struct {
	VideoID         string   `json:"videoId"`
	Workspace       string   `json:"workspace"`
	Environment     string   `json:"environment"`
	Status          string   `json:"status"`
	DurationSeconds *float64 `json:"durationSeconds,omitempty"`
	SizeBytes       *int64   `json:"sizeBytes,omitempty"`
	Error           *Error   `json:"error,omitempty"`
}

// Emitter publishes the events of finished videos.
type Emitter struct {
	Publisher webhooks.Publisher
	Now       func() time.Time
}

// DownloadLink is the link of render.succeeded to the video's file.
func DownloadLink(v Video) webhooks.Link {
	ct, _ := mediaType(v.S3Key, v.ID)
	return webhooks.Link{Field: "downloadUrl", ExpiresField: "downloadExpiresAt", Key: v.S3Key,
		ContentType: ct, Filename: v.ID + path.Ext(v.S3Key)}
}

// ThumbnailLink is the link of render.succeeded to the video's JPEG
// poster; it expires with the download link.
func ThumbnailLink(v Video) webhooks.Link {
	return webhooks.Link{Field: "thumbnailUrl", Key: v.ThumbnailKey, ContentType: "image/jpeg", Filename: v.ID + ".jpg"}
}

// Terminal publishes the event of a finished video: render.succeeded or
// render.failed (cancelled videos emit nothing). The event's id and
// timestamp derive from the video and its finish time, so publishing again
// after a partial failure sends the very same event, which receivers
// deduplicate on its id.
func (e *Emitter) Terminal(ctx context.Context, v Video) error {
	d := EventData{VideoID: v.ID, Workspace: v.Workspace, Environment: string(v.Env), Status: v.Status}
	typ := webhooks.RenderSucceeded
	var links []webhooks.Link
	switch v.Status {
	case Succeeded:
		dur, size := v.Duration, v.SizeBytes
		d.DurationSeconds, d.SizeBytes = &dur, &size
		if v.S3Key != "" && e.Publisher.Links != nil {
			links = append(links, DownloadLink(v))
		}
		if v.ThumbnailKey != "" && e.Publisher.Links != nil {
			links = append(links, ThumbnailLink(v))
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
	ev, err := webhooks.SeededEvent(typ, v.ID, d, at)
	if err != nil {
		return err
	}
	ev.Links = links
	return e.Publisher.Publish(ctx, ev, webhooks.Route{Workspace: v.Workspace, Environment: string(v.Env), WebhookURL: v.WebhookURL})
}
