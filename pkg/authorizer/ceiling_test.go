package authorizer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

// TestWorkspaceCeilingHoldsThroughPlanChanges is the property test of the
// counting mode: a workspace with five keys goes through a random sequence
// of plan and override changes (downgrades, --max-keys below the key
// count, raises), key churn (revoke one, create one), clock moves and
// concurrent bursts from every key through two containers, some bursts
// racing a plan change. After every burst: no window admitted more than
// the workspace limit, nor any key more than the key limit, in force (the
// larger of the two while a change was racing the burst). The counts of
// earlier windows are the test's own record of every admission.
func TestWorkspaceCeilingHoldsThroughPlanChanges(t *testing.T) {
	const seed = 3
	r := rand.New(rand.NewPCG(seed, 99))
	f := setup(t, ratelimit.Plan{})
	ctx := context.Background()
	w := ratelimit.PerMinute
	keys := []string{f.keys[apikey.Live]}
	ids := []string{""}
	for i := range 4 {
		k, plain, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: fmt.Sprint("k", i), Role: scopes.Render}, f.op(f.ws.ID))
		if err != nil {
			t.Fatal(err)
		}
		keys, ids = append(keys, plain), append(ids, k.ID)
	}
	containers := []*container{f.container(t, 0), f.container(t, 0)}
	limits := f.ws.Limits()

	// admitted[cell][key] counts the admissions of each cell.
	admitted := map[int64]map[string]int{}
	prior := func(cell int64, key string) (ws, k int) {
		for c := cell - int64(w.Cells) + 1; c <= cell; c++ {
			for kk, n := range admitted[c] {
				ws += n
				if kk == key {
					k += n
				}
			}
		}
		return ws, k
	}
	randomLimits := func() (string, ratelimit.Plan) {
		plans := ratelimit.PlanNames()
		return plans[r.IntN(len(plans))], ratelimit.Plan{
			KeyRequestsPerMinute:       []int{5, 10, 20}[r.IntN(3)],
			WorkspaceRequestsPerMinute: []int{15, 30, 60}[r.IntN(3)],
			MaxActiveKeys:              []int{0, 2, 3, 6}[r.IntN(4)],
		}
	}
	setPlan := func(plan string, o ratelimit.Plan) ratelimit.Plan {
		ws, err := f.store.SetPlan(ctx, f.ws.ID, plan, o, f.op(f.ws.ID))
		if err != nil {
			t.Error(err)
			return limits
		}
		return ws.Limits()
	}
	burst := func(step int, racing func() ratelimit.Plan) {
		cell := w.Cell(f.clock.Now())
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		var next ratelimit.Plan
		if racing != nil {
			wg.Go(func() { next = racing() })
		}
		for _, k := range keys {
			n := r.IntN(7)
			c := containers[r.IntN(2)]
			wg.Go(func() {
				for range n {
					if v, _ := c.call(t, k); v.Outcome == ratelimit.Allow {
						mu.Lock()
						got[k]++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		wsLimit, keyLimit := limits.WorkspaceRequestsPerMinute, limits.KeyRequestsPerMinute
		if racing != nil {
			wsLimit, keyLimit = max(wsLimit, next.WorkspaceRequestsPerMinute), max(keyLimit, next.KeyRequestsPerMinute)
			limits = next
		}
		total := 0
		for k, n := range got {
			total += n
			if _, before := prior(cell, k); n > max(0, keyLimit-before) {
				t.Errorf("step %d: a key admitted %d with %d already in the window, over its limit %d", step, n, before, keyLimit)
			}
		}
		if before, _ := prior(cell, ""); total > max(0, wsLimit-before) {
			t.Errorf("step %d: the workspace admitted %d with %d already in the window, over its limit %d (%+v)", step, total, before, wsLimit, limits)
		}
		if admitted[cell] == nil {
			admitted[cell] = map[string]int{}
		}
		for k, n := range got {
			admitted[cell][k] += n
		}
	}

	for step := range 30 {
		switch x := r.IntN(10); {
		case x < 4:
			burst(step, nil)
		case x < 6:
			f.clock.Advance(time.Duration(r.IntN(25_000)) * time.Millisecond)
		case x < 8:
			limits = setPlan(randomLimits())
		case x < 9:
			plan, o := randomLimits()
			burst(step, func() ratelimit.Plan { return setPlan(plan, o) })
		default: // churn: a new line in place of an old one
			i := 1 + r.IntN(len(keys)-1)
			if _, err := f.store.RevokeKey(ctx, f.ws.ID, apikey.Live, ids[i], f.op(f.ws.ID)); err != nil {
				t.Fatal(err)
			}
			keys, ids = append(keys[:i], keys[i+1:]...), append(ids[:i], ids[i+1:]...)
			k, plain, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: "churn", Role: scopes.Render}, f.op(f.ws.ID))
			switch {
			case err == nil:
				keys, ids = append(keys, plain), append(ids, k.ID)
			case apierr.From(err).Code != apierr.KeyLimitReached:
				t.Fatal(err)
			}
		}
		if t.Failed() {
			t.Fatalf("seed %d: failed at step %d", seed, step)
		}
	}
}

// seedHook runs during just before the store's write that lands a switch to
// counted's seed: the moment a key is stamped counted but the workspace
// record does not yet hold the keys' counts.
type seedHook struct {
	keystore.DB
	during func()
}

func (h *seedHook) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if h.during != nil && strings.HasSuffix(aws.ToString(in.UpdateExpression), "REMOVE #seed") {
		h.during()
		h.during = nil
	}
	return h.DB.UpdateItem(ctx, in, o...)
}

// TestDowngradeToFreeHoldsTheCeiling: a business workspace with 5 keys
// (100/min each, 1000/min in all: key-only) has used 50 requests when it
// moves to the free plan (20/min per key, 60/min in all; 5 keys × 20 can
// pass 60, though the plan allows 3 keys). A request caught while the
// switch seeds the workspace record is refused, not admitted against an
// empty record; then a burst from every key admits exactly the 10 left.
func TestDowngradeToFreeHoldsTheCeiling(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	ctx := context.Background()
	keys := []string{f.keys[apikey.Live]}
	for i := range 4 {
		_, plain, err := f.store.CreateKey(ctx, f.ws.ID, apikey.Live, keystore.NewKey{Name: fmt.Sprint("k", i), Role: scopes.Render}, f.op(f.ws.ID))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, plain)
	}
	c := f.container(t, 0)
	for _, k := range keys {
		for range 10 {
			if v, n := c.call(t, k); v.Outcome != ratelimit.Allow || n != 1 {
				t.Fatalf("business plan: %s with %d calls, want admitted with one write", v.Outcome, n)
			}
		}
	}
	hook := &seedHook{DB: f.dynamo}
	var caught ratelimit.Verdict
	hook.during = func() { caught, _ = c.call(t, keys[1]) }
	st, err := keystore.New(hook, f.table, f.hasher, keystore.Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetPlan(ctx, f.ws.ID, "free", ratelimit.Plan{}, f.op(f.ws.ID)); err != nil {
		t.Fatal(err)
	}
	if caught.Outcome != ratelimit.RateLimited || caught.RetryAfter < 1 {
		t.Fatalf("a request while the workspace record is seeded: %+v, want refused", caught)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for _, k := range keys {
		wg.Go(func() {
			for range 20 {
				if v, _ := c.call(t, k); v.Outcome == ratelimit.Allow {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if admitted != 10 {
		t.Fatalf("after the downgrade a burst of 100 admitted %d, want exactly the 10 left of 60", admitted)
	}
	v, _ := c.call(t, keys[0])
	if v.Outcome != ratelimit.RateLimited || v.WorkspaceLimit.Limit != 60 || v.KeyLimit.Limit != 20 {
		t.Fatalf("afterwards: %+v", v)
	}
}
