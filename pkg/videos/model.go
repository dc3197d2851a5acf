// Package videos is the render resource top to bottom: the model and its
// store in the data table (creation under the per-environment queue cap with
// idempotency keys, the transitions queued → rendering → succeeded | failed |
// cancelled, each terminal one exactly once, and render-slot leases that a
// crashed worker cannot keep), the /v1/videos routes (videosapi.go), the
// intake queue consumer (intake.go), the render worker and its dead-letter
// handler (worker.go, dlq.go), and the events the webhooks consume.
package videos

import (
	"encoding/json"
	"path"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/idempotency"
	"github.com/framegate/framegate/pkg/movie"
)

// Statuses of a video.
const (
	Queued    = "queued"
	Rendering = "rendering"
	Succeeded = "succeeded"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Statuses lists them in life-cycle order.
var Statuses = []string{Queued, Rendering, Succeeded, Failed, Cancelled}

// Terminal reports whether a status is final.
func Terminal(status string) bool {
	return status == Succeeded || status == Failed || status == Cancelled
}

// Codes of a failed video's error. They describe a render, not an HTTP
// answer, so they are not apierr codes.
const (
	ErrInvalidSpec      = "invalid_spec"      // the spec cannot be rendered as given (bad image URL, unreadable media)
	ErrRenderFailed     = "render_failed"     // ffmpeg failed
	ErrRenderTimeout    = "render_timeout"    // the render did not fit in the worker's time
	ErrRetriesExhausted = "retries_exhausted" // the render message failed repeatedly and reached the DLQ
	ErrQueueUnavailable = "queue_unavailable" // the render could not be queued
)

// SandboxRetention is how long sandbox (fg_test_) videos and files live.
const SandboxRetention = 24 * time.Hour

// IdempotencyWindow is how long an Idempotency-Key is remembered.
const IdempotencyWindow = idempotency.Window

// Error is why a video failed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Video is one render job.
type Video struct {
	ID         string
	Workspace  string
	Env        apikey.Env
	Status     string
	Progress   int // percent
	Spec       json.RawMessage
	TemplateID string
	Variables  json.RawMessage
	// Duration is the spec's length until the render finishes, then the
	// file's measured length.
	Duration   float64
	SizeBytes  int64
	Width      int
	Height     int
	Error      *Error
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// ExpiresAt is when the record and the file go away (sandbox only).
	ExpiresAt  *time.Time
	WebhookURL string
	Watermark  bool
	// S3Key is the object of a succeeded video: the file its winning
	// attempt uploaded (AttemptKey).
	S3Key string
	// ThumbnailKey is the object of its JPEG poster, beside it.
	ThumbnailKey string
	// Slot is the render slot the last worker held (-1: none).
	Slot int
	// Attempts counts the renders started, retries and takeovers included.
	Attempts int
	// LeaseToken fences the attempt rendering the video: every write an
	// attempt makes is conditional on it, so an attempt that lost the video
	// to another can change nothing. LeaseExpiresAt is when the attempt's
	// lease runs out unless its heartbeat renews it; a delivery finding an
	// expired lease takes the video over.
	LeaseToken     string
	LeaseExpiresAt *time.Time
	// EventSent records that the terminal event went out, so a redelivered
	// message can send one that was lost without sending it twice.
	EventSent bool
}

// Expired reports whether the record is past its expiry at now: AWS deletes
// TTL items up to days late and the emulator never does, so reads treat
// them as gone.
func (v Video) Expired(now time.Time) bool {
	return v.ExpiresAt != nil && !now.Before(*v.ExpiresAt)
}

// LeaseLive reports whether an attempt holds the video at now.
func (v Video) LeaseLive(now time.Time) bool {
	return v.Status == Rendering && v.LeaseExpiresAt != nil && now.Before(*v.LeaseExpiresAt)
}

// FilesPrefix is where a video's files live in the renders bucket: a video
// and a thumbnail per attempt that uploaded. The environment comes first
// so a bucket lifecycle rule can expire the sandbox.
func FilesPrefix(env apikey.Env, ws, id string) string {
	return "renders/" + string(env) + "/" + ws + "/" + id + "/"
}

// AttemptKey is the object one attempt uploads its video to; its
// extension is the format's. No two attempts share one, so a late or
// duplicate attempt can never overwrite or delete the file of the attempt
// that succeeded.
func AttemptKey(env apikey.Env, ws, id, token, format string) string {
	return FilesPrefix(env, ws, id) + token + "." + format
}

// ThumbnailKey is where the poster of the video at key lives: beside it,
// with the extension .jpg, so an attempt's thumbnail is scoped to the
// attempt like its video and is promoted with it.
func ThumbnailKey(key string) string {
	return strings.TrimSuffix(key, path.Ext(key)) + ".jpg"
}

// mediaType is the Content-Type of an object of video id by its
// extension, and how a download of it is named (id and the extension,
// never the attempt): videos download as an attachment, thumbnails show
// inline.
func mediaType(key, id string) (contentType, disposition string) {
	name := id + path.Ext(key)
	if path.Ext(key) == ".jpg" {
		return "image/jpeg", `inline; filename="` + name + `"`
	}
	return movie.ContentType(strings.TrimPrefix(path.Ext(key), ".")), `attachment; filename="` + name + `"`
}

// Message is the body of a render queue message.
type Message struct {
	VideoID     string `json:"videoId"`
	Workspace   string `json:"workspace"`
	Environment string `json:"environment"`
}

// Limits are what a workspace's environment allows, from its record in
// the keys table.
type Limits struct {
	ConcurrentRenders int
	QueuedRenders     int
	MaxVideoSeconds   int
}
