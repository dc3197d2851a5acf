package webhooks_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/webhooks"
	"github.com/framegate/framegate/pkg/webhooksig"
)

type resolver map[string][]net.IPAddr

func (r resolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestWebhooksOverHTTP drives /v1/webhooks end to end through the local
// stack (gateway, authorizer, handler, worker on the SQS loop), tenant
// isolation included.
func TestWebhooksOverHTTP(t *testing.T) {
	dns := resolver{"internal.example": {{IP: net.ParseIP("10.9.8.7")}}}
	reg := devstack.Registry()
	o := webhooks.Options{Resolver: dns}
	reg["webhooks"] = lambdas.Function{HTTP: o.New, Env: reg["webhooks"].Env}
	reg["webhook-worker"] = lambdas.Function{SQS: o.NewWorker, Env: reg["webhook-worker"].Env}
	s := testenv.NewStack(t, testenv.WithRegistry(reg), func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true", "WebhookRetrySchedule": "0s,1s"}
	})
	_, a := s.Workspace("A", ratelimit.Plan{})
	_, b := s.Workspace("B", ratelimit.Plan{})
	live, sandbox, other := a[apikey.Live], a[apikey.Test], b[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	rcv := testenv.NewReceiver(t, http.StatusNoContent)

	// Create: the secret once, Location, defaults.
	r := c.Expect(c.Do("POST", "/webhooks", live, map[string]any{"url": rcv.URL + "/in", "events": []string{"render.succeeded", "render.succeeded"}, "description": "ops"}), 201)
	id, secret := r.Str("id"), r.Str("secret")
	if !strings.HasPrefix(id, "we_") || !strings.HasPrefix(secret, "whsec_") || r.Header.Get("Location") != "/v1/webhooks/"+id {
		t.Fatalf("create: %s", r.Raw)
	}
	if r.Str("secretPreview") != webhooksig.Mask(secret) || r.Str("events", "0") != "render.succeeded" || r.Get("events", "1") != nil || r.Get("enabled") != true {
		t.Errorf("create view: %s", r.Raw)
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
				r := c.Expect(c.Do("POST", "/webhooks", live, tc.body), 400)
				if r.Str("error", "code") != "invalid_request" || r.Str("error", "field") != tc.field {
					t.Errorf("got %s, want field %s", r.Raw, tc.field)
				}
			})
		}
	})

	// Reads never show the secret.
	r = c.Expect(c.Do("GET", "/webhooks/"+id, live, nil), 200)
	if r.Get("secret") != nil || strings.Contains(r.Raw, secret[6:]) || r.Str("url") != rcv.URL+"/in" {
		t.Errorf("get: %s", r.Raw)
	}
	r = c.Expect(c.Do("GET", "/webhooks", live, nil), 200)
	if r.Str("data", "0", "id") != id || strings.Contains(r.Raw, secret[6:]) {
		t.Errorf("list: %s", r.Raw)
	}

	// Tenant and environment isolation: not found, never forbidden.
	for _, key := range []string{other, sandbox} {
		c.Expect(c.Do("GET", "/webhooks/"+id, key, nil), 404)
		c.Expect(c.Do("PATCH", "/webhooks/"+id, key, map[string]any{"enabled": false}), 404)
		c.Expect(c.Do("DELETE", "/webhooks/"+id, key, nil), 404)
		c.Expect(c.Do("POST", "/webhooks/"+id+"/rotate-secret", key, nil), 404)
		c.Expect(c.Do("POST", "/webhooks/"+id+"/test", key, nil), 404)
		c.Expect(c.Do("GET", "/webhooks/"+id+"/deliveries", key, nil), 404)
		if r := c.Expect(c.Do("GET", "/webhooks", key, nil), 200); r.Get("data", "0") != nil {
			t.Errorf("another tenant lists: %s", r.Raw)
		}
	}

	// PATCH.
	r = c.Expect(c.Do("PATCH", "/webhooks/"+id, live, map[string]any{"events": []string{"*"}, "description": ""}), 200)
	if r.Str("events", "0") != "*" || r.Str("description") != "" {
		t.Errorf("patch: %s", r.Raw)
	}
	r = c.Expect(c.Do("PATCH", "/webhooks/"+id, live, map[string]any{"enabled": false}), 200)
	if r.Get("enabled") != false || r.Str("disabledReason") != "user" {
		t.Errorf("disable: %s", r.Raw)
	}
	c.Expect(c.Do("POST", "/webhooks/"+id+"/test", live, nil), 409)
	c.Expect(c.Do("PATCH", "/webhooks/"+id, live, map[string]any{"enabled": true}), 200)
	c.Expect(c.Do("PATCH", "/webhooks/"+id, live, map[string]any{}), 400)
	c.Expect(c.Do("PATCH", "/webhooks/"+id, live, map[string]any{"url": "https://10.0.0.1/"}), 400)

	// Test event: signed, logged.
	r = c.Expect(c.Do("POST", "/webhooks/"+id+"/test", live, nil), 202)
	deliveryID := r.Str("deliveryId")
	got := rcv.Wait(t)
	if err := webhooksig.Verify(secret, got.Header, got.Body, time.Minute); err != nil {
		t.Fatalf("test event: %v", err)
	}
	var payload map[string]any
	_ = json.Unmarshal(got.Body, &payload)
	if payload["type"] != "webhook.test" || payload["id"] != got.Header.Get("Webhook-Id") {
		t.Errorf("test payload %s", got.Body)
	}
	waitLog := func(attempts int) testenv.Reply {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := c.Expect(c.Do("GET", "/webhooks/"+id+"/deliveries", live, nil), 200)
			if n, _ := r.Get("data", "0", "attemptCount").(float64); int(n) == attempts && r.Str("data", "0", "status") == "succeeded" {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery log: %s", r.Raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	r = waitLog(1)
	if r.Str("data", "0", "id") != deliveryID || r.Get("data", "0", "attempts", "0", "statusCode") != float64(204) ||
		r.Str("data", "0", "eventType") != "webhook.test" || r.Str("data", "0", "payload", "type") != "webhook.test" {
		t.Errorf("log: %s", r.Raw)
	}

	// Rotation: the new secret once, two signatures for a day.
	r = c.Expect(c.Do("POST", "/webhooks/"+id+"/rotate-secret", live, nil), 200)
	newSecret := r.Str("secret")
	if newSecret == "" || newSecret == secret || r.Str("previousSecretExpiresAt") == "" {
		t.Fatalf("rotate: %s", r.Raw)
	}

	// Redeliver: the same webhook-id again, now signed by both secrets.
	c.Expect(c.Do("POST", "/webhooks/"+id+"/deliveries/"+deliveryID+"/redeliver", live, nil), 202)
	again := rcv.Wait(t)
	if again.Header.Get("Webhook-Id") != got.Header.Get("Webhook-Id") || !bytes.Equal(again.Body, got.Body) {
		t.Errorf("redelivery differs: %v %s", again.Header, again.Body)
	}
	if n := len(strings.Fields(again.Header.Get("Webhook-Signature"))); n != 2 {
		t.Errorf("%d signatures after rotation, want 2", n)
	}
	for _, sec := range []string{secret, newSecret} {
		if err := webhooksig.Verify(sec, again.Header, again.Body, time.Minute); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
	r = waitLog(2)
	if r.Get("data", "0", "attempts", "1", "manual") != true {
		t.Errorf("redelivery not marked manual: %s", r.Raw)
	}
	c.Expect(c.Do("POST", "/webhooks/"+id+"/deliveries/"+deliveryID+"/redeliver", other, nil), 404)
	c.Expect(c.Do("POST", "/webhooks/"+id+"/deliveries/dlv_nope/redeliver", live, nil), 404)

	// The video-urls endpoint: made on first need, its secret shown once.
	r = c.Expect(c.Do("GET", "/webhooks/video-urls", live, nil), 200)
	if r.Str("kind") != "video_urls" || !strings.HasPrefix(r.Str("secret"), "whsec_") {
		t.Errorf("video-urls: %s", r.Raw)
	}
	if r = c.Expect(c.Do("GET", "/webhooks/video-urls", live, nil), 200); r.Get("secret") != nil {
		t.Errorf("video-urls secret shown twice: %s", r.Raw)
	}
	c.Expect(c.Do("DELETE", "/webhooks/video-urls", live, nil), 409)
	c.Expect(c.Do("PATCH", "/webhooks/video-urls", live, map[string]any{"url": rcv.URL}), 400)

	// Pagination.
	for range 2 {
		c.Expect(c.Do("POST", "/webhooks", live, map[string]any{"url": rcv.URL, "events": []string{"*"}}), 201)
	}
	r = c.Expect(c.Do("GET", "/webhooks?limit=2", live, nil), 200)
	next := r.Str("pagination", "next")
	if next == "" || r.Get("data", "1") == nil {
		t.Fatalf("page 1: %s", r.Raw)
	}
	seen := map[string]bool{r.Str("data", "0", "id"): true, r.Str("data", "1", "id"): true}
	r = c.Expect(c.Do("GET", strings.TrimPrefix(next, "/v1"), live, nil), 200)
	for _, k := range []string{"0", "1"} {
		if x := r.Str("data", k, "id"); x != "" && seen[x] {
			t.Errorf("page 2 repeats %s", x)
		}
	}
	c.Expect(c.Do("GET", "/webhooks?limit=0", live, nil), 400)

	t.Run("v1a", func(t *testing.T) { v1aOverHTTP(t, c, live, rcv) })
	t.Run("AWS destinations", func(t *testing.T) { awsOverHTTP(t, c, live) })
	t.Run("recover", func(t *testing.T) {
		since := func(d time.Duration) map[string]any {
			return map[string]any{"since": time.Now().Add(d).UTC().Format(time.RFC3339)}
		}
		for _, body := range []any{map[string]any{}, map[string]any{"since": "yesterday"}, since(time.Hour), since(-31 * 24 * time.Hour)} {
			if r := c.Expect(c.Do("POST", "/webhooks/"+id+"/recover", live, body), 400); r.Str("error", "field") != "/since" {
				t.Errorf("%v: %s", body, r.Raw)
			}
		}
		r := c.Expect(c.Do("POST", "/webhooks/"+id+"/recover", live, since(-time.Hour)), 202)
		if r.Str("object") != "webhook_recovery" || !strings.HasPrefix(r.Str("id"), "rcv_") || r.Str("endpointId") != id {
			t.Errorf("recover: %s", r.Raw)
		}
		c.Expect(c.Do("POST", "/webhooks/"+id+"/recover", other, since(-time.Hour)), 404)
		c.Expect(c.Do("PATCH", "/webhooks/"+id, live, map[string]any{"enabled": false}), 200)
		c.Expect(c.Do("POST", "/webhooks/"+id+"/recover", live, since(-time.Hour)), 409)
		c.Expect(c.Do("PATCH", "/webhooks/"+id, live, map[string]any{"enabled": true}), 200)
	})

	// Delete.
	c.Expect(c.Do("DELETE", "/webhooks/"+id, live, nil), 200)
	c.Expect(c.Do("GET", "/webhooks/"+id, live, nil), 404)
	c.Expect(c.Do("DELETE", "/webhooks/"+id, live, nil), 404)
}

// v1aOverHTTP: a v1a endpoint shows its public key and never a secret; its
// test event verifies with the public key (Verify, and OpenSSL's ed25519);
// a rotation keeps the old key signing beside the new one.
func v1aOverHTTP(t *testing.T, c *testenv.APIClient, key string, rcv *testenv.Receiver) {
	r := c.Expect(c.Do("POST", "/webhooks", key, map[string]any{"url": rcv.URL + "/v1a", "events": []string{"*"}, "signatureScheme": "v1a"}), 201)
	id, pub := r.Str("id"), r.Str("publicKey")
	if !strings.HasPrefix(pub, webhooksig.PublicKeyPrefix) || r.Get("secret") != nil || r.Get("secretPreview") != nil || r.Str("signatureScheme") != "v1a" {
		t.Fatalf("v1a create: %s", r.Raw)
	}
	if strings.Contains(r.Raw, webhooksig.PrivateKeyPrefix) {
		t.Fatalf("the private key leaked: %s", r.Raw)
	}
	test := func() testenv.Received {
		t.Helper()
		c.Expect(c.Do("POST", "/webhooks/"+id+"/test", key, nil), 202)
		return rcv.Wait(t)
	}
	got := test()
	if err := webhooksig.Verify(pub, got.Header, got.Body, time.Minute); err != nil {
		t.Fatalf("v1a: %v", err)
	}
	sig, ts := got.Header.Get("Webhook-Signature"), got.Header.Get("Webhook-Timestamp")
	raw, ok := strings.CutPrefix(sig, "v1a,")
	sigBytes, _ := base64.StdEncoding.DecodeString(raw)
	msg := []byte(got.Header.Get("Webhook-Id") + "." + ts + ".")
	if !ok || testenv.OpenSSLVerifyEd25519(t, testenv.DecodeKey(t, pub, webhooksig.PublicKeyPrefix), append(msg, got.Body...), sigBytes) != nil {
		t.Fatalf("OpenSSL does not verify %q with %s", sig, pub)
	}

	r = c.Expect(c.Do("POST", "/webhooks/"+id+"/rotate-secret", key, nil), 200)
	newPub := r.Str("publicKey")
	if newPub == pub || r.Str("previousPublicKey") != pub || r.Get("secret") != nil || r.Str("previousSecretExpiresAt") == "" {
		t.Fatalf("v1a rotate: %s", r.Raw)
	}
	got = test()
	if n := len(strings.Fields(got.Header.Get("Webhook-Signature"))); n != 2 {
		t.Errorf("%d signatures during the rotation, want 2", n)
	}
	for _, k := range []string{pub, newPub} {
		if err := webhooksig.Verify(k, got.Header, got.Body, time.Minute); err != nil {
			t.Errorf("during the rotation, %s: %v", k[:12], err)
		}
	}
	if r = c.Expect(c.Do("GET", "/webhooks/"+id, key, nil), 200); r.Str("publicKey") != newPub || r.Get("secret") != nil {
		t.Errorf("v1a get: %s", r.Raw)
	}
	c.Expect(c.Do("DELETE", "/webhooks/"+id, key, nil), 200)
}

// awsOverHTTP: SQS and EventBridge endpoints are created with their role
// and get an external id; every field of another type is refused by name.
func awsOverHTTP(t *testing.T, c *testenv.APIClient, key string) {
	const (
		queue = "https://sqs.eu-west-1.amazonaws.com/111122223333/framegate-events"
		bus   = "arn:aws:events:eu-west-1:111122223333:event-bus/default"
		role  = "arn:aws:iam::111122223333:role/framegate-events"
	)
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown type", map[string]any{"type": "kafka", "url": "https://example.com", "events": []string{"*"}}, "/type"},
		{"sqs without queueUrl", map[string]any{"type": "sqs", "roleArn": role, "events": []string{"*"}}, "/queueUrl"},
		{"sqs with url", map[string]any{"type": "sqs", "queueUrl": queue, "url": "https://example.com", "roleArn": role, "events": []string{"*"}}, "/url"},
		{"sqs with a queue ARN", map[string]any{"type": "sqs", "queueUrl": "arn:aws:sqs:eu-west-1:111122223333:q", "roleArn": role, "events": []string{"*"}}, "/queueUrl"},
		{"sqs without role", map[string]any{"type": "sqs", "queueUrl": queue, "events": []string{"*"}}, "/roleArn"},
		{"sqs with a bad role", map[string]any{"type": "sqs", "queueUrl": queue, "roleArn": "framegate-events", "events": []string{"*"}}, "/roleArn"},
		{"eventbridge with a bus name", map[string]any{"type": "eventbridge", "eventBusArn": "default", "roleArn": role, "events": []string{"*"}}, "/eventBusArn"},
		{"http with a role", map[string]any{"url": "https://93.184.215.14/", "roleArn": role, "events": []string{"*"}}, "/roleArn"},
		{"unknown scheme", map[string]any{"type": "sqs", "queueUrl": queue, "roleArn": role, "events": []string{"*"}, "signatureScheme": "v2"}, "/signatureScheme"},
	} {
		if r := c.Expect(c.Do("POST", "/webhooks", key, tc.body), 400); r.Str("error", "field") != tc.field {
			t.Errorf("%s: %s, want %s", tc.name, r.Raw, tc.field)
		}
	}
	r := c.Expect(c.Do("POST", "/webhooks", key, map[string]any{"type": "sqs", "queueUrl": queue, "roleArn": role, "events": []string{"*"}}), 201)
	sqsID, ext := r.Str("id"), r.Str("externalId")
	if r.Str("type") != "sqs" || r.Get("url") != nil || r.Str("queueUrl") != queue || r.Str("roleArn") != role ||
		!strings.HasPrefix(ext, "fgx_") || !strings.HasPrefix(r.Str("secret"), "whsec_") {
		t.Fatalf("sqs create: %s", r.Raw)
	}
	r = c.Expect(c.Do("POST", "/webhooks", key, map[string]any{"type": "eventbridge", "eventBusArn": bus, "roleArn": role, "events": []string{"*"}}), 201)
	busID := r.Str("id")
	if r.Str("type") != "eventbridge" || r.Str("eventBusArn") != bus || r.Str("externalId") != ext {
		t.Errorf("eventbridge create (same role, same external id): %s", r.Raw)
	}
	if r := c.Expect(c.Do("PATCH", "/webhooks/"+sqsID, key, map[string]any{"url": "https://example.com"}), 400); r.Str("error", "field") != "/url" {
		t.Errorf("patch url of sqs: %s", r.Raw)
	}
	r = c.Expect(c.Do("PATCH", "/webhooks/"+sqsID, key, map[string]any{"roleArn": role + "-2", "queueUrl": queue + "-2"}), 200)
	if r.Str("roleArn") != role+"-2" || r.Str("queueUrl") != queue+"-2" || r.Str("externalId") == ext || !strings.HasPrefix(r.Str("externalId"), "fgx_") {
		t.Errorf("patch role: %s", r.Raw)
	}
	for _, id := range []string{sqsID, busID} {
		c.Expect(c.Do("DELETE", "/webhooks/"+id, key, nil), 200)
	}
}
