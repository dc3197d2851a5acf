package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/samtemplate"
)

// SQSLoop plays one Lambda event source mapping: it polls a queue, hands
// batches to the function, up to Concurrency invocations at once, and
// deletes what the function processed. Failed messages are left alone;
// they come back after the visibility timeout and the queue's own
// RedrivePolicy moves them to the DLQ after maxReceiveCount (moto
// implements redrive on receive, as SQS does).
type SQSLoop struct {
	Function string // logical ID, for logs
	Event    samtemplate.SQSEvent
	QueueURL string
	QueueARN string
	Region   string
	Handler  lambdas.SQSFunc
	Timeout  time.Duration // the function's timeout
	// Concurrency is how many invocations run at once, as the template
	// gives it (samtemplate.Function.Concurrency); 0 means 1.
	Concurrency int
	SQS         *sqs.Client
	Logger      *slog.Logger
	// WaitTime is the long-poll wait; short so shutdown is quick. 0 means 1 s.
	WaitTime time.Duration
}

// Run polls until ctx is cancelled, then waits for the invocations in
// flight. One poll runs at a time, and only while an invocation is free,
// as Lambda's pollers scale with the concurrency the mapping may use.
func (l *SQSLoop) Run(ctx context.Context) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("function", l.Function, "event", l.Event.EventName)
	free := make(chan struct{}, max(l.Concurrency, 1))
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		select {
		case free <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		batch, err := l.receive(ctx)
		if err != nil || len(batch) == 0 {
			<-free
			if err != nil && ctx.Err() == nil {
				log.Error("receive failed", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-free }()
			if err := l.handle(ctx, batch, log); err != nil && ctx.Err() == nil {
				log.Error("delete failed", "err", err)
			}
		})
	}
	return nil
}

// receive gathers up to BatchSize messages, waiting at most the batching
// window for more once the first one arrived, as Lambda does.
func (l *SQSLoop) receive(ctx context.Context) ([]sqstypes.Message, error) {
	size := l.Event.BatchSize
	if size <= 0 {
		size = 10
	}
	wait := l.WaitTime
	if wait <= 0 {
		wait = time.Second
	}
	var out []sqstypes.Message
	deadline := time.Time{}
	for len(out) < size {
		n := min(size-len(out), 10)
		w := int32(wait / time.Second)
		if len(out) > 0 {
			w = 0 // only top up what is already there
		}
		resp, err := l.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(l.QueueURL),
			MaxNumberOfMessages:         int32(n),
			WaitTimeSeconds:             w,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, fmt.Errorf("receive from %s: %w", l.QueueURL, err)
		}
		out = append(out, resp.Messages...)
		if len(out) == 0 {
			return nil, nil
		}
		if l.Event.MaxBatchingWindow <= 0 {
			return out, nil
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(time.Duration(l.Event.MaxBatchingWindow) * time.Second)
		}
		if time.Now().After(deadline) {
			return out, nil
		}
		if len(resp.Messages) == 0 {
			sleep(ctx, 100*time.Millisecond)
		}
	}
	return out, nil
}

// Record is the record Lambda's event source mapping hands a function for
// message m of the queue queueARN.
func Record(m sqstypes.Message, queueARN, region string) events.SQSMessage {
	rec := events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             m.Attributes,
		MessageAttributes:      map[string]events.SQSMessageAttribute{},
		EventSourceARN:         queueARN,
		EventSource:            "aws:sqs",
		AWSRegion:              region,
	}
	for k, a := range m.MessageAttributes {
		rec.MessageAttributes[k] = events.SQSMessageAttribute{
			StringValue:      a.StringValue,
			BinaryValue:      a.BinaryValue,
			StringListValues: a.StringListValues,
			BinaryListValues: a.BinaryListValues,
			DataType:         aws.ToString(a.DataType),
		}
	}
	return rec
}

func (l *SQSLoop) handle(ctx context.Context, batch []sqstypes.Message, log *slog.Logger) error {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(batch))}
	handles := make(map[string]string, len(batch))
	for _, m := range batch {
		handles[aws.ToString(m.MessageId)] = aws.ToString(m.ReceiptHandle)
		ev.Records = append(ev.Records, Record(m, l.QueueARN, l.Region))
	}
	resp, err := callSQS(ctx, l.Timeout, l.Handler, ev)
	if err != nil {
		// The whole batch failed: every message returns after its
		// visibility timeout.
		log.Error("function failed; batch returns to the queue", "messages", len(batch), "err", err)
		return nil
	}
	del := handles
	if l.Event.ReportBatchItemFailures && len(resp.BatchItemFailures) > 0 {
		del = make(map[string]string, len(handles))
		for k, v := range handles {
			del[k] = v
		}
		for _, f := range resp.BatchItemFailures {
			if _, ok := handles[f.ItemIdentifier]; !ok {
				// Lambda treats an unknown or empty identifier as a failure
				// of the whole batch.
				log.Error("batchItemFailures names an unknown message; batch returns to the queue", "itemIdentifier", f.ItemIdentifier)
				return nil
			}
			delete(del, f.ItemIdentifier)
		}
		log.Info("partial batch failure", "failed", len(resp.BatchItemFailures), "messages", len(batch))
	}
	// Deleting what succeeded must survive a shutdown that starts right now:
	// otherwise finished work would be delivered again.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return l.delete(dctx, del)
}

func (l *SQSLoop) delete(ctx context.Context, handles map[string]string) error {
	var entries []sqstypes.DeleteMessageBatchRequestEntry
	flush := func() error {
		if len(entries) == 0 {
			return nil
		}
		out, err := l.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(l.QueueURL), Entries: entries})
		entries = entries[:0]
		if err != nil {
			return fmt.Errorf("delete from %s: %w", l.QueueURL, err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("delete from %s: %d entries failed: %s", l.QueueURL, len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
		return nil
	}
	var errs []error
	for id, h := range handles {
		entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(id), ReceiptHandle: aws.String(h)})
		if len(entries) == 10 {
			errs = append(errs, flush())
		}
	}
	errs = append(errs, flush())
	return errors.Join(errs...)
}

func callSQS(ctx context.Context, to time.Duration, f lambdas.SQSFunc, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	ctx, cancel := withTimeout(ctx, to)
	defer cancel()
	defer recoverInto(&err)
	resp, err = f(ctx, ev)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return resp, err
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
