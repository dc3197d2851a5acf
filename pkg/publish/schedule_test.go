package publish_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/publish"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/webhooks"
	"github.com/framegate/framegate/pkg/webhooksig"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestDelay(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		due  time.Time
		want time.Duration
	}{
		{"past", t0.Add(-time.Hour), 0},
		{"now", t0, 0},
		{"rounds up, never early", t0.Add(1500 * time.Millisecond), 2 * time.Second},
		{"within one hop", t0.Add(14 * time.Minute), 14 * time.Minute},
		{"exactly one hop", t0.Add(15 * time.Minute), 15 * time.Minute},
		{"beyond: one full hop", t0.Add(2 * time.Hour), 15 * time.Minute},
		{"thirty days", t0.Add(30 * 24 * time.Hour), 15 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := publish.Delay(tc.due, t0); got != tc.want {
				t.Errorf("Delay = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestWhen(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name    string
		in      *string
		want    time.Time
		invalid bool
	}{
		{"absent is now", nil, t0, false},
		{"ahead", str("2030-01-01T14:00:00Z"), t0.Add(2 * time.Hour), false},
		{"offset", str("2030-01-01T14:00:00+02:00"), t0, false},
		{"within the skew is now", str("2030-01-01T11:59:30Z"), t0, false},
		{"past beyond the skew", str("2030-01-01T11:58:00Z"), time.Time{}, true},
		{"exactly thirty days", str("2030-01-31T12:00:00Z"), t0.Add(publish.MaxAhead), false},
		{"beyond thirty days", str("2030-01-31T12:00:01Z"), time.Time{}, true},
		{"not a time", str("tomorrow"), time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := publish.Request{PublishAt: tc.in}.When(t0)
			if tc.invalid {
				if err == nil || !containsField(err, "/publishAt") {
					t.Fatalf("err = %v, want a 400 on /publishAt", err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("When = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// recordingSQS records the delay of every message sent to the publish
// queue and delivers it at once: the test plays SQS's delay by moving the
// clock, instead of sleeping 15 minutes per hop.
type recordingSQS struct {
	inner  *sqs.Client
	mu     sync.Mutex
	delays []time.Duration
}

func (r *recordingSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, o ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	r.mu.Lock()
	r.delays = append(r.delays, time.Duration(in.DelaySeconds)*time.Second)
	r.mu.Unlock()
	cp := *in
	cp.DelaySeconds = 0
	return r.inner.SendMessage(ctx, &cp, o...)
}

func (r *recordingSQS) last() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delays[len(r.delays)-1]
}

func (r *recordingSQS) all() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

// TestScheduledPublication drives the API handler and the worker with an
// injected clock: the publication's message hops in 15-minute steps, the
// clock moves by each hop's delay, and at its time the publication fires
// once, even when its last message arrives twice; one cancelled before its
// time never fires.
func TestScheduledPublication(t *testing.T) {
	for _, tc := range []struct {
		name string
		// cancelAfter cancels the publication after that many hops (-1: never).
		cancelAfter int
	}{
		{"fires once at its time, duplicates included", -1},
		{"cancelled before its time never fires", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Now().UTC().Truncate(time.Second)
			clock := testenv.NewClock(t0)
			env := testenv.New(t)
			rec := &recordingSQS{inner: sqs.NewFromConfig(env.AWS)}
			ws := "ws_" + env.Prefix

			apiDeps := env.Deps("PublishFunction", clock.Now)
			api, err := publish.Options{QueueSQS: rec}.New(ctx, apiDeps)
			if err != nil {
				t.Fatal(err)
			}
			wd := env.Deps("PublishWorkerFunction", clock.Now)
			base := wd.Getenv
			wd.Getenv = func(k string) string {
				if k == webhooks.EnvAllowLoopback {
					return "true"
				}
				return base(k)
			}
			w, err := publish.OpenWorker(ctx, wd, publish.Options{QueueSQS: rec})
			if err != nil {
				t.Fatal(err)
			}

			rcv := testenv.NewReceiver(t, http.StatusOK)
			cs, err := connections.OpenStore(ctx, wd, true)
			if err != nil {
				t.Fatal(err)
			}
			conn, secret, err := cs.Create(ctx, ws, "live", connections.Spec{Type: connections.TypeWebhook, URL: rcv.URL + "/catch"}, env.Operator(ws))
			if err != nil {
				t.Fatal(err)
			}
			v := testenv.SucceededVideo(t, env.AWS, wd.Getenv, ws, apikey.Live, clock.Now, []byte("not really an mp4"))

			call := func(method, resource string, params map[string]string, body any) (int, map[string]any) {
				t.Helper()
				b, _ := json.Marshal(body)
				ctxv := ratelimit.Verdict{Outcome: ratelimit.Allow, Workspace: ws, Env: "live", KeyID: "key_test",
					KeyLimit: ratelimit.Limit{Name: "key", Limit: 100, Remaining: 99, Window: 60}}.Context()
				resp, err := api(ctx, events.APIGatewayProxyRequest{HTTPMethod: method, Resource: resource, PathParameters: params,
					Body: string(b), RequestContext: events.APIGatewayProxyRequestContext{RequestID: "r1", Authorizer: ctxv}})
				if err != nil {
					t.Fatal(err)
				}
				var out map[string]any
				_ = json.Unmarshal([]byte(resp.Body), &out)
				return resp.StatusCode, out
			}
			list := func() map[string]any {
				t.Helper()
				code, out := call("GET", "/videos/{id}/publications", map[string]string{"id": v.ID}, nil)
				if code != 200 {
					t.Fatalf("list: %d %v", code, out)
				}
				data, _ := out["data"].([]any)
				if len(data) != 1 {
					t.Fatalf("list: %v", out)
				}
				return data[0].(map[string]any)
			}

			due := t0.Add(2 * time.Hour)
			code, p := call("POST", "/videos/{id}/publish", map[string]string{"id": v.ID},
				map[string]any{"connectionId": conn.ID, "publishAt": due.Format(time.RFC3339)})
			if code != http.StatusAccepted || p["status"] != "scheduled" || p["publishAt"] != due.Format(connections.TimeFormat) {
				t.Fatalf("publish: %d %v", code, p)
			}
			pubID := p["id"].(string)
			queueURL := wd.Getenv(publish.EnvQueue)
			client := sqs.NewFromConfig(env.AWS)

			// Each round: the message SQS would hold for its delay arrives
			// once the clock has moved by that delay.
			hops := 0
			for round := 0; ; round++ {
				if round > 20 {
					t.Fatal("the publication never came due")
				}
				msgs := drain(t, client, queueURL)
				if len(msgs) == 0 {
					break
				}
				if len(msgs) != 1 {
					t.Fatalf("round %d: %d messages on the publish queue, want 1", round, len(msgs))
				}
				clock.Advance(rec.last())
				batch := events.SQSEvent{Records: msgs}
				if !clock.Now().Before(due) {
					// The last hop: SQS delivers it twice, in one batch and again.
					batch.Records = append(batch.Records, msgs[0])
				}
				for range 1 + boolInt(!clock.Now().Before(due)) {
					resp, err := w.Handle(ctx, batch)
					if err != nil || len(resp.BatchItemFailures) > 0 {
						t.Fatalf("round %d: handle: %v %v", round, resp, err)
					}
				}
				if clock.Now().Before(due) {
					hops++
					if rcv.Count() != 0 {
						t.Fatalf("fired %s early", due.Sub(clock.Now()))
					}
					if s := list()["status"]; s != "scheduled" && s != "cancelled" {
						t.Fatalf("before its time the publication is %v", s)
					}
				}
				if hops == tc.cancelAfter {
					code, c := call("DELETE", "/videos/{id}/publications/{publicationId}", map[string]string{"id": v.ID, "publicationId": pubID}, nil)
					if code != 200 || c["status"] != "cancelled" || c["cancelledAt"] == nil {
						t.Fatalf("cancel: %d %v", code, c)
					}
					tc.cancelAfter = -2 // once
				}
			}

			// 2 h in 15-minute steps: the API's send and seven hops, every one
			// the longest delay SQS allows, and the clock ends on the due time.
			want := []time.Duration{}
			for range 8 {
				want = append(want, publish.MaxDelay)
			}
			if got := rec.all(); !equalDurations(got, want) {
				t.Errorf("delays %v, want %v", got, want)
			}
			if !clock.Now().Equal(due) {
				t.Errorf("the last message arrived at %s, due %s", clock.Now(), due)
			}
			evs := eventsOf(t, drain(t, client, wd.Getenv(publish.EnvEventsQueue)), webhooks.PublishExecuted)
			final := list()
			if tc.cancelAfter != -1 {
				if rcv.Count() != 0 || final["status"] != "cancelled" || len(evs) != 0 {
					t.Fatalf("cancelled publication: %d webhooks, %v, %d events", rcv.Count(), final, len(evs))
				}
				return
			}
			if n := rcv.Count(); n != 1 {
				t.Fatalf("%d webhooks, want exactly 1", n)
			}
			got := rcv.Wait(t)
			if err := webhooksig.VerifyAt(secret, got.Header, got.Body, 0, clock.Now()); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if final["status"] != "executed" || final["executedAt"] != due.Format(connections.TimeFormat) || final["attempts"] != float64(1) {
				t.Errorf("publication %v", final)
			}
			// A duplicate racing the claimer may publish the event again, with
			// the same id (consumers deduplicate on it); never another event.
			if ids := distinctIDs(evs); len(ids) != 1 || evs[0]["data"].(map[string]any)["publicationId"] != pubID {
				t.Errorf("publish.executed events %v, want one for %s", evs, pubID)
			}
			// Executed: no longer cancellable.
			if code, _ := call("DELETE", "/videos/{id}/publications/{publicationId}", map[string]string{"id": v.ID, "publicationId": pubID}, nil); code != http.StatusConflict {
				t.Errorf("cancel after execution: %d, want 409", code)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func distinctIDs(evs []map[string]any) map[any]bool {
	out := map[any]bool{}
	for _, e := range evs {
		out[e["id"]] = true
	}
	return out
}

// TestDestinationKeyFollowsTheFormat: a webm or gif render lands in the
// customer's bucket under its own extension, not as .mp4.
func TestDestinationKeyFollowsTheFormat(t *testing.T) {
	c := connections.Connection{Prefix: "exports/"}
	for key, want := range map[string]string{
		"renders/live/ws/vid_1.mp4":  "exports/vid_1.mp4",
		"renders/live/ws/vid_1.webm": "exports/vid_1.webm",
		"renders/test/ws/vid_1.gif":  "exports/vid_1.gif",
		"renders/live/ws/vid_1":      "exports/vid_1.mp4",
	} {
		if got := publish.DestinationKey(c, "vid_1", key); got != want {
			t.Errorf("DestinationKey of %s = %s, want %s", key, got, want)
		}
	}
}
