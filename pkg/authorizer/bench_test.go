package authorizer_test

// Benchmarks of the authorizer's own cost against a loopback DynamoDB stub
// (bench/awsstub), as a ratio to one bare UpdateItem through the same SDK
// client and config, and a cheap test of the DynamoDB call counts. Issue 3,
// "What it must show"; bench/report.sh turns the numbers into the table.
//
// Every benchmark runs twice: "loopback" is real HTTP to a server on
// 127.0.0.1, as Lambda talks to DynamoDB; "inprocess" answers through
// awsstub's RoundTripper, so the kernel and the net/http server (which run
// in this process and would be counted) drop out and what remains is the SDK
// and our code.
//
// The stub's answers are static, so the clock is fixed: the counter cells of
// the canned items are the cells of the window at benchNow.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/bench/awsstub"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

const (
	ddbUpdateItem = "DynamoDB_20120810.UpdateItem"
	benchTable    = "framegate-keys"
	benchWS       = "ws_01JBENCHWORKSPACE0000000"
	benchKeyID    = "key_01JBENCHKEY000000000000"
)

// benchNow is 0.5 s into a cell, so every request of a run shares the cell.
var benchNow = time.Unix(1_800_000_000, int64(500*time.Millisecond))

// counters are six cells ending at the cell of benchNow, perCell each: the
// sliding window as a busy key or workspace leaves it.
func counters(perCell int) map[string]any {
	w := ratelimit.PerMinute
	cur := w.Cell(benchNow)
	m := map[string]any{}
	for i := range int64(w.Cells) {
		m[ratelimit.Attr(cur-i)] = awsstub.N(perCell)
	}
	return m
}

func withAttrs(base map[string]any, more map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(more))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// keyItem is a primary live key's record as UpdateItem returns it (ALL_NEW):
// every attribute keystore writes (limits and counting mode included),
// lastUsedAt, and six counter cells. counted says whether its workspace
// ceiling can bind, so that the authorizer also counts the workspace.
func keyItem(hash string, perCell, keyRPM, wsRPM int, counted bool) map[string]any {
	created := benchNow.Add(-72 * time.Hour).UnixMilli()
	return withAttrs(map[string]any{
		"pk": awsstub.S(keystore.KeyPKPrefix + hash), "sk": awsstub.S(keystore.KeySK),
		keystore.AttrID: awsstub.S(benchKeyID), keystore.AttrWorkspace: awsstub.S(benchWS),
		keystore.AttrEnv: awsstub.S(string(apikey.Live)), "name": awsstub.S("primary"),
		keystore.AttrRole: awsstub.S(string(scopes.Manager)),
		keystore.AttrKind: awsstub.S(keystore.Primary), "preview": awsstub.S("fg_live_Ab3d…9xYz"),
		"createdAt": awsstub.N(created), keystore.AttrLastUsed: awsstub.N(benchNow.UnixMilli()),
		"gsi1pk": awsstub.S(keystore.WorkspacePKPrefix + benchWS + "#live"),
		"gsi1sk": awsstub.S(keystore.KeySK + "#" + benchKeyID), "slot": awsstub.BOOL(true),
		keystore.AttrKeyRPM: awsstub.N(keyRPM), keystore.AttrWorkspaceRPM: awsstub.N(wsRPM),
		keystore.AttrCounted: awsstub.BOOL(counted), "lver": awsstub.N(1),
	}, counters(perCell))
}

// envItem is the workspace's live record (ALL_NEW): limits, key cap and the
// workspace-wide counter cells.
func envItem(keyRPM, wsRPM, perCell int) map[string]any {
	return withAttrs(map[string]any{
		"pk": awsstub.S(keystore.WorkspacePKPrefix + benchWS), "sk": awsstub.S(keystore.EnvSKPrefix + "live"),
		keystore.AttrKeyRPM: awsstub.N(keyRPM), keystore.AttrWorkspaceRPM: awsstub.N(wsRPM),
		keystore.AttrMaxKeys: awsstub.N(5), keystore.AttrActiveKeys: awsstub.N(2),
		"concurrentRenders": awsstub.N(10), "queuedRenders": awsstub.N(100), "maxVideoSeconds": awsstub.N(600),
	}, counters(perCell))
}

func attributes(item map[string]any) []byte {
	_, b := awsstub.JSON(map[string]any{"Attributes": item})
	return b
}

// answers routes the authorizer's UpdateItem calls by what they touch: the
// take-back of a rejected request (":minus"), the key record ("KEY#") or the
// workspace record ("ENV#"). Bodies are built once: the stub sends them as
// they are.
type answers struct {
	keyStatus int
	key       []byte
	env       []byte
	undo      []byte
	undos     atomic.Int64

	// pair, when set, makes the key and workspace writes wait for each
	// other (up to a bound) and counts those that met: proof that they are
	// in flight together, i.e. one sequential round trip.
	pair    atomic.Bool
	mu      sync.Mutex
	waiting chan struct{}
	met     atomic.Int64
}

func newAnswers(hash string, counted bool, keyPerCell, keyRPM, wsRPM, wsPerCell int) *answers {
	_, undo := awsstub.JSON(map[string]any{})
	return &answers{
		keyStatus: http.StatusOK,
		key:       attributes(keyItem(hash, keyPerCell, keyRPM, wsRPM, counted)),
		env:       attributes(envItem(keyRPM, wsRPM, wsPerCell)),
		undo:      undo,
	}
}

func (a *answers) handle(body []byte) (int, []byte) {
	switch {
	case bytes.Contains(body, []byte(`":minus"`)):
		a.undos.Add(1)
		return http.StatusOK, a.undo
	case bytes.Contains(body, []byte(`"`+keystore.KeyPKPrefix)):
		a.meet()
		return a.keyStatus, a.key
	default:
		a.meet()
		return http.StatusOK, a.env
	}
}

func (a *answers) meet() {
	if !a.pair.Load() {
		return
	}
	a.mu.Lock()
	if a.waiting == nil {
		ch := make(chan struct{})
		a.waiting = ch
		a.mu.Unlock()
		select {
		case <-ch:
			a.met.Add(1)
		case <-time.After(2 * time.Second):
			a.mu.Lock()
			if a.waiting == ch {
				a.waiting = nil
			}
			a.mu.Unlock()
		}
		return
	}
	close(a.waiting)
	a.waiting = nil
	a.mu.Unlock()
	a.met.Add(1)
}

// waveDB counts sequential round trips: a call that starts while another is
// in flight rides in the same round trip; one that starts with none in
// flight begins a new one. Read it over loopback, where a call waits on the
// socket as on the network: in process a call never blocks, so whether the
// workspace write overlaps the key write only depends on a free CPU.
type waveDB struct {
	db       *dynamodb.Client
	inflight atomic.Int64
	waves    atomic.Int64
}

func (w *waveDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if w.inflight.Add(1) == 1 {
		w.waves.Add(1)
	}
	defer w.inflight.Add(-1)
	return w.db.UpdateItem(ctx, in, o...)
}

// harness is one stub, one SDK client built the way functions/authorizer
// builds it (awsconf), and an authorizer over it with a fixed clock.
type harness struct {
	stub  *awsstub.Stub
	ddb   *waveDB // the baselines call it too, so all pay the same
	auth  *authorizer.Authorizer
	ans   *answers
	key   string // a well-formed live key
	bad   string // the same key with a wrong checksum
	hash  string
	allow events.APIGatewayCustomAuthorizerRequestTypeRequest
}

// newHarness answers as the default plan does (100/min per key, 5 keys,
// 1000/min per workspace: the ceiling cannot bind, one write per request)
// or, with counted, as a workspace whose ceiling can bind (two writes).
func newHarness(tb testing.TB, inProcess bool, latency time.Duration, counted bool) *harness {
	tb.Helper()
	stub, err := awsstub.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stub.Close)
	cfg, err := awsconf.Load(context.Background(), awsconf.Options{Endpoint: stub.URL(), StaticCredentials: true, Region: "us-east-1"})
	if err != nil {
		tb.Fatal(err)
	}
	if inProcess {
		cfg.HTTPClient = &http.Client{Transport: stub.Transport()}
	}
	hasher, err := apikey.NewHasher([]byte("bench-pepper-0123456789abcdef-0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	ddb := &waveDB{db: dynamodb.NewFromConfig(cfg)}
	auth, err := authorizer.NewAuthorizer(authorizer.Config{
		DB: ddb, Table: benchTable, Hasher: hasher,
		Now:    func() time.Time { return benchNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(auth.Wait)
	key, err := apikey.New(apikey.Live, nil)
	if err != nil {
		tb.Fatal(err)
	}
	hash := hasher.Hash(key)
	// Within limits: 3 of 100 per key and 30 of 1000 per workspace per cell.
	ans := newAnswers(hash, counted, 3, 100, 1000, 30)
	if latency > 0 {
		stub.Handle(ddbUpdateItem, func(body []byte) (int, []byte) {
			time.Sleep(latency)
			return ans.handle(body)
		})
	} else {
		stub.Handle(ddbUpdateItem, ans.handle)
	}
	return &harness{
		stub: stub, ddb: ddb, auth: auth, ans: ans, key: key, bad: badChecksum(key), hash: hash,
		allow: authRequest("GET", "/auth", map[string]string{"Authorization": "Bearer " + key}),
	}
}

func badChecksum(key string) string {
	last := key[len(key)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return key[:len(key)-1] + string(repl)
}

func authRequest(method, resource string, headers map[string]string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:       "REQUEST",
		MethodArn:  "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/" + method + resource,
		Resource:   resource,
		Path:       resource,
		HTTPMethod: method,
		Headers:    headers,
	}
}

func (h *harness) calls() int64 { return h.stub.Calls(ddbUpdateItem) }

// handle runs one request and returns the policy effect and deny code.
func (h *harness) handle(tb testing.TB, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (effect, code, outcome string) {
	resp, err := h.auth.Handle(context.Background(), req)
	if err != nil {
		tb.Fatalf("authorizer error: %v", err)
	}
	effect = resp.PolicyDocument.Statement[0].Effect
	code, _ = resp.Context["code"].(string)
	outcome, _ = resp.Context["outcome"].(string)
	return effect, code, outcome
}

// bareInput is the authorizer's key write as a caller with nothing around it
// would send it: the same key, expressions and return values.
func (h *harness) bareInput() *dynamodb.UpdateItemInput {
	add, remove := ratelimit.PerMinute.Names(ratelimit.PerMinute.Cell(benchNow))
	names := map[string]string{"#c": add, "#lu": keystore.AttrLastUsed, "#rev": keystore.AttrRevokedAt, "#exp": keystore.AttrExpiresAt}
	ph := make([]string, len(remove))
	for i, r := range remove {
		ph[i] = fmt.Sprintf("#r%d", i)
		names[ph[i]] = r
	}
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(benchTable),
		Key:                                 keystore.KeyKey(h.hash),
		UpdateExpression:                    aws.String("SET #lu = :now ADD #c :one REMOVE " + strings.Join(ph, ", ")),
		ConditionExpression:                 aws.String("attribute_exists(pk) AND attribute_not_exists(#rev) AND (attribute_not_exists(#exp) OR #exp > :now)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: fmt.Sprint(benchNow.UnixMilli())}, ":one": &types.AttributeValueMemberN{Value: "1"}},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// transports runs fn as the "loopback" and "inprocess" sub-benchmarks, and
// "network2ms": loopback with every answer 2 ms late, about a same-region
// DynamoDB round trip, where what a client waits for is round trips rather
// than the CPU both writes cost.
func transports(b *testing.B, counted bool, fn func(b *testing.B, h *harness)) {
	for _, mode := range []struct {
		name      string
		inProcess bool
		latency   time.Duration
	}{{"loopback", false, 0}, {"inprocess", true, 0}, {"network2ms", false, 2 * time.Millisecond}} {
		b.Run(mode.name, func(b *testing.B) { fn(b, newHarness(b, mode.inProcess, mode.latency, counted)) })
	}
}

// mark is where a benchmark's counts start.
type mark struct{ calls, waves int64 }

func (h *harness) mark() mark { return mark{h.calls(), h.ddb.waves.Load()} }

// reportCalls reports DynamoDB calls and sequential round trips per op.
func reportCalls(b *testing.B, h *harness, m mark, n int) {
	b.ReportMetric(float64(h.calls()-m.calls)/float64(n), "ddb-calls/op")
	b.ReportMetric(float64(h.ddb.waves.Load()-m.waves)/float64(n), "ddb-roundtrips/op")
}

// BenchmarkBareUpdateItem is the baseline: the key write alone, through the
// same client and config, answered with the same ALL_NEW key item.
func BenchmarkBareUpdateItem(b *testing.B) {
	transports(b, false, func(b *testing.B, h *harness) {
		ctx := context.Background()
		in := h.bareInput()
		if _, err := h.ddb.UpdateItem(ctx, in); err != nil { // open the connection
			b.Fatal(err)
		}
		m, n := h.mark(), 0
		b.ReportAllocs()
		for b.Loop() {
			out, err := h.ddb.UpdateItem(ctx, in)
			if err != nil || len(out.Attributes) == 0 {
				b.Fatal(err)
			}
			n++
		}
		reportCalls(b, h, m, n)
	})
}

// BenchmarkBareUpdateItemPair is two bare writes in parallel (the key and the
// workspace record), as the authorizer issues them: the floor of any design
// that touches two items, shown next to the single-write baseline.
func BenchmarkBareUpdateItemPair(b *testing.B) {
	transports(b, false, func(b *testing.B, h *harness) {
		ctx := context.Background()
		in := h.bareInput()
		ws := h.bareInput()
		ws.Key = keystore.EnvKey(benchWS, apikey.Live)
		ws.ConditionExpression = aws.String("attribute_exists(pk)")
		ws.UpdateExpression = aws.String(strings.Replace(*ws.UpdateExpression, "SET #lu = :now ", "", 1))
		ws.ExpressionAttributeNames = map[string]string{}
		for k, v := range in.ExpressionAttributeNames {
			if strings.HasPrefix(k, "#r") || k == "#c" {
				ws.ExpressionAttributeNames[k] = v
			}
		}
		ws.ExpressionAttributeValues = map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}
		ws.ReturnValuesOnConditionCheckFailure = ""
		if _, err := h.ddb.UpdateItem(ctx, in); err != nil {
			b.Fatal(err)
		}
		m, n := h.mark(), 0
		b.ReportAllocs()
		for b.Loop() {
			done := make(chan error, 1)
			go func() {
				_, err := h.ddb.UpdateItem(ctx, ws)
				done <- err
			}()
			_, err := h.ddb.UpdateItem(ctx, in)
			if err2 := <-done; err != nil || err2 != nil {
				b.Fatal(err, err2)
			}
			n++
		}
		reportCalls(b, h, m, n)
	})
}

// BenchmarkAuthorizerAllow is a steady-state request of the default plan: a
// valid key, within limits, whose workspace ceiling cannot bind, so the
// key write is the only call.
func BenchmarkAuthorizerAllow(b *testing.B) { benchAllow(b, false) }

// BenchmarkAuthorizerAllowCeiling is a steady-state request of a workspace
// whose ceiling can bind: the key and workspace writes go out in parallel.
func BenchmarkAuthorizerAllowCeiling(b *testing.B) { benchAllow(b, true) }

func benchAllow(b *testing.B, counted bool) {
	transports(b, counted, func(b *testing.B, h *harness) {
		if effect, code, outcome := h.handle(b, h.allow); effect != "Allow" || outcome != "allow" { // warms the workspace cache
			b.Fatalf("warm-up: %s %s %s", effect, code, outcome)
		}
		ctx := context.Background()
		m, n := h.mark(), 0
		b.ReportAllocs()
		for b.Loop() {
			resp, err := h.auth.Handle(ctx, h.allow)
			if err != nil || resp.PrincipalID != benchKeyID {
				b.Fatalf("%v %+v", err, resp)
			}
			n++
		}
		b.StopTimer()
		reportCalls(b, h, m, n)
		if u := h.ans.undos.Load(); u != 0 {
			b.Fatalf("%d take-backs: the canned items are over a limit", u)
		}
	})
}

// BenchmarkAuthorizerMalformed is a key with a wrong checksum: a Deny decided
// offline, with no DynamoDB call.
func BenchmarkAuthorizerMalformed(b *testing.B) {
	transports(b, false, func(b *testing.B, h *harness) {
		req := authRequest("GET", "/auth", map[string]string{"Authorization": "Bearer " + h.bad})
		ctx := context.Background()
		m, n := h.mark(), 0
		b.ReportAllocs()
		for b.Loop() {
			resp, err := h.auth.Handle(ctx, req)
			if err != nil || resp.Context["code"] != "invalid_api_key" {
				b.Fatalf("%v %+v", err, resp)
			}
			n++
		}
		reportCalls(b, h, m, n)
		if c := h.calls() - m.calls; c != 0 {
			b.Fatalf("malformed keys made %d DynamoDB calls, want 0", c)
		}
	})
}

// BenchmarkAuthorizerRejected is a key hammering past its limit: the first
// refusal pays its write and its undo, the container remembers it, and the
// rest cost no DynamoDB call (the stub's clock stands still, inside the
// window and the refusal horizon).
func BenchmarkAuthorizerRejected(b *testing.B) {
	for _, counted := range []bool{false, true} {
		b.Run(map[bool]string{false: "key", true: "workspace"}[counted], func(b *testing.B) {
			h := newHarness(b, false, 0, counted)
			// 120 of 100 per key, or 1200 of 1000 for the workspace.
			keyPerCell, wsPerCell := 20, 30
			if counted {
				keyPerCell, wsPerCell = 3, 200
			}
			h.stub.Handle(ddbUpdateItem, newAnswers(h.hash, counted, keyPerCell, 100, 1000, wsPerCell).handle)
			ctx := context.Background()
			m, n := h.mark(), 0
			b.ReportAllocs()
			for b.Loop() {
				resp, err := h.auth.Handle(ctx, h.allow)
				if err != nil || resp.Context["outcome"] != ratelimit.RateLimited {
					b.Fatalf("%v %+v", err, resp.Context)
				}
				n++
			}
			b.StopTimer()
			h.auth.Wait()
			reportCalls(b, h, m, n)
		})
	}
}

// BenchmarkAuthorizerThroughput is how many counting writes a second one
// container's authorizer sustains on this machine, every core busy,
// against the loopback stub: the design's own ceiling, to set beside
// DynamoDB's 1,000 writes a second per partition (one counter item).
func BenchmarkAuthorizerThroughput(b *testing.B) {
	h := newHarness(b, false, 0, false)
	if effect, _, _ := h.handle(b, h.allow); effect != "Allow" {
		b.Fatal("warm-up denied")
	}
	ctx := context.Background()
	m := h.mark()
	start := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.auth.Handle(ctx, h.allow); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(h.calls()-m.calls)/time.Since(start).Seconds(), "writes/s")
}

// TestCallCountsAgainstStub asserts the DynamoDB calls per request of each
// kind against the stub (the emulator-based tests check the same on real
// semantics; this one is cheap and runs with the benchmarks' setup).
func TestCallCountsAgainstStub(t *testing.T) {
	for _, counted := range []bool{false, true} {
		t.Run(map[bool]string{false: "ceiling cannot bind", true: "ceiling counted"}[counted], func(t *testing.T) {
			callCounts(t, counted)
		})
	}
}

func callCounts(t *testing.T, counted bool) {
	h := newHarness(t, false, 0, counted)
	step := func(name string, req events.APIGatewayCustomAuthorizerRequestTypeRequest, wantCalls, wantTrips int64, wantEffect, wantCode, wantOutcome string) {
		t.Helper()
		m := h.mark()
		effect, code, outcome := h.handle(t, req)
		h.auth.Wait()
		if got := h.calls() - m.calls; got != wantCalls {
			t.Errorf("%s: %d UpdateItem calls, want %d", name, got, wantCalls)
		}
		if got := h.ddb.waves.Load() - m.waves; got != wantTrips {
			t.Errorf("%s: %d sequential round trips, want %d", name, got, wantTrips)
		}
		if effect != wantEffect || code != wantCode || outcome != wantOutcome {
			t.Errorf("%s: %s %q %q, want %s %q %q", name, effect, code, outcome, wantEffect, wantCode, wantOutcome)
		}
	}
	// writes is how many records a request counts on.
	writes := int64(1)
	if counted {
		writes = 2
	}

	step("malformed key", authRequest("GET", "/auth", map[string]string{"Authorization": "Bearer " + h.bad}), 0, 0, "Deny", "invalid_api_key", "")
	step("garbage", authRequest("GET", "/auth", map[string]string{"x-api-key": "hello"}), 0, 0, "Deny", "invalid_api_key", "")
	step("no key", authRequest("GET", "/auth", map[string]string{"Accept": "*/*"}), 0, 0, "Deny", "missing_api_key", "")

	// Cold container: the workspace and its mode are learnt from the key
	// write; a counted workspace's write follows.
	step("cold first request", h.allow, writes, writes, "Allow", "", "allow")

	// Steady state: one write, or both in flight together.
	h.ans.pair.Store(counted)
	for i := range 3 {
		met := h.ans.met.Load()
		step(fmt.Sprintf("steady request %d", i), h.allow, writes, 1, "Allow", "", "allow")
		if got := h.ans.met.Load() - met; counted && got != 2 {
			t.Errorf("steady request %d: the key and workspace writes did not overlap (%d met): want 1 sequential round trip", i, got)
		}
	}
	h.ans.pair.Store(false)

	// Unknown (or revoked) key: the conditional key write fails with no
	// item; nothing else is written (the parallel workspace write of a
	// counted workspace is taken back).
	unknown, err := apikey.New(apikey.Live, nil)
	if err != nil {
		t.Fatal(err)
	}
	ccf := newAnswers(h.hash, counted, 3, 100, 1000, 30)
	ccf.keyStatus, ccf.key = awsstub.DynamoDBError("ConditionalCheckFailedException", "The conditional request failed")
	h.stub.Handle(ddbUpdateItem, ccf.handle)
	step("unknown key", authRequest("GET", "/auth", map[string]string{"Authorization": "Bearer " + unknown}), 1, 1, "Deny", "invalid_api_key", "")

	// Rate limited (warm cache): the writes, then the counts taken back
	// in parallel so the rejection counts against no limit.
	limited := newAnswers(h.hash, counted, 20, 100, 1000, 30) // 120 of 100 in the window
	h.stub.Handle(ddbUpdateItem, limited.handle)
	step("rate limited", h.allow, 2*writes, 2, "Allow", "", "rate_limited")
	if u := limited.undos.Load(); u != writes {
		t.Errorf("rate limited: %d take-backs, want %d", u, writes)
	}

	// Rate limited again: the container remembers the refusal.
	step("rate limited again, from memory", h.allow, 0, 0, "Allow", "", "rate_limited")

	if other := h.stub.CallCounts(); len(other) != 1 {
		t.Errorf("unexpected operations: %v", other)
	}
}
