package videos

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/webhooks"
)

// NewWorker is the constructor of functions/render-worker: ffmpeg from the
// layer's /opt/bin or PATH, scratch space in the function's /tmp.
func NewWorker(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
	r, err := FFmpegRenderer()
	if err != nil {
		return nil, err
	}
	w, err := OpenWorker(ctx, d, r)
	if err != nil {
		return nil, err
	}
	return w.Handle, nil
}

// NewDLQWorker is the constructor of functions/render-dlq.
func NewDLQWorker(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
	q, err := OpenDLQWorker(ctx, d)
	if err != nil {
		return nil, err
	}
	return q.Handle, nil
}

// OpenWorker builds a worker rendering with r from the function's environment
// (DATA_TABLE, KEYS_TABLE, RENDER_QUEUE_URL, EVENTS_QUEUE_URL,
// WEBHOOK_QUEUE_URL, RENDERS_BUCKET, ASSETS_BUCKET, and RENDER_LEASE_SECONDS,
// the lease and heartbeat period, default 60).
func OpenWorker(_ context.Context, d lambdas.Deps, r Renderer) (*Worker, error) {
	d = d.WithDefaults()
	if r == nil {
		return nil, fmt.Errorf("render worker: a renderer is required")
	}
	env, err := d.Require("RENDER_QUEUE_URL", "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL", "RENDERS_BUCKET", "ASSETS_BUCKET")
	if err != nil {
		return nil, fmt.Errorf("render worker: %w", err)
	}
	var lease time.Duration
	if v := d.Getenv("RENDER_LEASE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > 900 {
			return nil, fmt.Errorf("render worker: RENDER_LEASE_SECONDS %q: want 2 to 900 seconds", v)
		}
		lease = time.Duration(n) * time.Second
	}
	st, err := OpenStore(d)
	if err != nil {
		return nil, err
	}
	q := sqs.NewFromConfig(d.AWS)
	as, err := assets.NewStore(dynamodb.NewFromConfig(d.AWS), d.Getenv("DATA_TABLE"), "", d.Now)
	if err != nil {
		return nil, err
	}
	w := &Worker{
		Store: st, Queue: q, QueueURL: env["RENDER_QUEUE_URL"],
		Events:  emitter(q, env, d),
		Objects: S3Client(d.AWS), Bucket: env["RENDERS_BUCKET"], AssetsBucket: env["ASSETS_BUCKET"], Assets: as,
		Render: r, Logger: d.Logger, LeaseTTL: lease,
	}
	w.defaults()
	return w, nil
}

// OpenDLQWorker builds the DLQ handler from the function's environment
// (DATA_TABLE, KEYS_TABLE, EVENTS_QUEUE_URL, WEBHOOK_QUEUE_URL).
func OpenDLQWorker(_ context.Context, d lambdas.Deps) (*DLQ, error) {
	d = d.WithDefaults()
	env, err := d.Require("EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL")
	if err != nil {
		return nil, fmt.Errorf("render dlq: %w", err)
	}
	st, err := OpenStore(d)
	if err != nil {
		return nil, err
	}
	return &DLQ{
		Store:  st,
		Events: emitter(sqs.NewFromConfig(d.AWS), env, d),
		Logger: d.Logger,
	}, nil
}

// emitter publishes to the events queue and the webhook queue.
func emitter(q *sqs.Client, env map[string]string, d lambdas.Deps) *Emitter {
	em := &Emitter{
		Publisher: webhooks.Publisher{SQS: q, EventsQueueURL: env["EVENTS_QUEUE_URL"], WebhookQueueURL: env["WEBHOOK_QUEUE_URL"]},
		Now:       d.Now,
	}
	if b := env["RENDERS_BUCKET"]; b != "" {
		em.Publisher.Links = &webhooks.Linker{Presigner: s3.NewPresignClient(S3Client(d.AWS)), Bucket: b, Now: d.Now}
	}
	return em
}
