// Package connections keeps the places a video can be published to
// (/v1/connections): a webhook connection is a catch-hook URL of Zapier,
// Make or n8n that gets a signed POST the way webhook endpoints do; an s3
// connection is a customer bucket that framegate writes into through an IAM
// role the customer lets it assume. Package publish executes publications
// against them.
package connections

import (
	"time"

	"github.com/framegate/framegate/pkg/webhooks"
)

// Connection types.
const (
	TypeWebhook = "webhook"
	TypeS3      = "s3"
)

// IDPrefix starts connection ids.
const IDPrefix = "conn"

// MaxPerEnvironment caps the connections of one workspace and environment
// (409 connection_limit_reached beyond). The store counts them in one item
// written in the same transaction as each connection, so concurrent
// creates never overshoot it.
const MaxPerEnvironment = 25

// ExternalIDPrefix starts every external id framegate generates
// (webhooks.ExternalID): the IAM policies only allow sts:AssumeRole with an
// external id of this shape.
const ExternalIDPrefix = webhooks.ExternalIDPrefix

// Connection is a publishing destination of one workspace's environment.
// Exactly one of the webhook or s3 groups of fields is set, per Type.
type Connection struct {
	ID        string
	Workspace string
	Env       string
	Type      string
	Name      string
	CreatedAt time.Time

	// webhook
	URL           string
	SecretPreview string
	secret        string // sealed with webhook.Cipher, bound to the record

	// s3
	Bucket     string
	Prefix     string
	Region     string // "" means the region framegate runs in
	RoleARN    string
	ExternalID string
}

// Spec is a validated creation request.
type Spec struct {
	Type    string
	Name    string
	URL     string
	Bucket  string
	Prefix  string
	Region  string
	RoleARN string
}
