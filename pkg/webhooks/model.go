// Package webhooks is the webhook resource top to bottom: the model of
// framegate's events and their publisher (event.go), the endpoints and the
// delivery log in the data table (Store), the /v1/webhooks routes
// (webhooksapi.go), one signed POST through the egress guard (Client), and
// the SQS-triggered worker that fans an event out to the subscribed
// endpoints and retries on a schedule of SQS delays (Worker). Signing and
// verification are package webhooksig, which receivers import.
package webhooks

import (
	"slices"
	"time"
)

// Endpoint kinds.
const (
	// KindEndpoint is an endpoint created with POST /v1/webhooks.
	KindEndpoint = "endpoint"
	// KindVideoURLs is the one reserved endpoint per workspace and
	// environment that holds the secret signing deliveries to per-video
	// webhookUrls, and under which those deliveries are logged.
	KindVideoURLs = "video_urls"
)

// VideoURLsID is the id of the reserved video-URLs endpoint.
const VideoURLsID = "video-urls"

// Why an endpoint was disabled.
const (
	DisabledByUser    = "user"
	DisabledGone      = "gone"    // it answered 410
	DisabledFailing   = "failing" // every attempt failed for FailingLimit
	DisabledByDefault = ""
)

// Endpoint is a webhook endpoint. Its secrets stay sealed; Store.Secrets
// opens them.
type Endpoint struct {
	ID        string
	Workspace string
	Env       string
	Kind      string
	// Type is where deliveries go: TypeHTTP (URL is the URL), TypeSQS (URL
	// is the queue URL) or TypeEventBridge (URL is the event bus ARN),
	// the last two through RoleARN assumed with ExternalID.
	Type        string
	URL         string
	RoleARN     string
	ExternalID  string
	Description string
	// Scheme signs deliveries: webhooksig.SchemeV1 (a whsec_ secret) or
	// SchemeV1a (an ed25519 key pair whose PublicKey receivers verify with).
	Scheme string
	// PublicKey is the whpk_ key of a v1a endpoint; PreviousPublicKey the
	// one the last rotation replaced, while it still signs.
	PublicKey         string
	PreviousPublicKey string
	Events            []string
	Enabled           bool
	DisabledReason    string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	// FailingSince is the first failed attempt since the last success.
	FailingSince *time.Time
	// SecretPreview is the masked current secret.
	SecretPreview string
	// PreviousSecretUntil is when the secret replaced by the last rotation
	// stops signing; nil when there is none.
	PreviousSecretUntil *time.Time

	secret, prevSecret string // sealed
	unrevealed         bool   // a video-URLs secret nobody has seen yet
}

// AWS is the endpoint's AWS destination; ok is false for HTTP endpoints.
func (e Endpoint) AWS() (AWSTarget, bool) {
	if e.Type != TypeSQS && e.Type != TypeEventBridge {
		return AWSTarget{}, false
	}
	t, ok := ParseAWSTarget(e.Type, e.URL)
	t.RoleARN, t.ExternalID = e.RoleARN, e.ExternalID
	return t, ok
}

// Subscribed reports whether the endpoint wants events of type typ.
func (e Endpoint) Subscribed(typ string) bool {
	return slices.Contains(e.Events, typ) || slices.Contains(e.Events, Wildcard)
}

// Delivery statuses.
const (
	Pending   = "pending"
	Succeeded = "succeeded"
	Failed    = "failed"
)

// MaxResponseBody is how much of a receiver's answer the log keeps.
const MaxResponseBody = 1 << 10

// MaxLoggedAttempts bounds the attempts kept on one delivery (redelivery
// can add attempts without end); the oldest go first.
const MaxLoggedAttempts = 20

// Attempt is one POST and its outcome.
type Attempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"statusCode,omitempty"` // 0: no HTTP answer
	LatencyMS  int64     `json:"latencyMs"`
	Response   string    `json:"response,omitempty"` // truncated to MaxResponseBody
	Error      string    `json:"error,omitempty"`
	Manual     bool      `json:"manual,omitempty"` // a redelivery asked through the API
	// Recovery is the recovery (POST /v1/webhooks/{id}/recover) that made it.
	Recovery string `json:"recovery,omitempty"`
}

// Delivery is one event for one endpoint, with every attempt made.
type Delivery struct {
	ID         string
	Workspace  string
	Env        string
	EndpointID string
	EventID    string
	EventType  string
	// URL is set for per-video deliveries; endpoint deliveries go to the
	// endpoint's current URL, so a fixed URL applies to pending retries.
	URL     string
	Payload []byte
	// Links are made into fresh URLs in Payload at each attempt; the log
	// keeps the payload without them.
	Links         []Link
	Status        string
	AttemptCount  int
	Attempts      []Attempt
	CreatedAt     time.Time
	NextAttemptAt *time.Time

	recovering string // the recovery that claimed it (ClaimRecovery)
}
