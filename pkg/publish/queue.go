package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/webhooks"
)

// MaxDelay is SQS's longest message delay. Waits longer than that hop: the
// message arrives early, the worker sees its time has not come and sends
// it again with the remaining delay, at most MaxDelay each time.
const MaxDelay = 15 * time.Minute

// Queue puts wake-up messages on the publish queue.
type Queue struct {
	SQS webhooks.Sender
	URL string
}

// Delay is how long SQS should hold a message due at due, seen at now:
// the remaining time, at most MaxDelay, rounded up to whole seconds so a
// message never arrives before its time when it is the last hop.
func Delay(due, now time.Time) time.Duration {
	d := min(max(due.Sub(now), 0), MaxDelay)
	return (d + time.Second - 1) / time.Second * time.Second
}

// Send queues m to arrive at its due time or MaxDelay from now, whichever
// comes first. now is the caller's clock, so tests that move the clock
// move the delays with it.
func (q Queue) Send(ctx context.Context, m Message, now time.Time) error {
	if q.SQS == nil || q.URL == "" {
		return errors.New("send publish message: no publish queue")
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode publish message: %w", err)
	}
	_, err = q.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(body)),
		DelaySeconds: int32(Delay(m.Due(), now) / time.Second)})
	if err != nil {
		return fmt.Errorf("send publish message of %s: %w", m.PublicationID, err)
	}
	return nil
}
