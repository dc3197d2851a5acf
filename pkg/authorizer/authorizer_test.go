package authorizer_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// countingDB passes every call to the emulator and counts them. When
// pairWait is set, each call waits (up to a generous bound) for a second
// call to start, and records whether one did: that is how the tests see
// that the two counting writes of a request overlap in time.
type countingDB struct {
	authorizer.DB
	calls      atomic.Int64
	pairWait   bool
	overlapped atomic.Int64
	mu         sync.Mutex
	waiting    chan struct{}
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.calls.Add(1)
	if c.pairWait {
		c.mu.Lock()
		if c.waiting == nil {
			ch := make(chan struct{})
			c.waiting = ch
			c.mu.Unlock()
			select {
			case <-ch:
				c.overlapped.Add(1)
			case <-time.After(3 * time.Second):
				c.mu.Lock()
				c.waiting = nil
				c.mu.Unlock()
			}
		} else {
			close(c.waiting)
			c.waiting = nil
			c.mu.Unlock()
			c.overlapped.Add(1)
		}
	}
	return c.DB.UpdateItem(ctx, in, o...)
}

type fixture struct {
	hasher *apikey.Hasher
	logger *slog.Logger
	table  string
	dynamo *dynamodb.Client
	store  *keystore.Store
	auth   *authorizer.Authorizer
	db     *countingDB
	clock  *testenv.Clock
	ws     keystore.Workspace
	keys   map[apikey.Env]string
	env    *testenv.Env
}

// op is the audit context of a change the test makes through the store.
func (f *fixture) op(ws string) *audit.Change { return f.env.Operator(ws) }

// t0 is on a cell boundary plus a little, so a test's requests share a cell.
var t0 = time.Unix(1_800_000_000, int64(500*time.Millisecond))

func setup(t *testing.T, overrides ratelimit.Plan) *fixture {
	t.Helper()
	env := testenv.New(t)
	clock := testenv.NewClock(t0)
	ctx := context.Background()
	st, err := keystore.Open(ctx, env.Deps("KeysFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	d := env.Deps("AuthorizerFunction", clock.Now)
	hasher, err := keystore.OpenHasher(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	dynamo := dynamodb.NewFromConfig(env.AWS)
	db := &countingDB{DB: dynamo}
	a, err := authorizer.NewAuthorizer(authorizer.Config{DB: db, Table: d.Getenv("KEYS_TABLE"), Hasher: hasher, Now: clock.Now, Logger: d.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Wait)
	ws, keys, err := st.CreateWorkspace(ctx, "Acme", "business", overrides)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{hasher: hasher, logger: d.Logger, table: d.Getenv("KEYS_TABLE"), dynamo: dynamo, store: st, auth: a, db: db, clock: clock, ws: ws, keys: keys, env: env}
}

func request(method, resource string, headers map[string]string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:       "REQUEST",
		MethodArn:  "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/" + method + resource,
		Resource:   resource,
		Path:       resource,
		HTTPMethod: method,
		Headers:    headers,
	}
}

func bearer(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }

// call runs the authorizer and returns the deny code ("" on Allow) and verdict.
func (f *fixture) call(t *testing.T, key, method, resource string) (string, ratelimit.Verdict) {
	t.Helper()
	resp, err := f.auth.Handle(context.Background(), request(method, resource, bearer(key)))
	if err != nil {
		t.Fatalf("authorizer error: %v", err)
	}
	effect := resp.PolicyDocument.Statement[0].Effect
	if effect == "Deny" {
		return resp.Context["code"].(string), ratelimit.Verdict{}
	}
	// API Gateway hands the context to the handler as strings.
	ctx := map[string]any{}
	for k, v := range resp.Context {
		ctx[k] = v
	}
	v, err := ratelimit.FromContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return "", v
}

func TestAuthenticationFailures(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	garbage, _ := apikey.New(apikey.Live, nil) // well-formed, never stored
	cases := []struct {
		name    string
		headers map[string]string
		code    string
		calls   int64
	}{
		{"no header", map[string]string{"Accept": "*/*"}, "missing_api_key", 0},
		{"empty bearer", map[string]string{"authorization": "Bearer "}, "invalid_api_key", 0},
		{"basic auth", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_api_key", 0},
		{"typo", bearer(f.keys[apikey.Live][:20] + "x" + f.keys[apikey.Live][21:]), "invalid_api_key", 0},
		{"garbage", bearer("hello"), "invalid_api_key", 0},
		{"unknown but well-formed", bearer(garbage), "invalid_api_key", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.db.calls.Load()
			resp, err := f.auth.Handle(context.Background(), request("GET", "/auth", c.headers))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Context["code"]; got != c.code || resp.PolicyDocument.Statement[0].Effect != "Deny" {
				t.Fatalf("code %v effect %s, want %s Deny", got, resp.PolicyDocument.Statement[0].Effect, c.code)
			}
			if n := f.db.calls.Load() - before; n != c.calls {
				t.Fatalf("%d DynamoDB calls, want %d", n, c.calls)
			}
		})
	}
}

func TestXAPIKeyHeaderAndVerdict(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	resp, err := f.auth.Handle(context.Background(), request("GET", "/auth", map[string]string{"X-Api-Key": f.keys[apikey.Test]}))
	if err != nil || resp.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Fatalf("%v %+v", err, resp)
	}
	v, err := ratelimit.FromContext(resp.Context)
	if err != nil {
		t.Fatal(err)
	}
	if v.Workspace != f.ws.ID || v.Env != "test" || v.KeyKind != keystore.Primary || v.Scopes != scopes.Join(scopes.All) {
		t.Fatalf("verdict %+v", v)
	}
	// business: 5 keys × 100/min cannot reach the 1000/min ceiling, so
	// only the key's limit is counted.
	if v.KeyLimit.Limit != 100 || v.KeyLimit.Remaining != 99 || v.WorkspaceLimit.Limit != 1000 || v.WorkspaceLimit.Remaining != ratelimit.Uncounted || v.Binding().Name != "key" {
		t.Fatalf("limits %+v %+v", v.KeyLimit, v.WorkspaceLimit)
	}
	for k, val := range resp.Context {
		if _, ok := val.(string); !ok {
			t.Fatalf("context %s is %T, API Gateway would stringify it", k, val)
		}
	}
}

func TestOneWritePerRequestWhenTheCeilingCannotBind(t *testing.T) {
	f := setup(t, ratelimit.Plan{}) // business: 5 × 100/min ≤ 1000/min
	key := f.keys[apikey.Live]
	for i := range 4 { // the first one is a cold container's
		before := f.db.calls.Load()
		if code, v := f.call(t, key, "GET", "/auth"); code != "" || v.Outcome != ratelimit.Allow {
			t.Fatal(code, v)
		}
		if n := f.db.calls.Load() - before; n != 1 {
			t.Fatalf("request %d made %d calls, want 1 (the key's record only)", i, n)
		}
	}
}

func TestOneRoundTripInSteadyStateWhenTheCeilingCounts(t *testing.T) {
	// 5 keys × 100/min could exceed 300/min: the workspace is counted.
	f := setup(t, ratelimit.Plan{WorkspaceRequestsPerMinute: 300})
	key := f.keys[apikey.Live]
	// Cold container: the workspace is not known yet, so the writes go one
	// after the other.
	if code, v := f.call(t, key, "GET", "/auth"); code != "" || v.WorkspaceLimit.Limit != 300 {
		t.Fatal(code, v.WorkspaceLimit)
	}
	if n := f.db.calls.Load(); n != 2 {
		t.Fatalf("cold request made %d calls, want 2", n)
	}
	f.db.pairWait = true
	for i := range 3 {
		before, overlapBefore := f.db.calls.Load(), f.db.overlapped.Load()
		if code, _ := f.call(t, key, "GET", "/auth"); code != "" {
			t.Fatal(code)
		}
		if n := f.db.calls.Load() - before; n != 2 {
			t.Fatalf("request %d made %d calls, want 2 (key and workspace)", i, n)
		}
		if n := f.db.overlapped.Load() - overlapBefore; n != 2 {
			t.Fatalf("request %d: the two writes did not overlap: one sequential round trip expected", i)
		}
	}
}

// A workspace whose keys cannot reach its ceiling is not counted; a plan
// change that makes it reachable switches the workspace to counting, seeded
// with what its keys already used in the window (counts a rotated key
// inherited, once), and one that puts it out of reach stops the counting.
func TestCeilingCountedOnlyWhenItCanBind(t *testing.T) {
	// 3 keys × 10/min = 30/min: a 30/min ceiling cannot bind.
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 10, WorkspaceRequestsPerMinute: 30, MaxActiveKeys: 3})
	ctx := context.Background()
	usage := keystore.NewUsage(f.dynamo, f.table, f.clock.Now)
	a := f.keys[apikey.Live]
	_, b, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "b", Role: scopes.Render}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	c, cPlain, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "c", Role: scopes.Render}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	use := func(key string, n int) (admitted int, last ratelimit.Verdict) {
		t.Helper()
		for range n {
			code, v := f.call(t, key, "GET", "/auth")
			if code != "" {
				t.Fatal(code)
			}
			if v.Outcome == ratelimit.Allow {
				admitted++
			}
			last = v
		}
		return admitted, last
	}
	before := f.db.calls.Load()
	if got, last := use(a, 4); got != 4 || last.WorkspaceLimit.Remaining != ratelimit.Uncounted {
		t.Fatalf("key-only mode: admitted %d, workspace limit %+v", got, last.WorkspaceLimit)
	}
	use(b, 4)
	use(cPlain, 3)
	if n := f.db.calls.Load() - before; n != 11 {
		t.Fatalf("11 requests made %d calls, want 11", n)
	}
	// c is rotated: its successor inherits its 3, and c's own requests in
	// its grace period count on the successor's record.
	_, c2, err := f.store.RotateKey(ctx, f.ws.ID, apikey.Live, c.ID, time.Hour, nil, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	use(cPlain, 1)
	if st, err := usage.Workspace(ctx, f.ws.ID, apikey.Live, 30, keystore.Caller{}); err != nil || st.Count != 12 || st.Remaining != 18 || st.Limit != 30 {
		t.Fatalf("usage %+v %v", st, err)
	}

	// 25/min is reachable by 3 keys × 10: counted from now on, from 12.
	if _, err := f.store.SetPlan(ctx, f.ws.ID, "business", ratelimit.Plan{KeyRequestsPerMinute: 10, WorkspaceRequestsPerMinute: 25, MaxActiveKeys: 3}, f.op(f.ws.ID)); err != nil {
		t.Fatal(err)
	}
	_, last := use(c2, 1)
	if last.WorkspaceLimit.Limit != 25 || last.WorkspaceLimit.Remaining != 12 || last.KeyLimit.Remaining != 5 {
		t.Fatalf("after the switch: key %+v workspace %+v", last.KeyLimit, last.WorkspaceLimit)
	}
	// 12 left for the workspace: a 6 and b 6 use them up exactly; then c2
	// (5 of its own 10 left) is stopped by the ceiling.
	for _, k := range []string{a, b} {
		if got, _ := use(k, 6); got != 6 {
			t.Fatalf("admitted %d of 6", got)
		}
	}
	got, last := use(c2, 2)
	if got != 0 || last.Outcome != ratelimit.RateLimited || last.Binding().Name != "workspace" {
		t.Fatalf("c2: admitted %d, %+v", got, last)
	}

	// A plan change that lifts the ceiling out of reach stops the counting.
	if _, err := f.store.SetPlan(ctx, f.ws.ID, "business", ratelimit.Plan{KeyRequestsPerMinute: 10, WorkspaceRequestsPerMinute: 100, MaxActiveKeys: 3}, f.op(f.ws.ID)); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	// (The container still expects a counted workspace for c2's first
	// request, whose key write then says otherwise; from the next one on,
	// one write.)
	for i := range 2 {
		before = f.db.calls.Load()
		if _, v := f.call(t, c2, "GET", "/auth"); v.Outcome != ratelimit.Allow || v.WorkspaceLimit.Limit != 100 || v.WorkspaceLimit.Remaining != ratelimit.Uncounted || v.KeyLimit.Limit != 10 {
			t.Fatalf("after the plan change: %+v", v)
		}
		if n := f.db.calls.Load() - before; i == 1 && n != 1 {
			t.Fatalf("%d calls after the plan change, want 1", n)
		}
	}
}

// During a rotation's grace period the old and the new key share one key
// limit, through any number of rotations, and the old key's requests cost
// one round trip.
func TestRotationGraceSharesTheKeyLimit(t *testing.T) {
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 10})
	ctx := context.Background()
	k, k1, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "worker", Role: scopes.Editor}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	remaining := func(key string) int {
		t.Helper()
		code, v := f.call(t, key, "GET", "/auth")
		if code != "" {
			t.Fatal(code)
		}
		if v.Outcome != ratelimit.Allow {
			return -1
		}
		return v.KeyLimit.Remaining
	}
	for i := range 3 {
		if r := remaining(k1); r != 9-i {
			t.Fatalf("k1 request %d: remaining %d", i, r)
		}
	}
	k2key, k2, err := f.store.RotateKey(ctx, f.ws.ID, apikey.Live, k.ID, time.Hour, nil, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	// Alternate the two: each request takes one from the same 10.
	want := 6
	for i := range 4 {
		key := k1
		if i%2 == 1 {
			key = k2
		}
		if r := remaining(key); r != want {
			t.Fatalf("after rotation, request %d: remaining %d, want %d", i, r, want)
		}
		want--
	}
	// Once the line is warm, the old key's request is one round trip.
	f.db.pairWait = true
	overlap := f.db.overlapped.Load()
	if r := remaining(k1); r != want {
		t.Fatalf("old key: remaining %d, want %d", r, want)
	}
	if f.db.overlapped.Load()-overlap != 2 {
		t.Fatal("the old key's check and its successor's count did not overlap")
	}
	f.db.pairWait = false
	want--
	// Rotated again: the first key now counts on the newest record.
	_, k3, err := f.store.RotateKey(ctx, f.ws.ID, apikey.Live, k2key.ID, time.Hour, nil, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{k1, k3, k2} {
		if r := remaining(key); r != want {
			t.Fatalf("after the second rotation: remaining %d, want %d", r, want)
		}
		want--
	}
	// 10 used: every key of the line is limited.
	for _, key := range []string{k1, k2, k3} {
		if r := remaining(key); r != -1 {
			t.Fatalf("11th request of the line admitted (remaining %d)", r)
		}
	}
}

func TestExactLimitUnderConcurrency(t *testing.T) {
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 10})
	key := f.keys[apikey.Live]
	var allowed, limited atomic.Int64
	var mu sync.Mutex
	var retry []int
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				code, v := f.call(t, key, "GET", "/auth")
				switch {
				case code != "":
					t.Errorf("goroutine %d: denied %s", g, code)
				case v.Outcome == ratelimit.Allow:
					allowed.Add(1)
				case v.Outcome == ratelimit.RateLimited:
					limited.Add(1)
					mu.Lock()
					retry = append(retry, v.RetryAfter)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 10 || limited.Load() != 30 {
		t.Fatalf("allowed %d limited %d, want 10 and 30", allowed.Load(), limited.Load())
	}
	// All requests fall in one cell; the window ends when that cell leaves.
	w := ratelimit.PerMinute
	cellLen := w.Length / time.Duration(w.Cells)
	windowEnd := time.Unix(0, (w.Cell(t0)+int64(w.Cells))*int64(cellLen)).Sub(t0)
	for _, r := range retry {
		if r < 1 || time.Duration(r)*time.Second > windowEnd+time.Second {
			t.Fatalf("Retry-After %d s, window ends in %v", r, windowEnd)
		}
	}
	// Past the window, requests are admitted again.
	f.clock.Advance(w.Length)
	if code, v := f.call(t, key, "GET", "/auth"); code != "" || v.Outcome != ratelimit.Allow || v.KeyLimit.Remaining != 9 {
		t.Fatalf("after the window: %s %+v", code, v)
	}
}

func TestSlidingWindow(t *testing.T) {
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 4})
	key := f.keys[apikey.Live]
	want := func(outcome string) {
		t.Helper()
		if _, v := f.call(t, key, "GET", "/auth"); v.Outcome != outcome {
			t.Fatalf("outcome %s, want %s", v.Outcome, outcome)
		}
	}
	want(ratelimit.Allow)
	want(ratelimit.Allow)
	f.clock.Advance(30 * time.Second)
	want(ratelimit.Allow)
	want(ratelimit.Allow)
	want(ratelimit.RateLimited)
	// The first two leave the window 60 s after their cell began; the last
	// two are still inside it, so exactly two more fit.
	f.clock.Advance(30 * time.Second)
	want(ratelimit.Allow)
	want(ratelimit.Allow)
	want(ratelimit.RateLimited)
}

func TestWorkspaceLimitSharedAndRejectionsNotCounted(t *testing.T) {
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 10, WorkspaceRequestsPerMinute: 15})
	ctx := context.Background()
	second, plain2, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "ci", Role: scopes.Render}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	_ = second
	a := f.keys[apikey.Live]
	count := func(key string, n int) (allowed int, last ratelimit.Verdict) {
		for range n {
			_, v := f.call(t, key, "GET", "/auth")
			if v.Outcome == ratelimit.Allow {
				allowed++
			}
			last = v
		}
		return allowed, last
	}
	// Key A: 10 admitted, 3 rejected by its own limit — and those 3 are
	// not counted against the workspace.
	if got, _ := count(a, 13); got != 10 {
		t.Fatalf("key A admitted %d, want 10", got)
	}
	got, last := count(plain2, 8)
	if got != 5 {
		t.Fatalf("key B admitted %d, want the workspace's remaining 5", got)
	}
	if last.Outcome != ratelimit.RateLimited || last.Binding().Name != "workspace" || last.Binding().Remaining != 0 {
		t.Fatalf("last verdict %+v", last)
	}
	// The test environment has its own counters.
	if code, v := f.call(t, f.keys[apikey.Test], "GET", "/auth"); code != "" || v.Outcome != ratelimit.Allow {
		t.Fatalf("test key: %s %+v", code, v)
	}
}

func TestRotationKeepsCounterAndGrace(t *testing.T) {
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 10})
	ctx := context.Background()
	k, plain, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "worker", Role: scopes.Editor}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if code, _ := f.call(t, plain, "GET", "/templates"); code != "" {
			t.Fatal(code)
		}
	}
	nk, newPlain, err := f.store.RotateKey(ctx, f.ws.ID, apikey.Live, k.ID, time.Hour, nil, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	if nk.Role != scopes.Editor || nk.ID == k.ID {
		t.Fatalf("rotated %+v", nk)
	}
	_, v := f.call(t, newPlain, "GET", "/templates")
	if v.Outcome != ratelimit.Allow || v.KeyLimit.Remaining != 3 {
		t.Fatalf("new key after 6 uses of the old one: %+v", v.KeyLimit)
	}
	// The old key works during the grace period and stops after it.
	if code, _ := f.call(t, plain, "GET", "/templates"); code != "" {
		t.Fatalf("old key in grace: %s", code)
	}
	f.clock.Advance(time.Hour + time.Second)
	if code, _ := f.call(t, plain, "GET", "/templates"); code != "api_key_expired" {
		t.Fatalf("old key after grace: %q", code)
	}
	if code, _ := f.call(t, newPlain, "GET", "/templates"); code != "" {
		t.Fatalf("new key: %s", code)
	}
}

func TestRevokedFailsOnTheNextRequest(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	ctx := context.Background()
	k, plain, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "x", Role: scopes.ReadOnly}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := f.call(t, plain, "GET", "/videos"); code != "" {
		t.Fatal(code)
	}
	if _, err := f.store.RevokeKey(ctx, f.ws.ID, apikey.Live, k.ID, f.op(f.ws.ID)); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.call(t, plain, "GET", "/videos"); code != "invalid_api_key" {
		t.Fatalf("revoked key: %q", code)
	}
}

func TestExpiry(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	exp := t0.Add(10 * time.Minute)
	_, plain, err := f.store.CreateKey(context.Background(), f.ws.ID, apikey.Live, keystore.NewKey{Name: "x", Role: scopes.ReadOnly, ExpiresAt: &exp}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	if code, v := f.call(t, plain, "GET", "/videos"); code != "" || v.KeyExpiresAt == "" {
		t.Fatalf("%s %+v", code, v)
	}
	f.clock.Advance(10 * time.Minute)
	if code, _ := f.call(t, plain, "GET", "/videos"); code != "api_key_expired" {
		t.Fatalf("expired key: %q", code)
	}
}

func TestScopes(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	_, plain, err := f.store.CreateKey(context.Background(), f.ws.ID, apikey.Live, keystore.NewKey{Name: "ro", Role: scopes.ReadOnly}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, resource, outcome, need string }{
		{"GET", "/videos", ratelimit.Allow, ""},
		{"GET", "/auth", ratelimit.Allow, ""},
		{"POST", "/videos", ratelimit.InsufficientScope, "videos:write"},
		{"POST", "/keys", ratelimit.InsufficientScope, "keys:manage"},
	} {
		_, v := f.call(t, plain, c.method, c.resource)
		if v.Outcome != c.outcome || v.RequiredScope != c.need {
			t.Errorf("%s %s: %s %q", c.method, c.resource, v.Outcome, v.RequiredScope)
		}
	}
	// A route missing from the scope table fails closed.
	if _, err := f.auth.Handle(context.Background(), request("GET", "/nowhere", bearer(plain))); err == nil {
		t.Fatal("unknown route was decided")
	}
}

// TestOldRecordsGetTheirRoleScopes: a key written before audit:read and
// usage:read existed (its record lists the scopes of its time) has its
// role's scopes as they are now, in the authorizer and in the store.
func TestOldRecordsGetTheirRoleScopes(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	ctx := context.Background()
	ro, roPlain, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "ro", Role: scopes.ReadOnly}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	mgr, mgrPlain, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "mgr", Role: scopes.Manager}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	// Make both records look like the ones main wrote before the new scopes.
	old := map[string][]string{
		roPlain:  {"videos:read", "templates:read", "assets:read"},
		mgrPlain: {"keys:manage", "videos:read", "videos:write", "templates:read", "templates:write", "webhooks:manage", "connections:manage", "assets:read", "assets:write"},
	}
	h, err := keystore.OpenHasher(ctx, f.env.Deps("AuthorizerFunction", f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	for plain, ss := range old {
		if _, err := f.dynamo.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &f.table, Key: keystore.KeyKey(h.Hash(plain)),
			UpdateExpression:          aws.String("SET scopes = :s"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberSS{Value: ss}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		key, method, resource, outcome string
	}{
		{roPlain, "GET", "/usage", ratelimit.Allow},
		{roPlain, "GET", "/audit-events", ratelimit.InsufficientScope},
		{mgrPlain, "GET", "/usage", ratelimit.Allow},
		{mgrPlain, "GET", "/audit-events", ratelimit.Allow},
	} {
		if _, v := f.call(t, c.key, c.method, c.resource); v.Outcome != c.outcome {
			t.Errorf("%s %s with an old %s record: %s, want %s", c.method, c.resource, map[string]string{roPlain: "read_only", mgrPlain: "manager"}[c.key], v.Outcome, c.outcome)
		}
	}
	for _, k := range []keystore.Key{ro, mgr} {
		got, err := f.store.GetKey(ctx, f.ws.ID, apikey.Live, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Scopes, scopes.Of(k.Role)) || !slices.Contains(got.Scopes, scopes.UsageRead) {
			t.Errorf("old %s record reads with scopes %v, want %v", k.Role, got.Scopes, scopes.Of(k.Role))
		}
	}
}

func TestFailsClosedWhenDynamoDBIsDown(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	cfg, err := awsconf.Load(context.Background(), awsconf.Options{
		Endpoint: "http://127.0.0.1:1", StaticCredentials: true, Region: "us-east-1",
		AttemptTimeout: 200 * time.Millisecond, MaxAttempts: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	hasher, _ := apikey.NewHasher(make([]byte, 32))
	a, err := authorizer.NewAuthorizer(authorizer.Config{DB: dynamodb.NewFromConfig(cfg), Table: "keys", Hasher: hasher})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Handle(context.Background(), request("GET", "/auth", bearer(f.keys[apikey.Live])))
	if err == nil {
		t.Fatalf("allowed or denied with DynamoDB down: %+v", resp)
	}
}

func FuzzExtractKey(f *testing.F) {
	f.Add("Authorization", "Bearer fg_live_x", "x-api-key", "y")
	f.Add("AUTHORIZATION", "bearer   ", "", "")
	f.Fuzz(func(t *testing.T, h1, v1, h2, v2 string) {
		key, present := authorizer.ExtractKey(map[string]string{h1: v1, h2: v2})
		if key != "" && !present {
			t.Fatal("key without presence")
		}
		if len(key) > len(v1)+len(v2) {
			t.Fatal("key longer than its headers")
		}
	})
}
