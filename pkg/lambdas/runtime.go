package lambdas

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/framegate/framegate/pkg/awsconf"
)

// Start runs a function on the Lambda runtime: one AWS config with the
// function's options, the JSON logger that stamps every record with the
// invocation's request id, the constructor, lambda.Start. A failed init
// exits so Lambda reports it instead of serving a half-built function.
func Start[H Handler](c Constructor[H], o awsconf.Options) {
	logger := Logger()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	cfg, err := awsconf.Load(ctx, o)
	if err != nil {
		logger.Error("init failed", "err", err)
		os.Exit(1)
	}
	h, err := c(ctx, Deps{AWS: cfg, Getenv: os.Getenv, Logger: logger, Now: time.Now})
	cancel()
	if err != nil {
		logger.Error("init failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// Logger is the logger of a function on Lambda: lambdacontext's handler,
// which adds "requestId" from the invocation's context to every record
// logged with one, in the format and at the level the function's
// LoggingConfig sets (template.yaml: JSON).
func Logger() *slog.Logger { return lambdacontext.NewLogger() }
