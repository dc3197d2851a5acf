package webhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/lambdas"
)

// Environment variables (template.yaml sets them).
const (
	EnvTable         = "DATA_TABLE"
	EnvKeySecret     = "WEBHOOK_KEY_SECRET_ARN"
	EnvQueue         = "WEBHOOK_QUEUE_URL"
	EnvAllowLoopback = "WEBHOOK_ALLOW_LOOPBACK" // operator setting: "true" for local stacks only
	EnvSchedule      = "WEBHOOK_RETRY_SCHEDULE" // empty: DefaultSchedule
	EnvEventsQueue   = "EVENTS_QUEUE_URL"       // the worker's operational events
	EnvBucket        = "RENDERS_BUCKET"         // the objects events link to
)

// Options are what tests may inject; the zero value is production.
type Options struct {
	// Resolver replaces DNS in the egress guard, and Dial the network
	// behind it (egress.Guard.Dial).
	Resolver egress.Resolver
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	Rand     io.Reader
	// FailingLimit replaces the 5 days after which a failing endpoint is
	// disabled.
	FailingLimit time.Duration
}

// OpenStore builds the store from the function's environment, reading the
// data key from Secrets Manager once.
func OpenStore(ctx context.Context, d lambdas.Deps, o Options) (*Store, error) {
	d = d.WithDefaults()
	table := d.Getenv(EnvTable)
	if table == "" {
		return nil, errors.New("open webhook store: " + EnvTable + " is not set")
	}
	c, err := LoadCipher(ctx, secretsmanager.NewFromConfig(d.AWS), d.Getenv(EnvKeySecret))
	if err != nil {
		return nil, err
	}
	return NewStore(dynamodb.NewFromConfig(d.AWS), table, c, StoreOptions{Now: d.Now, Rand: o.Rand})
}

// Guard is the egress policy of the function's environment: public
// addresses only, unless the operator allowed loopback (local stack, tests).
func Guard(getenv func(string) string, r egress.Resolver) *egress.Guard {
	return &egress.Guard{AllowLoopback: getenv(EnvAllowLoopback) == "true", Resolver: r, Timeout: Timeout}
}

// guard is Guard with o's test seams.
func (o Options) guard(getenv func(string) string) *egress.Guard {
	g := Guard(getenv, o.Resolver)
	g.Dial = o.Dial
	return g
}

// OpenQueue is the webhook queue of the function's environment.
func OpenQueue(d lambdas.Deps) (Queue, error) {
	u := d.Getenv(EnvQueue)
	if u == "" {
		return Queue{}, errors.New("open webhook queue: " + EnvQueue + " is not set")
	}
	return Queue{SQS: sqs.NewFromConfig(d.AWS), URL: u}, nil
}

// OpenPublisher is the publisher of the function's environment: both
// queues, EVENTS_QUEUE_URL and WEBHOOK_QUEUE_URL.
func OpenPublisher(d lambdas.Deps) (Publisher, error) {
	p := Publisher{SQS: sqs.NewFromConfig(d.AWS), EventsQueueURL: d.Getenv(EnvEventsQueue), WebhookQueueURL: d.Getenv(EnvQueue)}
	if p.EventsQueueURL == "" || p.WebhookQueueURL == "" {
		return Publisher{}, errors.New("open publisher: " + EnvEventsQueue + " and " + EnvQueue + " must be set")
	}
	return p, nil
}

// NewWorker is the constructor of functions/webhook-worker.
func NewWorker(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
	return Options{}.NewWorker(ctx, d)
}

// NewWorker is the constructor of functions/webhook-worker with o.
func (o Options) NewWorker(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
	w, err := OpenWorker(ctx, d, o)
	if err != nil {
		return nil, err
	}
	return w.Handle, nil
}

// OpenWorker wires a worker from the function's environment.
func OpenWorker(ctx context.Context, d lambdas.Deps, o Options) (*Worker, error) {
	d = d.WithDefaults()
	sched, err := ParseSchedule(d.Getenv(EnvSchedule))
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, d, o)
	if err != nil {
		return nil, err
	}
	q, err := OpenQueue(d)
	if err != nil {
		return nil, err
	}
	limit := o.FailingLimit
	if limit <= 0 {
		limit = FailingLimit
	}
	env, err := d.Require(EnvEventsQueue, EnvBucket)
	if err != nil {
		return nil, fmt.Errorf("open webhook worker: %w", err)
	}
	client := NewClient(o.guard(d.Getenv), d.Now)
	client.AWS = NewAWSSender(d.AWS)
	links := &Linker{Presigner: PresignClient(d.AWS), Bucket: env[EnvBucket], Now: d.Now}
	w := &Worker{Store: st, Client: client, Queue: q, Schedule: sched, Links: links,
		Events:       Publisher{SQS: q.SQS, EventsQueueURL: env[EnvEventsQueue], WebhookQueueURL: q.URL, Links: links},
		FailingLimit: limit, Now: d.Now, Log: d.Logger}
	return w, nil
}

// PresignClient signs GET URLs of the renders bucket (path-style on the
// emulator, whose buckets are not DNS names).
func PresignClient(cfg aws.Config) *s3.PresignClient {
	return s3.NewPresignClient(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = awsconf.UsesEmulator(cfg) }))
}
