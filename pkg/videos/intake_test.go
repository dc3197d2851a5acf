package videos_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

type intakeFixture struct {
	h      lambdas.SQSFunc
	sqs    *sqs.Client
	queues map[string]string
	store  *videos.Store
	ws     string
}

func setupIntake(t *testing.T) *intakeFixture {
	t.Helper()
	env := testenv.New(t)
	ctx := context.Background()
	ks, err := keystore.Open(ctx, env.Deps("KeysFunction", nil))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := ks.CreateWorkspace(ctx, "Automations", ratelimit.DefaultPlan, ratelimit.Plan{QueuedRenders: 1})
	if err != nil {
		t.Fatal(err)
	}
	d := env.Deps("IntakeFunction", nil)
	h, err := videos.NewIntakeWorker(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	st, err := videos.OpenStore(d)
	if err != nil {
		t.Fatal(err)
	}
	f := &intakeFixture{h: h, sqs: sqs.NewFromConfig(env.AWS), queues: map[string]string{}, store: st, ws: ws.ID}
	for _, q := range []string{"IntakeQueue", "IntakeDLQ", "RenderQueue"} {
		f.queues[q] = env.Resources.ByID[q].URL
	}
	return f
}

func str(v string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// send puts a request on the intake queue as a producer would.
func (f *intakeFixture) send(t *testing.T, body string, attrs map[string]string) {
	t.Helper()
	a := map[string]sqstypes.MessageAttributeValue{}
	for k, v := range attrs {
		a[k] = str(v)
	}
	if _, err := f.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(f.queues["IntakeQueue"]), MessageBody: &body, MessageAttributes: a}); err != nil {
		t.Fatal(err)
	}
}

func (f *intakeFixture) receive(t *testing.T, queue string) []sqstypes.Message {
	t.Helper()
	var out []sqstypes.Message
	for {
		resp, err := f.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(f.queues[queue]), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Messages) == 0 {
			return out
		}
		out = append(out, resp.Messages...)
	}
}

// sqsEventOf is what Lambda's event source hands the function for ms.
func sqsEventOf(ms []sqstypes.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range ms {
		ev.Records = append(ev.Records, devstack.Record(m, "", devstack.Region))
	}
	return ev
}

func spec(seconds float64) string {
	return fmt.Sprintf(`{"spec":{"resolution":"sd","scenes":[{"duration":%g,"background":{"color":"#000000"}}]},"webhookUrl":"https://93.184.215.14/fg"}`, seconds)
}

func TestValidRequestCreatesOneVideo(t *testing.T) {
	f := setupIntake(t)
	f.send(t, spec(2), map[string]string{"workspace": f.ws, "environment": "live"})
	ms := f.receive(t, "IntakeQueue")
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	for range 2 { // the second call is SQS delivering the same message again
		resp, err := f.h(context.Background(), sqsEventOf(ms))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%+v %v", resp, err)
		}
	}
	vs, _, err := f.store.List(context.Background(), f.ws, apikey.Live, videos.Filter{}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Status != videos.Queued || vs[0].WebhookURL != "https://93.184.215.14/fg" || vs[0].Duration != 2 {
		t.Fatalf("videos %+v", vs)
	}
	if r := f.receive(t, "RenderQueue"); len(r) != 1 {
		t.Errorf("%d render messages, want 1", len(r))
	}
	if d := f.receive(t, "IntakeDLQ"); len(d) != 0 {
		t.Errorf("a valid request reached the DLQ")
	}
}

func TestInvalidRequestsGoToTheDLQWithTheirReason(t *testing.T) {
	f := setupIntake(t)
	// Fill the workspace's queue (cap 1) so the last case is queue_full.
	f.send(t, spec(1), map[string]string{"workspace": f.ws, "environment": "live"})
	cases := []struct {
		body        string
		attrs       map[string]string
		code, field string
	}{
		{spec(1), map[string]string{"environment": "live"}, "invalid_request", "workspace"},
		{spec(1), map[string]string{"workspace": f.ws, "environment": "prod"}, "invalid_request", "environment"},
		{"not json", map[string]string{"workspace": f.ws, "environment": "live"}, "invalid_request", ""},
		{`{"spec":{"resolution":"8k","scenes":[]}}`, map[string]string{"workspace": f.ws, "environment": "live"}, "invalid_request", "/spec/resolution"},
		{spec(31), map[string]string{"workspace": f.ws, "environment": "test"}, "sandbox_duration_exceeded", "/spec/scenes"},
		{spec(1), map[string]string{"workspace": "ws_nosuchworkspace", "environment": "live"}, "not_found", ""},
		{spec(1), map[string]string{"workspace": f.ws, "environment": "live", "idempotencyKey": "x"}, "queue_full", ""},
	}
	ctx := context.Background()
	resp, err := f.h(ctx, sqsEventOf(f.receive(t, "IntakeQueue")))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatal(resp, err)
	}
	for _, c := range cases {
		f.send(t, c.body, c.attrs)
	}
	ms := f.receive(t, "IntakeQueue")
	if len(ms) != len(cases) {
		t.Fatalf("%d messages", len(ms))
	}
	resp, err = f.h(ctx, sqsEventOf(ms))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("rejections must be handled, not retried: %+v %v", resp, err)
	}
	dead := f.receive(t, "IntakeDLQ")
	if len(dead) != len(cases) {
		t.Fatalf("%d messages in the DLQ, want %d", len(dead), len(cases))
	}
	got := map[string]sqstypes.Message{}
	for _, m := range dead {
		got[aws.ToString(m.Body)+"|"+aws.ToString(m.MessageAttributes["workspace"].StringValue)+"|"+aws.ToString(m.MessageAttributes["environment"].StringValue)+"|"+aws.ToString(m.MessageAttributes["idempotencyKey"].StringValue)] = m
	}
	for _, c := range cases {
		m, ok := got[c.body+"|"+c.attrs["workspace"]+"|"+c.attrs["environment"]+"|"+c.attrs["idempotencyKey"]]
		if !ok {
			t.Errorf("%v: not in the DLQ", c.attrs)
			continue
		}
		a := m.MessageAttributes
		if aws.ToString(a["code"].StringValue) != c.code || aws.ToString(a["field"].StringValue) != c.field ||
			aws.ToString(a["reason"].StringValue) == "" || aws.ToString(a["sourceMessageId"].StringValue) == "" {
			t.Errorf("%s %v: DLQ attributes code=%q field=%q reason=%q", c.body, c.attrs,
				aws.ToString(a["code"].StringValue), aws.ToString(a["field"].StringValue), aws.ToString(a["reason"].StringValue))
		}
	}
	vs, _, _ := f.store.List(ctx, f.ws, apikey.Live, videos.Filter{}, "", 10)
	if len(vs) != 1 {
		t.Errorf("%d videos, want only the first", len(vs))
	}
}

type brokenDLQ struct{}

func (brokenDLQ) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return nil, errors.New("sqs is down")
}

func TestRejectionThatCannotReachTheDLQIsRetried(t *testing.T) {
	in := &videos.Intake{DLQ: brokenDLQ{}, DLQURL: "x", Logger: testenv.Logger(t)}
	resp, err := in.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: "{}"}}})
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Fatalf("%+v %v", resp, err)
	}
}

// TestIntakeOnTheStack: a request dropped on the intake queue of the local
// stack becomes a video without any API call.
func TestIntakeOnTheStack(t *testing.T) {
	s := testenv.NewStack(t)
	var getenv func(string) string
	for _, fn := range s.Template().Functions {
		if fn.LogicalID == "IntakeFunction" {
			e, err := s.Resources().Env(fn)
			if err != nil {
				t.Fatal(err)
			}
			getenv = func(k string) string { return e[k] }
		}
	}
	d := lambdas.Deps{AWS: s.AWS(), Getenv: getenv}
	ks, err := keystore.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := ks.CreateWorkspace(context.Background(), "Stack", ratelimit.DefaultPlan, ratelimit.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := videos.OpenStore(d)
	if err != nil {
		t.Fatal(err)
	}
	body := spec(1)
	if _, err := sqs.NewFromConfig(s.AWS()).SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(s.Resources().ByID["IntakeQueue"].URL), MessageBody: &body,
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{"workspace": str(ws.ID), "environment": str("test")},
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		vs, _, err := st.List(context.Background(), ws.ID, apikey.Test, videos.Filter{}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) == 1 && vs[0].Watermark {
			return // created (and possibly already rendered by the stack's worker)
		}
		if i > 100 {
			t.Fatalf("no video after 10 s: %+v", vs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
