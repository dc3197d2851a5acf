package lambdas

// Start runs a function on the Lambda runtime: one AWS config, the JSON
// logger with the request id, the constructor, lambda.Start.

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/framegate/framegate/pkg/awsconf"
)

// Start builds the handler with c and serves it; a failed init exits so
// Lambda reports it instead of serving a half-built function.
func Start(c Constructor, o awsconf.Options) {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level(os.Getenv("AWS_LAMBDA_LOG_LEVEL"))}))
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

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
