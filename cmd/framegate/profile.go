package main

// Operators' commands load an aws.Config through the SDK's full chain
// (profiles, SSO, IMDS); Lambda functions use the leaner awsconf.Load.

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/framegate/framegate/pkg/awsconf"
)

// Load returns a config with awsconf's transport, retries and endpoint, and
// credentials from the default chain unless o asks for static ones.
func Load(ctx context.Context, o awsconf.Options) (aws.Config, error) {
	if o.StaticCredentials {
		return awsconf.Load(ctx, o)
	}
	base := awsconf.Base(o)
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(base.HTTPClient),
		config.WithRetryer(base.Retryer),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if base.BaseEndpoint != nil {
		opts = append(opts, config.WithBaseEndpoint(*base.BaseEndpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = base.Region
	}
	return cfg, nil
}
