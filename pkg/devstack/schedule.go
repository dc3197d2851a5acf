package devstack

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/samtemplate"
)

// ScheduleLoop plays one Schedule event: every Schedule.Every it invokes
// the function with the event EventBridge would send, the first time one
// period after it starts, as a new rule does. A failed run is logged and
// the next one runs on time, as EventBridge does after its retries.
type ScheduleLoop struct {
	Function string // logical ID, for logs and the rule's name
	Schedule samtemplate.Schedule
	Region   string
	Account  string
	Handler  lambdas.ScheduleFunc
	Timeout  time.Duration // the function's timeout
	Logger   *slog.Logger
	Now      func() time.Time
}

// Run invokes the function on schedule until ctx is cancelled.
func (l *ScheduleLoop) Run(ctx context.Context) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("function", l.Function, "event", l.Schedule.EventName)
	t := time.NewTicker(l.Schedule.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := callSchedule(ctx, l.Timeout, l.Handler, l.Event()); err != nil && ctx.Err() == nil {
			log.Error("scheduled run failed", "err", err)
		}
	}
}

// Event is the event of one scheduled run.
func (l *ScheduleLoop) Event() events.EventBridgeEvent {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	return events.EventBridgeEvent{
		Version: "0", ID: "local-" + now().UTC().Format("20060102T150405.000"), DetailType: "Scheduled Event", Source: "aws.events",
		AccountID: l.Account, Time: now().UTC(), Region: l.Region,
		Resources: []string{"arn:aws:events:" + l.Region + ":" + l.Account + ":rule/" + l.Function + "-" + l.Schedule.EventName},
		Detail:    json.RawMessage(`{}`),
	}
}

func callSchedule(ctx context.Context, to time.Duration, f lambdas.ScheduleFunc, ev events.EventBridgeEvent) (err error) {
	ctx, cancel := withTimeout(ctx, to)
	defer cancel()
	defer recoverInto(&err)
	return f(ctx, ev)
}
