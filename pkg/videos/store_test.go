package videos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

// storeFixture is the video store alone, on its own tables, with a clock.
type storeFixture struct {
	st    *videos.Store
	clock *testenv.Clock
	ws    string
	n     int
}

func setupStore(t *testing.T) *storeFixture {
	t.Helper()
	env := testenv.New(t)
	clock := testenv.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	st, err := videos.OpenStore(env.Deps("VideosFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return &storeFixture{st: st, clock: clock, ws: "ws_" + env.Prefix}
}

// insert queues a new video under a queue cap.
func (f *storeFixture) insert(t *testing.T, queueCap int) (videos.Video, error) {
	t.Helper()
	f.n++
	v := videos.Video{
		ID: fmt.Sprintf("vid_%04d", f.n), Workspace: f.ws, Env: apikey.Live, Status: videos.Queued,
		Spec: json.RawMessage(`{}`), CreatedAt: f.clock.Now(), Slot: -1,
	}
	return v, f.st.Insert(context.Background(), v, queueCap)
}

func (f *storeFixture) queued(t *testing.T) int {
	t.Helper()
	n, err := f.st.QueuedCount(context.Background(), f.ws, apikey.Live)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStoreQueueCap: the queue cap holds under concurrent inserts, and
// every terminal transition frees exactly one place, once.
func TestStoreQueueCap(t *testing.T) {
	f := setupStore(t)
	ctx := context.Background()
	var (
		mu       sync.Mutex
		ok, full int
		inserted []videos.Video
		wg       sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			v, err := f.insert(t, 3)
			mu.Lock()
			defer mu.Unlock()
			var ae *apierr.Error
			switch {
			case err == nil:
				ok++
				inserted = append(inserted, v)
			case errors.As(err, &ae) && ae.Code == apierr.QueueFull:
				full++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 3 || full != 5 || f.queued(t) != 3 {
		t.Fatalf("8 inserts under a cap of 3: %d stored, %d full, counter %d", ok, full, f.queued(t))
	}
	v := inserted[0]
	// Cancelling twice frees one place.
	for i, want := range []bool{true, false} {
		done, err := f.st.Cancel(ctx, v)
		if err != nil || done != want {
			t.Fatalf("cancel #%d: %v %v, want %v", i+1, done, err, want)
		}
	}
	if f.queued(t) != 2 {
		t.Errorf("counter %d after one cancellation, want 2", f.queued(t))
	}
	if _, err := f.insert(t, 3); err != nil {
		t.Errorf("a freed place was not reusable: %v", err)
	}
}

// TestStoreTransitions: queued → rendering → succeeded, each terminal
// status reached once, and no transition out of a terminal one.
func TestStoreTransitions(t *testing.T) {
	f := setupStore(t)
	ctx := context.Background()
	v, err := f.insert(t, 10)
	if err != nil {
		t.Fatal(err)
	}
	// A queued video cannot succeed: it was never rendered.
	out := videos.Rendered{Duration: 2.04, SizeBytes: 12345, Width: 640, Height: 360, S3Key: "renders/live/x.mp4"}
	if done, err := f.st.Succeed(ctx, v, "a1", out); err != nil || done {
		t.Fatalf("succeed from queued: %v %v", done, err)
	}
	if err := f.st.SetProgress(ctx, v, "a1", 10); !errors.Is(err, videos.ErrNotRendering) {
		t.Errorf("progress of a queued video: %v", err)
	}
	started, ok, err := f.st.StartRendering(ctx, v, 0, "a1", time.Minute)
	if err != nil || !ok || started.Status != videos.Rendering || started.StartedAt == nil || started.Slot != 0 ||
		started.Attempts != 1 || started.LeaseToken != "a1" {
		t.Fatalf("start: %+v %v %v", started, ok, err)
	}
	if err := f.st.SetProgress(ctx, v, "a1", 40); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Delete(ctx, v); err == nil {
		t.Error("a rendering video was deleted")
	}
	if done, err := f.st.Succeed(ctx, v, "a1", out); err != nil || !done {
		t.Fatalf("succeed: %v %v", done, err)
	}
	got, err := f.st.Get(ctx, f.ws, apikey.Live, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != videos.Succeeded || got.Progress != 100 || got.SizeBytes != 12345 || got.S3Key != "renders/live/x.mp4" || got.FinishedAt == nil {
		t.Errorf("succeeded video %+v", got)
	}
	// Terminal: nothing moves it again, and its place was freed once.
	for name, try := range map[string]func() (bool, error){
		"fail":    func() (bool, error) { return f.st.Fail(ctx, v, videos.Error{Code: videos.ErrRenderFailed}) },
		"cancel":  func() (bool, error) { return f.st.Cancel(ctx, v) },
		"succeed": func() (bool, error) { return f.st.Succeed(ctx, v, "a1", videos.Rendered{S3Key: "other"}) },
	} {
		if done, err := try(); err != nil || done {
			t.Errorf("%s after success: %v %v", name, done, err)
		}
	}
	if _, ok, err := f.st.StartRendering(ctx, v, 1, "a2", time.Minute); err != nil || ok {
		t.Errorf("start after success: %v %v", ok, err)
	}
	if f.queued(t) != 0 {
		t.Errorf("counter %d, want 0", f.queued(t))
	}
	if err := f.st.Delete(ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Get(ctx, f.ws, apikey.Live, v.ID); apierr.From(err).Code != apierr.NotFound {
		t.Errorf("get after delete: %v", err)
	}
}

// TestStoreExpiredIsGone: a sandbox record past its expiry reads as not
// found, whether or not the table has deleted it yet.
func TestStoreExpiredIsGone(t *testing.T) {
	f := setupStore(t)
	ctx := context.Background()
	exp := f.clock.Now().Add(videos.SandboxRetention)
	v := videos.Video{ID: "vid_sandbox", Workspace: f.ws, Env: apikey.Test, Status: videos.Queued, Spec: json.RawMessage(`{}`),
		CreatedAt: f.clock.Now(), ExpiresAt: &exp, Slot: -1}
	if err := f.st.Insert(ctx, v, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Get(ctx, f.ws, apikey.Test, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Get(ctx, f.ws, apikey.Live, v.ID); apierr.From(err).Code != apierr.NotFound {
		t.Errorf("a sandbox video read as live: %v", err)
	}
	f.clock.Advance(videos.SandboxRetention)
	if _, err := f.st.Get(ctx, f.ws, apikey.Test, v.ID); apierr.From(err).Code != apierr.NotFound {
		t.Errorf("expired video: %v", err)
	}
}

// TestStoreLeases: slots are leases. At most limit are held at once, even
// when many workers race; a holder renews its own; an expired lease is
// taken over and its old holder learns it lost it; a release frees it.
func TestStoreLeases(t *testing.T) {
	f := setupStore(t)
	ctx := context.Background()
	const limit, ttl = 3, time.Minute
	var (
		mu   sync.Mutex
		held = map[int]string{}
		got  int
		wg   sync.WaitGroup
	)
	for i := range 10 {
		wg.Go(func() {
			l, ok, err := f.st.AcquireSlot(ctx, f.ws, apikey.Live, fmt.Sprintf("h%d", i), limit, -1, ttl)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				defer mu.Unlock()
				got++
				if prev, dup := held[l.Slot]; dup {
					t.Errorf("slot %d given to %s and %s", l.Slot, prev, l.Holder)
				}
				held[l.Slot] = l.Holder
			}
		})
	}
	wg.Wait()
	if got != limit {
		t.Fatalf("10 racing workers got %d slots of %d", got, limit)
	}
	live, err := f.st.Holders(ctx, f.ws, apikey.Live)
	if err != nil || len(live) != limit {
		t.Fatalf("holders %v %v", live, err)
	}
	if _, ok, _ := f.st.AcquireSlot(ctx, f.ws, apikey.Live, "late", limit, -1, ttl); ok {
		t.Fatal("a fourth slot was given")
	}
	// A holder asking again keeps its own slot (a redelivered message).
	l0 := videos.Lease{Workspace: f.ws, Env: apikey.Live, Slot: 0, Holder: held[0]}
	if again, ok, err := f.st.AcquireSlot(ctx, f.ws, apikey.Live, held[0], limit, 0, ttl); err != nil || !ok || again.Slot != 0 {
		t.Fatalf("re-acquire by its holder: %+v %v %v", again, ok, err)
	}
	// Renewed leases outlive the first ttl; the others expire.
	f.clock.Advance(ttl / 2)
	if err := f.st.RenewSlot(ctx, &l0, ttl); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(ttl/2 + time.Second)
	live, _ = f.st.Holders(ctx, f.ws, apikey.Live)
	if len(live) != 1 || live[0] != held[0] {
		t.Fatalf("after expiry only the renewed lease should be live: %v", live)
	}
	// An expired slot is taken over; its old holder has lost it.
	taken, ok, err := f.st.AcquireSlot(ctx, f.ws, apikey.Live, "newcomer", limit, -1, ttl)
	if err != nil || !ok || taken.Slot == 0 {
		t.Fatalf("take over an expired slot: %+v %v %v", taken, ok, err)
	}
	lost := videos.Lease{Workspace: f.ws, Env: apikey.Live, Slot: taken.Slot, Holder: held[taken.Slot]}
	if err := f.st.RenewSlot(ctx, &lost, ttl); !errors.Is(err, videos.ErrLeaseLost) {
		t.Errorf("renew by the old holder: %v, want ErrLeaseLost", err)
	}
	// The old holder's release does not free the newcomer's slot.
	if err := f.st.ReleaseSlot(ctx, f.ws, apikey.Live, taken.Slot, lost.Holder); err != nil {
		t.Fatal(err)
	}
	if live, _ := f.st.Holders(ctx, f.ws, apikey.Live); live[taken.Slot] != "newcomer" {
		t.Errorf("a stale release freed the newcomer's slot: %v", live)
	}
	if err := f.st.ReleaseSlot(ctx, f.ws, apikey.Live, taken.Slot, "newcomer"); err != nil {
		t.Fatal(err)
	}
	if live, _ := f.st.Holders(ctx, f.ws, apikey.Live); len(live) != 1 {
		t.Errorf("after release: %v", live)
	}
}

// TestStoreFencing: an attempt holds a video by its token. A second attempt
// cannot start while the first one's lease is live, takes over once it ran
// out, and from then on nothing the first attempt writes lands.
func TestStoreFencing(t *testing.T) {
	f := setupStore(t)
	ctx := context.Background()
	v, err := f.insert(t, 10)
	if err != nil {
		t.Fatal(err)
	}
	const ttl = time.Minute
	a, ok, err := f.st.StartRendering(ctx, v, 0, "a", ttl)
	if err != nil || !ok || a.Attempts != 1 {
		t.Fatalf("start a: %+v %v %v", a, ok, err)
	}
	if !a.LeaseLive(f.clock.Now()) {
		t.Fatal("a fresh lease is not live")
	}
	// A duplicate delivery cannot start a second render.
	if _, ok, err := f.st.StartRendering(ctx, v, 1, "b", ttl); err != nil || ok {
		t.Fatalf("second start under a live lease: %v %v", ok, err)
	}
	out := videos.Rendered{Duration: 1, SizeBytes: 10, Width: 640, Height: 360, S3Key: "b.mp4"}
	if ok, err := f.st.Succeed(ctx, v, "b", out); err != nil || ok {
		t.Fatalf("succeed by a non-holder: %v %v", ok, err)
	}
	// The heartbeat keeps it; without one the lease runs out and b takes over.
	f.clock.Advance(ttl / 2)
	if err := f.st.RenewLease(ctx, v, "a", ttl); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(ttl / 2)
	if _, ok, _ := f.st.StartRendering(ctx, v, 1, "b", ttl); ok {
		t.Fatal("took over a renewed lease")
	}
	f.clock.Advance(ttl)
	b, ok, err := f.st.StartRendering(ctx, v, 1, "b", ttl)
	if err != nil || !ok || b.Attempts != 2 || b.LeaseToken != "b" {
		t.Fatalf("take over: %+v %v %v", b, ok, err)
	}
	// Nothing the first attempt does lands any more.
	if err := f.st.SetProgress(ctx, v, "a", 50); !errors.Is(err, videos.ErrNotRendering) {
		t.Errorf("progress of a lost attempt: %v", err)
	}
	if err := f.st.RenewLease(ctx, v, "a", ttl); !errors.Is(err, videos.ErrNotRendering) {
		t.Errorf("renew of a lost attempt: %v", err)
	}
	for name, try := range map[string]func() (bool, error){
		"succeed": func() (bool, error) { return f.st.Succeed(ctx, v, "a", videos.Rendered{S3Key: "a.mp4"}) },
		"fail":    func() (bool, error) { return f.st.FailAttempt(ctx, v, "a", videos.Error{Code: videos.ErrRenderFailed}) },
		"retry":   func() (bool, error) { return f.st.Retry(ctx, v, "a") },
	} {
		if ok, err := try(); err != nil || ok {
			t.Errorf("%s by the lost attempt: %v %v", name, ok, err)
		}
	}
	// b retries: queued again, attempts kept; the next start counts on.
	if ok, err := f.st.Retry(ctx, v, "b"); err != nil || !ok {
		t.Fatalf("retry: %v %v", ok, err)
	}
	got, _ := f.st.Get(ctx, f.ws, apikey.Live, v.ID)
	if got.Status != videos.Queued || got.Attempts != 2 || got.LeaseToken != "" || got.LeaseExpiresAt != nil {
		t.Fatalf("after retry: %+v", got)
	}
	c, ok, err := f.st.StartRendering(ctx, v, 0, "c", ttl)
	if err != nil || !ok || c.Attempts != 3 {
		t.Fatalf("third attempt: %+v %v %v", c, ok, err)
	}
	// Giving up waits for the live attempt, then fails the video once.
	e := videos.Error{Code: videos.ErrRetriesExhausted, Message: "given up"}
	if ok, err := f.st.GiveUp(ctx, v, e); err != nil || ok {
		t.Fatalf("gave up on a live attempt: %v %v", ok, err)
	}
	f.clock.Advance(ttl + time.Second)
	if ok, err := f.st.GiveUp(ctx, v, e); err != nil || !ok {
		t.Fatalf("give up: %v %v", ok, err)
	}
	if ok, _ := f.st.Succeed(ctx, v, "c", out); ok {
		t.Error("a failed video succeeded")
	}
	got, _ = f.st.Get(ctx, f.ws, apikey.Live, v.ID)
	if got.Status != videos.Failed || got.Error == nil || got.Error.Code != videos.ErrRetriesExhausted || f.queued(t) != 0 {
		t.Errorf("after giving up: %+v, counter %d", got, f.queued(t))
	}
}
