package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/webhooks"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// customerAccount is the AWS account of the customer whose queue and bus
// receive events: not the account framegate runs in (moto's default
// 123456789012), so only credentials of a role assumed in it reach them.
const customerAccount = "111122223333"

// stsSpy records the AssumeRole requests the worker makes.
type stsSpy struct {
	next aws.HTTPClient
	mu   sync.Mutex
	got  []url.Values
}

func (s *stsSpy) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if v, err := url.ParseQuery(string(b)); err == nil && v.Get("Action") == "AssumeRole" {
			s.mu.Lock()
			s.got = append(s.got, v)
			s.mu.Unlock()
		}
	}
	return s.next.Do(r)
}

func (s *stsSpy) calls() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.got...)
}

// customer is the customer's side: clients with the credentials of a role
// in customerAccount.
type customer struct {
	role string
	sqs  *sqs.Client
	eb   *eventbridge.Client
}

func newCustomer(t *testing.T, h *harness) customer {
	t.Helper()
	role := "arn:aws:iam::" + customerAccount + ":role/" + h.tenv.Prefix + "-events"
	out, err := sts.NewFromConfig(h.tenv.AWS).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("customer-setup"), ExternalId: aws.String("setup")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.tenv.AWS.Copy()
	c := out.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return customer{role: role, sqs: sqs.NewFromConfig(cfg), eb: eventbridge.NewFromConfig(cfg)}
}

// queue creates a queue in the customer's account and returns its URL as
// AWS shows it, and its ARN.
func (c customer) queue(t *testing.T, name string) (string, string) {
	t.Helper()
	ctx := context.Background()
	q, err := c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.sqs.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	a, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return awsQueueURL(name), a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

func awsQueueURL(name string) string {
	return "https://sqs." + devstack.Region + ".amazonaws.com/" + customerAccount + "/" + name
}

// TestAWSDestinations: an SQS queue and an EventBridge bus in the
// customer's account receive framegate's events through the customer's
// role, assumed with the endpoint's external id: the same event, its link
// signed for the attempt, an SQS message signed as a webhook (v1a here),
// logged like any delivery. The queue is out of reach of framegate's own
// credentials: only the assumed role gets there.
func TestAWSDestinations(t *testing.T) {
	spy := &stsSpy{}
	h := newHarness(t, config{schedule: "0s,1s", wrap: func(c aws.HTTPClient) aws.HTTPClient { spy.next = c; return spy }})
	cust := newCustomer(t, h)
	inbox, _ := cust.queue(t, h.tenv.Prefix+"-inbox")
	_, busInboxARN := cust.queue(t, h.tenv.Prefix+"-bus-inbox")
	ctx := context.Background()
	bus, err := cust.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(h.tenv.Prefix)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cust.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("framegate"), EventBusName: aws.String(h.tenv.Prefix),
		EventPattern: aws.String(`{"source":["framegate"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cust.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("framegate"), EventBusName: aws.String(h.tenv.Prefix),
		Targets: []ebtypes.Target{{Id: aws.String("inbox"), Arn: aws.String(busInboxARN)}}}); err != nil {
		t.Fatal(err)
	}
	sqsEP, _ := h.create("live", webhooks.NewEndpoint{Type: webhooks.TypeSQS, URL: inbox, RoleARN: cust.role, Scheme: webhooksig.SchemeV1a})
	busEP, _ := h.create("live", webhooks.NewEndpoint{Type: webhooks.TypeEventBridge, URL: aws.ToString(bus.EventBusArn), RoleARN: cust.role})
	if !strings.HasPrefix(sqsEP.ExternalID, webhooks.ExternalIDPrefix) || sqsEP.ExternalID != busEP.ExternalID {
		t.Fatalf("external ids %q %q: one per role and environment", sqsEP.ExternalID, busEP.ExternalID)
	}

	// framegate's own credentials do not reach the customer's queue.
	_, err = h.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(inbox), MessageBody: aws.String("{}")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.ErrorCode(), "NonExistentQueue") {
		t.Fatalf("framegate's own credentials reached the customer's queue: %v", err)
	}

	h.run(nil)
	ev, err := webhooks.NewEvent(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_aws"}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev.Links = []webhooks.Link{{Field: "downloadUrl", ExpiresField: "downloadExpiresAt", Key: "renders/live/x/vid_aws.mp4"}}
	h.publishEvent(ev, webhooks.Route{})

	// The queue: the event as its body, the webhook headers as attributes,
	// the v1a signature verifying with the endpoint's public key.
	ms := recv(t, cust.sqs, inbox, 1, 15*time.Second)
	if len(ms) != 1 {
		t.Fatalf("%d messages in the customer's queue", len(ms))
	}
	m := ms[0]
	var got struct {
		ID, Type string
		Data     map[string]string
	}
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &got); err != nil || got.ID != ev.ID || got.Type != ev.Type ||
		got.Data["videoId"] != "vid_aws" || !strings.Contains(got.Data["downloadUrl"], "X-Amz-Signature=") {
		t.Fatalf("queue message %s: %v", aws.ToString(m.Body), err)
	}
	hdr := http.Header{}
	for _, k := range []string{webhooks.AttrWebhookID, webhooks.AttrWebhookTimestamp, webhooks.AttrWebhookSignature} {
		hdr[k] = []string{aws.ToString(m.MessageAttributes[k].StringValue)}
	}
	if err := webhooksig.Verify(sqsEP.PublicKey, hdr, []byte(aws.ToString(m.Body)), time.Minute); err != nil {
		t.Errorf("the message's signature: %v (attributes %v)", err, hdr)
	}
	if typ := aws.ToString(m.MessageAttributes[webhooks.AttrType].StringValue); typ != ev.Type {
		t.Errorf("type attribute %q", typ)
	}

	// The bus: an EventBridge event whose detail is the event, routed by
	// the customer's rule to their queue.
	bs := recv(t, cust.sqs, awsQueueURL(h.tenv.Prefix+"-bus-inbox"), 1, 15*time.Second)
	if len(bs) != 1 {
		t.Fatalf("%d events through the bus", len(bs))
	}
	var envelope struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct{ ID, Type string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(bs[0].Body)), &envelope); err != nil || envelope.Source != webhooks.EventSource ||
		envelope.DetailType != ev.Type || envelope.Detail.ID != ev.ID {
		t.Fatalf("bus event %s: %v", aws.ToString(bs[0].Body), err)
	}

	// Logged like any delivery.
	for _, ep := range []webhooks.Endpoint{sqsEP, busEP} {
		d := h.waitDelivery(ep.ID, 10*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
		if d.AttemptCount != 1 || !strings.HasPrefix(d.Attempts[0].Response, map[string]string{webhooks.TypeSQS: "MessageId ", webhooks.TypeEventBridge: "EventId "}[ep.Type]) {
			t.Errorf("%s delivery %+v", ep.Type, d)
		}
	}

	// Every role was assumed with the endpoint's external id, and no more
	// than once (the credentials are cached).
	var calls []url.Values // the worker's, not the customer's setup
	for _, c := range spy.calls() {
		if c.Get("RoleSessionName") == webhooks.RoleSessionName {
			calls = append(calls, c)
		}
	}
	if len(calls) != 1 {
		t.Errorf("%d AssumeRole calls for one role, want 1", len(calls))
	}
	for _, c := range calls {
		if c.Get("RoleArn") != cust.role || c.Get("ExternalId") != sqsEP.ExternalID {
			t.Errorf("AssumeRole %v, want role %s with external id %s", c, cust.role, sqsEP.ExternalID)
		}
	}
}

// TestAWSDestinationRetryAndRecover: a queue that does not exist yet fails
// every scheduled attempt, with the reason in the log; once the customer
// creates it, recovery delivers the event.
func TestAWSDestinationRetryAndRecover(t *testing.T) {
	h := newHarness(t, config{schedule: "0s,1s"})
	cust := newCustomer(t, h)
	name := h.tenv.Prefix + "-later"
	ep, secret := h.create("live", webhooks.NewEndpoint{Type: webhooks.TypeSQS, URL: awsQueueURL(name), RoleARN: cust.role})
	h.run(nil)
	start := time.Now().Add(-time.Second)
	ev := h.publish(webhooks.PublishExecuted, map[string]any{"publicationId": "pub_1"}, webhooks.Route{})
	d := h.waitDelivery(ep.ID, 15*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Failed })
	if d.AttemptCount != 2 || !strings.Contains(d.Attempts[1].Error, "assumed the role "+cust.role+" but could not send to the queue") ||
		!strings.Contains(d.Attempts[1].Error, "NonExistentQueue") {
		t.Fatalf("delivery %+v", d)
	}

	inbox, _ := cust.queue(t, name)
	rcv := webhooks.Recovery{ID: "rcv_aws", Workspace: h.ws, Env: "live", Endpoint: ep.ID, Since: start.UnixMilli(), Until: time.Now().UnixMilli()}
	if err := h.w.Queue.Recover(context.Background(), rcv); err != nil {
		t.Fatal(err)
	}
	ms := recv(t, cust.sqs, inbox, 1, 15*time.Second)
	if len(ms) != 1 || !strings.Contains(aws.ToString(ms[0].Body), ev.ID) {
		t.Fatalf("after recovery: %v", ms)
	}
	hdr := http.Header{}
	for _, k := range []string{webhooks.AttrWebhookID, webhooks.AttrWebhookTimestamp, webhooks.AttrWebhookSignature} {
		hdr[k] = []string{aws.ToString(ms[0].MessageAttributes[k].StringValue)}
	}
	if err := webhooksig.Verify(secret, hdr, []byte(aws.ToString(ms[0].Body)), time.Minute); err != nil {
		t.Errorf("v1 signature of the recovered message: %v", err)
	}
	d = h.waitDelivery(ep.ID, 10*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	if last := d.Attempts[len(d.Attempts)-1]; last.Recovery != rcv.ID || !last.Manual {
		t.Errorf("recovered attempt %+v", last)
	}
}
