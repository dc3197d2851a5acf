package devstack_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/samtemplate"
	"github.com/framegate/framegate/pkg/testenv"
)

// TestScheduleLoop: a Schedule event runs its function every period, with
// the event EventBridge sends, and a failing run does not stop the next.
func TestScheduleLoop(t *testing.T) {
	var runs atomic.Int64
	got := make(chan events.EventBridgeEvent, 10)
	l := &devstack.ScheduleLoop{
		Function: "SweeperFunction", Region: devstack.Region, Account: "123456789012",
		Schedule: samtemplate.Schedule{EventName: "Sweep", Expression: "rate(1 minute)", Every: 100 * time.Millisecond},
		Handler: func(_ context.Context, ev events.EventBridgeEvent) error {
			got <- ev
			if runs.Add(1) == 1 {
				return fmt.Errorf("first run fails")
			}
			return nil
		},
		Timeout: time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	start := time.Now()
	for range 3 {
		select {
		case ev := <-got:
			if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Region != devstack.Region || len(ev.Resources) != 1 {
				t.Errorf("event %+v", ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the schedule stopped running")
		}
	}
	cancel()
	<-done
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("three runs in %v: not one per period", el)
	}
}

// TestSQSLoopConcurrency: an event source runs up to its concurrency of
// invocations at once, and no more.
func TestSQSLoopConcurrency(t *testing.T) {
	env := testenv.New(t)
	c := sqs.NewFromConfig(env.AWS)
	q := env.Resources.ByID["RenderQueue"]
	for i := range 8 {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var running, peak, handled atomic.Int64
	l := &devstack.SQSLoop{
		Function: "RenderWorkerFunction", QueueURL: q.URL, QueueARN: q.ARN, Region: devstack.Region, Concurrency: 3,
		Event: samtemplate.SQSEvent{EventName: "Render", Queue: "RenderQueue", BatchSize: 1},
		Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(300 * time.Millisecond)
			handled.Add(int64(len(ev.Records)))
			return events.SQSEventResponse{}, nil
		},
		Timeout: time.Minute, SQS: c, Logger: testenv.Logger(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for handled.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if handled.Load() != 8 || peak.Load() != 3 {
		t.Errorf("handled %d of 8, at most %d at once; want all, 3 at once", handled.Load(), peak.Load())
	}
}
