// Package awsconf builds the one aws.Config a process uses: tight per-attempt
// timeouts so a stuck call is retried instead of waited on, and an optional
// endpoint override that points every client at the local emulator.
package awsconf

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Options tune Load. The zero value is right for Lambda: region, credentials
// and AWS_ENDPOINT_URL come from the environment.
type Options struct {
	// Endpoint, when set, sends every service to this URL (the emulator).
	Endpoint string
	// Region overrides AWS_REGION.
	Region string
	// StaticCredentials uses fixed dummy credentials (the emulator ignores them).
	StaticCredentials bool
	// AttemptTimeout bounds one HTTP attempt; 0 means 2 s.
	AttemptTimeout time.Duration
	// MaxAttempts bounds retries; 0 means 3.
	MaxAttempts int
}

// Load returns the process-wide AWS config.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = 2 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(HTTPClient(o.AttemptTimeout)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = 200 * time.Millisecond
			})
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(o.Endpoint))
	}
	if o.StaticCredentials {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// HTTPClient is the SDK's transport with short dial and per-attempt limits and
// enough idle connections for parallel calls.
func HTTPClient(attempt time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: attempt, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   attempt,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: attempt,
	}
	return &http.Client{Transport: tr, Timeout: attempt}
}

// UsesEmulator reports whether clients talk to a custom endpoint, where S3
// needs path-style addressing.
func UsesEmulator(cfg aws.Config) bool { return cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != "" }
