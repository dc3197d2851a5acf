// Package lambdas holds the contract between a function's constructor and
// whatever runs it: the Lambda runtime (Start, which every
// functions/<name>/main.go calls), or the local stack and the tests, which
// run every function in one process.
package lambdas

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/framegate/framegate/pkg/awsconf"
)

// Deps is what a function constructor gets: one AWS config (clients are built
// from it once per cold start), its environment as declared in template.yaml,
// a logger and a clock.
type Deps struct {
	AWS    aws.Config
	Getenv func(string) string
	Logger *slog.Logger
	Now    func() time.Time
}

// The four handler shapes a function may have.
type (
	AuthorizerFunc func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)
	HTTPFunc       func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)
	SQSFunc        func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	// ScheduleFunc runs on an EventBridge schedule (a Schedule event).
	ScheduleFunc func(context.Context, events.EventBridgeEvent) error
)

// Handler is any of the four shapes.
type Handler interface {
	AuthorizerFunc | HTTPFunc | SQSFunc | ScheduleFunc
}

// Constructor builds one function's handler from its dependencies, once
// per cold start: New for handlers of the API, NewWorker for queue
// consumers.
type Constructor[H Handler] func(context.Context, Deps) (H, error)

// Function is how a function is run: its AWS client options, the
// environment variables it reads, and its one typed constructor (exactly
// one of Authorizer, HTTP, SQS, Schedule is set). The local stack builds every
// function from one, so it runs the same code with the same timeouts as
// functions/<name>/main.go does on Lambda.
type Function struct {
	AWS        awsconf.Options
	Env        []string
	Authorizer Constructor[AuthorizerFunc]
	HTTP       Constructor[HTTPFunc]
	SQS        Constructor[SQSFunc]
	Schedule   Constructor[ScheduleFunc]
}

// Require reads variables of the function's environment that must be set.
func (d Deps) Require(names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, name := range names {
		v := d.Getenv(name)
		if v == "" {
			return nil, fmt.Errorf("%s is not set", name)
		}
		out[name] = v
	}
	return out, nil
}

// WithDefaults fills the clock and logger when a caller left them empty.
func (d Deps) WithDefaults() Deps {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Getenv == nil {
		d.Getenv = func(string) string { return "" }
	}
	return d
}

// EachMessage runs handle on every message of a batch at once and reports
// those it failed on, so that SQS retries only them (ReportBatchItemFailures).
func EachMessage(ev events.SQSEvent, handle func(events.SQSMessage) error) events.SQSEventResponse {
	var (
		mu   sync.Mutex
		resp events.SQSEventResponse
		wg   sync.WaitGroup
	)
	for _, rec := range ev.Records {
		wg.Go(func() {
			if err := handle(rec); err != nil {
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return resp
}
