package keysapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/testenv"
)

// drain returns the events waiting on queue url as "type keyId" pairs with
// their ids.
func drain(t *testing.T, c *sqs.Client, url string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for {
		r, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			var ev struct {
				ID, Type string
				Data     struct {
					KeyID     string `json:"keyId"`
					ExpiresAt string `json:"expiresAt"`
				}
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				t.Fatal(err)
			}
			out[ev.Type+" "+ev.Data.KeyID] = ev.ID
			if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestKeyExpiringSevenAndOneDayBefore: the scheduled sweep sends
// key.expiring once 7 days and once 1 day before a key expires, not for a
// revoked key, and not again when it runs again.
func TestKeyExpiringSevenAndOneDayBefore(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	t0 := time.Date(2027, 5, 3, 10, 0, 0, 0, time.UTC)
	clock := testenv.NewClock(t0)
	st, err := keystore.Open(ctx, env.Deps("KeysFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := st.CreateWorkspace(ctx, "Expiring", ratelimit.DefaultPlan, ratelimit.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(7*24*time.Hour + 90*time.Minute)
	mk := func(name string) keystore.Key {
		k, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: name, Role: scopes.Render, ExpiresAt: &exp}, env.Operator(ws.ID))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	kept, revoked := mk("kept"), mk("revoked")
	if _, err := st.RevokeKey(ctx, ws.ID, apikey.Live, revoked.ID, env.Operator(ws.ID)); err != nil {
		t.Fatal(err)
	}
	d := env.Deps("KeyExpiryFunction", clock.Now)
	sweep, err := keysapi.NewExpiryWorker(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(env.AWS)
	queue := d.Getenv("EVENTS_QUEUE_URL")
	run := func() map[string]string {
		t.Helper()
		if err := sweep(ctx, events.EventBridgeEvent{DetailType: "Scheduled Event"}); err != nil {
			t.Fatal(err)
		}
		return drain(t, q, queue)
	}
	if got := run(); len(got) != 0 {
		t.Fatalf("nothing is due yet: %v", got)
	}
	clock.Advance(2 * time.Hour) // past exp - 7 days
	got := run()
	first, ok := got["key.expiring "+kept.ID]
	if len(got) != 1 || !ok {
		t.Fatalf("7 days before: %v", got)
	}
	if got := run(); len(got) != 0 {
		t.Fatalf("sent again: %v", got)
	}
	clock.Advance(6 * 24 * time.Hour) // past exp - 1 day
	got = run()
	second, ok := got["key.expiring "+kept.ID]
	if len(got) != 1 || !ok || second == first {
		t.Fatalf("1 day before: %v (first %s)", got, first)
	}
	if got := run(); len(got) != 0 {
		t.Fatalf("sent again: %v", got)
	}
}
