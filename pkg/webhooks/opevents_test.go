package webhooks_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/framegate/framegate/pkg/webhooks"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// TestOperationalEvents: endpoint A fails an event's every attempt, then
// answers 410. The workspace hears of both (webhook.message.exhausted,
// then webhook.endpoint.disabled) on the events queue and at endpoint B,
// subscribed to them; A itself, though subscribed to everything, gets
// neither, and C, subscribed to renders only, gets none.
func TestOperationalEvents(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,1s"})
	a := newReceiver(t, response{status: 500}, response{status: 500}, response{status: 410})
	b := newReceiver(t)
	c := newReceiver(t)
	epA, _ := h.endpoint(a.URL)
	epB, secretB := h.endpoint(b.URL, webhooks.MessageExhausted, webhooks.EndpointDisabled)
	h.endpoint(c.URL, webhooks.RenderSucceeded, webhooks.RenderFailed)
	h.run(nil)

	ev := h.publish(webhooks.RenderFailed, map[string]any{"videoId": "vid_x"}, webhooks.Route{})
	type opEvent struct {
		ID, Type string
		Data     map[string]any
	}
	next := func() opEvent {
		t.Helper()
		got := b.wait(t, 15*time.Second)
		if err := webhooksig.Verify(secretB, got.header, got.body, time.Minute); err != nil {
			t.Fatal(err)
		}
		var e opEvent
		if err := json.Unmarshal(got.body, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	ex := next()
	if ex.Type != webhooks.MessageExhausted || ex.Data["endpointId"] != epA.ID || ex.Data["eventId"] != ev.ID ||
		ex.Data["eventType"] != webhooks.RenderFailed || ex.Data["attempts"] != 2.0 || ex.Data["deliveryId"] != webhooks.DeliveryID(ev.ID, epA.ID) {
		t.Errorf("exhausted event %+v", ex)
	}
	if la, _ := ex.Data["lastAttempt"].(map[string]any); la["statusCode"] != 500.0 {
		t.Errorf("exhausted lastAttempt %v", ex.Data["lastAttempt"])
	}

	h.publish(webhooks.RenderFailed, map[string]any{"videoId": "vid_y"}, webhooks.Route{})
	dis := next()
	if dis.Type != webhooks.EndpointDisabled || dis.Data["endpointId"] != epA.ID || dis.Data["reason"] != webhooks.DisabledGone {
		t.Errorf("disabled event %+v", dis)
	}
	e, err := h.st.GetEndpoint(t.Context(), h.ws, "live", epA.ID)
	if err != nil || e.Enabled || e.DisabledReason != webhooks.DisabledGone {
		t.Fatalf("endpoint A %+v %v", e, err)
	}

	time.Sleep(2 * time.Second) // nothing else is on its way
	if n := a.hits.Load(); n != 3 {
		t.Errorf("A got %d requests, want 3 (its own two attempts and the 410): never its own operational events", n)
	}
	if n := b.hits.Load(); n != 2 {
		t.Errorf("B got %d requests, want 2", n)
	}
	if n := c.hits.Load(); n != 2 {
		t.Errorf("C got %d requests, want the 2 render events only", n)
	}
	var types []string
	for _, m := range recv(t, h.sqs, h.pub.EventsQueueURL, 4, 5*time.Second) {
		var e opEvent
		_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &e)
		types = append(types, e.Type)
	}
	for _, want := range []string{webhooks.MessageExhausted, webhooks.EndpointDisabled} {
		if !slices.Contains(types, want) {
			t.Errorf("events queue %v lacks %s", types, want)
		}
	}
	ds := h.waitDeliveries("live", epB.ID, 2, 5*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	if ids := []string{ds[0].EventID, ds[1].EventID}; !slices.Contains(ids, ex.ID) || !slices.Contains(ids, dis.ID) {
		t.Errorf("B's log %+v", ds)
	}
}

// TestExhaustedOperationalEventsStop: an operational event that exhausts
// its own retries causes no further event, so two failing endpoints cannot
// feed each other forever.
func TestExhaustedOperationalEventsStop(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s"})
	a := newReceiver(t, response{status: 500})
	b := newReceiver(t, response{status: 500})
	h.endpoint(a.URL)
	h.endpoint(b.URL)
	h.run(nil)
	h.publish(webhooks.RenderFailed, map[string]any{}, webhooks.Route{})
	// Each gets the event (1), then the other's exhausted event (2), and
	// nothing more.
	time.Sleep(5 * time.Second)
	if na, nb := a.hits.Load(), b.hits.Load(); na != 2 || nb != 2 {
		t.Errorf("requests: A %d, B %d; want 2 each", na, nb)
	}
}
