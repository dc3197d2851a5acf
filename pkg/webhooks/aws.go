package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/framegate/framegate/pkg/webhooksig"
)

// EventSource is the source of the events framegate puts on EventBridge
// buses: rules match it ({"source": ["framegate"]}).
const EventSource = "framegate"

// RoleSessionName names framegate's sessions in the customer's CloudTrail.
const RoleSessionName = "framegate-webhooks"

// maxCachedRoles bounds the assumed-role credentials a worker keeps; past
// it the cache starts afresh (each entry is a role refreshed every 15 min).
const maxCachedRoles = 512

// AWSSender delivers events into customers' AWS accounts: an SQS message
// whose body is the event and whose attributes carry the webhook-id,
// webhook-timestamp and webhook-signature a webhook's headers would, or an
// EventBridge event whose detail is the event (detail-type its type,
// source "framegate"). It reaches them through the customer's role,
// assumed with the endpoint's external id; the credentials are cached per
// role and refreshed before they expire, so a steady flow of events costs
// one AssumeRole per role every quarter of an hour.
type AWSSender struct {
	cfg aws.Config
	sts stscreds.AssumeRoleAPIClient

	mu    sync.Mutex
	creds map[string]aws.CredentialsProvider
}

// NewAWSSender assumes roles with the function's own credentials from cfg.
func NewAWSSender(cfg aws.Config) *AWSSender {
	return &AWSSender{cfg: cfg, sts: sts.NewFromConfig(cfg), creds: map[string]aws.CredentialsProvider{}}
}

func (a *AWSSender) credentials(t AWSTarget) aws.CredentialsProvider {
	key := t.RoleARN + "\x00" + t.ExternalID
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.creds[key]; ok {
		return p
	}
	if len(a.creds) >= maxCachedRoles {
		a.creds = map[string]aws.CredentialsProvider{}
	}
	p := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(a.sts, t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(t.ExternalID)
		o.RoleSessionName = RoleSessionName
		o.Duration = 15 * time.Minute
	}))
	a.creds[key] = p
	return p
}

// SQS message attributes of a delivery, named like the webhook headers.
const (
	AttrWebhookID        = webhooksig.HeaderID
	AttrWebhookTimestamp = webhooksig.HeaderTimestamp
	AttrWebhookSignature = webhooksig.HeaderSignature
)

// FIFOGroup is the message group of every delivery to a FIFO queue: one
// group keeps the events in the order they were sent.
const FIFOGroup = "framegate"

// Send delivers one attempt of body to t, signed with keys at at, and
// fills res with the outcome: Delivered, or Retry with the AWS error. It
// never returns an error of its own; the caller times it.
func (a *AWSSender) Send(ctx context.Context, t AWSTarget, msgID string, at time.Time, body []byte, keys []string, res Result) Result {
	var ev struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type == "" {
		res.Outcome, res.Error = Refused, "the payload is not an event"
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	creds := a.credentials(t)
	var (
		answer string
		err    error
	)
	switch t.Type {
	case TypeSQS:
		answer, err = a.sendSQS(ctx, t, creds, msgID, at, ev.Type, body, keys)
	case TypeEventBridge:
		answer, err = a.putEvent(ctx, t, creds, ev.Type, body)
	default:
		res.Outcome, res.Error = Refused, "unknown destination type "+strconv.Quote(t.Type)
		return res
	}
	if err != nil {
		res.Outcome, res.Error = Retry, awsError(t, err)
		var re *awshttp.ResponseError
		if errors.As(err, &re) && !assumeFailed(err) {
			res.StatusCode = re.HTTPStatusCode()
		}
		return res
	}
	res.Outcome, res.StatusCode, res.Response = Delivered, 200, answer
	return res
}

func (a *AWSSender) sendSQS(ctx context.Context, t AWSTarget, creds aws.CredentialsProvider, msgID string, at time.Time, typ string, body []byte, keys []string) (string, error) {
	sig, err := webhooksig.Sign(msgID, at, body, keys...)
	if err != nil {
		return "", err
	}
	str := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(t.Address), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			AttrWebhookID: str(msgID), AttrWebhookTimestamp: str(strconv.FormatInt(at.Unix(), 10)),
			AttrWebhookSignature: str(sig), AttrType: str(typ),
		}}
	if t.FIFO() {
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(FIFOGroup), aws.String(msgID)
	}
	out, err := sqs.NewFromConfig(a.cfg, func(o *sqs.Options) { o.Region, o.Credentials = t.Region, creds }).SendMessage(ctx, in)
	if err != nil {
		return "", err
	}
	return "MessageId " + aws.ToString(out.MessageId), nil
}

func (a *AWSSender) putEvent(ctx context.Context, t AWSTarget, creds aws.CredentialsProvider, typ string, body []byte) (string, error) {
	out, err := eventbridge.NewFromConfig(a.cfg, func(o *eventbridge.Options) { o.Region, o.Credentials = t.Region, creds }).
		PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: aws.String(t.Address), Source: aws.String(EventSource), DetailType: aws.String(typ),
			Detail: aws.String(string(body)),
		}}})
	if err != nil {
		return "", err
	}
	if out.FailedEntryCount > 0 || len(out.Entries) != 1 {
		code, msg := "", "the event was not accepted"
		if len(out.Entries) == 1 {
			code, msg = aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage)
		}
		return "", &smithy.GenericAPIError{Code: code, Message: msg}
	}
	return "EventId " + aws.ToString(out.Entries[0].EventId), nil
}

// assumeFailed reports whether err is the role assumption failing (as
// opposed to the queue or bus refusing the message).
func assumeFailed(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if oe, ok := e.(*smithy.OperationError); ok && oe.ServiceID == sts.ServiceID {
			return true
		}
	}
	return false
}

// awsError says what failed in words the customer can act on, without
// Go's wrapping noise.
func awsError(t AWSTarget, err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %s", Timeout)
	}
	why := err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) {
		why = ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	if len(why) > 300 {
		why = why[:300]
	}
	if assumeFailed(err) {
		return fmt.Sprintf("could not assume the role %s with the external id %s (%s): its trust policy must allow "+
			"sts:AssumeRole to framegate's webhook worker with the condition sts:ExternalId = %s", t.RoleARN, t.ExternalID, why, t.ExternalID)
	}
	what := "send to the queue"
	if t.Type == TypeEventBridge {
		what = "put the event on the bus"
	}
	return fmt.Sprintf("assumed the role %s but could not %s %s (%s)", t.RoleARN, what, t.Address, why)
}
