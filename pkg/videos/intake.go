package videos

// The intake turns render requests that trusted AWS producers drop on the
// intake queue into videos, exactly as POST /v1/videos does: the body is the
// same JSON (a spec, or a templateId with variables, and an optional
// webhookUrl), the workspace and environment travel as the message
// attributes "workspace" and "environment", and the same validation, limits,
// idempotency and events apply. Producers are authorized by IAM
// (sqs:SendMessage on the queue), not by an API key.
//
// A message that can never succeed (invalid body, unknown workspace, full
// queue) is moved to the intake DLQ by the handler itself, with the reason
// as message attributes, logged, and deleted: it is never silently dropped
// and never retried pointlessly. A failure a retry can fix is reported to
// SQS, which redelivers it (and moves it to the DLQ after maxReceiveCount).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/templates"
)

// Message attributes a producer sets.
const (
	AttrWorkspace   = "workspace"
	AttrEnvironment = "environment"
	// AttrIdempotencyKey optionally names the request, as the
	// Idempotency-Key header does; without it the SQS message id is used,
	// so a redelivered message never creates a second video.
	AttrIdempotencyKey = "idempotencyKey"
)

// Attributes of a rejected message in the DLQ.
const (
	AttrReason          = "reason"
	AttrCode            = "code"
	AttrField           = "field"
	AttrSourceMessageID = "sourceMessageId"
)

// Creator is the service call a message becomes.
type Creator interface {
	Create(ctx context.Context, ws string, env apikey.Env, body []byte, idemKey string) (Created, error)
}

// Intake is the handler of functions/intake.
type Intake struct {
	Videos Creator
	DLQ    Queue
	DLQURL string
	Logger *slog.Logger
}

// NewIntakeWorker is the constructor of functions/intake.
func NewIntakeWorker(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
	d = d.WithDefaults()
	dlq := d.Getenv("INTAKE_DLQ_URL")
	if dlq == "" {
		return nil, errors.New("intake: INTAKE_DLQ_URL is not set")
	}
	catalog, err := templates.OpenCatalog(ctx, d)
	if err != nil {
		return nil, err
	}
	sv, err := openCreator(ctx, d, catalog)
	if err != nil {
		return nil, err
	}
	in := &Intake{Videos: sv, DLQ: sqs.NewFromConfig(d.AWS), DLQURL: dlq, Logger: d.Logger}
	return in.Handle, nil
}

// Handle processes a batch; only failures a retry can fix are reported.
func (in *Intake) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		if err := in.process(ctx, rec); err != nil {
			in.Logger.ErrorContext(ctx, "intake message will be retried", "message", rec.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

func attr(rec events.SQSMessage, name string) string {
	if a, ok := rec.MessageAttributes[name]; ok && a.StringValue != nil {
		return *a.StringValue
	}
	return ""
}

func (in *Intake) process(ctx context.Context, rec events.SQSMessage) error {
	ws, env := attr(rec, AttrWorkspace), apikey.Env(attr(rec, AttrEnvironment))
	switch {
	case ws == "":
		return in.reject(ctx, rec, apierr.Invalid(AttrWorkspace, "The message attribute %q is required.", AttrWorkspace))
	case !env.Valid():
		return in.reject(ctx, rec, apierr.Invalid(AttrEnvironment, "The message attribute %q must be live or test.", AttrEnvironment))
	}
	key := attr(rec, AttrIdempotencyKey)
	if key == "" {
		key = "sqs:" + rec.MessageId
	}
	out, err := in.Videos.Create(ctx, ws, env, []byte(rec.Body), key)
	if err == nil {
		in.Logger.InfoContext(ctx, "render request accepted", "message", rec.MessageId, "video", out.VideoID,
			"workspace", ws, "environment", env, "replayed", out.Replayed)
		return nil
	}
	var e *apierr.Error
	switch {
	case !errors.As(err, &e) || apierr.Status(e.Code) >= 500:
		return err
	case e.Code == apierr.Conflict:
		// The same request is being handled by another delivery: retry.
		return err
	}
	return in.reject(ctx, rec, e)
}

// reject moves a message that can never succeed to the DLQ with its reason.
func (in *Intake) reject(ctx context.Context, rec events.SQSMessage, e *apierr.Error) error {
	s := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	attrs := map[string]sqstypes.MessageAttributeValue{
		AttrReason: s(e.Message), AttrCode: s(string(e.Code)), AttrSourceMessageID: s(rec.MessageId),
	}
	if e.Field != "" {
		attrs[AttrField] = s(e.Field)
	}
	for _, name := range []string{AttrWorkspace, AttrEnvironment, AttrIdempotencyKey} {
		if v := attr(rec, name); v != "" {
			attrs[name] = s(v)
		}
	}
	body := rec.Body
	if body == "" {
		body = "{}" // SQS refuses empty bodies
	}
	if _, err := in.DLQ.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &in.DLQURL, MessageBody: &body, MessageAttributes: attrs,
	}); err != nil {
		return fmt.Errorf("move rejected message %s to the DLQ: %w", rec.MessageId, err)
	}
	in.Logger.WarnContext(ctx, "render request rejected and moved to the intake DLQ", "message", rec.MessageId,
		"workspace", attr(rec, AttrWorkspace), "environment", attr(rec, AttrEnvironment),
		"code", e.Code, "field", e.Field, "reason", e.Message)
	return nil
}
