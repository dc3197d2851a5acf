package webhooks_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/webhooks"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// switchable answers 500 until fixed, then 200, and records what arrives.
type switchable struct {
	mu    sync.Mutex
	fixed bool
	ok    []string // event ids answered 200, in order
	all   int
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct{ ID string }
	_ = json.NewDecoder(r.Body).Decode(&ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all++
	if !s.fixed {
		w.WriteHeader(500)
		return
	}
	s.ok = append(s.ok, ev.ID)
	w.WriteHeader(200)
}

func (s *switchable) state() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ok...), s.all
}

// TestRecover: three events fail every attempt at a receiver that is down;
// one succeeded earlier, one failed before the recovery's window. Once the
// receiver is back, a recovery sends the failed deliveries of its window
// again, in event order, once each, even when its message comes twice;
// the others are left alone.
func TestRecover(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,1s"})
	rs := &switchable{}
	srv := newServer(t, rs)
	ep, _ := h.endpoint(srv)
	h.run(nil)
	base := time.Now()
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	publishAt := func(when time.Time) webhooks.Event {
		ev, err := webhooks.NewEvent(webhooks.RenderFailed, map[string]any{}, when, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.publishEvent(ev, webhooks.Route{})
		return ev
	}
	old := publishAt(at(-60)) // failed, but before since
	evs := []webhooks.Event{publishAt(at(-30)), publishAt(at(-20)), publishAt(at(-10))}
	h.waitDeliveries("live", ep.ID, 4, 20*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Failed })
	rs.mu.Lock()
	rs.fixed = true
	rs.mu.Unlock()
	done := publishAt(at(-5)) // succeeds at once
	h.waitDeliveries("live", ep.ID, 5, 10*time.Second, func(d webhooks.Delivery) bool { return d.Status != webhooks.Pending })
	_, before := rs.state()

	r := webhooks.Recovery{ID: "rcv_test", Workspace: h.ws, Env: "live", Endpoint: ep.ID, Since: at(-40).UnixMilli(), Until: time.Now().UnixMilli()}
	if err := h.w.Queue.Recover(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := h.w.Queue.Recover(context.Background(), r); err != nil { // SQS may deliver a message twice
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok, _ := rs.state(); len(ok) >= 4 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // time for a duplicate to show
	ok, all := rs.state()
	want := []string{done.ID, evs[0].ID, evs[1].ID, evs[2].ID}
	if len(ok) != len(want) || all-before != 3 {
		t.Fatalf("after recovery: %d requests (want 3), delivered %v, want %v", all-before, ok, want)
	}
	for i := range want {
		if ok[i] != want[i] {
			t.Errorf("delivery %d: %s, want %s (event order)", i, ok[i], want[i])
		}
	}
	ds := h.waitDeliveries("live", ep.ID, 5, 5*time.Second, func(webhooks.Delivery) bool { return true })
	for _, d := range ds {
		switch d.EventID {
		case old.ID:
			if d.Status != webhooks.Failed || d.AttemptCount != 2 {
				t.Errorf("the delivery before since was touched: %+v", d)
			}
		case done.ID:
			if d.AttemptCount != 1 {
				t.Errorf("the succeeded delivery was sent again: %+v", d)
			}
		default:
			last := d.Attempts[len(d.Attempts)-1]
			if d.Status != webhooks.Succeeded || d.AttemptCount != 3 || last.Recovery != r.ID || !last.Manual {
				t.Errorf("recovered delivery %+v", d)
			}
		}
	}
}

// TestRecoverPending: a delivery that failed once and waits a minute for
// its retry is recovered at once, and the retry it was waiting for sends
// nothing: the event arrives once.
func TestRecoverPending(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,1m,1m"})
	rcv := newReceiver(t, response{status: 503}, response{status: 200})
	ep, _ := h.endpoint(rcv.URL)
	h.run(nil)
	start := time.Now().Add(-time.Second)
	ev := h.publish(webhooks.RenderFailed, map[string]any{}, webhooks.Route{})
	d := h.waitDelivery(ep.ID, 10*time.Second, func(d webhooks.Delivery) bool { return d.AttemptCount == 1 })
	if d.Status != webhooks.Pending || d.NextAttemptAt == nil {
		t.Fatalf("delivery %+v", d)
	}
	r := webhooks.Recovery{ID: "rcv_pending", Workspace: h.ws, Env: "live", Endpoint: ep.ID, Since: start.UnixMilli(), Until: time.Now().UnixMilli()}
	if err := h.w.Queue.Recover(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	rcv.wait(t, 5*time.Second)
	got := rcv.wait(t, 10*time.Second)
	if got.header.Get("Webhook-Id") != ev.ID {
		t.Fatalf("recovered %s, want %s", got.header.Get("Webhook-Id"), ev.ID)
	}
	d = h.waitDelivery(ep.ID, 5*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	if d.AttemptCount != 2 || d.NextAttemptAt != nil || d.Attempts[1].Recovery != r.ID {
		t.Errorf("delivery %+v", d)
	}
	// The retry that was due in a minute, brought forward, finds itself
	// superseded.
	j := webhooks.Job{Workspace: h.ws, Env: "live", Endpoint: ep.ID, Delivery: d.ID, Attempts: 1, NotBefore: time.Now().UnixMilli()}
	if err := h.w.Queue.Schedule(context.Background(), j, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := rcv.hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestRecoverStopsAtGone: a 410 during a recovery disables the endpoint
// and ends the run.
func TestRecoverStopsAtGone(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s"})
	rcv := newReceiver(t, response{status: 500}, response{status: 500}, response{status: 410})
	ep, _ := h.endpoint(rcv.URL)
	start := time.Now().Add(-time.Second)
	for range 2 {
		h.publish(webhooks.RenderFailed, map[string]any{}, webhooks.Route{})
	}
	for range 2 {
		resp, err := h.w.Handle(context.Background(), h.receive())
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatal(resp, err)
		}
	}
	h.waitDeliveries("live", ep.ID, 2, 5*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Failed })
	r := webhooks.Recovery{ID: "rcv_gone", Workspace: h.ws, Env: "live", Endpoint: ep.ID, Since: start.UnixMilli(), Until: time.Now().UnixMilli()}
	body, _ := json.Marshal(r)
	msg := events.SQSMessage{MessageId: "m1", Body: string(body), MessageAttributes: map[string]events.SQSMessageAttribute{
		webhooks.AttrKind: {DataType: "String", StringValue: ptr(webhooks.KindRecover)}}}
	resp, err := h.w.Handle(context.Background(), eventOf(msg))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatal(resp, err)
	}
	if n := rcv.hits.Load(); n != 3 {
		t.Errorf("%d requests, want 3: the recovery stops at the 410", n)
	}
	e, _ := h.st.GetEndpoint(context.Background(), h.ws, "live", ep.ID)
	if e.Enabled {
		t.Error("the endpoint that answered 410 is enabled")
	}
}

// TestSandboxHTTPWithProductionPolicy: with the production egress policy
// (no loopback: the network is a local server behind the guard's Dial, the
// names resolve to public addresses), a sandbox endpoint on plain http and
// a sandbox video's http webhookUrl get their events, signed; a live
// endpoint stored with an http URL (which the API refuses) gets nothing:
// the sender refuses it the way the API does.
func TestSandboxHTTPWithProductionPolicy(t *testing.T) {
	rcv := newReceiver(t)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, rcv.Listener.Addr().String())
	}
	h := newHarness(t, config{resolver: mapResolver{"sandbox-hooks.example": {{IP: net.ParseIP("93.184.215.14")}}}, dial: dial})
	sandbox, secret := h.create("test", webhooks.NewEndpoint{URL: "http://sandbox-hooks.example/in", Events: []string{webhooks.RenderSucceeded}})
	live, _ := h.create("live", webhooks.NewEndpoint{URL: "http://sandbox-hooks.example/live", Events: []string{webhooks.RenderSucceeded}})
	h.run(nil)

	ev := h.publish(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_s"}, webhooks.Route{Environment: "test", WebhookURL: "http://sandbox-hooks.example/video"})
	paths := map[string]bool{}
	for range 2 {
		got := rcv.wait(t, 10*time.Second)
		paths[got.path] = true
		if got.header.Get("Webhook-Id") != ev.ID {
			t.Errorf("webhook-id %q", got.header.Get("Webhook-Id"))
		}
		if got.path == "/in" {
			if err := webhooksig.Verify(secret, got.header, got.body, time.Minute); err != nil {
				t.Error(err)
			}
		}
	}
	if !paths["/in"] || !paths["/video"] {
		t.Errorf("arrived at %v, want /in (the endpoint) and /video (the video's webhookUrl)", paths)
	}
	h.waitDeliveries("test", sandbox.ID, 1, 5*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })

	h.publish(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_l"}, webhooks.Route{})
	d := h.waitDelivery(live.ID, 10*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Failed })
	if d.AttemptCount != 1 || d.Attempts[0].Error != "refused: only https URLs are fetched (sandbox-hooks.example)" {
		t.Errorf("live http delivery %+v", d)
	}
	time.Sleep(500 * time.Millisecond)
	if n := rcv.hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func ptr[T any](v T) *T { return &v }

// newServer serves h on loopback until the test ends and returns its URL.
func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
