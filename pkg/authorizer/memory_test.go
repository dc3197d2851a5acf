package authorizer_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

// container is another authorizer on the fixture's table (another Lambda
// container), counting its own calls, remembering refusals for horizon.
type container struct {
	a  *authorizer.Authorizer
	db *countingDB
	f  *fixture
}

func (f *fixture) container(t *testing.T, horizon time.Duration) *container {
	t.Helper()
	db := &countingDB{DB: f.dynamo}
	a, err := authorizer.NewAuthorizer(authorizer.Config{DB: db, Table: f.table, Hasher: f.hasher, Now: f.clock.Now, Logger: f.logger, RefusalHorizon: horizon})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Wait)
	return &container{a: a, db: db, f: f}
}

// call sends one GET /v1/auth with key and returns the verdict and the
// DynamoDB calls it cost.
func (c *container) call(t *testing.T, key string) (ratelimit.Verdict, int64) {
	t.Helper()
	before := c.db.calls.Load()
	resp, err := c.a.Handle(context.Background(), request("GET", "/auth", bearer(key)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := map[string]any{}
	for k, v := range resp.Context {
		ctx[k] = v
	}
	v, err := ratelimit.FromContext(ctx)
	if err != nil {
		t.Fatalf("not an Allow with a verdict: %v", resp.Context)
	}
	c.a.Wait()
	return v, c.db.calls.Load() - before
}

// counterWouldAdmit reads the record key counts on, as DynamoDB holds it
// now, and says whether one more request would fit its limit: what the
// counter itself would answer.
func (f *fixture) counterWouldAdmit(t *testing.T, key string, limit int) bool {
	t.Helper()
	out, err := f.dynamo.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &f.table, Key: keystore.KeyKey(f.hasher.Hash(key)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return ratelimit.PerMinute.Evaluate(out.Item, f.clock.Now(), limit).Count+1 <= limit
}

// TestRefusalsFromMemoryCostNothing: once a key is refused, its next
// requests in the same container are refused with no DynamoDB call until
// the oldest cell holding its counts leaves the window, and no later.
func TestRefusalsFromMemoryCostNothing(t *testing.T) {
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 10})
	key := f.keys[apikey.Live]
	c := f.container(t, time.Hour) // no horizon: the window alone decides
	admit := func(n int) {
		t.Helper()
		for range n {
			if v, _ := c.call(t, key); v.Outcome != ratelimit.Allow {
				t.Fatalf("refused early: %+v", v)
			}
		}
	}
	// 5 in the first cell, 5 in the third: full.
	admit(5)
	f.clock.Advance(20 * time.Second)
	admit(5)

	calls := int64(0)
	for i := range 40 {
		if f.counterWouldAdmit(t, key, 10) {
			t.Fatal("the counter would admit: the test is broken")
		}
		v, n := c.call(t, key)
		if v.Outcome != ratelimit.RateLimited || v.KeyLimit.Remaining != 0 || v.RetryAfter < 1 || v.RetryAfter > 40 {
			t.Fatalf("request %d past the limit: %+v", i, v)
		}
		calls += n
	}
	if perRequest := float64(calls) / 40; calls != 2 || perRequest > 0.2 {
		t.Fatalf("40 refusals cost %d DynamoDB calls (%.2f each), want the first one's write and undo alone", calls, perRequest)
	}
	t.Logf("40 requests past the limit: %d DynamoDB calls, %.3f each", calls, float64(calls)/40)

	// The first cell leaves the window at 60 s past its start: until then
	// the counter refuses too, and memory answers.
	leaves := time.Unix(t0.Unix()/10*10+60, 0)
	f.clock.Advance(leaves.Add(-time.Millisecond).Sub(f.clock.Now()))
	if f.counterWouldAdmit(t, key, 10) {
		t.Fatal("the counter would admit before the first cell leaves")
	}
	if v, n := c.call(t, key); v.Outcome != ratelimit.RateLimited || n != 0 {
		t.Fatalf("a millisecond before the first cell leaves: %s with %d calls, want refused from memory", v.Outcome, n)
	}
	// From the moment it leaves, the counter would admit 5: memory lets go.
	f.clock.Advance(time.Millisecond)
	if !f.counterWouldAdmit(t, key, 10) {
		t.Fatal("the counter would still refuse")
	}
	if v, n := c.call(t, key); v.Outcome != ratelimit.Allow || n != 1 || v.KeyLimit.Remaining != 4 {
		t.Fatalf("once the first cell left: %+v with %d calls, want admitted (5 of 10 used) after one write", v, n)
	}
}

// TestRefusalHorizonShowsARaise: a container learns of a raised limit only
// from DynamoDB, so it remembers a refusal for the horizon at most.
func TestRefusalHorizonShowsARaise(t *testing.T) {
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 5})
	key := f.keys[apikey.Live]
	c := f.container(t, 0) // the default horizon
	for range 5 {
		c.call(t, key)
	}
	if v, n := c.call(t, key); v.Outcome != ratelimit.RateLimited || n != 2 {
		t.Fatalf("the 6th: %s with %d calls", v.Outcome, n)
	}
	if _, err := f.store.SetPlan(context.Background(), f.ws.ID, "business", ratelimit.Plan{KeyRequestsPerMinute: 50}, f.op(f.ws.ID)); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(authorizer.DefaultRefusalHorizon - time.Millisecond)
	if v, n := c.call(t, key); v.Outcome != ratelimit.RateLimited || n != 0 {
		t.Fatalf("within the horizon: %s with %d calls, want refused from memory", v.Outcome, n)
	}
	f.clock.Advance(time.Millisecond)
	if v, n := c.call(t, key); v.Outcome != ratelimit.Allow || v.KeyLimit.Limit != 50 || n != 1 {
		t.Fatalf("after the horizon: %+v with %d calls, want admitted under the new limit", v, n)
	}
}

// TestWorkspaceRefusalFromMemory: a workspace found full refuses its other
// keys in the same container from memory too, each with its own facts.
func TestWorkspaceRefusalFromMemory(t *testing.T) {
	// 2 keys × 10 > 15: the ceiling is counted.
	f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: 10, WorkspaceRequestsPerMinute: 15, MaxActiveKeys: 2})
	ctx := context.Background()
	bKey, b, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "b", Role: scopes.Render}, f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	a := f.keys[apikey.Live]
	c := f.container(t, time.Hour)
	for i := range 15 {
		k := a
		if i%2 == 1 {
			k = b
		}
		if v, _ := c.call(t, k); v.Outcome != ratelimit.Allow {
			t.Fatalf("request %d: %+v", i, v)
		}
	}
	v, n := c.call(t, b)
	if v.Outcome != ratelimit.RateLimited || v.Binding().Name != "workspace" || v.KeyID != bKey.ID || n != 4 {
		t.Fatalf("b past the ceiling: %+v with %d calls, want refused by the workspace after 2 writes and 2 undos", v, n)
	}
	v, n = c.call(t, a)
	if v.Outcome != ratelimit.RateLimited || v.Binding().Name != "workspace" || v.KeyID == bKey.ID || v.KeyKind != keystore.Primary || n != 0 {
		t.Fatalf("a past the ceiling: %+v with %d calls, want refused from memory with its own facts", v, n)
	}
}

// TestMemoryNeverRefusesWhatTheCounterWouldAdmit: random arrivals from two
// containers of one key across windows; whenever the one under test answers
// from memory, the counter, read at that moment, would have refused too.
func TestMemoryNeverRefusesWhatTheCounterWouldAdmit(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		r := rand.New(rand.NewPCG(seed, 12))
		limit := 3 + r.IntN(5)
		f := setup(t, ratelimit.Plan{KeyRequestsPerMinute: limit})
		key := f.keys[apikey.Live]
		tested, other := f.container(t, time.Hour), f.container(t, time.Hour)
		fromMemory := 0
		for step := range 40 {
			f.clock.Advance(time.Duration(r.IntN(12_000)) * time.Millisecond)
			for range 1 + r.IntN(5) {
				if r.IntN(3) == 0 {
					other.call(t, key)
					continue
				}
				would := f.counterWouldAdmit(t, key, limit)
				v, n := tested.call(t, key)
				if n == 0 {
					fromMemory++
					if would || v.Outcome != ratelimit.RateLimited {
						t.Fatalf("seed %d step %d: answered %s from memory while the counter would admit: %v", seed, step, v.Outcome, would)
					}
				}
			}
		}
		if fromMemory < 10 {
			t.Fatalf("seed %d: only %d answers from memory: the test does not exercise it", seed, fromMemory)
		}
		t.Logf("seed %d, limit %d: %d answers from memory, every one a refusal the counter agreed with", seed, limit, fromMemory)
	}
}
