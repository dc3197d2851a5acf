// Package audit is the audit log: who changed what, from where and when.
// Every change a key or an operator makes (keys, webhook endpoints,
// connections, templates, publications, assets, plans, leak revocations)
// writes its record in the same DynamoDB transaction as the change itself:
// the stores of those resources take a *Change and add the Put it builds
// to their own TransactWriteItems, so a change and its record commit or
// fail together.
// Records live in the audit table for Retention (DynamoDB TTL; reads treat
// expired records as absent), are listed by GET /v1/audit-events, and each
// committed record is also sent to the events queue as an audit.recorded
// event.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/ids"
)

// Environment variables of the functions that write or read the log.
const (
	EnvTable       = "AUDIT_TABLE"
	EnvEventsQueue = "EVENTS_QUEUE_URL"
)

// Retention is how long a record is kept.
const Retention = 400 * 24 * time.Hour

// EventType is the type of the events-queue copy of a record.
const EventType = "audit.recorded"

// IDPrefix starts record ids; ids sort by time.
const IDPrefix = "aud"

// Who can act.
const (
	ActorAPIKey         = "api_key"         // id: the key's id
	ActorOperator       = "operator"        // id: the operator's AWS identity (ARN)
	ActorSecretScanning = "secret_scanning" // id: the reporting partner ("github")
)

// Actions, named <target>.<what happened>.
const (
	KeyCreated           = "key.created"
	KeyRotated           = "key.rotated"
	KeyRevoked           = "key.revoked"
	KeyPrimaryReset      = "key.primary_reset"
	KeyLeakRevoked       = "key.leak_revoked"
	WebhookCreated       = "webhook_endpoint.created"
	WebhookUpdated       = "webhook_endpoint.updated"
	WebhookDeleted       = "webhook_endpoint.deleted"
	WebhookSecretRotated = "webhook_endpoint.secret_rotated"
	DeliveryRedelivered  = "webhook_delivery.redelivery_requested"
	ConnectionCreated    = "connection.created"
	ConnectionDeleted    = "connection.deleted"
	TemplateCreated      = "template.created"
	TemplateReplaced     = "template.replaced"
	TemplateDeleted      = "template.deleted"
	PublicationCreated   = "publication.created"
	PublicationCanceled  = "publication.canceled"
	WorkspacePlanChanged = "workspace.plan_changed"
	AssetCreated         = "asset.created"
	AssetDeleted         = "asset.deleted"
	// A console link opened (by a key or an operator), and a console link
	// or session revoked (signing out included).
	ConsoleSessionCreated = "console_session.created"
	ConsoleSessionRevoked = "console_session.revoked"
)

// Actions lists every action, for the API's filter and the docs.
func Actions() []string {
	return []string{KeyCreated, KeyRotated, KeyRevoked, KeyPrimaryReset, KeyLeakRevoked,
		WebhookCreated, WebhookUpdated, WebhookDeleted, WebhookSecretRotated, DeliveryRedelivered,
		ConnectionCreated, ConnectionDeleted, TemplateCreated, TemplateReplaced, TemplateDeleted,
		PublicationCreated, PublicationCanceled, WorkspacePlanChanged, AssetCreated, AssetDeleted,
		ConsoleSessionCreated, ConsoleSessionRevoked}
}

// Target types.
const (
	TargetKey         = "api_key"
	TargetWebhook     = "webhook_endpoint"
	TargetDelivery    = "webhook_delivery"
	TargetConnection  = "connection"
	TargetTemplate    = "template"
	TargetPublication = "publication"
	TargetWorkspace   = "workspace"
	TargetAsset       = "asset"
	TargetConsole     = "console_session"
)

// Actor is who made a change.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Target is what a change was made to.
type Target struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Context is who changes things, where and from where: one per request.
type Context struct {
	Workspace string
	Env       string // "live" or "test": the log a record is listed in
	Actor     Actor
	RequestID string
	SourceIP  string
	UserAgent string
}

// maxUserAgent bounds what a client can make us store.
const maxUserAgent = 256

func (c Context) check() error {
	switch {
	case c.Workspace == "" || (c.Env != "live" && c.Env != "test"):
		return errors.New("audit: the change has no workspace or environment")
	case c.Actor.Type == "" || c.Actor.ID == "":
		return errors.New("audit: the change has no actor")
	}
	return nil
}

// Record is one entry of the log.
type Record struct {
	ID      string
	Context Context
	Action  string
	Target  Target
	At      time.Time
	Details map[string]string
}

// Sender is the part of the SQS client the log uses.
type Sender interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Log builds audit records for other stores' transactions and copies the
// committed ones to the events queue.
type Log struct {
	table    string
	now      func() time.Time
	rand     io.Reader
	sqs      Sender
	queueURL string
	log      *slog.Logger
}

// Options are the log's optional dependencies.
type Options struct {
	Now  func() time.Time
	Rand io.Reader // entropy for ids; crypto/rand when nil
	// SQS and EventsQueueURL, when both set, receive a copy of every
	// committed record.
	SQS            Sender
	EventsQueueURL string
	Logger         *slog.Logger
}

// NewLog returns the log of table.
func NewLog(table string, o Options) (*Log, error) {
	if table == "" {
		return nil, errors.New("audit: the table is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Log{table: table, now: o.Now, rand: o.Rand, sqs: o.SQS, queueURL: o.EventsQueueURL, log: o.Logger}, nil
}

// Table is the audit table's name.
func (l *Log) Table() string { return l.table }

// For starts the changes of one request made in context c.
func (l *Log) For(c Context) *Change {
	if len(c.UserAgent) > maxUserAgent {
		c.UserAgent = c.UserAgent[:maxUserAgent]
	}
	for !utf8.ValidString(c.UserAgent) {
		c.UserAgent = c.UserAgent[:len(c.UserAgent)-1]
	}
	return &Change{log: l, ctx: c}
}

// Change is the audit side of one request's changes. A store that changes
// something calls Put for the record and puts it in the change's own
// transaction, then Committed once that transaction succeeded. A nil
// *Change refuses every Put: no change can be written without its record.
type Change struct {
	log     *Log
	ctx     Context
	pending []Record
	done    []Record
}

// Done lists the records committed so far: what the request changed.
func (c *Change) Done() []Record {
	if c == nil {
		return nil
	}
	return c.done
}

// Context is who makes the change.
func (c *Change) Context() Context { return c.ctx }

// Item keys and attributes.
const (
	attrPK, attrSK, attrTTL            = "pk", "sk", "ttl"
	attrAction, attrActorType, attrAct = "action", "actorType", "actorId"
	attrTargetType, attrTarget         = "targetType", "targetId"
	attrAt, attrRequest, attrIP        = "at", "requestId", "sourceIp"
	attrUA, attrDetails, attrWS, attrE = "userAgent", "details", "ws", "env"
)

func partition(ws, env string) string { return "AUDIT#" + ws + "#" + env }

// Put builds the record of one change made in environment env (the log it
// is listed in: a change to the whole workspace, its plan, is recorded in
// both) and the transaction item that writes it. Called again for the same
// action and target (a retried transaction), it replaces the pending
// record.
func (c *Change) Put(env, action string, target Target, details map[string]string) (types.TransactWriteItem, error) {
	if c == nil || c.log == nil {
		return types.TransactWriteItem{}, errors.New("audit: a change needs an audit context")
	}
	cx := c.ctx
	cx.Env = env
	if err := cx.check(); err != nil {
		return types.TransactWriteItem{}, err
	}
	if action == "" || target.Type == "" || target.ID == "" {
		return types.TransactWriteItem{}, errors.New("audit: a record needs an action and a target")
	}
	now := c.log.now().UTC().Truncate(time.Millisecond)
	id, err := ids.New(IDPrefix, now, c.log.rand)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	rec := Record{ID: id, Context: cx, Action: action, Target: target, At: now, Details: details}
	replaced := false
	for i, p := range c.pending {
		if p.Action == action && p.Target == target && p.Context.Env == rec.Context.Env {
			c.pending[i], replaced = rec, true
		}
	}
	if !replaced {
		c.pending = append(c.pending, rec)
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(c.log.table), Item: item(rec),
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}, nil
}

func item(r Record) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		attrPK: dynamo.S(partition(r.Context.Workspace, r.Context.Env)), attrSK: dynamo.S(r.ID),
		attrWS: dynamo.S(r.Context.Workspace), attrE: dynamo.S(r.Context.Env),
		attrAction: dynamo.S(r.Action), attrActorType: dynamo.S(r.Context.Actor.Type), attrAct: dynamo.S(r.Context.Actor.ID),
		attrTargetType: dynamo.S(r.Target.Type), attrTarget: dynamo.S(r.Target.ID),
		attrAt: dynamo.Millis(r.At), attrTTL: dynamo.N(r.At.Add(Retention).Unix()),
	}
	for name, v := range map[string]string{attrRequest: r.Context.RequestID, attrIP: r.Context.SourceIP, attrUA: r.Context.UserAgent} {
		if v != "" {
			it[name] = dynamo.S(v)
		}
	}
	if len(r.Details) > 0 {
		m := make(map[string]types.AttributeValue, len(r.Details))
		for k, v := range r.Details {
			m[k] = dynamo.S(v)
		}
		it[attrDetails] = &types.AttributeValueMemberM{Value: m}
	}
	return it
}

func decode(it map[string]types.AttributeValue) Record {
	r := Record{
		ID: dynamo.Str(it, attrSK), Action: dynamo.Str(it, attrAction),
		Context: Context{
			Workspace: dynamo.Str(it, attrWS), Env: dynamo.Str(it, attrE),
			Actor:     Actor{Type: dynamo.Str(it, attrActorType), ID: dynamo.Str(it, attrAct)},
			RequestID: dynamo.Str(it, attrRequest), SourceIP: dynamo.Str(it, attrIP), UserAgent: dynamo.Str(it, attrUA),
		},
		Target: Target{Type: dynamo.Str(it, attrTargetType), ID: dynamo.Str(it, attrTarget)},
	}
	if t := dynamo.Time(it, attrAt); t != nil {
		r.At = *t
	}
	if m, ok := it[attrDetails].(*types.AttributeValueMemberM); ok {
		r.Details = make(map[string]string, len(m.Value))
		for k := range m.Value {
			r.Details[k] = dynamo.Str(m.Value, k)
		}
	}
	return r
}

// Committed tells the change that the transaction holding its pending
// records succeeded: they are copied to the events queue. The table is the
// log of record; a copy that cannot be sent is logged, never an error of
// the change, which has already happened.
func (c *Change) Committed(ctx context.Context) {
	if c == nil || c.log == nil {
		return
	}
	recs := c.pending
	c.pending = nil
	c.done = append(c.done, recs...)
	if c.log.sqs == nil || c.log.queueURL == "" {
		return
	}
	for _, r := range recs {
		if err := c.log.send(ctx, r); err != nil {
			c.log.log.WarnContext(ctx, "audit record not copied to the events queue", "audit_id", r.ID, "action", r.Action, "err", err)
		}
	}
}

// Discard forgets the pending records of a transaction that failed.
func (c *Change) Discard() {
	if c != nil {
		c.pending = nil
	}
}

// Transactor runs DynamoDB transactions.
type Transactor interface {
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Transact writes items and the record of action on target in env's log
// in one transaction, retrying transaction conflicts. The record is the
// last item, so cancellation reasons index the caller's items as given.
func (c *Change) Transact(ctx context.Context, db Transactor, env, action string, target Target, details map[string]string, items ...types.TransactWriteItem) error {
	rec, err := c.Put(env, action, target, details)
	if err != nil {
		return err
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: append(items, rec)}
	for attempt := 0; ; attempt++ {
		_, err = db.TransactWriteItems(ctx, in)
		if err == nil {
			c.Committed(ctx)
			return nil
		}
		if !dynamo.Conflicted(dynamo.CancelReasons(err)) || attempt >= dynamo.Attempts {
			c.Discard()
			return err
		}
		if err := dynamo.Backoff(ctx, attempt); err != nil {
			c.Discard()
			return err
		}
	}
}

// TimeFormat is the API's time format.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// View is a record as the API and the events queue show it.
type View struct {
	Object      string            `json:"object"`
	ID          string            `json:"id"`
	Action      string            `json:"action"`
	Actor       Actor             `json:"actor"`
	Target      Target            `json:"target"`
	Environment string            `json:"environment"`
	OccurredAt  string            `json:"occurredAt"`
	RequestID   string            `json:"requestId"`
	SourceIP    string            `json:"sourceIp"`
	UserAgent   string            `json:"userAgent"`
	Details     map[string]string `json:"details"`
}

// ViewOf is the API's form of r.
func ViewOf(r Record) View {
	d := r.Details
	if d == nil {
		d = map[string]string{}
	}
	return View{Object: "audit_event", ID: r.ID, Action: r.Action, Actor: r.Context.Actor, Target: r.Target,
		Environment: r.Context.Env, OccurredAt: r.At.UTC().Format(TimeFormat), RequestID: r.Context.RequestID,
		SourceIP: r.Context.SourceIP, UserAgent: r.Context.UserAgent, Details: d}
}

// The events-queue message carries the same attributes as every framegate
// event (package webhooks), so one consumer routes them all.
func (l *Log) send(ctx context.Context, r Record) error {
	data, err := json.Marshal(ViewOf(r))
	if err != nil {
		return err
	}
	id, err := ids.New("evt", l.now(), l.rand)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"id": id, "type": EventType, "timestamp": l.now().UTC().Format(TimeFormat), "data": json.RawMessage(data)})
	if err != nil {
		return err
	}
	attr := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err = l.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(l.queueURL), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"type": attr(EventType), "workspace": attr(r.Context.Workspace), "environment": attr(r.Context.Env),
		},
	})
	if err != nil {
		return fmt.Errorf("send audit record %s: %w", r.ID, err)
	}
	return nil
}
