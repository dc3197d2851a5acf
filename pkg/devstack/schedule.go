package devstack

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/samtemplate"
)

// ScheduleLoop plays EventBridge for one Schedule event: it invokes the
// function once when the stack starts (so `make dev` shows the effect at
// once) and then every Event.Every, with the "Scheduled Event" EventBridge
// sends.
type ScheduleLoop struct {
	Function string
	Event    samtemplate.Schedule
	Handler  lambdas.ScheduleFunc
	Timeout  time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Run invokes the function on schedule until ctx is done.
func (l *ScheduleLoop) Run(ctx context.Context) {
	t := time.NewTicker(l.Event.Every)
	defer t.Stop()
	for {
		l.invoke(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *ScheduleLoop) invoke(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	ev := events.EventBridgeEvent{Version: "0", ID: newUUID(), DetailType: "Scheduled Event", Source: "aws.events",
		Region: Region, Time: l.Now().UTC(), Detail: []byte("{}")}
	if err := l.Handler(ctx, ev); err != nil && ctx.Err() == nil {
		l.Logger.Error("scheduled invocation failed", "function", l.Function, "event", l.Event.EventName, "err", err)
	}
}
