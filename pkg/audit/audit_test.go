package audit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/webhooks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestAChangeNeedsAContext(t *testing.T) {
	log, err := audit.NewLog("audit", audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := audit.Target{Type: audit.TargetKey, ID: "key_x"}
	var none *audit.Change
	if _, err := none.Put("live", audit.KeyCreated, target, nil); err == nil {
		t.Error("a nil change wrote a record")
	}
	for name, c := range map[string]audit.Context{
		"no actor":     {Workspace: "ws_1", Env: "live"},
		"no workspace": {Env: "live", Actor: audit.Actor{Type: audit.ActorAPIKey, ID: "key_1"}},
	} {
		if _, err := log.For(c).Put("live", audit.KeyCreated, target, nil); err == nil {
			t.Errorf("%s: a record was built", name)
		}
	}
	ok := log.For(audit.Context{Workspace: "ws_1", Env: "live", Actor: audit.Actor{Type: audit.ActorAPIKey, ID: "key_1"}})
	if _, err := ok.Put("staging", audit.KeyCreated, target, nil); err == nil {
		t.Error("a record in an unknown environment")
	}
	if _, err := ok.Put("test", "", target, nil); err == nil {
		t.Error("a record without an action")
	}
	if _, err := ok.Put("test", audit.KeyCreated, target, nil); err != nil {
		t.Error(err)
	}
}

// TestListFiltersPagesAndExpires writes records through transactions, as
// the stores do, and reads them back: newest first, by action, actor,
// target and time range, in pages; a record past its 400 days is absent
// even though the emulator never deletes it; each committed record went
// to the events queue in the shape every framegate event has.
func TestListFiltersPagesAndExpires(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	getenv := env.Getenv("KeysFunction")
	table, queue := getenv(audit.EnvTable), getenv(audit.EnvEventsQueue)
	t0 := time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC)
	clock := testenv.NewClock(t0)
	q := sqs.NewFromConfig(env.AWS)
	log, err := audit.NewLog(table, audit.Options{Now: clock.Now, SQS: q, EventsQueueURL: queue})
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(env.AWS)
	write := func(actor, action, target string) {
		t.Helper()
		ch := log.For(audit.Context{Workspace: "ws_a", Env: "live", Actor: audit.Actor{Type: audit.ActorAPIKey, ID: actor},
			RequestID: "req", SourceIP: "203.0.113.9", UserAgent: "curl/8"})
		if err := ch.Transact(ctx, db, "live", action, audit.Target{Type: audit.TargetKey, ID: target}, map[string]string{"n": target}); err != nil {
			t.Fatal(err)
		}
		if len(ch.Done()) != 1 {
			t.Fatalf("done: %v", ch.Done())
		}
		clock.Advance(time.Minute)
	}
	write("key_old", audit.KeyCreated, "key_1") // t0: will expire
	clock.Advance(24 * time.Hour)
	for i := range 5 {
		write("key_a", audit.KeyCreated, "key_"+string(rune('2'+i)))
	}
	write("key_b", audit.KeyRevoked, "key_2")
	mid := clock.Now()
	write("key_b", audit.KeyRotated, "key_3")

	rd, err := audit.NewReader(db, table, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	list := func(f audit.Filter, after string, limit int) ([]audit.Record, string) {
		t.Helper()
		recs, next, err := rd.List(ctx, "ws_a", "live", f, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		return recs, next
	}
	all, _ := list(audit.Filter{}, "", 100)
	if len(all) != 8 || all[0].Action != audit.KeyRotated || all[7].Context.Actor.ID != "key_old" {
		t.Fatalf("all: %d records, first %+v", len(all), all[0])
	}
	r := all[0]
	if r.Context.SourceIP != "203.0.113.9" || r.Context.UserAgent != "curl/8" || r.Context.RequestID != "req" || r.Details["n"] != "key_3" {
		t.Errorf("record: %+v", r)
	}
	if recs, _ := list(audit.Filter{}, "", 100); len(recs) != 8 {
		t.Fatal(len(recs))
	}
	// Pages of 3: 3, 3, 2, and the cursor of the last page is empty.
	var seen []string
	after := ""
	for page := 0; ; page++ {
		recs, next := list(audit.Filter{}, after, 3)
		for _, r := range recs {
			seen = append(seen, r.ID)
		}
		if next == "" {
			break
		}
		after = next
		if page > 5 {
			t.Fatal("no end")
		}
	}
	if len(seen) != 8 || seen[0] != all[0].ID || seen[7] != all[7].ID {
		t.Fatalf("paged: %v", seen)
	}
	for name, tc := range map[string]struct {
		f    audit.Filter
		want int
	}{
		"action":         {audit.Filter{Action: audit.KeyCreated}, 6},
		"actor":          {audit.Filter{Actor: "key_b"}, 2},
		"target":         {audit.Filter{Target: "key_2"}, 2},
		"actor+action":   {audit.Filter{Actor: "key_b", Action: audit.KeyRevoked}, 1},
		"since":          {audit.Filter{Since: mid}, 1},
		"until":          {audit.Filter{Until: t0.Add(time.Hour)}, 1},
		"range":          {audit.Filter{Since: t0.Add(24 * time.Hour), Until: mid}, 7}, // inclusive
		"no such target": {audit.Filter{Target: "key_9"}, 0},
	} {
		if recs, _ := list(tc.f, "", 100); len(recs) != tc.want {
			t.Errorf("%s: %d records, want %d", name, len(recs), tc.want)
		}
	}
	// 400 days after the first record, it is gone for readers.
	clock.Advance(audit.Retention - 24*time.Hour)
	if recs, _ := list(audit.Filter{Actor: "key_old"}, "", 100); len(recs) != 0 {
		t.Errorf("an expired record is listed: %+v", recs)
	}
	if recs, _ := list(audit.Filter{}, "", 100); len(recs) != 7 {
		t.Errorf("%d records after the first expired, want 7", len(recs))
	}

	// The events queue has each record once, routable like any event.
	got := 0
	for {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queue, MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			attrs := map[string]string{}
			for k, v := range m.MessageAttributes {
				attrs[k] = aws.ToString(v.StringValue)
			}
			ev, route, err := webhooks.FromMessage(aws.ToString(m.Body), attrs)
			if err != nil || ev.Type != audit.EventType || route.Workspace != "ws_a" || route.Environment != "live" {
				t.Fatalf("event: %+v %+v %v", ev, route, err)
			}
			var v audit.View
			if err := json.Unmarshal(ev.Data, &v); err != nil || v.Object != "audit_event" || v.ID == "" {
				t.Fatalf("event data: %s", ev.Data)
			}
			got++
			_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &queue, ReceiptHandle: m.ReceiptHandle})
		}
	}
	if got != 8 {
		t.Errorf("%d records on the events queue, want 8", got)
	}
}
