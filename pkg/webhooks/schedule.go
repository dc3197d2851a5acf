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
// previous attempt: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
// 10 h later, about 27.6 hours in all, so a receiver down for a day still
// gets every event.
const DefaultSchedule = "0s,5s,5m,30m,2h,5h,10h,10h"

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
	if q.SQS == nil || q.URL == "" {
		return errors.New("schedule: no webhook queue")
	}
	body, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode job: %w", err)
	}
	delay := min(max(wait, 0), MaxDelay)
	secs := int32((delay + time.Second - 1) / time.Second) // round up: never early
	_, err = q.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(body)), DelaySeconds: secs,
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			AttrKind: {DataType: aws.String("String"), StringValue: aws.String(KindAttempt)},
		},
	})
	if err != nil {
		return fmt.Errorf("schedule attempt %d of %s: %w", j.Attempts+1, j.Delivery, err)
	}
	return nil
}
