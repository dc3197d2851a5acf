package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// DefaultSchedule is when attempts happen, each delay counted from the
// previous attempt: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
// 20 h and 24 h later, about 75.6 hours in all (the Standard Webhooks
// example schedule). Svix's stops after 27.6 hours, the first eight of
// these; three days let a receiver down over a weekend still get every
// event, and recovery covers longer outages.
const DefaultSchedule = "0s,5s,5m,30m,2h,5h,10h,14h,20h,24h"

// Schedule holds the delay before each attempt; its length is the number
// of attempts.
type Schedule []time.Duration

// ParseSchedule reads a comma-separated list of Go durations whose first
// is 0 (the first attempt is made at once, by the fan-out itself).
func ParseSchedule(s string) (Schedule, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultSchedule
	}
	var out Schedule
	for i, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 0 || d > 24*time.Hour {
			return nil, fmt.Errorf("retry schedule %q: entry %d must be a duration from 0s to 24h", s, i+1)
		}
		out = append(out, d)
	}
	if out[0] != 0 || len(out) > 20 {
		return nil, fmt.Errorf("retry schedule %q: must start with 0s and have at most 20 entries", s)
	}
	return out, nil
}

// MaxDelay is SQS's longest message delay; longer waits hop: the message
// comes back early, sees its time has not come and goes back to sleep.
const MaxDelay = 15 * time.Minute

// Message attributes of jobs on the webhook queue (event messages have
// none of these).
const (
	AttrKind    = "kind"
	KindAttempt = "attempt"
	KindRecover = "recover"
)

// Job is one scheduled attempt of a delivery: the body of "attempt"
// messages on the webhook queue.
type Job struct {
	Workspace string `json:"ws"`
	Env       string `json:"env"`
	Endpoint  string `json:"endpoint"`
	Delivery  string `json:"delivery"`
	// Attempts is how many attempts the delivery has behind it: the claim
	// succeeds only then, so duplicates and superseded jobs do nothing.
	Attempts  int   `json:"attempts"`
	NotBefore int64 `json:"notBefore"` // unix ms
	// Manual marks a redelivery asked through the API: it runs whatever
	// the delivery's status.
	Manual bool `json:"manual,omitempty"`
}

// Queue puts jobs on the webhook queue.
type Queue struct {
	SQS Sender
	URL string
}

// Schedule sends j to run after wait (at most MaxDelay now; the rest hops).
func (q Queue) Schedule(ctx context.Context, j Job, wait time.Duration) error {
	if err := q.send(ctx, KindAttempt, j, wait); err != nil {
		return fmt.Errorf("schedule attempt %d of %s: %w", j.Attempts+1, j.Delivery, err)
	}
	return nil
}

// Recovery is a run of POST /v1/webhooks/{id}/recover: the body of
// "recover" messages on the webhook queue. The worker sends the
// unsuccessful deliveries of the endpoint whose events happened from Since to Until
// again, one at a time in event order, and queues the rest of the run
// (After the last one done) when its time is up.
type Recovery struct {
	ID        string `json:"id"`
	Workspace string `json:"ws"`
	Env       string `json:"env"`
	Endpoint  string `json:"endpoint"`
	Since     int64  `json:"since"` // unix ms
	Until     int64  `json:"until"` // unix ms: when it was asked
	After     string `json:"after,omitempty"`
}

// Recover queues (the rest of) a recovery.
func (q Queue) Recover(ctx context.Context, r Recovery) error {
	if err := q.send(ctx, KindRecover, r, 0); err != nil {
		return fmt.Errorf("queue recovery %s of %s: %w", r.ID, r.Endpoint, err)
	}
	return nil
}

func (q Queue) send(ctx context.Context, kind string, body any, wait time.Duration) error {
	if q.SQS == nil || q.URL == "" {
		return errors.New("no webhook queue")
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s job: %w", kind, err)
	}
	delay := min(max(wait, 0), MaxDelay)
	secs := int32((delay + time.Second - 1) / time.Second) // round up: never early
	_, err = q.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(raw)), DelaySeconds: secs,
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			AttrKind: {DataType: aws.String("String"), StringValue: aws.String(kind)},
		},
	})
	return err
}
