package publish

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/idempotency"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/videos"
	"github.com/framegate/framegate/pkg/webhooks"
)

// Environment variables (template.yaml sets them), besides DATA_TABLE,
// KEYS_TABLE and the webhook settings of package delivery.
const (
	EnvQueue         = "PUBLISH_QUEUE_URL"
	EnvEventsQueue   = "EVENTS_QUEUE_URL"
	EnvWebhookQueue  = "WEBHOOK_QUEUE_URL"
	EnvRendersBucket = "RENDERS_BUCKET"
)

// Options are what tests may inject; the zero value is production.
type Options struct {
	// Resolver replaces DNS in the egress guard.
	Resolver egress.Resolver
	// QueueSQS replaces the SQS client that sends to the publish queue
	// (tests record the delays and deliver at once).
	QueueSQS webhooks.Sender
}

func openQueue(d lambdas.Deps, o Options) (Queue, error) {
	u := d.Getenv(EnvQueue)
	if u == "" {
		return Queue{}, errors.New("open publish queue: " + EnvQueue + " is not set")
	}
	q := Queue{SQS: o.QueueSQS, URL: u}
	if q.SQS == nil {
		q.SQS = sqs.NewFromConfig(d.AWS)
	}
	return q, nil
}

func openStore(d lambdas.Deps) (*Store, error) {
	table := d.Getenv(webhooks.EnvTable)
	if table == "" {
		return nil, errors.New("open publish store: " + webhooks.EnvTable + " is not set")
	}
	return NewStore(dynamodb.NewFromConfig(d.AWS), table, d.Now)
}

// New is the constructor of functions/publish.
func New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) { return Options{}.New(ctx, d) }

// New is the constructor of functions/publish with o.
func (o Options) New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	st, err := openStore(d)
	if err != nil {
		return nil, err
	}
	vs, err := videos.OpenStore(d)
	if err != nil {
		return nil, err
	}
	// The API reads connections but never their secrets: no data key.
	cs, err := connections.OpenStore(ctx, d, false)
	if err != nil {
		return nil, err
	}
	q, err := openQueue(d, o)
	if err != nil {
		return nil, err
	}
	idem, err := idempotency.NewStore(dynamodb.NewFromConfig(d.AWS), d.Getenv(webhooks.EnvTable), d.Now)
	if err != nil {
		return nil, err
	}
	log, err := audit.Open(d)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), &API{Store: st, Videos: vs, Connections: cs, Queue: q, Idempotency: idem,
		Audit: log, Log: d.Logger, Now: d.Now}), nil
}

// NewWorker is the constructor of functions/publish-worker.
func NewWorker(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
	return Options{}.NewWorker(ctx, d)
}

// NewWorker is the constructor of functions/publish-worker with o.
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
	env, err := d.Require(EnvEventsQueue, EnvWebhookQueue, EnvRendersBucket)
	if err != nil {
		return nil, fmt.Errorf("open publish worker: %w", err)
	}
	sched, err := webhooks.ParseSchedule(d.Getenv(webhooks.EnvSchedule))
	if err != nil {
		return nil, err
	}
	st, err := openStore(d)
	if err != nil {
		return nil, err
	}
	vs, err := videos.OpenStore(d)
	if err != nil {
		return nil, err
	}
	cs, err := connections.OpenStore(ctx, d, true)
	if err != nil {
		return nil, err
	}
	q, err := openQueue(d, o)
	if err != nil {
		return nil, err
	}
	s3c := videos.S3Client(d.AWS)
	return &Worker{
		Store: st, Connections: cs, Videos: vs, Queue: q,
		Events:   webhooks.Publisher{SQS: sqs.NewFromConfig(d.AWS), EventsQueueURL: env[EnvEventsQueue], WebhookQueueURL: env[EnvWebhookQueue]},
		Webhooks: webhooks.NewClient(webhooks.Guard(d.Getenv, o.Resolver), d.Now),
		S3:       NewCopier(d.AWS, s3c),
		Links:    &webhooks.Linker{Presigner: s3.NewPresignClient(s3c), Bucket: env[EnvRendersBucket], Now: d.Now},
		Bucket:   env[EnvRendersBucket], Schedule: sched, Now: d.Now, Log: d.Logger,
	}, nil
}
