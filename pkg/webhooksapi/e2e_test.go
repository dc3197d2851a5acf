package webhooksapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/delivery"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/lambdas/registry"
	"github.com/framegate/framegate/pkg/localstack"
	"github.com/framegate/framegate/pkg/plan"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/webhook"
	"github.com/framegate/framegate/pkg/webhooksapi"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type resolver map[string][]net.IPAddr

func (r resolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// client talks to a whole local stack over HTTP.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(keys ...string) string {
	v, _ := r.get(keys...).(string)
	return v
}

func (r reply) get(keys ...string) any {
	var cur any = r.body
	for _, k := range keys {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func (c *client) do(method, path, key string, body any) reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (c *client) expect(r reply, status int) reply {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// hooks is a loopback receiver recording what arrives.
type hooks struct {
	*httptest.Server
	mu  sync.Mutex
	got []received
	ch  chan received
}

type received struct {
	header http.Header
	body   []byte
}

func newHooks(t *testing.T) *hooks {
	h := &hooks{ch: make(chan received, 50)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := received{header: r.Header.Clone(), body: b}
		h.mu.Lock()
		h.got = append(h.got, rec)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		h.ch <- rec
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hooks) wait(t *testing.T) received {
	t.Helper()
	select {
	case r := <-h.ch:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("no webhook arrived")
	}
	return received{}
}

// idleMissing gives template functions that another change has declared
// but not registered yet an idle handler, so this test does not depend on
// work in progress elsewhere; the registry's own test catches the gap.
func idleMissing(t *testing.T, reg map[string]lambdas.Constructor) {
	for _, f := range testenv.RepoTemplate(t).Functions {
		if _, ok := reg[f.Name]; ok {
			continue
		}
		t.Logf("%s has no registry entry yet; idle in this test", f.LogicalID)
		if len(f.Routes) > 0 {
			reg[f.Name] = func(context.Context, lambdas.Deps) (any, error) {
				return lambdas.HTTPFunc(func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
					return events.APIGatewayProxyResponse{StatusCode: 501}, nil
				}), nil
			}
			continue
		}
		reg[f.Name] = func(context.Context, lambdas.Deps) (any, error) {
			return lambdas.SQSFunc(func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				var r events.SQSEventResponse
				for _, m := range ev.Records { // leave their messages alone
					r.BatchItemFailures = append(r.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				}
				return r, nil
			}), nil
		}
	}
}

// TestWebhooksOverHTTP drives /v1/webhooks end to end through the local
// stack (gateway, authorizer, handler, worker on the SQS loop), tenant
// isolation included.
func TestWebhooksOverHTTP(t *testing.T) {
	dns := resolver{"internal.example": {{IP: net.ParseIP("10.9.8.7")}}}
	reg := registry.Registry()
	reg["webhooks"] = webhooksapi.Constructor(webhooksapi.Options{Resolver: dns})
	reg["webhook-worker"] = delivery.Constructor(delivery.Options{Resolver: dns})
	idleMissing(t, reg)
	s := testenv.NewStack(t, testenv.WithRegistry(reg), func(c *localstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true", "WebhookRetrySchedule": "0s,1s"}
	})
	var keysEnv map[string]string
	for _, f := range s.Template().Functions {
		if f.LogicalID == "KeysFunction" {
			keysEnv, _ = s.Resources().Env(f)
		}
	}
	ks, err := keystore.Open(context.Background(), lambdas.Deps{AWS: s.AWS(), Getenv: func(k string) string { return keysEnv[k] }})
	if err != nil {
		t.Fatal(err)
	}
	_, a, err := ks.CreateWorkspace(context.Background(), "A", plan.Default, plan.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := ks.CreateWorkspace(context.Background(), "B", plan.Default, plan.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	live, sandbox, other := a[apikey.Live], a[apikey.Test], b[apikey.Live]
	c := &client{t: t, base: s.URL(), http: &http.Client{Timeout: 30 * time.Second}}
	rcv := newHooks(t)

	// Create: the secret once, Location, defaults.
	r := c.expect(c.do("POST", "/webhooks", live, map[string]any{"url": rcv.URL + "/in", "events": []string{"render.succeeded", "render.succeeded"}, "description": "ops"}), 201)
	id, secret := r.str("id"), r.str("secret")
	if !strings.HasPrefix(id, "we_") || !strings.HasPrefix(secret, "whsec_") || r.header.Get("Location") != "/v1/webhooks/"+id {
		t.Fatalf("create: %s", r.raw)
	}
	if r.str("secretPreview") != webhook.Mask(secret) || r.str("events", "0") != "render.succeeded" || r.get("events", "1") != nil || r.get("enabled") != true {
		t.Errorf("create view: %s", r.raw)
	}

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"no url", map[string]any{"events": []string{"*"}}, "/url"},
			{"ftp", map[string]any{"url": "ftp://example.com/", "events": []string{"*"}}, "/url"},
			{"private IP", map[string]any{"url": "https://10.0.0.1/hook", "events": []string{"*"}}, "/url"},
			{"metadata", map[string]any{"url": "http://169.254.169.254/latest/meta-data", "events": []string{"*"}}, "/url"},
			{"name resolving to a private address", map[string]any{"url": "https://internal.example/x", "events": []string{"*"}}, "/url"},
			{"credentials", map[string]any{"url": "https://u:p@example.com/", "events": []string{"*"}}, "/url"},
			{"no events", map[string]any{"url": rcv.URL, "events": []string{}}, "/events"},
			{"unknown event", map[string]any{"url": rcv.URL, "events": []string{"render.*"}}, "/events/0"},
			{"unknown field", map[string]any{"url": rcv.URL, "events": []string{"*"}, "secret": "mine"}, "/secret"},
			{"long description", map[string]any{"url": rcv.URL, "events": []string{"*"}, "description": strings.Repeat("d", 201)}, "/description"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.expect(c.do("POST", "/webhooks", live, tc.body), 400)
				if r.str("error", "code") != "invalid_request" || r.str("error", "field") != tc.field {
					t.Errorf("got %s, want field %s", r.raw, tc.field)
				}
			})
		}
	})

	// Reads never show the secret.
	r = c.expect(c.do("GET", "/webhooks/"+id, live, nil), 200)
	if r.get("secret") != nil || strings.Contains(r.raw, secret[6:]) || r.str("url") != rcv.URL+"/in" {
		t.Errorf("get: %s", r.raw)
	}
	r = c.expect(c.do("GET", "/webhooks", live, nil), 200)
	if r.str("data", "0", "id") != id || strings.Contains(r.raw, secret[6:]) {
		t.Errorf("list: %s", r.raw)
	}

	// Tenant and environment isolation: not found, never forbidden.
	for _, key := range []string{other, sandbox} {
		c.expect(c.do("GET", "/webhooks/"+id, key, nil), 404)
		c.expect(c.do("PATCH", "/webhooks/"+id, key, map[string]any{"enabled": false}), 404)
		c.expect(c.do("DELETE", "/webhooks/"+id, key, nil), 404)
		c.expect(c.do("POST", "/webhooks/"+id+"/rotate-secret", key, nil), 404)
		c.expect(c.do("POST", "/webhooks/"+id+"/test", key, nil), 404)
		c.expect(c.do("GET", "/webhooks/"+id+"/deliveries", key, nil), 404)
		if r := c.expect(c.do("GET", "/webhooks", key, nil), 200); r.get("data", "0") != nil {
			t.Errorf("another tenant lists: %s", r.raw)
		}
	}

	// PATCH.
	r = c.expect(c.do("PATCH", "/webhooks/"+id, live, map[string]any{"events": []string{"*"}, "description": ""}), 200)
	if r.str("events", "0") != "*" || r.str("description") != "" {
		t.Errorf("patch: %s", r.raw)
	}
	r = c.expect(c.do("PATCH", "/webhooks/"+id, live, map[string]any{"enabled": false}), 200)
	if r.get("enabled") != false || r.str("disabledReason") != "user" {
		t.Errorf("disable: %s", r.raw)
	}
	c.expect(c.do("POST", "/webhooks/"+id+"/test", live, nil), 409)
	c.expect(c.do("PATCH", "/webhooks/"+id, live, map[string]any{"enabled": true}), 200)
	c.expect(c.do("PATCH", "/webhooks/"+id, live, map[string]any{}), 400)
	c.expect(c.do("PATCH", "/webhooks/"+id, live, map[string]any{"url": "https://10.0.0.1/"}), 400)

	// Test event: signed, logged.
	r = c.expect(c.do("POST", "/webhooks/"+id+"/test", live, nil), 202)
	deliveryID := r.str("deliveryId")
	got := rcv.wait(t)
	if err := webhook.Verify(secret, got.header, got.body, time.Minute); err != nil {
		t.Fatalf("test event: %v", err)
	}
	var payload map[string]any
	_ = json.Unmarshal(got.body, &payload)
	if payload["type"] != "webhook.test" || payload["id"] != got.header.Get("Webhook-Id") {
		t.Errorf("test payload %s", got.body)
	}
	waitLog := func(attempts int) reply {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := c.expect(c.do("GET", "/webhooks/"+id+"/deliveries", live, nil), 200)
			if n, _ := r.get("data", "0", "attemptCount").(float64); int(n) == attempts && r.str("data", "0", "status") == "succeeded" {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery log: %s", r.raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	r = waitLog(1)
	if r.str("data", "0", "id") != deliveryID || r.get("data", "0", "attempts", "0", "statusCode") != float64(204) ||
		r.str("data", "0", "eventType") != "webhook.test" || r.str("data", "0", "payload", "type") != "webhook.test" {
		t.Errorf("log: %s", r.raw)
	}

	// Rotation: the new secret once, two signatures for a day.
	r = c.expect(c.do("POST", "/webhooks/"+id+"/rotate-secret", live, nil), 200)
	newSecret := r.str("secret")
	if newSecret == "" || newSecret == secret || r.str("previousSecretExpiresAt") == "" {
		t.Fatalf("rotate: %s", r.raw)
	}

	// Redeliver: the same webhook-id again, now signed by both secrets.
	c.expect(c.do("POST", "/webhooks/"+id+"/deliveries/"+deliveryID+"/redeliver", live, nil), 202)
	again := rcv.wait(t)
	if again.header.Get("Webhook-Id") != got.header.Get("Webhook-Id") || !bytes.Equal(again.body, got.body) {
		t.Errorf("redelivery differs: %v %s", again.header, again.body)
	}
	if n := len(strings.Fields(again.header.Get("Webhook-Signature"))); n != 2 {
		t.Errorf("%d signatures after rotation, want 2", n)
	}
	for _, sec := range []string{secret, newSecret} {
		if err := webhook.Verify(sec, again.header, again.body, time.Minute); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
	r = waitLog(2)
	if r.get("data", "0", "attempts", "1", "manual") != true {
		t.Errorf("redelivery not marked manual: %s", r.raw)
	}
	c.expect(c.do("POST", "/webhooks/"+id+"/deliveries/"+deliveryID+"/redeliver", other, nil), 404)
	c.expect(c.do("POST", "/webhooks/"+id+"/deliveries/dlv_nope/redeliver", live, nil), 404)

	// The video-urls endpoint: made on first need, its secret shown once.
	r = c.expect(c.do("GET", "/webhooks/video-urls", live, nil), 200)
	if r.str("kind") != "video_urls" || !strings.HasPrefix(r.str("secret"), "whsec_") {
		t.Errorf("video-urls: %s", r.raw)
	}
	if r = c.expect(c.do("GET", "/webhooks/video-urls", live, nil), 200); r.get("secret") != nil {
		t.Errorf("video-urls secret shown twice: %s", r.raw)
	}
	c.expect(c.do("DELETE", "/webhooks/video-urls", live, nil), 409)
	c.expect(c.do("PATCH", "/webhooks/video-urls", live, map[string]any{"url": rcv.URL}), 400)

	// Pagination.
	for range 2 {
		c.expect(c.do("POST", "/webhooks", live, map[string]any{"url": rcv.URL, "events": []string{"*"}}), 201)
	}
	r = c.expect(c.do("GET", "/webhooks?limit=2", live, nil), 200)
	next := r.str("pagination", "next")
	if next == "" || r.get("data", "1") == nil {
		t.Fatalf("page 1: %s", r.raw)
	}
	seen := map[string]bool{r.str("data", "0", "id"): true, r.str("data", "1", "id"): true}
	r = c.expect(c.do("GET", strings.TrimPrefix(next, "/v1"), live, nil), 200)
	for _, k := range []string{"0", "1"} {
		if x := r.str("data", k, "id"); x != "" && seen[x] {
			t.Errorf("page 2 repeats %s", x)
		}
	}
	c.expect(c.do("GET", "/webhooks?limit=0", live, nil), 400)

	// Delete.
	c.expect(c.do("DELETE", "/webhooks/"+id, live, nil), 200)
	c.expect(c.do("GET", "/webhooks/"+id, live, nil), 404)
	c.expect(c.do("DELETE", "/webhooks/"+id, live, nil), 404)
}
