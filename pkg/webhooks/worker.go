package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/lambdas"
)

// FailingLimit is how long an endpoint may fail without a single success
// before it is disabled.
const FailingLimit = 5 * 24 * time.Hour

// Lease is how long a claimed delivery belongs to one worker: longer than
// the function's timeout, so a live worker always records before it
// lapses, and shorter than the queue's visibility timeout, so the message
// of a crashed worker comes back to a delivery it can claim again.
const Lease = 90 * time.Second

// maxParallel bounds concurrent POSTs in one invocation.
const maxParallel = 32

// Worker is the webhook queue's consumer. It reads two kinds of messages:
// events (from event.Publisher), which it fans out into one delivery per
// subscribed endpoint and attempts at once, and jobs (Job, attribute
// kind=attempt), each one later attempt of one delivery.
type Worker struct {
	Store    *Store
	Client   *Client
	Queue    Queue
	Schedule Schedule
	// Links signs the links of events at each attempt.
	Links *Linker
	// Events publishes operational events (Publisher).
	Events interface {
		Publish(ctx context.Context, ev Event, r Route) error
	}
	FailingLimit time.Duration
	Now          func() time.Time
	Log          *slog.Logger
}

// errLater asks SQS to bring a message back later.
var errLater = errors.New("delivery record not written yet")

// Handle is the SQS handler: messages that could not be processed (a store
// or queue error) are reported for SQS to retry, the rest are done,
// whether their webhooks succeeded or not (the schedule retries those).
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	sem := make(chan struct{}, maxParallel)
	return lambdas.EachMessage(ev, func(rec events.SQSMessage) error {
		err := w.handle(ctx, rec, sem)
		if err != nil && !errors.Is(err, errLater) {
			w.Log.ErrorContext(ctx, "webhook message failed; SQS will retry it", "message_id", rec.MessageId, "err", err)
		}
		return err
	}), nil
}

func attributes(rec events.SQSMessage) map[string]string {
	out := make(map[string]string, len(rec.MessageAttributes))
	for k, v := range rec.MessageAttributes {
		if v.StringValue != nil {
			out[k] = *v.StringValue
		}
	}
	return out
}

func (w *Worker) handle(ctx context.Context, rec events.SQSMessage, sem chan struct{}) error {
	attrs := attributes(rec)
	if attrs[AttrKind] == KindRecover {
		var r Recovery
		if err := json.Unmarshal([]byte(rec.Body), &r); err != nil {
			return fmt.Errorf("decode recovery: %w", err) // to the DLQ after the redrive count
		}
		sem <- struct{}{}
		defer func() { <-sem }()
		return w.runRecovery(ctx, r)
	}
	if attrs[AttrKind] == KindAttempt {
		var j Job
		if err := json.Unmarshal([]byte(rec.Body), &j); err != nil {
			return fmt.Errorf("decode job: %w", err) // to the DLQ after the redrive count
		}
		sem <- struct{}{}
		defer func() { <-sem }()
		return w.job(ctx, j)
	}
	ev, route, err := FromMessage(rec.Body, attrs)
	if err != nil {
		return err
	}
	if len(rec.Body) >= MaxSize {
		return fmt.Errorf("event %s is %d bytes, over the limit", ev.ID, len(rec.Body))
	}
	return w.fanOut(ctx, ev, route, attrs[AttrEndpoint], []byte(rec.Body), sem)
}

// target is one destination of an event.
type target struct {
	ep  Endpoint
	url string // per-video URL; "" for the endpoint's own
	key string // what the delivery id is derived from
}

// fanOut creates one delivery per destination and attempts each at once.
// The payload is the message body byte for byte, as the publisher encoded it.
func (w *Worker) fanOut(ctx context.Context, ev Event, route Route, only string, body []byte, sem chan struct{}) error {
	var targets []target
	switch {
	case only != "":
		ep, err := w.Store.GetEndpoint(ctx, route.Workspace, route.Environment, only)
		if apierr.From(err).Code == apierr.NotFound {
			return nil // deleted since: nothing to do
		}
		if err != nil {
			return err
		}
		if ep.Enabled {
			targets = append(targets, target{ep: ep, key: ep.ID})
		}
	default:
		eps, err := w.Store.AllEndpoints(ctx, route.Workspace, route.Environment)
		if err != nil {
			return err
		}
		for _, ep := range eps {
			if ep.Kind == KindEndpoint && ep.Enabled && ep.Subscribed(ev.Type) && ep.ID != route.Exclude {
				targets = append(targets, target{ep: ep, key: ep.ID})
			}
		}
		if route.WebhookURL != "" && ev.Type != WebhookTest {
			vu, err := w.Store.VideoURLs(ctx, route.Workspace, route.Environment)
			if err != nil {
				return err
			}
			if vu.Enabled {
				targets = append(targets, target{ep: vu, url: route.WebhookURL, key: "url:" + route.WebhookURL})
			}
		}
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = w.first(ctx, ev, t, body)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// first creates the delivery of ev to t and makes its first attempt. A
// delivery that exists already belongs to an earlier copy of this message:
// it is attempted only if that copy died before attempting (its lease
// lapsed with no attempt made).
func (w *Worker) first(ctx context.Context, ev Event, t target, body []byte) error {
	now := w.Now().UTC()
	d := Delivery{ID: DeliveryID(ev.ID, t.key), Workspace: t.ep.Workspace, Env: t.ep.Env, EndpointID: t.ep.ID,
		EventID: ev.ID, EventType: ev.Type, URL: t.url, Payload: body, Links: ev.Links, Status: Pending,
		CreatedAt: now.Truncate(time.Millisecond)}
	created, err := w.Store.CreateDelivery(ctx, d, now.Add(Lease))
	if err != nil {
		return err
	}
	if !created {
		var ok bool
		if d, ok, err = w.Store.Claim(ctx, d.Workspace, d.Env, d.EndpointID, d.ID, 0, false, now.Add(Lease)); err != nil || !ok {
			return err
		}
	}
	_, err = w.attempt(ctx, d, t.ep, false, false)
	return err
}

// job runs one scheduled attempt.
func (w *Worker) job(ctx context.Context, j Job) error {
	now := w.Now()
	if wait := time.UnixMilli(j.NotBefore).Sub(now); wait >= time.Second {
		return w.Queue.Schedule(ctx, j, wait) // a hop of a wait longer than SQS's delay
	}
	d, ok, err := w.Store.Claim(ctx, j.Workspace, j.Env, j.Endpoint, j.Delivery, j.Attempts, j.Manual, now.Add(Lease))
	if err != nil {
		return err
	}
	if !ok {
		// A duplicate or superseded job, or one that overtook the record
		// of the attempt that scheduled it: only the last comes back.
		cur, err := w.Store.GetDelivery(ctx, j.Workspace, j.Env, j.Endpoint, j.Delivery)
		if err == nil && cur.Status == Pending && cur.AttemptCount < j.Attempts {
			return errLater
		}
		return nil
	}
	ep, err := w.Store.GetEndpoint(ctx, j.Workspace, j.Env, j.Endpoint)
	switch {
	case apierr.From(err).Code == apierr.NotFound:
		_, err = w.Store.Record(ctx, d, Attempt{At: now.UTC(), Error: "the endpoint was deleted", Manual: j.Manual}, Failed, nil)
		return err
	case err != nil:
		return err
	}
	_, err = w.attempt(ctx, d, ep, j.Manual, d.Status != Pending)
	return err
}

// attempt sends a claimed delivery once, schedules the next attempt when
// one is due, updates the endpoint's health and records the outcome, which
// it returns. Everything that may fail comes before the record: if
// queueing the next job or publishing an operational event fails, the
// message is retried and the attempt with it (the events have the same
// ids again); the record never promises an attempt that no message will
// make, nor hides an event that was never published.
func (w *Worker) attempt(ctx context.Context, d Delivery, ep Endpoint, manual, wasDone bool) (Outcome, error) {
	now := w.Now().UTC()
	if !ep.Enabled && !manual {
		_, err := w.Store.Record(ctx, d, Attempt{At: now, Error: "the endpoint is disabled"}, Failed, nil)
		return Refused, err
	}
	secrets, err := w.Store.Secrets(ep, now)
	if err != nil {
		return Retry, err
	}
	payload, err := w.Links.Render(ctx, d.Payload, d.Links) // signed now: valid when it arrives
	if err != nil {
		return Retry, err
	}
	t, dest := ep.target(d.URL, secrets)
	res := w.Client.Send(ctx, t, d.EventID, payload)
	res.Manual, res.Recovery = manual, d.recovering

	status, next, exhausted := Failed, (*time.Time)(nil), false
	switch res.Outcome {
	case Delivered:
		status = Succeeded
	case Retry:
		n := d.AttemptCount + 1
		if n < len(w.Schedule) && !(manual && wasDone) {
			wait := max(w.Schedule[n], min(res.RetryAfter, 24*time.Hour))
			t := res.At.Add(wait).Truncate(time.Millisecond)
			next = &t
			status = Pending
			j := Job{Workspace: d.Workspace, Env: d.Env, Endpoint: d.EndpointID, Delivery: d.ID,
				Attempts: n, NotBefore: t.UnixMilli()}
			if err := w.Queue.Schedule(ctx, j, max(wait, time.Second)); err != nil {
				return Retry, err
			}
		}
		exhausted = n >= len(w.Schedule) && !manual
	}
	if err := w.health(ctx, d, ep, res); err != nil {
		return Retry, err
	}
	if exhausted {
		if err := w.exhausted(ctx, d, ep, res); err != nil {
			return Retry, err
		}
	}
	if _, err := w.Store.Record(ctx, d, res.Attempt, status, next); err != nil {
		return Retry, err
	}
	w.Log.InfoContext(ctx, "webhook attempt",
		"delivery_id", d.ID, "endpoint_id", d.EndpointID, "event_id", d.EventID, "event_type", d.EventType,
		"destination", dest, "attempt", d.AttemptCount+1, "status_code", res.StatusCode, "latency_ms", res.LatencyMS,
		"outcome", status, "error", res.Error)
	return res.Outcome, nil
}

// health ends an endpoint's failure streak on success; on failure it
// extends it, and disables the endpoint when the streak is long enough or
// the receiver answered 410, telling the workspace first
// (webhook.endpoint.disabled).
func (w *Worker) health(ctx context.Context, d Delivery, ep Endpoint, res Result) error {
	if res.Outcome == Delivered {
		return w.Store.EndpointSucceeded(ctx, ep)
	}
	gone := res.Outcome == Gone
	since, disable, err := w.Store.EndpointFailing(ctx, ep, gone, w.FailingLimit)
	if err != nil || !disable || !ep.Enabled {
		return err
	}
	reason := DisabledFailing
	if gone {
		reason = DisabledGone
	}
	if err := w.publishDisabled(ctx, d, ep, reason, since, res); err != nil {
		return err
	}
	disabled, err := w.Store.Disable(ctx, ep, reason)
	if disabled {
		w.Log.WarnContext(ctx, "webhook endpoint disabled", "endpoint_id", ep.ID, "reason", reason, "delivery_id", d.ID)
	}
	return err
}

// target is where a delivery of e goes (videoURL, for per-video
// deliveries, or the endpoint's destination), signed with secrets, and
// what logs may show of it: the host of a URL (paths and queries of
// catch-hook URLs often carry tokens), the queue or bus of AWS ones.
func (e Endpoint) target(videoURL string, secrets []string) (Target, string) {
	t := Target{URL: videoURL, Env: e.Env, Secrets: secrets}
	if videoURL != "" {
		return t, host(videoURL)
	}
	if a, ok := e.AWS(); ok {
		t.AWS = &a
		return t, a.Address
	}
	t.URL = e.URL
	return t, host(e.URL)
}

// host is the host of a URL.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
