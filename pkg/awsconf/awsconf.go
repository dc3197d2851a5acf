// Package awsconf builds the one aws.Config a process uses, without the
// SDK's shared-config machinery: Lambda hands a function its region and
// credentials in the environment, and the config package's init (STS, SSO,
// profile parsing) would cost more than the function's own cold start.
// Tight per-attempt timeouts make a stuck call retried, not waited on, and
// an optional endpoint points every client at the local emulator.
//
// Operators' tools that need profiles and SSO use package awsconf/profile.
package awsconf

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Options tune Load. The zero value is right for Lambda: region,
// credentials and AWS_ENDPOINT_URL come from the environment.
type Options struct {
	// Endpoint, when set, sends every service to this URL (the emulator);
	// otherwise AWS_ENDPOINT_URL does.
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

// ErrNoCredentials means the environment holds no credentials; callers
// outside Lambda fall back to awsconf/profile.
var ErrNoCredentials = errors.New("no AWS credentials in the environment (AWS_ACCESS_KEY_ID)")

// Load returns the process-wide AWS config from options and environment.
func Load(_ context.Context, o Options) (aws.Config, error) {
	cfg := Base(o)
	switch {
	case o.StaticCredentials:
		cfg.Credentials = credentials.NewStaticCredentialsProvider("test", "test", "")
	case os.Getenv("AWS_ACCESS_KEY_ID") != "":
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")))
	default:
		return aws.Config{}, ErrNoCredentials
	}
	return cfg, nil
}

// Base is the config without credentials: region, endpoint, transport, retries.
func Base(o Options) aws.Config {
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = 2 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	region := firstNonEmpty(o.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "us-east-1")
	cfg := aws.Config{
		Region:     region,
		HTTPClient: HTTPClient(o.AttemptTimeout),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.MaxAttempts
				so.MaxBackoff = 200 * time.Millisecond
			})
		},
		RetryMaxAttempts: o.MaxAttempts,
	}
	if ep := firstNonEmpty(o.Endpoint, os.Getenv("AWS_ENDPOINT_URL")); ep != "" {
		cfg.BaseEndpoint = aws.String(ep)
	}
	return cfg
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// HTTPClient is the SDK's buildable transport with short dial, handshake
// and response-header limits, and enough idle connections for parallel calls.
func HTTPClient(attempt time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = attempt; d.KeepAlive = 30 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = 100
			tr.MaxIdleConnsPerHost = 32
			tr.IdleConnTimeout = 90 * time.Second
			tr.TLSHandshakeTimeout = attempt
			tr.ResponseHeaderTimeout = attempt
		})
}

// UsesEmulator reports whether clients talk to a custom endpoint, where S3
// needs path-style addressing.
func UsesEmulator(cfg aws.Config) bool { return cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != "" }
