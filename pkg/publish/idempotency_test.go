package publish_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/idempotency"
	"github.com/framegate/framegate/pkg/publish"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

// postRaw sends body as it is, with headers, so a test controls the
// Idempotency-Key and the body's exact bytes.
func postRaw(t *testing.T, base, path, key string, headers map[string]string, body string) testenv.Reply {
	t.Helper()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", path, err) // Errorf: also called from goroutines
		return testenv.Reply{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := testenv.Reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// TestPublishIdempotencyOverHTTP drives POST /v1/videos/{id}/publish with
// Idempotency-Key through the local gateway, whose every answer is checked
// against openapi.yaml.
func TestPublishIdempotencyOverHTTP(t *testing.T) {
	s := testenv.NewStack(t, testenv.WithRegistry(devstack.Registry()), func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true"}
	})
	ctx := context.Background()
	workerEnv := s.Getenv("PublishWorkerFunction")
	wsA, a := s.Workspace("A", ratelimit.Plan{})
	wsB, b := s.Workspace("B", ratelimit.Plan{})
	live, sandbox, other := a[apikey.Live], a[apikey.Test], b[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	rcv := testenv.NewReceiver(t, http.StatusOK)
	conn := func(key string) string {
		r := c.Expect(c.Do("POST", "/connections", key, map[string]any{"type": "webhook", "url": rcv.URL + "/catch"}), 201)
		return r.Str("id")
	}
	connLive, connSandbox, connOther := conn(live), conn(sandbox), conn(other)
	video := func(ws string, env apikey.Env) string {
		return testenv.SucceededVideo(t, s.AWS(), workerEnv, ws, env, time.Now, []byte("mp4")).ID
	}
	// A day ahead: nothing fires while the test runs.
	at := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	body := func(connID string) string { return `{"connectionId":"` + connID + `","publishAt":"` + at + `"}` }
	publish := func(key, vid, idem, body string) testenv.Reply {
		t.Helper()
		h := map[string]string{}
		if idem != "" {
			h[idempotency.Header] = idem
		}
		return postRaw(t, s.URL(), "/videos/"+vid+"/publish", key, h, body)
	}
	count := func(key, vid string) int {
		t.Helper()
		r := c.Expect(c.Do("GET", "/videos/"+vid+"/publications", key, nil), 200)
		data, _ := r.Get("data").([]any)
		return len(data)
	}

	t.Run("replay", func(t *testing.T) {
		vid := video(wsA.ID, apikey.Live)
		first := publish(live, vid, "order-1", body(connLive))
		if first.Status != 202 || first.Header.Get(idempotency.ReplayedHeader) != "" || !strings.HasPrefix(first.Str("id"), "pub_") {
			t.Fatalf("first: %d %v %s", first.Status, first.Header, first.Raw)
		}
		// The same request again, and again with other whitespace and key
		// order: the first answer, byte for byte, and nothing new.
		for _, b := range []string{body(connLive), " {\n  \"publishAt\": \"" + at + "\",\n  \"connectionId\": \"" + connLive + "\"\n}\n"} {
			r := publish(live, vid, "order-1", b)
			if r.Status != 202 || r.Header.Get(idempotency.ReplayedHeader) != "true" || r.Raw != first.Raw {
				t.Errorf("replay: %d %q %s, want 202 true %s", r.Status, r.Header.Get(idempotency.ReplayedHeader), r.Raw, first.Raw)
			}
		}
		if n := count(live, vid); n != 1 {
			t.Errorf("%d publications, want 1", n)
		}

		t.Run("mismatch", func(t *testing.T) {
			later := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
			for name, r := range map[string]testenv.Reply{
				"other body":  publish(live, vid, "order-1", `{"connectionId":"`+connLive+`","publishAt":"`+later+`"}`),
				"other video": publish(live, video(wsA.ID, apikey.Live), "order-1", body(connLive)),
			} {
				if r.Status != 409 || r.Str("error", "code") != "idempotency_mismatch" {
					t.Errorf("%s: %d %s, want 409 idempotency_mismatch", name, r.Status, r.Raw)
				}
			}
			if n := count(live, vid); n != 1 {
				t.Errorf("%d publications, want 1", n)
			}
		})

		t.Run("other workspace and environment are independent", func(t *testing.T) {
			for name, tc := range map[string]struct{ key, vid, conn string }{
				"sandbox":         {sandbox, video(wsA.ID, apikey.Test), connSandbox},
				"other workspace": {other, video(wsB.ID, apikey.Live), connOther},
			} {
				r := publish(tc.key, tc.vid, "order-1", body(tc.conn))
				if r.Status != 202 || r.Header.Get(idempotency.ReplayedHeader) != "" || r.Str("id") == first.Str("id") {
					t.Errorf("%s: %d %q %s, want a new publication", name, r.Status, r.Header.Get(idempotency.ReplayedHeader), r.Raw)
				}
				if n := count(tc.key, tc.vid); n != 1 {
					t.Errorf("%s: %d publications, want 1", name, n)
				}
			}
		})
	})

	t.Run("invalid key", func(t *testing.T) {
		vid := video(wsA.ID, apikey.Live)
		for name, k := range map[string]string{"too long": strings.Repeat("k", 256), "not ASCII": "clé-1"} {
			r := publish(live, vid, k, body(connLive))
			if r.Status != 400 || r.Str("error", "code") != "invalid_request" || r.Str("error", "field") != "Idempotency-Key" {
				t.Errorf("%s: %d %s, want 400 naming Idempotency-Key", name, r.Status, r.Raw)
			}
		}
		if r := publish(live, vid, strings.Repeat("k", 255), body(connLive)); r.Status != 202 {
			t.Errorf("255 characters: %d %s", r.Status, r.Raw)
		}
		if n := count(live, vid); n != 1 {
			t.Errorf("%d publications, want 1", n)
		}
	})

	t.Run("a failed request does not keep the key", func(t *testing.T) {
		st, err := videos.NewStore(dynamoClient(s.AWS()), workerEnv("DATA_TABLE"), workerEnv("KEYS_TABLE"), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		v := testenv.QueuedVideo(t, st, wsA.ID, apikey.Live, time.Now)
		// Not rendered yet: 409 conflict, and the key stays free: another
		// body with it is not idempotency_mismatch.
		for _, b := range []string{body(connLive), body("conn_00000000000000000000000000")} {
			if r := publish(live, v.ID, "retry-me", b); r.Status != 409 || r.Str("error", "code") != "conflict" {
				t.Fatalf("unrendered: %d %s", r.Status, r.Raw)
			}
		}
		v, ok, err := st.StartRendering(ctx, v, 0, "attempt1", time.Minute)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if ok, err := st.Succeed(ctx, v, "attempt1", videos.Rendered{Duration: 1, SizeBytes: 3, Width: 320, Height: 240,
			S3Key: videos.AttemptKey(apikey.Live, wsA.ID, v.ID, "attempt1", "mp4")}); err != nil || !ok {
			t.Fatal(ok, err)
		}
		// An unknown connection: 400, and the key stays free.
		if r := publish(live, v.ID, "retry-me", body("conn_00000000000000000000000000")); r.Status != 400 || r.Str("error", "field") != "/connectionId" {
			t.Fatalf("unknown connection: %d %s", r.Status, r.Raw)
		}
		r := publish(live, v.ID, "retry-me", body(connLive))
		if r.Status != 202 || r.Header.Get(idempotency.ReplayedHeader) != "" {
			t.Fatalf("retry after the video succeeded: %d %s", r.Status, r.Raw)
		}
		if again := publish(live, v.ID, "retry-me", body(connLive)); again.Status != 202 || again.Str("id") != r.Str("id") {
			t.Errorf("replay: %d %s", again.Status, again.Raw)
		}
		if n := count(live, v.ID); n != 1 {
			t.Errorf("%d publications, want 1", n)
		}
	})

	t.Run("concurrent duplicates", func(t *testing.T) {
		vid := video(wsA.ID, apikey.Live)
		var wg sync.WaitGroup
		res := make([]testenv.Reply, 10)
		for i := range res {
			wg.Go(func() { res[i] = publish(live, vid, "dup", body(connLive)) })
		}
		wg.Wait()
		ids := map[string]bool{}
		for i, r := range res {
			switch {
			case r.Status == 202:
				ids[r.Str("id")] = true
			case r.Status == 409 && r.Str("error", "code") == "conflict":
			default:
				t.Errorf("request %d: %d %s", i, r.Status, r.Raw)
			}
		}
		if len(ids) != 1 {
			t.Errorf("%d distinct publications answered, want 1: %v", len(ids), ids)
		}
		if n := count(live, vid); n != 1 {
			t.Errorf("%d publications, want exactly 1", n)
		}
		// Once the first is done, every repeat is its replay.
		if r := publish(live, vid, "dup", body(connLive)); r.Status != 202 || r.Header.Get(idempotency.ReplayedHeader) != "true" || !ids[r.Str("id")] {
			t.Errorf("replay after the race: %d %s", r.Status, r.Raw)
		}
	})
}

// TestPublishIdempotencyWindow runs the handler on an injected clock: a
// replay still answers after its publishAt has passed (the key is claimed
// before the time is checked), and after 24 h the key is free again. A
// queue that refuses the first message releases the key too.
func TestPublishIdempotencyWindow(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second)
	clock := testenv.NewClock(t0)
	env := testenv.New(t)
	ws := "ws_" + env.Prefix
	q := &failingSQS{inner: sqs.NewFromConfig(env.AWS)}
	api, err := publish.Options{QueueSQS: q}.New(ctx, env.Deps("PublishFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	wd := env.Deps("PublishWorkerFunction", clock.Now)
	cs, err := connections.OpenStore(ctx, wd, true)
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := cs.Create(ctx, ws, "live", connections.Spec{Type: connections.TypeWebhook, URL: "https://example.com/catch"}, env.Operator(ws))
	if err != nil {
		t.Fatal(err)
	}
	v := testenv.SucceededVideo(t, env.AWS, wd.Getenv, ws, apikey.Live, clock.Now, []byte("mp4"))
	call := func(idem string, body map[string]any) (int, map[string]string, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		ctxv := ratelimit.Verdict{Outcome: ratelimit.Allow, Workspace: ws, Env: "live", KeyID: "key_test",
			KeyLimit: ratelimit.Limit{Name: "key", Limit: 100, Remaining: 99, Window: 60}}.Context()
		resp, err := api(ctx, events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/videos/{id}/publish",
			PathParameters: map[string]string{"id": v.ID}, Headers: map[string]string{"idempotency-key": idem},
			Body: string(b), RequestContext: events.APIGatewayProxyRequestContext{RequestID: "r1", Authorizer: ctxv}})
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(resp.Body), &out)
		return resp.StatusCode, resp.Headers, out
	}
	in := func(at time.Time) map[string]any {
		return map[string]any{"connectionId": conn.ID, "publishAt": at.Format(time.RFC3339)}
	}

	// The queue is down: 5xx, and the key is not kept.
	q.fail = true
	if code, _, out := call("k1", in(t0.Add(2*time.Hour))); code < 500 {
		t.Fatalf("queue down: %d %v", code, out)
	}
	q.fail = false
	code, _, first := call("k1", in(t0.Add(2*time.Hour)))
	if code != 202 {
		t.Fatalf("first: %d %v", code, first)
	}

	// Three hours on, publishAt is in the past: a new request would be a
	// 400, the replay is the first answer.
	clock.Advance(3 * time.Hour)
	if code, _, out := call("k2", in(t0.Add(2*time.Hour))); code != 400 {
		t.Fatalf("stale publishAt without replay: %d %v", code, out)
	}
	code, hdr, again := call("k1", in(t0.Add(2*time.Hour)))
	if code != 202 || hdr[idempotency.ReplayedHeader] != "true" || again["id"] != first["id"] {
		t.Fatalf("replay: %d %v %v, want %v", code, hdr, again, first["id"])
	}

	// After the window the key is free, for any body.
	clock.Advance(idempotency.Window)
	code, hdr, fresh := call("k1", in(clock.Now().Add(time.Hour)))
	if code != 202 || hdr[idempotency.ReplayedHeader] != "" || fresh["id"] == first["id"] {
		t.Fatalf("after 24 h: %d %v %v", code, hdr, fresh)
	}
}

// failingSQS refuses every message while fail is set.
type failingSQS struct {
	inner *sqs.Client
	fail  bool
}

func (f *failingSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, o ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	if f.fail {
		return nil, io.ErrUnexpectedEOF
	}
	return f.inner.SendMessage(ctx, in, o...)
}
