package videos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/ids"
)

// Event types on the events queue.
const (
	EventSucceeded = "render.succeeded"
	EventFailed    = "render.failed"
)

// Event is one message on the events queue; the webhooks deliver it as is.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp string    `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData describes the video.
type EventData struct {
	VideoID         string   `json:"videoId"`
	Workspace       string   `json:"workspace"`
	Environment     string   `json:"environment"`
	Status          string   `json:"status"`
	DurationSeconds *float64 `json:"durationSeconds,omitempty"`
	SizeBytes       *int64   `json:"sizeBytes,omitempty"`
	Error           *Error   `json:"error,omitempty"`
}

// Emitter puts events on the events queue.
type Emitter struct {
	Queue    Queue
	QueueURL string
	Now      func() time.Time
	Rand     io.Reader
}

// Terminal emits the event of a finished video (succeeded or failed;
// cancelled videos emit nothing). The workspace, environment and per-video
// webhook URL travel as message attributes too, so the webhooks worker can
// route without parsing, and the URL never shows in the payload.
func (e *Emitter) Terminal(ctx context.Context, v Video) error {
	d := EventData{VideoID: v.ID, Workspace: v.Workspace, Environment: string(v.Env), Status: v.Status}
	typ := EventSucceeded
	switch v.Status {
	case Succeeded:
		dur, size := v.Duration, v.SizeBytes
		d.DurationSeconds, d.SizeBytes = &dur, &size
	case Failed:
		typ = EventFailed
		d.Error = v.Error
	default:
		return nil
	}
	now := e.Now().UTC()
	id, err := ids.New("evt", now, e.Rand)
	if err != nil {
		return err
	}
	body, err := json.Marshal(Event{ID: id, Type: typ, Timestamp: now.Format(TimeFormat), Data: d})
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	attr := func(x string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(x)}
	}
	attrs := map[string]sqstypes.MessageAttributeValue{
		"type": attr(typ), "workspace": attr(v.Workspace), "environment": attr(string(v.Env)),
	}
	if v.WebhookURL != "" {
		attrs["webhookUrl"] = attr(v.WebhookURL)
	}
	if _, err := e.Queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &e.QueueURL, MessageBody: aws.String(string(body)), MessageAttributes: attrs,
	}); err != nil {
		return fmt.Errorf("send %s event for %s: %w", typ, v.ID, err)
	}
	return nil
}
