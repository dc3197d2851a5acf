package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// failAfterTheChange appends, while armed, a condition that can never hold
// to every transaction that writes an audit record: the failure comes
// after the change's own items and its record, so DynamoDB must cancel all
// of them.
func failAfterTheChange(armed *atomic.Bool, auditTable string, fired *atomic.Int32) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("failAfterTheChange",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				tx, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput)
				if ok && armed.Load() && slices.ContainsFunc(tx.TransactItems, func(it types.TransactWriteItem) bool {
					return it.Put != nil && aws.ToString(it.Put.TableName) == auditTable
				}) {
					fired.Add(1)
					failing := *tx
					failing.TransactItems = append(slices.Clone(tx.TransactItems), types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
						TableName: aws.String(auditTable), ConditionExpression: aws.String("attribute_exists(pk)"),
						Key: map[string]types.AttributeValue{"pk": dynamo.S("never"), "sk": dynamo.S("never")},
					}})
					in.Parameters = &failing
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

// withFailures wraps the AWS config of every HTTP function of reg.
func withFailures(reg map[string]lambdas.Function, inject func(*middleware.Stack) error) map[string]lambdas.Function {
	for name, fn := range reg {
		if h := fn.HTTP; h != nil {
			fn.HTTP = func(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
				d.AWS = d.AWS.Copy()
				d.AWS.APIOptions = append(d.AWS.APIOptions, inject)
				return h(ctx, d)
			}
			reg[name] = fn
		}
	}
	return reg
}

// auditCase is one route that changes something: setup prepares what it
// changes, request is the change, state is what a client sees of the
// changed thing.
type auditCase struct {
	action string
	setup  func(t *testing.T, a *auditFixture) (method, path string, body any, headers map[string]string)
	state  func(a *auditFixture) string
}

type auditFixture struct {
	s     *stack
	key   string // the workspace's live primary key
	rcv   *testenv.Receiver
	ids   map[string]string
	armed *atomic.Bool
}

// snapshot is a GET's body without what every request changes
// (lastUsedAt of the calling key, an error's request id).
func (a *auditFixture) snapshot(path string) string {
	r := a.s.do("GET", path, a.key, nil)
	var v any
	_ = json.Unmarshal(r.Raw, &v)
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "lastUsedAt")
			delete(x, "requestId")
			for _, y := range x {
				strip(y)
			}
		case []any:
			for _, y := range x {
				strip(y)
			}
		}
	}
	strip(v)
	b, _ := json.Marshal(v)
	return fmt.Sprintf("%d %s", r.Status, b)
}

func (a *auditFixture) created(t *testing.T, path string, body any) string {
	t.Helper()
	r := a.s.do("POST", path, a.key, body)
	if r.Status != 201 && r.Status != 202 {
		t.Fatalf("setup %s", r)
	}
	return r.str("id")
}

func auditCases() []auditCase {
	key := func(t *testing.T, a *auditFixture) string {
		return a.created(t, "/v1/keys", map[string]any{"name": "target", "role": "render"})
	}
	endpoint := func(t *testing.T, a *auditFixture) string {
		return a.created(t, "/v1/webhooks", map[string]any{"url": a.rcv.URL, "events": []string{"webhook.test"}})
	}
	connection := func(t *testing.T, a *auditFixture) string {
		return a.created(t, "/v1/connections", map[string]any{"type": "webhook", "url": a.rcv.URL})
	}
	publication := func(t *testing.T, a *auditFixture) (string, string) {
		conn := connection(t, a)
		ws := a.ids["ws"]
		v := testenv.SucceededVideo(t, a.s.s.AWS(), a.s.s.Getenv("VideosFunction"), ws, apikey.Live, a.s.clock.Now, []byte("mp4"))
		a.ids["video"] = v.ID
		return v.ID, conn
	}
	in := func(d time.Duration) string { return t0.Add(d).UTC().Format(time.RFC3339) }
	return []auditCase{
		{audit.KeyCreated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "POST", "/v1/keys", map[string]any{"name": "new", "role": "render"}, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/keys?status=all") }},
		{audit.KeyRevoked, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			a.ids["key"] = key(t, a)
			return "DELETE", "/v1/keys/" + a.ids["key"], nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/keys?status=all") }},
		{audit.KeyRotated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			a.ids["key"] = key(t, a)
			return "POST", "/v1/keys/" + a.ids["key"] + "/rotate", map[string]any{"gracePeriodSeconds": 60}, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/keys?status=all") }},
		{audit.KeyPrimaryReset, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "POST", "/v1/keys/primary/reset", nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/keys?status=all") }},
		{audit.KeyLeakRevoked, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			r := a.s.do("POST", "/v1/keys", a.key, map[string]any{"name": "leaked", "role": "render"})
			a.ids["key"] = r.str("id")
			report, _ := json.Marshal([]map[string]string{{"token": r.str("key"), "type": "framegate_api_key", "url": "https://github.com/o/r/blob/1/.env", "source": "content"}})
			h, err := a.s.s.Scanning.Headers(report)
			if err != nil {
				t.Fatal(err)
			}
			h["Content-Type"] = "application/json"
			return "POST", "/v1/secret-scanning/github", report, h
		}, func(a *auditFixture) string { return a.snapshot("/v1/keys?status=all") }},
		{audit.ConsoleSessionCreated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "POST", "/v1/console/sessions", nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/console/sessions") }},
		{audit.ConsoleSessionRevoked, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "DELETE", "/v1/console/sessions/" + a.created(t, "/v1/console/sessions", nil), nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/console/sessions") }},
		{audit.WebhookCreated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "POST", "/v1/webhooks", map[string]any{"url": a.rcv.URL, "events": []string{"*"}}, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/webhooks") }},
		{audit.WebhookUpdated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			a.ids["we"] = endpoint(t, a)
			return "PATCH", "/v1/webhooks/" + a.ids["we"], map[string]any{"description": "changed", "enabled": false}, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/webhooks") }},
		{audit.WebhookDeleted, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			a.ids["we"] = endpoint(t, a)
			return "DELETE", "/v1/webhooks/" + a.ids["we"], nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/webhooks") }},
		{audit.WebhookSecretRotated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			a.ids["we"] = endpoint(t, a)
			return "POST", "/v1/webhooks/" + a.ids["we"] + "/rotate-secret", nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/webhooks") }},
		{audit.DeliveryRedelivered, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			we := endpoint(t, a)
			a.ids["we"] = we
			a.created(t, "/v1/webhooks/"+we+"/test", nil)
			a.rcv.Wait(t)
			r := a.s.do("GET", "/v1/webhooks/"+we+"/deliveries", a.key, nil)
			id, _ := r.get("data").([]any)[0].(map[string]any)["id"].(string)
			return "POST", "/v1/webhooks/" + we + "/deliveries/" + id + "/redeliver", nil, nil
		}, func(a *auditFixture) string {
			// A queued redelivery reaches the receiver within a second.
			time.Sleep(1500 * time.Millisecond)
			return fmt.Sprint(a.rcv.Count())
		}},
		{audit.ConnectionCreated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "POST", "/v1/connections", map[string]any{"type": "webhook", "url": a.rcv.URL}, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/connections") }},
		{audit.ConnectionDeleted, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "DELETE", "/v1/connections/" + connection(t, a), nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/connections") }},
		{audit.TemplateCreated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "POST", "/v1/templates", myIntro("Intro"), nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/templates/my-intro") }},
		{audit.TemplateReplaced, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			a.created(t, "/v1/templates", myIntro("Intro"))
			return "PUT", "/v1/templates/my-intro", myIntro("Intro, again"), nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/templates/my-intro") }},
		{audit.TemplateDeleted, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			a.created(t, "/v1/templates", myIntro("Intro"))
			return "DELETE", "/v1/templates/my-intro", nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/templates/my-intro") }},
		{audit.AssetCreated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			return "POST", "/v1/assets", map[string]any{"filename": "logo.png", "contentType": "image/png", "sizeBytes": 1000}, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/assets") }},
		{audit.AssetDeleted, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			id := a.created(t, "/v1/assets", map[string]any{"filename": "logo.png", "contentType": "image/png", "sizeBytes": 1000})
			return "DELETE", "/v1/assets/" + id, nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/assets") }},
		{audit.PublicationCreated, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			v, conn := publication(t, a)
			return "POST", "/v1/videos/" + v + "/publish", map[string]any{"connectionId": conn, "publishAt": in(time.Hour)}, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/videos/" + a.ids["video"] + "/publications") }},
		{audit.PublicationCanceled, func(t *testing.T, a *auditFixture) (string, string, any, map[string]string) {
			v, conn := publication(t, a)
			p := a.created(t, "/v1/videos/"+v+"/publish", map[string]any{"connectionId": conn, "publishAt": in(time.Hour)})
			return "DELETE", "/v1/videos/" + v + "/publications/" + p, nil, nil
		}, func(a *auditFixture) string { return a.snapshot("/v1/videos/" + a.ids["video"] + "/publications") }},
	}
}

// TestEveryChangeIsAuditedAtomically drives every route that changes
// something through the local stack twice: first with a failure injected
// after the change (a condition that cannot hold, appended to the change's
// transaction behind its audit record) — the client gets a 500 and neither
// the change nor its record exists — then for real, which makes exactly one
// record naming the caller, the target, the request and its origin, and
// copies it to the events queue.
func TestEveryChangeIsAuditedAtomically(t *testing.T) {
	var armed atomic.Bool
	var fired atomic.Int32
	clock := testenv.NewClock(t0)
	var auditTable atomic.Pointer[string]       // known once the stack has provisioned it
	inject := func(s *middleware.Stack) error { // options apply per call: from the first request on
		if t := auditTable.Load(); t != nil {
			return failAfterTheChange(&armed, *t, &fired)(s)
		}
		return nil
	}
	ts := testenv.NewStack(t, testenv.WithClock(clock.Now), testenv.WithRegistry(withFailures(devstack.Registry(), inject)),
		testenv.WithParameter("WebhookAllowLoopback", "true"), testenv.WithParameter("WebhookRetrySchedule", "0s,1s"))
	table := ts.Getenv("KeysFunction")(audit.EnvTable)
	auditTable.Store(&table)
	s := &stack{t: t, s: ts, clock: clock, http: &http.Client{Timeout: 30 * time.Second}}
	s.origin = strings.TrimSuffix(ts.URL(), "/v1")
	rcv := testenv.NewReceiver(t, http.StatusNoContent)
	var committed []string

	for _, tc := range auditCases() {
		t.Run(tc.action, func(t *testing.T) {
			ws, keys := ts.Workspace("Audit "+tc.action, ratelimit.Plan{})
			a := &auditFixture{s: s, key: keys[apikey.Live], rcv: rcv, ids: map[string]string{"ws": ws.ID}, armed: &armed}
			method, path, body, headers := tc.setup(t, a)
			send := func() response {
				if headers != nil {
					raw, _ := body.([]byte)
					return s.send(method, path, headers, raw)
				}
				return s.do(method, path, a.key, body)
			}
			records := func() []any {
				r := s.do("GET", "/v1/audit-events?action="+tc.action, a.key, nil)
				if r.Status != 200 {
					t.Fatalf("audit log: %s", r)
				}
				data, _ := r.get("data").([]any)
				return data
			}
			before := tc.state(a)
			armed.Store(true)
			firedBefore := fired.Load()
			r := send()
			armed.Store(false)
			if fired.Load() == firedBefore {
				t.Fatalf("%s %s wrote no transaction with an audit record: %s", method, path, r)
			}
			if r.Status < 400 {
				t.Fatalf("with the failure injected: %s", r)
			}
			if after := tc.state(a); after != before {
				t.Fatalf("the change happened anyway:\nbefore %s\nafter  %s", before, after)
			}
			if got := records(); len(got) != 0 {
				t.Fatalf("a record without its change: %v", got)
			}

			r = send()
			if r.Status >= 300 {
				t.Fatalf("without the failure: %s", r)
			}
			if tc.action == audit.KeyPrimaryReset {
				a.key = r.str("key") // the old primary is no more
			}
			if after := tc.state(a); after == before {
				t.Fatalf("no change: %s", after)
			}
			got := records()
			if len(got) != 1 {
				t.Fatalf("%d records, want 1: %v", len(got), got)
			}
			rec := got[0].(map[string]any)
			actor := rec["actor"].(map[string]any)
			wantActor := "api_key"
			if tc.action == audit.KeyLeakRevoked {
				wantActor = "secret_scanning"
			}
			target := rec["target"].(map[string]any)
			if actor["type"] != wantActor || actor["id"] == "" || target["id"] == "" ||
				rec["requestId"] == "" || rec["sourceIp"] != "127.0.0.1" || rec["environment"] != "live" {
				t.Errorf("record: %v", rec)
			}
			if want := a.ids["key"]; want != "" && strings.HasPrefix(tc.action, "key.") && target["id"] != want {
				t.Errorf("record names %v, want the key %s", target["id"], want)
			}
			committed = append(committed, rec["id"].(string))
		})
	}

	// Each committed record is also on the events queue, as audit.recorded.
	q := sqs.NewFromConfig(ts.AWS())
	url := ts.Getenv("KeysFunction")("EVENTS_QUEUE_URL")
	seen := map[string]bool{}
	for range 50 {
		out, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			var ev struct {
				Type string
				Data struct{ ID string }
			}
			if json.Unmarshal([]byte(aws.ToString(m.Body)), &ev) == nil && ev.Type == audit.EventType {
				seen[ev.Data.ID] = true
			}
			_, _ = q.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
		}
	}
	for _, id := range committed {
		if !seen[id] {
			t.Errorf("audit record %s is not on the events queue", id)
		}
	}
	if len(committed) != len(auditCases()) {
		t.Errorf("%d of %d cases committed", len(committed), len(auditCases()))
	}
	// Every action has its case here, but the operators' plan changes,
	// which no route makes (keystore's TestPlanChangeIsAuditedAtomically).
	for _, action := range audit.Actions() {
		if action != audit.WorkspacePlanChanged && !slices.ContainsFunc(auditCases(), func(c auditCase) bool { return c.action == action }) {
			t.Errorf("no case for %s", action)
		}
	}
}
