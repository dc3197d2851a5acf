package webhooks

// Events (render.succeeded, render.failed, publish.executed,
// publish.failed, asset.ready, asset.failed, webhook.test, key.leaked,
// key.revoked, key.rotated, key.expiring) and their publisher. One publication goes to
// two queues: the public events queue, for customers' AWS-side automations,
// which nothing in the stack consumes, and the internal webhook queue, which
// the webhook worker fans out to the subscribed endpoints.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/ids"
)

// Event types.
const (
	RenderSucceeded = "render.succeeded"
	RenderFailed    = "render.failed"
	PublishExecuted = "publish.executed"
	PublishFailed   = "publish.failed"
	AssetReady      = "asset.ready"
	AssetFailed     = "asset.failed"
	WebhookTest     = "webhook.test"
	// EndpointDisabled: an endpoint was disabled after failing for
	// FailingLimit, or because it answered 410.
	EndpointDisabled = "webhook.endpoint.disabled"
	// MessageExhausted: a delivery failed its last scheduled attempt.
	MessageExhausted = "webhook.message.exhausted"
	// Key events (package keysapi): a key found in public code and revoked
	// (key.leaked, with key.revoked), revoked, rotated, or about to expire.
	KeyLeaked   = "key.leaked"
	KeyRevoked  = "key.revoked"
	KeyRotated  = "key.rotated"
	KeyExpiring = "key.expiring"
	// Wildcard subscribes an endpoint to every type, future ones included.
	Wildcard = "*"
)

// Types are the types an endpoint may subscribe to, Wildcard aside.
func Types() []string {
	return []string{RenderSucceeded, RenderFailed, PublishExecuted, PublishFailed, AssetReady, AssetFailed, WebhookTest,
		EndpointDisabled, MessageExhausted, KeyLeaked, KeyRevoked, KeyRotated, KeyExpiring}
}

// Known reports whether t is a type or the wildcard.
func Known(t string) bool { return t == Wildcard || slices.Contains(Types(), t) }

// MaxSize bounds the JSON of an event: receivers (and SQS, and the delivery
// log that stores each payload) can count on less than 20 KB.
const MaxSize = 20 << 10

// TimeFormat is the timestamp format of events, the API's time format.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// IDPrefix starts event ids.
const IDPrefix = "evt"

// Event is one event: the payload {id, type, timestamp, data} that webhooks
// deliver byte for byte and the events queue carries.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	// Links are objects the data points to, made into fresh URLs each
	// time the event is sent (Linker); they travel beside the payload.
	Links []Link `json:"-"`
}

// NewEvent builds an event of type typ at now with data marshalled to JSON and
// a fresh time-ordered id (entropy from r; crypto/rand when nil). A caller
// that may publish twice (a retried worker) should build the event once and
// publish that same value: its id is what receivers deduplicate on.
func NewEvent(typ string, data any, now time.Time, r io.Reader) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s event data: %w", typ, err)
	}
	now = now.UTC()
	id, err := ids.New(IDPrefix, now, r)
	if err != nil {
		return Event{}, err
	}
	return Event{ID: id, Type: typ, Timestamp: now.Format(TimeFormat), Data: raw}, nil
}

// Marshal is the event's JSON, checked against MaxSize.
func (e Event) Marshal() ([]byte, error) {
	if e.ID == "" || e.Type == "" || e.Timestamp == "" {
		return nil, errors.New("event: id, type and timestamp are required")
	}
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("{}")
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	if len(b) >= MaxSize {
		return nil, fmt.Errorf("event %s (%s) is %d bytes, the limit is %d", e.ID, e.Type, len(b), MaxSize)
	}
	return b, nil
}

// Route says whose event it is. It travels as message attributes, so
// consumers route without parsing bodies, and WebhookURL (the per-video URL
// given on POST /v1/videos) never shows in the payload.
type Route struct {
	Workspace   string
	Environment string // "live" or "test"
	WebhookURL  string // optional
	Exclude     string // an endpoint that must not get the event; optional
}

// Message attribute names on both queues.
const (
	AttrType        = "type"
	AttrWorkspace   = "workspace"
	AttrEnvironment = "environment"
	AttrWebhookURL  = "webhookUrl"
	// AttrEndpoint, only on the webhook queue, restricts delivery to one
	// endpoint (POST /v1/webhooks/{id}/test).
	AttrEndpoint = "endpoint"
	// AttrExclude keeps an event from one endpoint: the one an operational
	// event is about.
	AttrExclude = "excludeEndpoint"
	// AttrLinks, only on the webhook queue, carries the event's links (JSON).
	AttrLinks = "links"
)

// Sender is the part of the SQS client the publisher uses.
type Sender interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Publisher sends events to the events queue and the webhook queue.
type Publisher struct {
	SQS             Sender
	EventsQueueURL  string
	WebhookQueueURL string
	// Links signs the links of events for the events queue; the webhook
	// queue gets them as references, signed by the worker at each attempt.
	Links *Linker
}

// Publish sends ev to both queues, concurrently so that it costs one round
// trip of latency. It fails if either send fails; publishing the same event
// again is then safe: webhook deliveries are keyed by event id and endpoint,
// and events-queue consumers deduplicate on id as with any SQS at-least-once
// delivery.
func (p Publisher) Publish(ctx context.Context, ev Event, r Route) error {
	if p.SQS == nil || p.EventsQueueURL == "" || p.WebhookQueueURL == "" {
		return errors.New("publish: the publisher needs SQS and both queue URLs")
	}
	toWorker, err := message(ev, r)
	if err != nil {
		return err
	}
	toWorker.QueueUrl = aws.String(p.WebhookQueueURL)
	toEvents := *toWorker
	toEvents.QueueUrl = aws.String(p.EventsQueueURL)
	if len(ev.Links) > 0 {
		body, err := p.Links.Render(ctx, []byte(*toWorker.MessageBody), ev.Links)
		if err != nil {
			return fmt.Errorf("publish %s %s: %w", ev.Type, ev.ID, err)
		}
		toEvents.MessageBody = aws.String(string(body))
		toEvents.MessageAttributes = maps.Clone(toWorker.MessageAttributes)
		delete(toEvents.MessageAttributes, AttrLinks)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, m := range []*sqs.SendMessageInput{&toEvents, toWorker} {
		wg.Go(func() {
			if _, err := p.SQS.SendMessage(ctx, m); err != nil {
				errs[i] = fmt.Errorf("publish %s %s to %s: %w", ev.Type, ev.ID, aws.ToString(m.QueueUrl), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// SendToEndpoint puts ev on the webhook queue for one endpoint only; the
// events queue never sees it. It is how webhook.test reaches just the
// endpoint being tested.
func (p Publisher) SendToEndpoint(ctx context.Context, ev Event, r Route, endpointID string) error {
	if p.SQS == nil || p.WebhookQueueURL == "" || endpointID == "" {
		return errors.New("send to endpoint: the publisher needs SQS, the webhook queue URL and an endpoint")
	}
	in, err := message(ev, r)
	if err != nil {
		return err
	}
	in.QueueUrl = aws.String(p.WebhookQueueURL)
	in.MessageAttributes[AttrEndpoint] = attr(endpointID)
	if _, err := p.SQS.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send %s %s to endpoint %s: %w", ev.Type, ev.ID, endpointID, err)
	}
	return nil
}

func attr(v string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func message(ev Event, r Route) (*sqs.SendMessageInput, error) {
	if r.Workspace == "" || r.Environment == "" {
		return nil, fmt.Errorf("publish %s: route needs a workspace and an environment", ev.ID)
	}
	body, err := ev.Marshal()
	if err != nil {
		return nil, err
	}
	attrs := map[string]sqstypes.MessageAttributeValue{
		AttrType: attr(ev.Type), AttrWorkspace: attr(r.Workspace), AttrEnvironment: attr(r.Environment),
	}
	if r.WebhookURL != "" {
		attrs[AttrWebhookURL] = attr(r.WebhookURL)
	}
	if r.Exclude != "" {
		attrs[AttrExclude] = attr(r.Exclude)
	}
	if len(ev.Links) > 0 {
		links, err := json.Marshal(ev.Links)
		if err != nil {
			return nil, fmt.Errorf("encode links of %s: %w", ev.ID, err)
		}
		attrs[AttrLinks] = attr(string(links))
	}
	return &sqs.SendMessageInput{MessageBody: aws.String(string(body)), MessageAttributes: attrs}, nil
}

// FromMessage reads an event and its route back from an SQS message body
// and its attributes (the Lambda event's shape), as the worker receives it.
func FromMessage(body string, attrs map[string]string) (Event, Route, error) {
	var ev Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return Event{}, Route{}, fmt.Errorf("decode event: %w", err)
	}
	if ev.ID == "" || ev.Type == "" {
		return Event{}, Route{}, errors.New("decode event: no id or type")
	}
	r := Route{Workspace: attrs[AttrWorkspace], Environment: attrs[AttrEnvironment], WebhookURL: attrs[AttrWebhookURL],
		Exclude: attrs[AttrExclude]}
	if r.Workspace == "" || r.Environment == "" {
		return Event{}, Route{}, fmt.Errorf("event %s: no workspace or environment attribute", ev.ID)
	}
	if raw := attrs[AttrLinks]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &ev.Links); err != nil {
			return Event{}, Route{}, fmt.Errorf("event %s: decode links: %w", ev.ID, err)
		}
	}
	return ev, r, nil
}
