// Package publish executes publications: a succeeded video sent to a
// connection (package connections) now or at a time up to 30 days ahead.
// The publication record in the data table is the source of truth; a
// message on the publish queue, delayed by at most SQS's 15 minutes and
// re-sent by the worker until the time comes, wakes the worker, which runs
// each publication once (a conditional transition scheduled → executing)
// and then emits publish.executed or publish.failed. It serves
// /v1/videos/{id}/publish, /v1/videos/{id}/publications and the cancel route.
package publish

import (
	"time"
)

// Publication statuses.
const (
	Scheduled = "scheduled"
	Executing = "executing"
	Executed  = "executed"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// IDPrefix starts publication ids.
const IDPrefix = "pub"

// MaxAhead is how far ahead a publication may be scheduled.
const MaxAhead = 30 * 24 * time.Hour

// Skew is how far in the past a publishAt may be and still mean "now":
// clients' clocks drift, and a request takes time to arrive.
const Skew = time.Minute

// Lease is how long a claimed publication belongs to one worker: longer
// than the worker's timeout (300 s in template.yaml), so a live worker
// always records before it lapses, and shorter than the publish queue's
// visibility timeout (1800 s), so the message of a crashed worker comes
// back to a publication it can claim again.
const Lease = 6 * time.Minute

// Retention is how long a publication record outlives its publishAt.
const Retention = 90 * 24 * time.Hour

// Codes of a failed publication's error. They describe the publication,
// not an HTTP answer, so they are not apierr codes.
const (
	ErrConnectionDeleted = "connection_deleted" // the connection was deleted before the publication ran
	ErrVideoUnavailable  = "video_unavailable"  // the video or its file is gone (deleted, sandbox expiry)
	ErrWebhookRefused    = "webhook_refused"    // the egress guard refused the URL, or it answered 410
	ErrWebhookFailed     = "webhook_failed"     // every attempt of the retry schedule failed
	ErrS3AccessDenied    = "s3_access_denied"   // the role could not be assumed or may not write the bucket
	ErrS3Failed          = "s3_failed"          // the copy failed for another reason
)

// Error is why a publication failed, or why its last attempt did.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Publication is one video sent to one connection.
type Publication struct {
	ID             string
	Workspace      string
	Env            string
	VideoID        string
	ConnectionID   string
	ConnectionType string
	Status         string
	PublishAt      time.Time
	CreatedAt      time.Time
	// Attempts is how many attempts are behind it; a message claims the
	// publication only with this count, so duplicates and superseded
	// messages do nothing.
	Attempts      int
	NextAttemptAt *time.Time
	ExecutedAt    *time.Time
	CancelledAt   *time.Time
	Error         *Error
	// Destination is where the video went: s3://bucket/key, or the host of
	// the webhook.
	Destination string
	// EventSent records that the terminal event went out, so a redelivered
	// message can send one that was lost without sending it twice.
	EventSent bool
}

// Message is the body of a publish queue message: enough to find the
// record, and when to act on it.
type Message struct {
	PublicationID string `json:"publicationId"`
	Workspace     string `json:"workspace"`
	Environment   string `json:"environment"`
	VideoID       string `json:"videoId"`
	DueAt         int64  `json:"dueAt"` // unix ms
	Attempt       int    `json:"attempt"`
}

// Due is when the message's attempt may run.
func (m Message) Due() time.Time { return time.UnixMilli(m.DueAt) }
