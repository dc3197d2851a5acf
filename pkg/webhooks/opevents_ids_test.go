package webhooks

import (
	"context"
	"testing"
	"time"
)

type pubRecorder struct {
	evs    []Event
	routes []Route
}

func (p *pubRecorder) Publish(_ context.Context, ev Event, r Route) error {
	p.evs, p.routes = append(p.evs, ev), append(p.routes, r)
	return nil
}

// TestOperationalEventIDs: an attempt retried after a crash publishes the
// very same operational event (receivers deduplicate on its id); every
// delivery that crosses the failing limit within one streak announces the
// same disablement; the endpoint concerned is excluded; operational events
// never announce their own exhaustion.
func TestOperationalEventIDs(t *testing.T) {
	rec := &pubRecorder{}
	w := &Worker{Events: rec, FailingLimit: time.Hour}
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ep := Endpoint{ID: "we_1", Workspace: "ws_1", Env: "live"}
	d1 := Delivery{ID: "dlv_1", EventID: "evt_1", EventType: RenderFailed, CreatedAt: t0, AttemptCount: 1}
	d2 := Delivery{ID: "dlv_2", EventID: "evt_2", EventType: RenderFailed, CreatedAt: t0.Add(time.Minute)}
	try1 := Result{Attempt: Attempt{At: t0.Add(time.Second), StatusCode: 500}}
	try2 := Result{Attempt: Attempt{At: t0.Add(time.Minute), StatusCode: 502}}
	ctx := context.Background()

	_ = w.exhausted(ctx, d1, ep, try1)
	_ = w.exhausted(ctx, d1, ep, try2) // the same attempt, retried
	_ = w.exhausted(ctx, Delivery{ID: "dlv_3", EventType: MessageExhausted, CreatedAt: t0}, ep, try1)
	if len(rec.evs) != 2 || rec.evs[0].ID != rec.evs[1].ID || rec.evs[0].Type != MessageExhausted {
		t.Fatalf("exhausted events %+v", rec.evs)
	}

	since := t0.Add(-2 * time.Hour)
	_ = w.publishDisabled(ctx, d1, ep, DisabledFailing, since, try1)
	_ = w.publishDisabled(ctx, d2, ep, DisabledFailing, since, try2) // another delivery, the same streak
	_ = w.publishDisabled(ctx, d1, ep, DisabledGone, since, try1)
	_ = w.publishDisabled(ctx, d1, ep, DisabledGone, since, try2)
	f1, f2, g1, g2 := rec.evs[2], rec.evs[3], rec.evs[4], rec.evs[5]
	if f1.ID != f2.ID || g1.ID != g2.ID || f1.ID == g1.ID || f1.Type != EndpointDisabled {
		t.Errorf("disabled events %s %s %s %s", f1.ID, f2.ID, g1.ID, g2.ID)
	}
	if f1.Timestamp != since.Add(time.Hour).Format(TimeFormat) {
		t.Errorf("failing: timestamp %s, want when the streak crossed the limit", f1.Timestamp)
	}
	for i, r := range rec.routes {
		if r.Exclude != ep.ID || r.Workspace != ep.Workspace || r.Environment != ep.Env {
			t.Errorf("event %d route %+v", i, r)
		}
	}
}
