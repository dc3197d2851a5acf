package assets

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/render"
	"github.com/framegate/framegate/pkg/webhooks"
)

// S3Client is the S3 client of a config: path-style on the emulator, whose
// buckets are not DNS names.
func S3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = awsconf.UsesEmulator(cfg) })
}

// Open builds the service of functions/assets from its environment
// (DATA_TABLE, KEYS_TABLE for quotas, ASSETS_BUCKET).
func Open(_ context.Context, d lambdas.Deps) (*Service, error) {
	d = d.WithDefaults()
	env, err := d.Require("DATA_TABLE", "KEYS_TABLE", "ASSETS_BUCKET")
	if err != nil {
		return nil, fmt.Errorf("open assets: %w", err)
	}
	st, err := NewStore(dynamodb.NewFromConfig(d.AWS), env["DATA_TABLE"], env["KEYS_TABLE"], d.Now)
	if err != nil {
		return nil, err
	}
	c := S3Client(d.AWS)
	return &Service{Store: st, Objects: c, Signer: NewSigner(d.AWS, c, d.Now), Bucket: env["ASSETS_BUCKET"], Logger: d.Logger, Now: d.Now}, nil
}

// NewWorker is the constructor of functions/asset-worker: ffprobe from the
// layer's /opt/bin or PATH.
func NewWorker(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
	_, ffprobe, err := render.FindFFmpeg()
	if err != nil {
		return nil, fmt.Errorf("asset worker: %w", err)
	}
	w, err := OpenWorker(ctx, d, ffprobe)
	if err != nil {
		return nil, err
	}
	return w.Handle, nil
}

// OpenWorker builds the ingestion worker from its environment (DATA_TABLE,
// ASSETS_BUCKET, EVENTS_QUEUE_URL, WEBHOOK_QUEUE_URL).
func OpenWorker(_ context.Context, d lambdas.Deps, ffprobe string) (*Worker, error) {
	d = d.WithDefaults()
	env, err := d.Require("DATA_TABLE", "ASSETS_BUCKET", "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL")
	if err != nil {
		return nil, fmt.Errorf("asset worker: %w", err)
	}
	st, err := NewStore(dynamodb.NewFromConfig(d.AWS), env["DATA_TABLE"], "", d.Now)
	if err != nil {
		return nil, err
	}
	c := S3Client(d.AWS)
	return &Worker{
		Store: st, Objects: c, Presign: s3.NewPresignClient(c), Bucket: env["ASSETS_BUCKET"], FFprobe: ffprobe,
		Events: webhooks.Publisher{SQS: sqs.NewFromConfig(d.AWS), EventsQueueURL: env["EVENTS_QUEUE_URL"], WebhookQueueURL: env["WEBHOOK_QUEUE_URL"]},
		Logger: d.Logger, Now: d.Now,
	}, nil
}

func isNoSuchUpload(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}
