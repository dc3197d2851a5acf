package videos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"time"

	"github.com/framegate/framegate/pkg/event"
)

// EventData is the data of render.succeeded and render.failed.
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
	Publisher event.Publisher
	Now       func() time.Time
}

// Terminal publishes the event of a finished video: render.succeeded or
// render.failed (cancelled videos emit nothing). The event's id and
// timestamp derive from the video and its finish time, so publishing again
// after a partial failure sends the very same event, which receivers
// deduplicate on its id.
func (e *Emitter) Terminal(ctx context.Context, v Video) error {
	d := EventData{VideoID: v.ID, Workspace: v.Workspace, Environment: string(v.Env), Status: v.Status}
	typ := event.RenderSucceeded
	switch v.Status {
	case Succeeded:
		dur, size := v.Duration, v.SizeBytes
		d.DurationSeconds, d.SizeBytes = &dur, &size
	case Failed:
		typ = event.RenderFailed
		d.Error = v.Error
	default:
		return nil
	}
	at := e.Now()
	if v.FinishedAt != nil {
		at = *v.FinishedAt
	}
	seed := sha256.Sum256([]byte(typ + "/" + v.ID))
	ev, err := event.New(typ, d, at, bytes.NewReader(seed[:]))
	if err != nil {
		return err
	}
	return e.Publisher.Publish(ctx, ev, event.Route{Workspace: v.Workspace, Environment: string(v.Env), WebhookURL: v.WebhookURL})
}
