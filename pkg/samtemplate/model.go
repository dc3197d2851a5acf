// Package samtemplate reads template.yaml, the single source of truth for
// routes, functions, tables, queues, buckets and secrets, into the plain model
// the local stack and the tests run from.
package samtemplate

import "time"

// Template is what the local stack needs from template.yaml.
type Template struct {
	Api        Api
	Functions  []Function // in template order
	Tables     []Table
	Queues     []Queue
	Buckets    []Bucket
	Secrets    []Secret
	Parameters map[string]string // parameter name -> default value
}

// Api is the AWS::Serverless::Api the routes belong to.
type Api struct {
	LogicalID         string
	StageName         string // "v1"
	DefaultAuthorizer string // logical name of the default authorizer
	// AuthorizerFunction is the logical ID of the authorizer's function.
	AuthorizerFunction string
	// ReauthorizeEvery is the authorizer result TTL in seconds (must be 0).
	ReauthorizeEvery int
	// IdentityHeaders are the identity sources (empty: the authorizer is invoked on every request).
	IdentityHeaders  []string
	GatewayResponses map[string]GatewayResponse // by type, e.g. ACCESS_DENIED
}

// GatewayResponse is one API Gateway gateway response.
type GatewayResponse struct {
	Type       string
	StatusCode int
	// Headers maps header name to its value expression as written in the
	// template, e.g. "'application/json'" or "context.requestId".
	Headers map[string]string
	// Templates maps content type to the response body template.
	Templates map[string]string
}

// Function is one AWS::Serverless::Function.
type Function struct {
	LogicalID  string
	CodeURI    string // e.g. "functions/authorizer/"
	Name       string // base name of CodeURI: the key into lambdas registry
	Timeout    int    // seconds
	MemorySize int    // MB
	// Environment is Globals' variables merged with the function's, unresolved.
	Environment map[string]Value
	// OwnEnvironment names the variables the function itself sets, sorted.
	OwnEnvironment []string
	Routes         []Route
	SQSEvents      []SQSEvent
	Schedules      []Schedule
}

// Schedule is one Schedule event of a function: EventBridge invokes it
// every Every (the local stack supports rate() expressions).
type Schedule struct {
	EventName string
	Every     time.Duration
}

// Route is one Api event of a function.
type Route struct {
	EventName string
	Method    string // upper case, or "ANY"
	Path      string // as declared, without the stage: "/keys/{id}"
	// Authorized is false for routes with Auth: Authorizer: NONE.
	Authorized bool
}

// SQSEvent is one SQS event source of a function.
type SQSEvent struct {
	EventName               string
	Queue                   string // logical ID of the queue
	BatchSize               int
	MaxBatchingWindow       int // seconds
	ReportBatchItemFailures bool
}

// Value is an unresolved template value: exactly one field is set.
type Value struct {
	Literal string
	Ref     string    // !Ref LogicalID or parameter
	GetAtt  [2]string // !GetAtt LogicalID.Attribute
	Sub     string    // !Sub "..."
	// SubVars are the variables of the two-argument form !Sub [string, {vars}].
	SubVars map[string]Value
}

// Table is one AWS::DynamoDB::Table.
type Table struct {
	LogicalID            string
	HashKey              KeyAttr
	RangeKey             *KeyAttr
	GlobalSecondaryIndex []Index
	TTLAttribute         string // "" when TTL is off
	PointInTimeRecovery  bool
}

// KeyAttr is a key attribute and its type (S, N or B).
type KeyAttr struct{ Name, Type string }

// Index is a global secondary index.
type Index struct {
	Name           string
	HashKey        KeyAttr
	RangeKey       *KeyAttr
	ProjectionType string // ALL, KEYS_ONLY, INCLUDE
	NonKeyAttrs    []string
}

// Queue is one AWS::SQS::Queue.
type Queue struct {
	LogicalID              string
	FIFO                   bool
	VisibilityTimeout      int // seconds, 0 = default 30
	MessageRetentionPeriod int // seconds, 0 = default
	DelaySeconds           int
	// DeadLetterQueue is the logical ID of the redrive target, "" if none.
	DeadLetterQueue string
	MaxReceiveCount int
}

// Bucket is one AWS::S3::Bucket.
type Bucket struct {
	LogicalID string
	// ExpireAfterDays maps a lifecycle rule prefix to its expiration in days.
	ExpireAfterDays map[string]int
	// AbortIncompleteUploadDays is the days after which an unfinished
	// multipart upload is aborted, 0 when no rule says so.
	AbortIncompleteUploadDays int
	// QueueNotifications send object events to SQS queues.
	QueueNotifications []QueueNotification
}

// QueueNotification is one NotificationConfiguration.QueueConfigurations
// entry of a bucket.
type QueueNotification struct {
	Event  string // "s3:ObjectCreated:*"
	Queue  string // logical ID of the queue
	Prefix string // key filter, "" for none
	Suffix string
}

// Secret is one AWS::SecretsManager::Secret with a generated value.
type Secret struct {
	LogicalID          string
	PasswordLength     int
	ExcludePunctuation bool
}
