package videos

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
)

// Env reads required variables of a function's environment.
func Env(d lambdas.Deps, names ...string) (map[string]string, error) {
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

// S3Client is the S3 client of a config: path-style on the emulator, whose
// buckets are not DNS names.
func S3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = awsconf.UsesEmulator(cfg) })
}

// OpenStore builds the store from DATA_TABLE and KEYS_TABLE.
func OpenStore(d lambdas.Deps) (*Store, error) {
	d = d.WithDefaults()
	env, err := Env(d, "DATA_TABLE", "KEYS_TABLE")
	if err != nil {
		return nil, fmt.Errorf("open video store: %w", err)
	}
	return NewStore(dynamodb.NewFromConfig(d.AWS), env["DATA_TABLE"], env["KEYS_TABLE"], d.Now)
}

// Open builds the service of a function from its environment (DATA_TABLE,
// KEYS_TABLE, RENDER_QUEUE_URL, and RENDERS_BUCKET for the functions that
// download and delete files).
func Open(_ context.Context, d lambdas.Deps, templates Templates) (*Service, error) {
	d = d.WithDefaults()
	env, err := Env(d, "RENDER_QUEUE_URL")
	if err != nil {
		return nil, fmt.Errorf("open videos: %w", err)
	}
	env["RENDERS_BUCKET"] = d.Getenv("RENDERS_BUCKET")
	st, err := OpenStore(d)
	if err != nil {
		return nil, err
	}
	s3c := S3Client(d.AWS)
	return &Service{
		Store: st, Queue: sqs.NewFromConfig(d.AWS), QueueURL: env["RENDER_QUEUE_URL"],
		Objects: s3c, Presigner: s3.NewPresignClient(s3c), Bucket: env["RENDERS_BUCKET"],
		Templates: templates, Logger: d.Logger, Now: d.Now,
	}, nil
}
