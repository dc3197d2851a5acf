package videos

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/webhooks"
)

// S3Client is the S3 client of a config: path-style on the emulator, whose
// buckets are not DNS names.
func S3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = awsconf.UsesEmulator(cfg) })
}

// OpenStore builds the store from DATA_TABLE and KEYS_TABLE.
func OpenStore(d lambdas.Deps) (*Store, error) {
	d = d.WithDefaults()
	env, err := d.Require("DATA_TABLE", "KEYS_TABLE")
	if err != nil {
		return nil, fmt.Errorf("open video store: %w", err)
	}
	return NewStore(dynamodb.NewFromConfig(d.AWS), env["DATA_TABLE"], env["KEYS_TABLE"], d.Now)
}

// Open builds the service of the videos function from its environment
// (DATA_TABLE, KEYS_TABLE, RENDER_QUEUE_URL, and RENDERS_BUCKET for
// downloads and deletions).
func Open(ctx context.Context, d lambdas.Deps, templates Templates) (*Service, error) {
	return open(ctx, d, templates, "RENDER_QUEUE_URL", "RENDERS_BUCKET")
}

// openCreator builds the service of a function that only creates videos
// (the intake): no bucket.
func openCreator(ctx context.Context, d lambdas.Deps, templates Templates) (*Service, error) {
	return open(ctx, d, templates, "RENDER_QUEUE_URL")
}

func open(_ context.Context, d lambdas.Deps, templates Templates, names ...string) (*Service, error) {
	d = d.WithDefaults()
	env, err := d.Require(names...)
	if err != nil {
		return nil, fmt.Errorf("open videos: %w", err)
	}
	st, err := OpenStore(d)
	if err != nil {
		return nil, err
	}
	s3c := S3Client(d.AWS)
	as, err := assets.NewStore(dynamodb.NewFromConfig(d.AWS), d.Getenv("DATA_TABLE"), "", d.Now)
	if err != nil {
		return nil, err
	}
	return &Service{
		Store: st, Assets: as, Queue: sqs.NewFromConfig(d.AWS), QueueURL: env["RENDER_QUEUE_URL"],
		Objects: s3c, Presigner: s3.NewPresignClient(s3c), Bucket: env["RENDERS_BUCKET"],
		Templates: templates, Guard: webhooks.Guard(d.Getenv, nil), Logger: d.Logger, Now: d.Now,
	}, nil
}
