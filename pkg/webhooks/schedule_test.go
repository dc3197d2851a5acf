package webhooks

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		in   string
		want Schedule
		ok   bool
	}{
		{"", Schedule{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour,
			14 * time.Hour, 20 * time.Hour, 24 * time.Hour}, true},
		{"0s,1s,1s", Schedule{0, time.Second, time.Second}, true},
		{" 0s , 2s ", Schedule{0, 2 * time.Second}, true},
		{"0s", Schedule{0}, true},
		{"1s,1s", nil, false},
		{"0s,-1s", nil, false},
		{"0s,25h", nil, false},
		{"0s,soon", nil, false},
		{"0s" + strings.Repeat(",1s", 20), nil, false},
	}
	for _, tc := range tests {
		got, err := ParseSchedule(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSchedule(%q) err = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && !equal(got, tc.want) {
			t.Errorf("ParseSchedule(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestDefaultScheduleAgainstSvix is the comparison docs/webhooks.md
// states: Svix's schedule (at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
// 10 h: 27.6 hours) is where ours starts, and ours goes on past three days.
func TestDefaultScheduleAgainstSvix(t *testing.T) {
	svix := Schedule{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	ours, err := ParseSchedule(DefaultSchedule)
	if err != nil {
		t.Fatal(err)
	}
	total := func(s Schedule) (d time.Duration) {
		for _, x := range s {
			d += x
		}
		return d
	}
	if !equal(ours[:7], svix[:7]) || ours[7] < svix[7] {
		t.Errorf("ours %v does not start as Svix's %v", ours, svix)
	}
	if total(svix).Round(6*time.Minute) != 27*time.Hour+36*time.Minute || total(ours) < 72*time.Hour {
		t.Errorf("totals: Svix %s, ours %s (want at least 3 days)", total(svix), total(ours))
	}
}

func equal(a, b Schedule) bool {
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

type recorder struct {
	mu   sync.Mutex
	sent []*sqs.SendMessageInput
}

func (r *recorder) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, in)
	return &sqs.SendMessageOutput{}, nil
}

// TestHops: a job whose time is further than SQS's 15-minute delay goes
// back on the queue with the longest delay, untouched (no store call: the
// worker here has none), until its time comes.
func TestHops(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		wait      time.Duration
		wantDelay int32
	}{
		{10 * time.Hour, 900},
		{16 * time.Minute, 900},
		{14*time.Minute + 500*time.Millisecond, 841}, // rounded up, never early
		{2 * time.Second, 2},
	}
	for _, tc := range tests {
		rec := &recorder{}
		w := &Worker{Queue: Queue{SQS: rec, URL: "q"}, Now: func() time.Time { return now }}
		j := Job{Workspace: "w", Env: "live", Endpoint: "we_x", Delivery: "dlv_x", Attempts: 3, NotBefore: now.Add(tc.wait).UnixMilli()}
		body, _ := json.Marshal(j)
		kind := KindAttempt
		resp, err := w.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{
			MessageId: "m1", Body: string(body),
			MessageAttributes: map[string]events.SQSMessageAttribute{AttrKind: {StringValue: &kind, DataType: "String"}},
		}}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("wait %s: %+v %v", tc.wait, resp, err)
		}
		if len(rec.sent) != 1 || rec.sent[0].DelaySeconds != tc.wantDelay {
			t.Fatalf("wait %s: sent %+v, want one message delayed %d s", tc.wait, rec.sent, tc.wantDelay)
		}
		var back Job
		if err := json.Unmarshal([]byte(aws.ToString(rec.sent[0].MessageBody)), &back); err != nil || back != j {
			t.Errorf("wait %s: job came back as %+v (%v)", tc.wait, back, err)
		}
	}
}

func TestDeliveryID(t *testing.T) {
	const evt = "evt_01m8adgpjgm0xy9vfz7n6cmbgd"
	a, b := DeliveryID(evt, "we_1"), DeliveryID(evt, "we_2")
	if a == b || a != DeliveryID(evt, "we_1") {
		t.Fatalf("ids %s %s", a, b)
	}
	if a[4:14] != evt[4:14] {
		t.Errorf("%s does not start with the event's time digits %s", a, evt[4:14])
	}
	if c := DeliveryID("not-an-event-id", "we_1"); len(c) != len(a) {
		t.Errorf("fallback id %q", c)
	}
}
