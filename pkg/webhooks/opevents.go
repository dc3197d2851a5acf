package webhooks

// Operational events: framegate tells a workspace about its own webhooks,
// on the events queue and to the workspace's other endpoints subscribed to
// them (never to the endpoint the event is about).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strconv"
	"strings"
	"time"
)

// SeededEvent is NewEvent with an id derived from typ and seed instead of
// random: whoever builds the event again (a retried message, a worker
// after a crash) builds the very same one, which receivers deduplicate on
// its id.
func SeededEvent(typ, seed string, data any, at time.Time) (Event, error) {
	sum := sha256.Sum256([]byte(typ + "/" + seed))
	return NewEvent(typ, data, at, bytes.NewReader(sum[:]))
}

// Operational reports whether typ is about webhooks themselves. Such
// events never cause another: a webhook.message.exhausted that exhausts
// its own retries is not reported again, so two failing endpoints cannot
// feed each other events forever.
func Operational(typ string) bool { return strings.HasPrefix(typ, "webhook.") }

// AttemptSummary is an attempt as operational events show it.
type AttemptSummary struct {
	At         string `json:"at"`
	StatusCode int    `json:"statusCode,omitempty"`
	Error      string `json:"error,omitempty"`
}

func summary(a Attempt) AttemptSummary {
	return AttemptSummary{At: a.At.UTC().Format(TimeFormat), StatusCode: a.StatusCode, Error: a.Error}
}

// EndpointDisabledData is the data of webhook.endpoint.disabled.
type EndpointDisabledData struct {
	EndpointID   string `json:"endpointId"`
	Description  string `json:"description,omitempty"`
	Environment  string `json:"environment"`
	Reason       string `json:"reason"` // DisabledFailing or DisabledGone
	FailingSince string `json:"failingSince"`
	// LastAttempt is the attempt that disabled it.
	LastAttempt AttemptSummary `json:"lastAttempt"`
}

// MessageExhaustedData is the data of webhook.message.exhausted.
type MessageExhaustedData struct {
	EndpointID  string         `json:"endpointId"`
	Environment string         `json:"environment"`
	DeliveryID  string         `json:"deliveryId"`
	EventID     string         `json:"eventId"`
	EventType   string         `json:"eventType"`
	Attempts    int            `json:"attempts"`
	LastAttempt AttemptSummary `json:"lastAttempt"`
}

// publishDisabled announces that ep is about to be disabled by the
// attempt of d. Its id and timestamp derive from what decided it, so a
// retry of the attempt publishes the same event: for a failing endpoint,
// the failure streak (its start plus the limit: when it crossed the line,
// the same for every delivery of that streak); for a 410, the attempt.
func (w *Worker) publishDisabled(ctx context.Context, d Delivery, ep Endpoint, reason string, since time.Time, res Result) error {
	at, seed := since.Add(w.FailingLimit), ep.ID+"/"+since.UTC().Format(time.RFC3339Nano)
	if reason == DisabledGone {
		at, seed = scheduledAt(d), ep.ID+"/"+d.ID+"/"+strconv.Itoa(d.AttemptCount)
	}
	data := EndpointDisabledData{EndpointID: ep.ID, Description: ep.Description, Environment: ep.Env, Reason: reason,
		FailingSince: since.UTC().Format(TimeFormat), LastAttempt: summary(res.Attempt)}
	ev, err := SeededEvent(EndpointDisabled, seed, data, at)
	if err != nil {
		return err
	}
	return w.Events.Publish(ctx, ev, Route{Workspace: ep.Workspace, Environment: ep.Env, Exclude: ep.ID})
}

// exhausted announces a delivery whose last scheduled attempt failed.
func (w *Worker) exhausted(ctx context.Context, d Delivery, ep Endpoint, res Result) error {
	if Operational(d.EventType) {
		return nil
	}
	at := scheduledAt(d)
	data := MessageExhaustedData{EndpointID: ep.ID, Environment: ep.Env, DeliveryID: d.ID, EventID: d.EventID,
		EventType: d.EventType, Attempts: d.AttemptCount + 1, LastAttempt: summary(res.Attempt)}
	ev, err := SeededEvent(MessageExhausted, d.ID, data, at)
	if err != nil {
		return err
	}
	return w.Events.Publish(ctx, ev, Route{Workspace: ep.Workspace, Environment: ep.Env, Exclude: ep.ID})
}

// scheduledAt is when the delivery's current attempt was due: the same on
// every retry of that attempt.
func scheduledAt(d Delivery) time.Time {
	if d.NextAttemptAt != nil {
		return *d.NextAttemptAt
	}
	return d.CreatedAt
}
