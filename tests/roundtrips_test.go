package e2e

// The round trips of every route. A metered local stack (devstack.Meter
// between the functions and the emulator) files each DynamoDB call under
// the gateway request that made it, the authorizer's apart from the
// handler's; a tour drives every route of template.yaml once, in a state
// where it succeeds, and the test holds each to its budget:
//
//   - the authorizer: one round trip;
//   - a read route: one handler round trip (so ≤ 2 with the authorizer);
//   - a write route: one write (a transaction or a single-item write) and
//     at most one read before it: ≤ 2 handler round trips, ≤ 3 in all.
//
// BenchmarkRouteRoundTrips runs the same tour with every DynamoDB call
// held 150 ms, the way a distant table would, and reports each route's
// calls, round trips and latency (make bench prints the table).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

// hop is one metered request of the tour.
type hop struct {
	route   string // "GET /keys/{id}", as template.yaml declares it
	status  int
	usage   devstack.Usage
	latency time.Duration
	// function and authorizer are the logical IDs that served it; prefix
	// names the stack's tables (<prefix>-<LogicalID>).
	function, authorizer, prefix string
}

// permissions says which calls of h its functions' policies do not allow.
func (h hop) permissions(grants map[string][]grant) []string {
	tableOf := func(name string) string { return strings.TrimPrefix(name, h.prefix+"-") }
	var problems []string
	for fn, calls := range map[string][]devstack.Call{h.authorizer: h.usage.Authorizer, h.function: h.usage.Handler} {
		for _, c := range calls {
			if p := allowed(grants[fn], c, tableOf); p != "" {
				problems = append(problems, fn+": "+p)
			}
		}
	}
	return problems
}

func (h hop) authorizerRoundTrips() int { return devstack.RoundTrips(h.usage.Authorizer) }
func (h hop) handlerRoundTrips() int    { return devstack.RoundTrips(h.usage.Handler) }
func (h hop) read() bool                { return strings.HasPrefix(h.route, "GET ") }

// budget says what is wrong with h, or "".
func (h hop) budget() string {
	var problems []string
	if n := h.authorizerRoundTrips(); n > 1 {
		problems = append(problems, fmt.Sprintf("the authorizer took %d round trips (budget 1)", n))
	}
	n, w := h.handlerRoundTrips(), devstack.Writes(h.usage.Handler)
	switch {
	case h.read() && n > 1:
		problems = append(problems, fmt.Sprintf("a read route took %d handler round trips (budget 1)", n))
	case h.read() && w > 0:
		problems = append(problems, fmt.Sprintf("a read route wrote %d times", w))
	case !h.read() && n > 2:
		problems = append(problems, fmt.Sprintf("a write route took %d handler round trips (budget 2: one read, one write)", n))
	case !h.read() && w > 1:
		problems = append(problems, fmt.Sprintf("a write route made %d writes (budget 1: one transaction)", w))
	}
	if len(problems) == 0 {
		return ""
	}
	ops := []string{}
	for _, c := range h.usage.Authorizer {
		ops = append(ops, "authorizer:"+c.Op)
	}
	for _, c := range h.usage.Handler {
		ops = append(ops, c.Op)
	}
	return strings.Join(problems, "; ") + " [" + strings.Join(ops, ", ") + "]"
}

// tour drives every route of template.yaml through a metered stack whose
// DynamoDB calls are each held delay, and returns one hop per route.
func tour(t testing.TB, delay time.Duration) []hop {
	s := testenv.NewStack(t, func(c *devstack.Config) {
		c.Meter, c.DynamoDBDelay = true, delay
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true"}
	})
	meter := s.Meter()
	ws, keys := s.Workspace("Round trips", ratelimit.Plan{})
	primary := keys[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL()).WithoutRedirects()
	rcv := testenv.NewReceiver(t, http.StatusNoContent)
	done := succeededVideoOf(t, s, ws.ID)

	var hops []hop
	functionOf := map[string]string{}
	for _, f := range s.Template().Functions {
		for _, r := range f.Routes {
			functionOf[r.Method+" "+r.Path] = f.LogicalID
		}
	}
	// via sends one request of the tour with c; call with the tour's client.
	// send records one request of the tour, made by do.
	send := func(route, path string, status int, do func() testenv.Reply) testenv.Reply {
		t.Helper()
		start := time.Now()
		r := do()
		lat := time.Since(start)
		if r.Status != status {
			t.Fatalf("%s %s: status %d, want %d: %s", route, path, r.Status, status, r.Raw)
		}
		hops = append(hops, hop{route: route, status: r.Status, usage: meter.Usage(r.Header.Get("X-Amzn-Requestid")), latency: lat,
			function: functionOf[route], authorizer: s.Template().Api.AuthorizerFunction, prefix: s.Resources().Prefix})
		return r
	}
	via := func(c *testenv.APIClient, route, path, key string, body any, status int) testenv.Reply {
		t.Helper()
		method, _, _ := strings.Cut(route, " ")
		return send(route, path, status, func() testenv.Reply { return c.Do(method, path, key, body) })
	}
	call := func(route, path, key string, body any, status int) testenv.Reply {
		t.Helper()
		return via(c, route, path, key, body, status)
	}

	call("GET /auth", "/auth", primary, nil, 200)
	call("GET /openapi.json", "/openapi.json", "", nil, 200)

	// Keys.
	k := call("POST /keys", "/keys", primary, map[string]any{"name": "ci", "role": "render"}, 201)
	call("GET /keys", "/keys", primary, nil, 200)
	call("GET /keys/{id}", "/keys/"+k.Str("id"), primary, nil, 200)
	rot := call("POST /keys/{id}/rotate", "/keys/"+k.Str("id")+"/rotate", primary, map[string]any{"gracePeriodSeconds": 60}, 201)
	call("DELETE /keys/{id}", "/keys/"+rot.Str("id"), primary, nil, 200)

	// Templates.
	call("POST /templates", "/templates", primary, myIntro("Intro"), 201)
	call("GET /templates", "/templates", primary, nil, 200)
	call("GET /templates/{id}", "/templates/my-intro", primary, nil, 200)
	call("PUT /templates/{id}", "/templates/my-intro", primary, myIntro("Intro 2"), 200)
	call("DELETE /templates/{id}", "/templates/my-intro", primary, nil, 200)

	// Videos.
	spec := map[string]any{"resolution": "sd", "scenes": []any{map[string]any{"duration": 1, "background": map[string]any{"color": "#000000"}}}}
	v := call("POST /videos", "/videos", primary, map[string]any{"spec": spec}, 202)
	call("GET /videos", "/videos", primary, nil, 200)
	call("GET /videos/{id}", "/videos/"+v.Str("id"), primary, nil, 200)
	call("GET /videos/{id}/status", "/videos/"+v.Str("id")+"/status", primary, nil, 200)
	call("GET /videos/{id}/download", "/videos/"+done.ID+"/download", primary, nil, 302)
	call("GET /videos/{id}/thumbnail", "/videos/"+done.ID+"/thumbnail", primary, nil, 302)

	// Webhooks.
	wh := call("POST /webhooks", "/webhooks", primary, map[string]any{"url": rcv.URL, "events": []string{"*"}}, 201)
	whPath := "/webhooks/" + wh.Str("id")
	call("GET /webhooks", "/webhooks", primary, nil, 200)
	call("GET /webhooks/{id}", whPath, primary, nil, 200)
	call("PATCH /webhooks/{id}", whPath, primary, map[string]any{"description": "ops"}, 200)
	dlv := call("POST /webhooks/{id}/test", whPath+"/test", primary, nil, 202)
	rcv.Wait(t)
	// The worker logs the attempt after the receiver answered: wait for it
	// (outside the tour) before the routes that read it.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(c.Do("GET", whPath+"/deliveries", primary, nil).Raw, dlv.Str("deliveryId")); {
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s never logged", dlv.Str("deliveryId"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	call("GET /webhooks/{id}/deliveries", whPath+"/deliveries", primary, nil, 200)
	call("POST /webhooks/{id}/deliveries/{deliveryId}/redeliver", whPath+"/deliveries/"+dlv.Str("deliveryId")+"/redeliver", primary, nil, 202)
	rcv.Wait(t)
	call("POST /webhooks/{id}/rotate-secret", whPath+"/rotate-secret", primary, nil, 200)
	call("POST /webhooks/{id}/recover", whPath+"/recover", primary, map[string]any{"since": time.Now().Add(-time.Hour).Format(time.RFC3339)}, 202)

	// Assets.
	asset := call("POST /assets", "/assets", primary, map[string]any{"filename": "clip.mp4", "contentType": "video/mp4", "sizeBytes": 1024}, 201)
	call("GET /assets", "/assets", primary, nil, 200)
	call("GET /assets/{id}", "/assets/"+asset.Str("id"), primary, nil, 200)
	call("DELETE /assets/{id}", "/assets/"+asset.Str("id"), primary, nil, 200)

	// Connections and publishing.
	conn := call("POST /connections", "/connections", primary, map[string]any{"type": "webhook", "url": rcv.URL}, 201)
	connPath := "/connections/" + conn.Str("id")
	call("GET /connections", "/connections", primary, nil, 200)
	call("GET /connections/{id}", connPath, primary, nil, 200)
	pub := call("POST /videos/{id}/publish", "/videos/"+done.ID+"/publish", primary,
		map[string]any{"connectionId": conn.Str("id"), "publishAt": time.Now().Add(time.Hour).Format(time.RFC3339)}, 202)
	call("GET /videos/{id}/publications", "/videos/"+done.ID+"/publications", primary, nil, 200)
	call("DELETE /videos/{id}/publications/{publicationId}", "/videos/"+done.ID+"/publications/"+pub.Str("id"), primary, nil, 200)
	call("DELETE /connections/{id}", connPath, primary, nil, 200)

	// The console: its page and assets, a one-time link, the sign-in, the
	// sessions a key sees, and a sign-out.
	call("GET /console", "/console", "", nil, 200)
	call("GET /console/{asset}", "/console/app.js", "", nil, 200)
	link := call("POST /console/sessions", "/console/sessions", primary, nil, 201)
	token := strings.SplitN(link.Str("url"), "#signin=", 2)[1]
	via(c.WithHeader("X-Framegate-Console", "live"), "POST /console/signin", "/console/signin", "", map[string]any{"token": token}, 200)
	call("GET /console/sessions", "/console/sessions", primary, nil, 200)
	call("DELETE /console/sessions/{id}", "/console/sessions/"+link.Str("id"), primary, nil, 200)

	// The audit log, usage, and a key GitHub found in public.
	call("GET /audit-events", "/audit-events?action=key.created", primary, nil, 200)
	call("GET /usage", "/usage?granularity=minute", primary, nil, 200)
	leaked := call("POST /keys", "/keys", primary, map[string]any{"name": "leaked", "role": "render"}, 201)
	report, _ := json.Marshal([]map[string]string{{"token": leaked.Str("key"), "type": "framegate_api_key", "url": "https://github.com/o/r/blob/1/.env", "source": "content"}})
	signed, err := s.Scanning.Headers(report)
	if err != nil {
		t.Fatal(err)
	}
	send("POST /secret-scanning/github", "/secret-scanning/github", 200, func() testenv.Reply { return c.Post("/secret-scanning/github", report, signed) })

	// Last: what takes something away.
	call("DELETE /videos/{id}", "/videos/"+done.ID, primary, nil, 200)
	call("DELETE /webhooks/{id}", whPath, primary, nil, 200)
	call("POST /keys/primary/reset", "/keys/primary/reset", primary, nil, 201)

	// Every route of the template, no more.
	var declared, toured []string
	for _, f := range s.Template().Functions {
		for _, r := range f.Routes {
			declared = append(declared, r.Method+" "+r.Path)
		}
	}
	for _, h := range hops {
		toured = append(toured, h.route)
	}
	slices.Sort(declared)
	slices.Sort(toured)
	if !slices.Equal(declared, slices.Compact(toured)) {
		t.Fatalf("the tour drives %v\nbut template.yaml declares %v", toured, declared)
	}
	return hops
}

// succeededVideoOf stores a rendered video of ws (live) with its file, the
// way the render worker leaves one.
func succeededVideoOf(t testing.TB, s *testenv.Stack, ws string) videos.Video {
	t.Helper()
	ctx := context.Background()
	env := s.Getenv("RenderWorkerFunction")
	st, err := videos.NewStore(dynamodb.NewFromConfig(s.AWS()), env("DATA_TABLE"), env("KEYS_TABLE"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ids.New("vid", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := videos.Video{ID: id, Workspace: ws, Env: apikey.Live, Status: videos.Queued, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Spec: json.RawMessage(`{}`)}
	if err := st.Insert(ctx, v, 100); err != nil {
		t.Fatal(err)
	}
	const token = "roundtrips"
	v, ok, err := st.StartRendering(ctx, v, 0, token, time.Minute)
	if err != nil || !ok {
		t.Fatalf("start rendering: %v %v", ok, err)
	}
	file := []byte("\x00\x00\x00\x18ftypmp42 a small render")
	key := videos.AttemptKey(apikey.Live, ws, v.ID, token, "mp4")
	thumb := videos.ThumbnailKey(key)
	if ok, err := st.Succeed(ctx, v, token, videos.Rendered{Duration: 1, SizeBytes: int64(len(file)), Width: 320, Height: 240, S3Key: key, ThumbnailKey: thumb}); err != nil || !ok {
		t.Fatalf("succeed: %v %v", ok, err)
	}
	for k, ct := range map[string]string{key: "video/mp4", thumb: "image/jpeg"} {
		if _, err := videos.S3Client(s.AWS()).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(env("RENDERS_BUCKET")), Key: aws.String(k),
			Body: bytes.NewReader(file), ContentType: aws.String(ct)}); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// TestRouteRoundTrips holds every route to its round-trip budget, and
// every DynamoDB call it makes to its function's policies in template.yaml
// (the emulator enforces none). Each DynamoDB call is held 40 ms, as a
// table a few regions away would: calls a handler makes together then
// overlap even when a loaded machine starts one of their goroutines late
// (without the delay, a 20 ms Query could end before its sibling started,
// and count as a second round trip).
func TestRouteRoundTrips(t *testing.T) {
	grants := grantsOf(t)
	for _, h := range tour(t, 40*time.Millisecond) {
		t.Logf("%-58s %d  calls %d  round trips: authorizer %d, handler %d", h.route, h.status, h.usage.Calls(), h.authorizerRoundTrips(), h.handlerRoundTrips())
		if p := h.budget(); p != "" {
			t.Errorf("%s: %s", h.route, p)
		}
		for _, p := range h.permissions(grants) {
			t.Errorf("%s: %s", h.route, p)
		}
	}
}

// rejectedCost sends 40 requests past a key's limit through a metered
// stack (every DynamoDB call held delay) and returns the DynamoDB calls
// they cost each.
func rejectedCost(tb testing.TB, delay time.Duration) float64 {
	s := testenv.NewStack(tb, func(c *devstack.Config) { c.Meter, c.DynamoDBDelay = true, delay })
	_, keys := s.Workspace("Hammer", ratelimit.Plan{KeyRequestsPerMinute: 10})
	c := testenv.NewAPIClient(tb, s.URL())
	key := keys[apikey.Live]
	for range 10 {
		c.Expect(c.Do("GET", "/auth", key, nil), 200)
	}
	calls := 0
	for range 40 {
		r := c.Expect(c.Do("GET", "/auth", key, nil), 429)
		calls += s.Meter().Usage(r.Header.Get("X-Amzn-Requestid")).Calls()
	}
	return float64(calls) / 40
}

// TestRejectedRequestsCostNothing: 40 requests past a key's limit, through
// the gateway and the metered stack, cost at most 0.2 DynamoDB calls each:
// the first refusal pays its write and its undo, the authorizer remembers
// the rest.
func TestRejectedRequestsCostNothing(t *testing.T) {
	each := rejectedCost(t, 0)
	t.Logf("40 requests past the limit: %.3f DynamoDB calls each", each)
	if each > 0.2 {
		t.Fatalf("40 requests past the limit cost %.3f DynamoDB calls each, over 0.2", each)
	}
}

// benchDelay holds every DynamoDB call of BenchmarkRouteRoundTrips, about
// a table on another continent: latency then shows the round trips.
const benchDelay = 150 * time.Millisecond

// BenchmarkRouteRoundTrips runs the tour with every DynamoDB call held
// 150 ms and reports, per route, its calls, sequential round trips (the
// authorizer's included), its budget and its latency; then 40 requests
// past a key's limit and the calls they cost. make bench prints the table.
func BenchmarkRouteRoundTrips(b *testing.B) {
	for _, h := range tour(b, benchDelay) {
		budget := 3.0
		if h.read() {
			budget = 2
		}
		b.Run(strings.ReplaceAll(h.route, " ", "_"), func(b *testing.B) {
			for range b.N {
			}
			b.ReportMetric(float64(h.usage.Calls()), "ddb-calls")
			b.ReportMetric(float64(h.usage.RoundTrips()), "round-trips")
			b.ReportMetric(budget, "budget")
			b.ReportMetric(float64(h.latency.Milliseconds()), "latency-ms")
		})
	}
	each := rejectedCost(b, benchDelay)
	b.Run("rejected", func(b *testing.B) {
		for range b.N {
		}
		b.ReportMetric(each, "ddb-calls/request")
	})
}
