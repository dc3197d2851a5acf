package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/videos"
	"github.com/framegate/framegate/pkg/webhooks"
)

// VideoReader reads a video of a workspace's environment.
type VideoReader interface {
	Get(ctx context.Context, ws string, env apikey.Env, id string) (videos.Video, error)
}

// ConnectionReader reads connections and opens webhook secrets.
type ConnectionReader interface {
	Get(ctx context.Context, ws, env, id string) (connections.Connection, error)
	Secret(c connections.Connection) (string, error)
}

// EventPublisher sends events to the events queue and the webhook queue.
type EventPublisher interface {
	Publish(ctx context.Context, ev webhooks.Event, r webhooks.Route) error
}

// Sender makes one signed webhook attempt (delivery.Client).
type Sender interface {
	Send(ctx context.Context, t webhooks.Target, msgID string, body []byte) webhooks.Result
}

// Copier writes a video into a customer's bucket (*Copier).
type S3Copier interface {
	Copy(ctx context.Context, conn connections.Connection, bucket, key, videoID, pubID string) (string, error)
}

// Worker consumes the publish queue.
type Worker struct {
	Store       *Store
	Connections ConnectionReader
	Videos      VideoReader
	Queue       Queue
	Events      EventPublisher
	Webhooks    Sender
	S3          S3Copier
	// Links signs the download link of a webhook publication at each attempt.
	Links  *webhooks.Linker
	Bucket string // the renders bucket
	// Schedule is the delays before each attempt of a webhook
	// publication, the retry schedule of webhooks.
	Schedule webhooks.Schedule
	Now      func() time.Time
	Log      *slog.Logger
}

// errLater asks SQS to bring a message back later.
var errLater = errors.New("the publication's record is not ready for this message yet")

// Handle is the SQS handler. Messages that could not be processed (a
// store, queue or event error) are reported for SQS to retry; the rest are
// done, whatever became of their publication.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return lambdas.EachMessage(ev, func(rec events.SQSMessage) error {
		err := w.handle(ctx, rec.Body)
		if err != nil && !errors.Is(err, errLater) {
			w.Log.ErrorContext(ctx, "publish message failed; SQS will retry it", "message_id", rec.MessageId, "err", err)
		}
		return err
	}), nil
}

func (w *Worker) handle(ctx context.Context, body string) error {
	var m Message
	if err := json.Unmarshal([]byte(body), &m); err != nil || m.PublicationID == "" || m.Workspace == "" || m.Environment == "" {
		return fmt.Errorf("decode publish message: %w", errors.Join(err, errors.New("want publicationId, workspace, environment")))
	}
	now := w.Now()
	if m.Due().Sub(now) >= time.Second {
		// Early: a hop of a wait longer than SQS's delay. The record is
		// not read; a cancelled publication's hops end when it is due.
		return w.Queue.Send(ctx, m, now)
	}
	p, ok, err := w.Store.Claim(ctx, m)
	if err != nil {
		return err
	}
	if !ok {
		return w.unclaimed(ctx, m)
	}
	o, err := w.execute(ctx, p)
	if err != nil {
		return err // the lease lapses and SQS brings the message back
	}
	if p, err = w.Store.Record(ctx, p, o); err != nil {
		return err
	}
	w.Log.InfoContext(ctx, "publication attempt", "publication_id", p.ID, "video_id", p.VideoID,
		"connection_id", p.ConnectionID, "attempt", p.Attempts, "status", p.Status, "error", errText(p.Error))
	return w.finish(ctx, p)
}

// unclaimed handles a message that claimed nothing: a duplicate, a
// cancelled or finished publication, or a retry message that overtook the
// record of the attempt that scheduled it (only that one comes back).
func (w *Worker) unclaimed(ctx context.Context, m Message) error {
	p, err := w.Store.Get(ctx, m.Workspace, m.Environment, m.VideoID, m.PublicationID)
	if apierr.From(err).Code == apierr.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Status == Executing && p.Attempts < m.Attempt {
		return errLater
	}
	// A terminal event lost to a crash after the record was written goes
	// out now; finish sends nothing twice.
	return w.finish(ctx, p)
}

// execute makes one attempt. It returns an error only for what SQS should
// retry (our own store failing); everything about the destination is an
// Outcome.
func (w *Worker) execute(ctx context.Context, p Publication) (Outcome, error) {
	conn, err := w.Connections.Get(ctx, p.Workspace, p.Env, p.ConnectionID)
	switch {
	case apierr.From(err).Code == apierr.NotFound:
		return failed(ErrConnectionDeleted, "The connection was deleted before the publication ran."), nil
	case err != nil:
		return Outcome{}, err
	}
	v, err := w.Videos.Get(ctx, p.Workspace, apikey.Env(p.Env), p.VideoID)
	switch {
	case apierr.From(err).Code == apierr.NotFound:
		return failed(ErrVideoUnavailable, "The video was deleted or has expired."), nil
	case err != nil:
		return Outcome{}, err
	case v.Status != videos.Succeeded || v.S3Key == "":
		return failed(ErrVideoUnavailable, "The video is not a succeeded render."), nil
	}
	switch conn.Type {
	case connections.TypeWebhook:
		return w.sendWebhook(ctx, p, conn, v)
	case connections.TypeS3:
		dest, err := w.S3.Copy(ctx, conn, w.Bucket, v.S3Key, v.ID, p.ID)
		var ce *CopyError
		switch {
		case err == nil:
			return Outcome{Status: Executed, Destination: dest}, nil
		case errors.As(err, &ce) && ce.Permanent:
			return failed(ce.Code, ce.Msg), nil
		case errors.As(err, &ce):
			return w.retry(ctx, p, &Error{Code: ce.Code, Message: ce.Msg}, 0)
		default:
			w.Log.WarnContext(ctx, "s3 publication attempt failed", "publication_id", p.ID, "err", err)
			return w.retry(ctx, p, &Error{Code: ErrS3Failed, Message: "The copy did not complete."}, 0)
		}
	}
	return failed(ErrConnectionDeleted, "The connection has an unknown type."), nil
}

func failed(code, msg string) Outcome {
	return Outcome{Status: Failed, Error: &Error{Code: code, Message: msg}}
}

// PublicationData is the data of a webhook publication's payload and of
// the publish.executed and publish.failed events.
type PublicationData struct {
	PublicationID   string   `json:"publicationId"`
	VideoID         string   `json:"videoId"`
	ConnectionID    string   `json:"connectionId"`
	ConnectionType  string   `json:"connectionType"`
	Workspace       string   `json:"workspace"`
	Environment     string   `json:"environment"`
	Status          string   `json:"status"`
	PublishAt       string   `json:"publishAt"`
	ExecutedAt      *string  `json:"executedAt,omitempty"`
	Destination     string   `json:"destination,omitempty"`
	DurationSeconds *float64 `json:"durationSeconds,omitempty"`
	SizeBytes       *int64   `json:"sizeBytes,omitempty"`
	Error           *Error   `json:"error,omitempty"`
}

func dataOf(p Publication) PublicationData {
	d := PublicationData{PublicationID: p.ID, VideoID: p.VideoID, ConnectionID: p.ConnectionID, ConnectionType: p.ConnectionType,
		Workspace: p.Workspace, Environment: p.Env, Status: p.Status, PublishAt: p.PublishAt.UTC().Format(webhooks.TimeFormat),
		Destination: p.Destination, Error: p.Error}
	if p.ExecutedAt != nil {
		x := p.ExecutedAt.UTC().Format(webhooks.TimeFormat)
		d.ExecutedAt = &x
	}
	return d
}

// seeded is an event whose id derives from the publication and a purpose,
// so every attempt and every re-publication after a crash is the same
// event to receivers, which deduplicate on its id.
func seeded(typ, purpose string, p Publication, data any, at time.Time) (webhooks.Event, error) {
	seed := sha256.Sum256([]byte(purpose + "/" + typ + "/" + p.ID))
	return webhooks.NewEvent(typ, data, at, bytes.NewReader(seed[:]))
}

// sendWebhook POSTs the publication to a webhook connection, signed like
// every framegate webhook, through the egress guard. The payload is shaped
// as a publish.executed event carrying the video's download link
// (downloadUrl, downloadExpiresAt), signed for this attempt; its id is the
// same on every attempt.
func (w *Worker) sendWebhook(ctx context.Context, p Publication, conn connections.Connection, v videos.Video) (Outcome, error) {
	secret, err := w.Connections.Secret(conn)
	if err != nil {
		return Outcome{}, err
	}
	d := dataOf(p)
	d.Status = Executed
	dur, size := v.Duration, v.SizeBytes
	d.DurationSeconds, d.SizeBytes = &dur, &size
	ev, err := seeded(webhooks.PublishExecuted, "connection", p, d, p.PublishAt)
	if err != nil {
		return Outcome{}, err
	}
	body, err := ev.Marshal()
	if err != nil {
		return Outcome{}, err
	}
	if body, err = w.Links.Render(ctx, body, []webhooks.Link{videos.DownloadLink(v)}); err != nil {
		return Outcome{}, err
	}
	res := w.Webhooks.Send(ctx, webhooks.Target{URL: conn.URL, Env: p.Env, Secrets: []string{secret}}, ev.ID, body)
	dest := host(conn.URL)
	switch res.Outcome {
	case webhooks.Delivered:
		return Outcome{Status: Executed, Destination: dest}, nil
	case webhooks.Refused, webhooks.Gone:
		o := failed(ErrWebhookRefused, res.Error)
		o.Destination = dest
		return o, nil
	}
	msg := res.Error
	if msg == "" {
		msg = fmt.Sprintf("the webhook answered %d", res.StatusCode)
	}
	o, err := w.retry(ctx, p, &Error{Code: ErrWebhookFailed, Message: msg}, res.RetryAfter)
	o.Destination = dest
	return o, err
}

// retry schedules the next attempt on the webhooks' retry schedule, or
// fails the publication when the schedule is spent. The message goes out
// before the record is written: if sending fails, the attempt's message is
// retried instead, and the record never promises an attempt that no
// message will make.
func (w *Worker) retry(ctx context.Context, p Publication, why *Error, retryAfter time.Duration) (Outcome, error) {
	n := p.Attempts + 1
	if n >= len(w.Schedule) {
		return Outcome{Status: Failed, Error: why}, nil
	}
	now := w.Now()
	next := now.Add(max(w.Schedule[n], min(retryAfter, 24*time.Hour), time.Second)).Truncate(time.Millisecond)
	m := Message{PublicationID: p.ID, Workspace: p.Workspace, Environment: p.Env, VideoID: p.VideoID, DueAt: next.UnixMilli(), Attempt: n}
	if err := w.Queue.Send(ctx, m, now); err != nil {
		return Outcome{}, err
	}
	return Outcome{Status: Executing, Error: why, Next: &next}, nil
}

// finish emits the terminal event of a finished publication once:
// publish.executed or publish.failed, to the events queue and to the
// webhook endpoints subscribed to it.
func (w *Worker) finish(ctx context.Context, p Publication) error {
	if (p.Status != Executed && p.Status != Failed) || p.EventSent {
		return nil
	}
	typ := webhooks.PublishExecuted
	if p.Status == Failed {
		typ = webhooks.PublishFailed
	}
	at := w.Now()
	if p.ExecutedAt != nil {
		at = *p.ExecutedAt
	}
	ev, err := seeded(typ, "event", p, dataOf(p), at)
	if err != nil {
		return err
	}
	if err := w.Events.Publish(ctx, ev, webhooks.Route{Workspace: p.Workspace, Environment: p.Env}); err != nil {
		return err
	}
	return w.Store.MarkEventSent(ctx, p)
}

func errText(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Code + ": " + e.Message
}

// host is what records and logs show of a URL: paths and queries of
// catch-hook URLs carry their tokens.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
