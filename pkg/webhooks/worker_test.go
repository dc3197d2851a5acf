package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/webhooks"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// TestDeliverSigned: an event reaches the subscribed endpoint once, signed
// so that Verify accepts it, byte for byte as published, with webhook-id the
// event id; an endpoint subscribed to another type gets nothing; the public
// events queue gets the event too.
func TestDeliverSigned(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true})
	rcv := newReceiver(t)
	other := newReceiver(t)
	ep, secret := h.endpoint(rcv.URL+"/hooks?token=abc", webhooks.RenderSucceeded)
	h.endpoint(other.URL, webhooks.PublishFailed)
	h.run(nil)

	ev := h.publish(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_1", "sizeBytes": 42}, webhooks.Route{})
	got := rcv.wait(t, 10*time.Second)
	if err := webhooksig.Verify(secret, got.header, got.body, 5*time.Minute); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want, _ := ev.Marshal()
	if !bytes.Equal(got.body, want) {
		t.Errorf("body %s, want %s", got.body, want)
	}
	if id := got.header.Get("Webhook-Id"); id != ev.ID {
		t.Errorf("webhook-id %q, want the event id %q", id, ev.ID)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	d := h.waitDelivery(ep.ID, 5*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	if d.AttemptCount != 1 || d.Attempts[0].StatusCode != 200 || d.Attempts[0].Response != "ok" || d.EventID != ev.ID {
		t.Errorf("delivery %+v", d)
	}
	if d.ID != webhooks.DeliveryID(ev.ID, ep.ID) {
		t.Errorf("delivery id %s, want %s", d.ID, webhooks.DeliveryID(ev.ID, ep.ID))
	}
	time.Sleep(500 * time.Millisecond)
	if n := other.hits.Load(); n != 0 {
		t.Errorf("endpoint subscribed to publish.failed got %d requests", n)
	}
	out, err := h.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &h.pub.EventsQueueURL, WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 || !strings.Contains(aws.ToString(out.Messages[0].Body), ev.ID) {
		t.Errorf("events queue: %v %v", out, err)
	}
}

// TestRetrySchedule: 500, then 429 with Retry-After, then 200: the third
// attempt delivers, every attempt carries the same webhook-id, the waits
// follow the schedule and Retry-After, and the log holds all three.
func TestRetrySchedule(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,1s,1s,1s"})
	rcv := newReceiver(t,
		response{status: 500, body: "down"},
		response{status: 429, headers: map[string]string{"Retry-After": "3"}, body: strings.Repeat("x", 3000)},
		response{status: 200})
	ep, secret := h.endpoint(rcv.URL)
	h.run(nil)
	ev := h.publish(webhooks.RenderFailed, map[string]any{"videoId": "vid_2"}, webhooks.Route{})

	var got []received
	for range 3 {
		got = append(got, rcv.wait(t, 20*time.Second))
	}
	for i, g := range got {
		if id := g.header.Get("Webhook-Id"); id != ev.ID {
			t.Errorf("attempt %d: webhook-id %q, want %q", i+1, id, ev.ID)
		}
		if err := webhooksig.Verify(secret, g.header, g.body, time.Minute); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if gap := got[1].at.Sub(got[0].at); gap < time.Second {
		t.Errorf("second attempt %s after the first, schedule says 1 s", gap)
	}
	if gap := got[2].at.Sub(got[1].at); gap < 3*time.Second {
		t.Errorf("third attempt %s after the second, Retry-After says 3 s", gap)
	}
	d := h.waitDelivery(ep.ID, 5*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	if d.AttemptCount != 3 || len(d.Attempts) != 3 {
		t.Fatalf("delivery %+v", d)
	}
	for i, want := range []int{500, 429, 200} {
		if d.Attempts[i].StatusCode != want {
			t.Errorf("attempt %d status %d, want %d", i+1, d.Attempts[i].StatusCode, want)
		}
	}
	if n := len(d.Attempts[1].Response); n > webhooks.MaxResponseBody {
		t.Errorf("response body logged %d bytes, cap %d", n, webhooks.MaxResponseBody)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := rcv.hits.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// TestScheduleExhausted: a receiver that always fails gets exactly the
// scheduled number of attempts, then the delivery is failed.
func TestScheduleExhausted(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,1s"})
	rcv := newReceiver(t, response{status: 503})
	ep, _ := h.endpoint(rcv.URL)
	h.run(nil)
	h.publish(webhooks.RenderFailed, map[string]any{}, webhooks.Route{})
	d := h.waitDelivery(ep.ID, 15*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Failed })
	if d.AttemptCount != 2 || d.NextAttemptAt != nil {
		t.Errorf("delivery %+v", d)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := rcv.hits.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	e, _ := h.st.GetEndpoint(context.Background(), h.ws, "live", ep.ID)
	if e.FailingSince == nil || !e.Enabled {
		t.Errorf("endpoint after failures: %+v", e)
	}
}

// TestGoneDisables: 410 fails the delivery at once and disables the
// endpoint; later events are not sent to it.
func TestGoneDisables(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,1s,1s"})
	rcv := newReceiver(t, response{status: 410})
	ep, _ := h.endpoint(rcv.URL)
	h.run(nil)
	h.publish(webhooks.RenderSucceeded, map[string]any{}, webhooks.Route{})
	d := h.waitDelivery(ep.ID, 10*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Failed })
	if d.AttemptCount != 1 || d.Attempts[0].StatusCode != 410 {
		t.Errorf("delivery %+v", d)
	}
	e, err := h.st.GetEndpoint(context.Background(), h.ws, "live", ep.ID)
	if err != nil || e.Enabled || e.DisabledReason != webhooks.DisabledGone {
		t.Fatalf("endpoint %+v %v", e, err)
	}
	h.publish(webhooks.RenderSucceeded, map[string]any{}, webhooks.Route{})
	time.Sleep(2 * time.Second)
	if n := rcv.hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestFailingForDaysDisables: an endpoint that fails without a success
// for the limit is disabled; a success in between resets the streak.
func TestFailingForDaysDisables(t *testing.T) {
	clock := &stepClock{now: time.Now()}
	h := newHarness(t, config{allowLoopback: true, schedule: "0s", now: clock.Now})
	rcv := newReceiver(t, response{status: 500})
	ep, _ := h.endpoint(rcv.URL)
	send := func() {
		t.Helper()
		h.publish(webhooks.RenderFailed, map[string]any{}, webhooks.Route{})
		resp, err := h.w.Handle(context.Background(), h.receive())
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle: %+v %v", resp, err)
		}
	}
	steps := []struct {
		advance time.Duration
		enabled bool
	}{
		{0, true},                  // the streak starts
		{3 * 24 * time.Hour, true}, // 3 days
		{47 * time.Hour, true},     // 4 days 23 h
		{2 * time.Hour, false},     // past 5 days: disabled
	}
	for i, s := range steps {
		clock.advance(s.advance)
		send()
		e, err := h.st.GetEndpoint(context.Background(), h.ws, "live", ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Enabled != s.enabled {
			t.Fatalf("step %d: enabled %v, want %v (%+v)", i, e.Enabled, s.enabled, e)
		}
		if !e.Enabled && e.DisabledReason != webhooks.DisabledFailing {
			t.Errorf("disabled for %q", e.DisabledReason)
		}
	}
}

type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestRotationSignsWithBoth: after rotate-secret deliveries carry two
// signatures, each verifying with one of the secrets; after the overlap
// only the new secret signs.
func TestRotationSignsWithBoth(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true})
	rcv := newReceiver(t)
	ep, oldSecret := h.endpoint(rcv.URL)
	rotated, newSecret, err := h.st.RotateSecret(context.Background(), ep, h.tenv.Operator(h.ws))
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == oldSecret || rotated.SecretPreview != webhooksig.Mask(newSecret) {
		t.Fatalf("rotation: %q → %q, preview %q", oldSecret, newSecret, rotated.SecretPreview)
	}
	h.run(nil)
	h.publish(webhooks.RenderSucceeded, map[string]any{}, webhooks.Route{})
	got := rcv.wait(t, 10*time.Second)
	sigs := strings.Fields(got.header.Get("Webhook-Signature"))
	if len(sigs) != 2 {
		t.Fatalf("signature header %q, want two signatures", got.header.Get("Webhook-Signature"))
	}
	for name, secret := range map[string]string{"old": oldSecret, "new": newSecret} {
		if err := webhooksig.Verify(secret, got.header, got.body, time.Minute); err != nil {
			t.Errorf("%s secret: %v", name, err)
		}
		// Each secret matches exactly one of the two signatures.
		matched := 0
		for _, s := range sigs {
			hh := got.header.Clone()
			hh.Set("Webhook-Signature", s)
			if webhooksig.Verify(secret, hh, got.body, time.Minute) == nil {
				matched++
			}
		}
		if matched != 1 {
			t.Errorf("%s secret matches %d signatures, want 1", name, matched)
		}
	}
	for _, c := range []struct {
		at   time.Time
		want int
	}{
		{time.Now(), 2},
		{time.Now().Add(webhooks.RotationOverlap + time.Minute), 1},
	} {
		ss, err := h.st.Secrets(rotated, c.at)
		if err != nil || len(ss) != c.want || ss[0] != newSecret {
			t.Errorf("Secrets at %s: %d secrets (%v), want %d with the new first", c.at, len(ss), err, c.want)
		}
	}
}

// TestEgressRefused: SSRF targets are refused at delivery with the reason
// in the log, nothing is retried, and no traffic leaves: a name that
// resolves to loopback goes nowhere with loopback disallowed, even though
// a receiver listens there.
func TestEgressRefused(t *testing.T) {
	rcv := newReceiver(t)
	u, _ := url.Parse(rcv.URL)
	h := newHarness(t, config{schedule: "0s,1s", resolver: mapResolver{
		"hooks.internal.example": {{IP: net.ParseIP("127.0.0.1")}},
		"public.example":         {{IP: net.ParseIP("93.184.215.14")}, {IP: net.ParseIP("10.1.2.3")}},
	}})
	tests := []struct {
		name, url, reason string
	}{
		{"private", "https://10.0.0.1/hook", "private address"},
		{"metadata", "https://169.254.169.254/latest/meta-data/", "cloud metadata address"},
		{"name resolving to loopback", "https://hooks.internal.example:" + u.Port() + "/", "loopback address (hooks.internal.example resolves to 127.0.0.1)"},
		{"name with a private answer", "https://public.example/", "private address"},
		{"plain http", rcv.URL, "only https"},
	}
	eps := map[string]string{}
	for _, tc := range tests {
		ep, _ := h.endpoint(tc.url)
		eps[tc.name] = ep.ID
	}
	h.run(nil)
	h.publish(webhooks.RenderSucceeded, map[string]any{}, webhooks.Route{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := h.waitDelivery(eps[tc.name], 10*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Failed })
			if d.AttemptCount != 1 || !strings.Contains(d.Attempts[0].Error, tc.reason) || d.Attempts[0].StatusCode != 0 {
				t.Errorf("attempts %+v, want one refused for %q", d.Attempts, tc.reason)
			}
		})
	}
	if n := rcv.hits.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
}

// TestDuplicateMessages: the same event message handled twice at once and
// once more later, and a job delivered twice, send nothing twice.
func TestDuplicateMessages(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,1s"})
	rcv := newReceiver(t, response{status: 500}, response{status: 200})
	ep, _ := h.endpoint(rcv.URL)
	h.publish(webhooks.RenderSucceeded, map[string]any{}, webhooks.Route{})
	msg := h.receive()
	if len(msg.Records) != 1 {
		t.Fatalf("%d messages", len(msg.Records))
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if resp, err := h.w.Handle(context.Background(), msg); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("Handle: %+v %v", resp, err)
			}
		})
	}
	wg.Wait()
	if _, err := h.w.Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if n := rcv.hits.Load(); n != 1 {
		t.Fatalf("%d requests for one event, want 1", n)
	}
	// The retry job, twice.
	time.Sleep(1100 * time.Millisecond)
	var job []byte
	deadline := time.Now().Add(5 * time.Second)
	for job == nil && time.Now().Before(deadline) {
		for _, r := range h.receive().Records {
			if r.MessageAttributes[webhooks.AttrKind].StringValue != nil {
				job = []byte(r.Body)
				msg = eventOf(r)
			}
		}
	}
	if job == nil {
		t.Fatal("no retry job on the queue")
	}
	for range 2 {
		wg.Go(func() { _, _ = h.w.Handle(context.Background(), msg) })
	}
	wg.Wait()
	if n := rcv.hits.Load(); n != 2 {
		t.Fatalf("%d requests after a duplicated retry job, want 2", n)
	}
	d := h.waitDelivery(ep.ID, time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	var j webhooks.Job
	_ = json.Unmarshal(job, &j)
	if d.AttemptCount != 2 || j.Attempts != 1 {
		t.Errorf("delivery %+v, job %+v", d, j)
	}
}

// loseClaimAnswers runs the first DynamoDB write of each kind that claims a
// delivery (its creation, a Claim) and loses its answer: the caller sees a
// 500, as after a timeout, and the SDK sends the write again, which then
// fails its own condition.
type loseClaimAnswers struct {
	next aws.HTTPClient
	mu   sync.Mutex
	lost map[string]bool
}

func (l *loseClaimAnswers) Do(r *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	if op != "PutItem" && op != "UpdateItem" || r.Body == nil {
		return l.next.Do(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	l.mu.Lock()
	lose := bytes.Contains(body, []byte(`"claim"`)) && !l.lost[op]
	if lose {
		l.lost[op] = true
	}
	l.mu.Unlock()
	resp, err := l.next.Do(r)
	if err != nil || !lose {
		return resp, err
	}
	_ = resp.Body.Close()
	return &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:    io.NopCloser(strings.NewReader(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"lost"}`)),
		Request: r}, nil
}

// TestLostClaimAnswers: a delivery whose creation, and a retry whose
// claim, went through with their answers lost are still attempted, once
// each.
func TestLostClaimAnswers(t *testing.T) {
	lose := &loseClaimAnswers{lost: map[string]bool{}}
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,1s",
		wrap: func(c aws.HTTPClient) aws.HTTPClient { lose.next = c; return lose }})
	rcv := newReceiver(t, response{status: 500}, response{status: 200})
	ep, _ := h.endpoint(rcv.URL)
	h.run(nil)
	h.publish(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_1"}, webhooks.Route{})
	d := h.waitDelivery(ep.ID, 20*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	if d.AttemptCount != 2 || rcv.hits.Load() != 2 {
		t.Errorf("delivery %+v after %d requests, want 2 attempts", d, rcv.hits.Load())
	}
	if !lose.lost["PutItem"] || !lose.lost["UpdateItem"] {
		t.Errorf("answers lost: %v", lose.lost)
	}
}

// TestVideoURL: the per-video webhookUrl gets render events signed with the
// environment's video-urls secret, shown once on first read.
func TestVideoURL(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true})
	rcv := newReceiver(t)
	h.run(nil)
	ev := h.publish(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_9"}, webhooks.Route{WebhookURL: rcv.URL + "/v"})
	got := rcv.wait(t, 10*time.Second)
	vu, err := h.st.VideoURLs(context.Background(), h.ws, "live")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := h.st.RevealOnce(context.Background(), vu)
	if err != nil || secret == "" {
		t.Fatalf("reveal: %q %v", secret, err)
	}
	if again, _ := h.st.RevealOnce(context.Background(), vu); again != "" {
		t.Error("the video-urls secret was shown twice")
	}
	if err := webhooksig.Verify(secret, got.header, got.body, time.Minute); err != nil {
		t.Fatal(err)
	}
	d := h.waitDelivery(webhooks.VideoURLsID, 5*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	if d.URL != rcv.URL+"/v" || d.EventID != ev.ID {
		t.Errorf("delivery %+v", d)
	}
}
