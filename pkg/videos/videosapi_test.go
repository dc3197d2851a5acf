package videos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type apiFixture struct {
	env   *testenv.Env
	clock *testenv.Clock
	keys  *keystore.Store
	sv    *videos.Service
	h     lambdas.HTTPFunc
	sqs   *sqs.Client
	queue string
}

func setupAPI(t testing.TB) *apiFixture {
	t.Helper()
	env := testenv.New(t)
	clock := testenv.NewClock(t0)
	ctx := context.Background()
	ks, err := keystore.Open(ctx, env.Deps("KeysFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	d := env.Deps("VideosFunction", clock.Now)
	// The concurrent-duplicates test relies on atomic conditional writes,
	// which testenv's emulator proxy provides (pkg/devstack/isolate.go).
	sv, err := videos.Open(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &apiFixture{
		env: env, clock: clock, keys: ks, sv: sv, h: videos.Handler(httpapi.NewServer(d), sv),
		sqs: sqs.NewFromConfig(env.AWS), queue: d.Getenv("RENDER_QUEUE_URL"),
	}
}

func (f *apiFixture) workspace(t testing.TB, o ratelimit.Plan) string {
	t.Helper()
	ws, _, err := f.keys.CreateWorkspace(context.Background(), "Acme", ratelimit.DefaultPlan, o)
	if err != nil {
		t.Fatal(err)
	}
	return ws.ID
}

type caller struct {
	ws  string
	env apikey.Env
}

type response struct {
	status  int
	headers map[string]string
	body    map[string]any
	raw     string
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }

func (r response) code() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (f *apiFixture) do(t testing.TB, c caller, method, resource string, id string, query map[string]string, headers map[string]string, body string) response {
	t.Helper()
	path := strings.ReplaceAll(resource, "{id}", id)
	var params map[string]string
	if id != "" {
		params = map[string]string{"id": id}
	}
	if headers == nil {
		headers = map[string]string{}
	}
	headers["Content-Type"] = "application/json"
	v := ratelimit.Verdict{
		Outcome: ratelimit.Allow, Workspace: c.ws, Env: string(c.env), KeyID: "key_test", KeyKind: "primary",
		Role: "manager", Scopes: "videos:read videos:write",
		KeyLimit: ratelimit.Limit{Name: "key", Limit: 100, Remaining: 99, Window: 60},
	}
	ev := events.APIGatewayProxyRequest{
		Resource: resource, Path: path, HTTPMethod: method, Headers: headers, Body: body,
		PathParameters: params, QueryStringParameters: query,
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "req-1", Authorizer: v.Context()},
	}
	out, err := f.h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: out.StatusCode, headers: out.Headers, raw: out.Body}
	if out.Body != "" {
		if err := json.Unmarshal([]byte(out.Body), &r.body); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, out.Body, err)
		}
	}
	return r
}

// apiSpec is a small valid movie of the given length.
func apiSpec(seconds float64) string {
	return fmt.Sprintf(`{"spec":{"resolution":"sd","scenes":[{"duration":%g,"background":{"color":"#112233"},
		"elements":[{"type":"text","text":"Hello"}]}]}}`, seconds)
}

func (f *apiFixture) messages(t *testing.T) []videos.Message {
	t.Helper()
	var out []videos.Message
	for {
		resp, err := f.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(f.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Messages) == 0 {
			return out
		}
		for _, m := range resp.Messages {
			var msg videos.Message
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg); err != nil {
				t.Fatal(err)
			}
			out = append(out, msg)
		}
	}
}

func TestCreateReadCancelDelete(t *testing.T) {
	f := setupAPI(t)
	c := caller{f.workspace(t, ratelimit.Plan{}), apikey.Live}
	r := f.do(t, c, "POST", "/videos", "", nil, nil, apiSpec(2))
	if r.status != http.StatusAccepted || r.str("status") != "queued" || r.str("object") != "video" || r.str("id") == "" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	if r.headers["Location"] != "/v1/videos/"+id {
		t.Errorf("Location %q", r.headers["Location"])
	}
	if r.body["watermark"] != false || r.body["expiresAt"] != nil {
		t.Errorf("a live video has no watermark and no expiry: %s", r.raw)
	}
	msgs := f.messages(t)
	if len(msgs) != 1 || msgs[0] != (videos.Message{VideoID: id, Workspace: c.ws, Environment: "live"}) {
		t.Fatalf("render queue holds %+v", msgs)
	}
	for _, res := range []string{"/videos/{id}", "/videos/{id}/status"} {
		g := f.do(t, c, "GET", res, id, nil, nil, "")
		if g.status != 200 || g.str("id") != id || g.str("status") != "queued" || g.body["durationSeconds"] != 2.0 {
			t.Errorf("GET %s: %d %s", res, g.status, g.raw)
		}
	}
	for _, link := range []string{"/videos/{id}/download", "/videos/{id}/thumbnail"} {
		if d := f.do(t, c, "GET", link, id, nil, nil, ""); d.status != 409 || d.code() != "conflict" {
			t.Errorf("%s of a queued video: %d %s", link, d.status, d.raw)
		}
		if d := f.do(t, c, "GET", link, id, map[string]string{"redirect": "no"}, nil, ""); d.status != 400 || d.code() != "invalid_request" {
			t.Errorf("%s with redirect=no: %d %s", link, d.status, d.raw)
		}
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), c.ws, c.env); n != 1 {
		t.Errorf("queued counter %d, want 1", n)
	}
	d := f.do(t, c, "DELETE", "/videos/{id}", id, nil, nil, "")
	if d.status != 200 || d.str("status") != "cancelled" {
		t.Fatalf("cancel: %d %s", d.status, d.raw)
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), c.ws, c.env); n != 0 {
		t.Errorf("queued counter after cancel %d, want 0", n)
	}
	d = f.do(t, c, "DELETE", "/videos/{id}", id, nil, nil, "")
	if d.status != 200 || d.body["deleted"] != true {
		t.Fatalf("delete: %d %s", d.status, d.raw)
	}
	if g := f.do(t, c, "GET", "/videos/{id}", id, nil, nil, ""); g.status != 404 || g.code() != "not_found" {
		t.Errorf("GET deleted: %d %s", g.status, g.raw)
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), c.ws, c.env); n != 0 {
		t.Errorf("queued counter after delete %d, want 0", n)
	}
}

func TestCreateValidation(t *testing.T) {
	f := setupAPI(t)
	c := caller{f.workspace(t, ratelimit.Plan{}), apikey.Live}
	for _, tc := range []struct {
		name, body, code, field string
	}{
		{"empty", `{}`, "invalid_request", "/spec"},
		{"unknown field", `{"spec":{"resolution":"sd","scenes":[]},"colour":1}`, "invalid_request", "/colour"},
		{"bad resolution", `{"spec":{"resolution":"4k","scenes":[{"duration":1,"background":{"color":"#000000"}}]}}`, "invalid_request", "/spec/resolution"},
		{"spec and template", `{"spec":{"resolution":"sd"},"templateId":"title-card"}`, "invalid_request", "/templateId"},
		{"http webhook", `{"spec":{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}}]},"webhookUrl":"http://example.com/h"}`, "invalid_request", "/webhookUrl"},
		{"too long for the plan", apiSpec(601), "invalid_request", "/spec/scenes"},
		{"a scene of 1e-300 s", `{"spec":{"resolution":"sd","scenes":[{"duration":1e-300,"background":{"color":"#000000"}}]}}`, "invalid_request", "/spec/scenes/0/duration"},
		{"a scene under one frame", `{"spec":{"resolution":"sd","fps":10,"scenes":[{"duration":0.09,"background":{"color":"#000000"}}]}}`, "invalid_request", "/spec/scenes/0/duration"},
		{"beyond the render budget", overBudget(), "render_budget_exceeded", "/spec/scenes/*/elements/*"},
		{"a bare spec", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}}]}`, "invalid_request", "/resolution"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, c, "POST", "/videos", "", nil, nil, tc.body)
			e, _ := r.body["error"].(map[string]any)
			field, _ := e["field"].(string)
			if ok, _ := path.Match(tc.field, field); r.status != 400 || r.code() != tc.code || !ok {
				t.Errorf("%d %s; want 400 %s at %s", r.status, r.raw, tc.code, tc.field)
			}
			// A bare spec is the quickstart's likeliest mistake: the message says to wrap it.
			if msg, _ := e["message"].(string); tc.name == "a bare spec" && !strings.Contains(msg, `{"spec": {`) {
				t.Errorf("bare spec message %q does not say to wrap it in {\"spec\": …}", msg)
			}
		})
	}
	if msgs := f.messages(t); len(msgs) != 0 {
		t.Errorf("invalid requests queued %d renders", len(msgs))
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), c.ws, c.env); n != 0 {
		t.Errorf("invalid requests counted: %d", n)
	}
}

// TestWebhookURLRule: a video's webhookUrl follows the rule of webhook
// endpoints: plain http in the sandbox only, public addresses only,
// whatever the scheme; the webhook worker delivers what is accepted here.
func TestWebhookURLRule(t *testing.T) {
	f := setupAPI(t)
	ws := f.workspace(t, ratelimit.Plan{})
	body := func(u string) string {
		return `{"spec":{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}}]},"webhookUrl":"` + u + `"}`
	}
	for _, tc := range []struct {
		env    apikey.Env
		url    string
		status int
		msg    string
	}{
		{apikey.Test, "http://93.184.215.14/hook", 202, ""},
		{apikey.Live, "http://93.184.215.14/hook", 400, "sandbox"},
		{apikey.Live, "https://93.184.215.14/hook", 202, ""},
		{apikey.Test, "http://10.0.0.1/hook", 400, "private address"},
		{apikey.Test, "http://[2001:0:a9fe:a9fe::1]/hook", 400, "cloud metadata"},
		{apikey.Test, "ftp://93.184.215.14/hook", 400, "http or https"},
	} {
		r := f.do(t, caller{ws, tc.env}, "POST", "/videos", "", nil, nil, body(tc.url))
		e, _ := r.body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if r.status != tc.status || (tc.status == 400 && (e["field"] != "/webhookUrl" || !strings.Contains(msg, tc.msg))) {
			t.Errorf("%s %s: %d %s; want %d mentioning %q", tc.env, tc.url, r.status, r.raw, tc.status, tc.msg)
		}
	}
}

// overBudget is a full-hd spec of scenes with transitions, each showing 20
// different full-frame images: more than a render's memory.
func overBudget() string {
	var scenes []string
	for i := range 10 {
		var els []string
		for j := range 20 {
			els = append(els, fmt.Sprintf(`{"type":"image","url":"https://cdn.example/%d-%d.png"}`, i, j))
		}
		scenes = append(scenes, fmt.Sprintf(`{"duration":2,"background":{"color":"#000000"},"transition":{"type":"fade"},"elements":[%s]}`, strings.Join(els, ",")))
	}
	scenes = append(scenes, `{"duration":2,"background":{"color":"#000000"}}`)
	return `{"spec":{"resolution":"full-hd","scenes":[` + strings.Join(scenes, ",") + `]}}`
}

func TestIdempotencyKey(t *testing.T) {
	f := setupAPI(t)
	c := caller{f.workspace(t, ratelimit.Plan{}), apikey.Live}
	h := map[string]string{"Idempotency-Key": "order-1"}
	a := f.do(t, c, "POST", "/videos", "", nil, h, apiSpec(2))
	// Same body with other whitespace: the same request.
	b := f.do(t, c, "POST", "/videos", "", nil, map[string]string{"idempotency-key": "order-1"}, "  "+apiSpec(2)+"\n")
	if a.status != 202 || b.status != 202 || a.str("id") != b.str("id") || a.raw != b.raw {
		t.Fatalf("replay differs:\n%d %s\n%d %s", a.status, a.raw, b.status, b.raw)
	}
	if b.headers["Idempotent-Replayed"] != "true" || a.headers["Idempotent-Replayed"] != "" {
		t.Errorf("Idempotent-Replayed: first %q, replay %q", a.headers["Idempotent-Replayed"], b.headers["Idempotent-Replayed"])
	}
	m := f.do(t, c, "POST", "/videos", "", nil, map[string]string{"Idempotency-Key": "order-1"}, apiSpec(3))
	if m.status != 409 || m.code() != "idempotency_mismatch" {
		t.Errorf("other body: %d %s", m.status, m.raw)
	}
	// The key is scoped to the environment: the sandbox may reuse it.
	s := f.do(t, caller{c.ws, apikey.Test}, "POST", "/videos", "", nil, map[string]string{"Idempotency-Key": "order-1"}, apiSpec(3))
	if s.status != 202 || s.str("id") == a.str("id") {
		t.Errorf("sandbox with the same key: %d %s", s.status, s.raw)
	}
	// After 24 h the key is free again.
	f.clock.Advance(videos.IdempotencyWindow + time.Second)
	n := f.do(t, c, "POST", "/videos", "", nil, map[string]string{"Idempotency-Key": "order-1"}, apiSpec(3))
	if n.status != 202 || n.str("id") == a.str("id") {
		t.Errorf("after 24 h: %d %s", n.status, n.raw)
	}
	if got := len(f.messages(t)); got != 3 {
		t.Errorf("%d renders queued, want 3", got)
	}
}

func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	f := setupAPI(t)
	c := caller{f.workspace(t, ratelimit.Plan{}), apikey.Live}
	const n = 6
	var wg sync.WaitGroup
	res := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = f.do(t, c, "POST", "/videos", "", nil, map[string]string{"Idempotency-Key": "dup"}, apiSpec(2))
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range res {
		switch {
		case r.status == 202:
			ids[r.str("id")] = true
		case r.status == 409 && r.code() == "conflict":
		default:
			t.Errorf("concurrent duplicate: %d %s", r.status, r.raw)
		}
	}
	if len(ids) != 1 {
		t.Errorf("concurrent duplicates created %d distinct videos", len(ids))
	}
	if got := len(f.messages(t)); got != 1 {
		t.Errorf("%d renders queued, want 1", got)
	}
	if k, _ := f.sv.Store.QueuedCount(context.Background(), c.ws, c.env); k != 1 {
		t.Errorf("queued counter %d, want 1", k)
	}
}

func TestTenantIsolation(t *testing.T) {
	f := setupAPI(t)
	a := caller{f.workspace(t, ratelimit.Plan{}), apikey.Live}
	b := caller{f.workspace(t, ratelimit.Plan{}), apikey.Live}
	r := f.do(t, a, "POST", "/videos", "", nil, nil, apiSpec(2))
	id := r.str("id")
	for name, c := range map[string]caller{"other workspace": b, "other environment": {a.ws, apikey.Test}} {
		for _, tc := range []struct{ method, res string }{
			{"GET", "/videos/{id}"}, {"GET", "/videos/{id}/status"}, {"GET", "/videos/{id}/download"}, {"DELETE", "/videos/{id}"},
		} {
			if g := f.do(t, c, tc.method, tc.res, id, nil, nil, ""); g.status != 404 || g.code() != "not_found" {
				t.Errorf("%s: %s %s: %d %s", name, tc.method, tc.res, g.status, g.raw)
			}
		}
		if l := f.do(t, c, "GET", "/videos", "", nil, nil, ""); len(l.body["data"].([]any)) != 0 {
			t.Errorf("%s lists %s", name, l.raw)
		}
	}
	if g := f.do(t, a, "GET", "/videos/{id}", id, nil, nil, ""); g.status != 200 || g.str("status") != "queued" {
		t.Errorf("the owner's video changed: %d %s", g.status, g.raw)
	}
	if g := f.do(t, a, "GET", "/videos/{id}", "vid_nonsense", nil, nil, ""); g.status != 404 {
		t.Errorf("malformed id: %d", g.status)
	}
}

func TestQueueFull(t *testing.T) {
	f := setupAPI(t)
	c := caller{f.workspace(t, ratelimit.Plan{QueuedRenders: 2}), apikey.Live}
	var ids []string
	for range 2 {
		r := f.do(t, c, "POST", "/videos", "", nil, nil, apiSpec(1))
		if r.status != 202 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		ids = append(ids, r.str("id"))
	}
	r := f.do(t, c, "POST", "/videos", "", nil, map[string]string{"Idempotency-Key": "k"}, apiSpec(1))
	if r.status != 429 || r.code() != "queue_full" || r.headers["Retry-After"] != "30" {
		t.Fatalf("third: %d %v %s", r.status, r.headers, r.raw)
	}
	// The sandbox has its own queue.
	if s := f.do(t, caller{c.ws, apikey.Test}, "POST", "/videos", "", nil, nil, apiSpec(1)); s.status != 202 {
		t.Errorf("sandbox: %d %s", s.status, s.raw)
	}
	f.do(t, c, "DELETE", "/videos/{id}", ids[0], nil, nil, "")
	// The rejected request did not keep its idempotency key.
	if r := f.do(t, c, "POST", "/videos", "", nil, map[string]string{"Idempotency-Key": "k"}, apiSpec(1)); r.status != 202 {
		t.Errorf("after a cancel: %d %s", r.status, r.raw)
	}
}

func TestSandbox(t *testing.T) {
	f := setupAPI(t)
	c := caller{f.workspace(t, ratelimit.Plan{}), apikey.Test}
	r := f.do(t, c, "POST", "/videos", "", nil, nil, apiSpec(31))
	if r.status != 400 || r.code() != "sandbox_duration_exceeded" {
		t.Fatalf("31 s sandbox: %d %s", r.status, r.raw)
	}
	r = f.do(t, c, "POST", "/videos", "", nil, nil, apiSpec(30))
	if r.status != 202 || r.body["watermark"] != true || r.str("environment") != "test" {
		t.Fatalf("30 s sandbox: %d %s", r.status, r.raw)
	}
	if want := t0.Add(24 * time.Hour).Format(videos.TimeFormat); r.str("expiresAt") != want {
		t.Errorf("expiresAt %q, want %q", r.str("expiresAt"), want)
	}
	id := r.str("id")
	f.clock.Advance(24*time.Hour - time.Second)
	if g := f.do(t, c, "GET", "/videos/{id}", id, nil, nil, ""); g.status != 200 {
		t.Errorf("before expiry: %d", g.status)
	}
	f.clock.Advance(time.Second)
	if g := f.do(t, c, "GET", "/videos/{id}", id, nil, nil, ""); g.status != 404 {
		t.Errorf("expired record still readable: %d %s", g.status, g.raw)
	}
	if l := f.do(t, c, "GET", "/videos", "", nil, nil, ""); len(l.body["data"].([]any)) != 0 {
		t.Errorf("expired record listed: %s", l.raw)
	}
}

func TestListFiltersAndPagination(t *testing.T) {
	f := setupAPI(t)
	c := caller{f.workspace(t, ratelimit.Plan{}), apikey.Live}
	var ids []string
	for range 5 {
		f.clock.Advance(time.Second)
		ids = append(ids, f.do(t, c, "POST", "/videos", "", nil, nil, apiSpec(1)).str("id"))
	}
	f.do(t, c, "DELETE", "/videos/{id}", ids[1], nil, nil, "") // cancelled
	page := func(q map[string]string) ([]string, map[string]any) {
		r := f.do(t, c, "GET", "/videos", "", q, nil, "")
		if r.status != 200 {
			t.Fatalf("list %v: %d %s", q, r.status, r.raw)
		}
		var got []string
		for _, v := range r.body["data"].([]any) {
			got = append(got, v.(map[string]any)["id"].(string))
		}
		return got, r.body["pagination"].(map[string]any)
	}
	query := func(link string) map[string]string {
		u, err := url.Parse(link)
		if err != nil || u.Path != "/v1/videos" {
			t.Fatalf("link %q", link)
		}
		out := map[string]string{}
		for k, v := range u.Query() {
			out[k] = v[0]
		}
		return out
	}
	got, p := page(map[string]string{"limit": "2"})
	if fmt.Sprint(got) != fmt.Sprint([]string{ids[4], ids[3]}) {
		t.Errorf("first page %v", got)
	}
	got, p2 := page(query(p["next"].(string)))
	if fmt.Sprint(got) != fmt.Sprint([]string{ids[2], ids[1]}) {
		t.Errorf("second page %v", got)
	}
	got, p3 := page(query(p2["next"].(string)))
	if fmt.Sprint(got) != fmt.Sprint([]string{ids[0]}) || p3["next"] != nil {
		t.Errorf("third page %v, next %v", got, p3["next"])
	}
	if got, _ := page(query(p["last"].(string))); fmt.Sprint(got) != fmt.Sprint([]string{ids[1], ids[0]}) {
		t.Errorf("last page %v", got)
	}
	if p["first"] != p["self"] {
		t.Errorf("first %v, self %v", p["first"], p["self"])
	}
	got, p = page(map[string]string{"status": "queued", "limit": "3"})
	if fmt.Sprint(got) != fmt.Sprint([]string{ids[4], ids[3], ids[2]}) || !strings.Contains(p["next"].(string), "status=queued") {
		t.Errorf("queued: %v %v", got, p)
	}
	if got, _ := page(query(p["next"].(string))); fmt.Sprint(got) != fmt.Sprint([]string{ids[0]}) {
		t.Errorf("queued page 2: %v", got)
	}
	if got, _ := page(map[string]string{"status": "cancelled"}); fmt.Sprint(got) != fmt.Sprint([]string{ids[1]}) {
		t.Errorf("cancelled: %v", got)
	}
	after := t0.Add(3 * time.Second).Format(time.RFC3339) // ids[2] was created at t0+3s
	if got, _ := page(map[string]string{"createdAfter": after}); fmt.Sprint(got) != fmt.Sprint([]string{ids[4], ids[3]}) {
		t.Errorf("createdAfter %s: %v", after, got)
	}
	for _, q := range []map[string]string{{"status": "done"}, {"createdAfter": "yesterday"}, {"limit": "0"}, {"cursor": "nope"}} {
		if r := f.do(t, c, "GET", "/videos", "", q, nil, ""); r.status != 400 {
			t.Errorf("%v: %d", q, r.status)
		}
	}
}

type failingQueue struct{}

func (failingQueue) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return nil, errors.New("sqs is down")
}

func TestSendFailureLeavesNothingQueued(t *testing.T) {
	f := setupAPI(t)
	c := caller{f.workspace(t, ratelimit.Plan{}), apikey.Live}
	f.sv.Queue = failingQueue{}
	r := f.do(t, c, "POST", "/videos", "", nil, map[string]string{"Idempotency-Key": "x"}, apiSpec(1))
	if r.status != 503 || strings.Contains(r.raw, "sqs is down") {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	l := f.do(t, c, "GET", "/videos", "", nil, nil, "")
	data := l.body["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["status"] != "failed" {
		t.Fatalf("the unqueued video must be failed: %s", l.raw)
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), c.ws, c.env); n != 0 {
		t.Errorf("queued counter %d, want 0", n)
	}
}
