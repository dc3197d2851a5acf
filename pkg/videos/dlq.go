package videos

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apikey"
)

// DLQ handles the render dead-letter queue: a message lands there after
// its render failed maxReceiveCount times, so its video is marked failed
// (retries_exhausted), its slot released, and render.failed emitted. The
// message is then done with; one that cannot be read is logged and dropped,
// since nothing else could read it either.
type DLQ struct {
	Store  *Store
	Events *Emitter
	Logger *slog.Logger
}

// Handle is the SQS handler of functions/render-dlq.
func (d *DLQ) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		if err := d.process(ctx, rec); err != nil {
			d.Logger.ErrorContext(ctx, "dead-lettered render will be retried", "message", rec.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

func (d *DLQ) process(ctx context.Context, rec events.SQSMessage) error {
	var m Message
	if err := json.Unmarshal([]byte(rec.Body), &m); err != nil || m.VideoID == "" || m.Workspace == "" {
		d.Logger.ErrorContext(ctx, "unreadable render message in the DLQ; dropped", "message", rec.MessageId, "bytes", len(rec.Body))
		return nil
	}
	env := apikey.Env(m.Environment)
	v, err := d.Store.Get(ctx, m.Workspace, env, m.VideoID)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !Terminal(v.Status) {
		e := Error{Code: ErrRetriesExhausted, Message: "The render failed repeatedly and was given up."}
		ok, err := d.Store.Fail(ctx, v, e)
		if err != nil {
			return err
		}
		if ok {
			d.Logger.WarnContext(ctx, "render gave up after retries", "video", v.ID, "workspace", v.Workspace, "environment", v.Env)
		}
		if err := d.Store.ReleaseSlot(ctx, m.Workspace, env, v.Slot, v.LeaseToken); err != nil {
			return err
		}
		// Read what it became (failed now, or finished meanwhile).
		v, err = d.Store.Get(ctx, m.Workspace, env, m.VideoID)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return Emit(ctx, d.Store, d.Events, v)
}
