package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/devstack"
)

// DevHooks lets main add to `framegate dev` without this file knowing the
// product: OnReady runs once the stack serves (e.g. to create a demo
// workspace and print its keys to out, as JSON with asJSON); stop runs
// when the stack stops.
type DevHooks struct {
	OnReady func(ctx context.Context, s *devstack.Stack, out io.Writer, asJSON bool) (stop func(), err error)
}

func newDevCmd(hooks DevHooks) *cobra.Command {
	var (
		addr, template, endpoint, prefix string
		logLevel                         string
		meter                            bool
		dynamoDelay                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run framegate locally: moto, the resources of template.yaml, the API and the queue workers",
		Long: `dev runs the whole application on this machine, from template.yaml:
moto_server plays DynamoDB, SQS, S3 and Secrets Manager (started on a free
loopback port unless --endpoint or AWS_ENDPOINT_URL names a running one;
installed into ./.venv if missing and Python is there), the tables, queues,
bucket and secret are created, every route is served under /<stage> through
the real authorizer and handlers, every SQS event source is polled with the
concurrency the template gives it, and every Schedule event runs at its rate.
Ctrl-C stops everything it started.

--meter logs, with every request, the DynamoDB calls it made and how many
ran one after another (round trips); --dynamodb-delay 150ms also holds each
DynamoDB call that long, so latency shows the round trips a distant table
would cost.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if endpoint == "" || strings.HasPrefix(endpoint, "http://") {
				// The emulator is plain HTTP: a CA bundle from the
				// environment only makes the SDK refuse our HTTP client.
				os.Unsetenv("AWS_CA_BUNDLE")
			}
			s, err := devstack.New(ctx, devstack.Config{
				TemplatePath: template,
				Addr:         addr,
				Endpoint:     endpoint,
				Prefix:       prefix,
				Logger:       log,
				AllowInstall: true,
				// Local receivers (framegate webhooks listen, a test server)
				// live on loopback, which the egress guard refuses on AWS.
				Parameters: map[string]string{"WebhookAllowLoopback": "true",
					// Secret-scanning reports are checked against GitHub's
					// published keys unless a local key list is named.
					"SecretScanningKeysFile": os.Getenv("FRAMEGATE_SECRET_SCANNING_KEYS_FILE")},
				Meter:         meter,
				DynamoDBDelay: dynamoDelay,
			})
			if err != nil {
				return err
			}
			defer s.Close()
			runErr := make(chan error, 1)
			go func() { runErr <- s.Run(ctx) }()

			out, note := cmd.OutOrStdout(), cmd.OutOrStdout()
			if jsonOutput(cmd) {
				note = cmd.ErrOrStderr() // stdout is the one JSON object
			}
			fmt.Fprintf(note, "framegate is serving %s (AWS emulator at %s)\n", s.URL(), s.Endpoint())
			if hooks.OnReady != nil {
				ready, err := hooks.OnReady(ctx, s, out, jsonOutput(cmd))
				if err != nil {
					stop()
					<-runErr
					return fmt.Errorf("dev: %w", err)
				}
				defer ready()
			}
			fmt.Fprintln(note, "Press Ctrl-C to stop.")
			err = <-runErr
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("dev: %w", err)
			}
			fmt.Fprintln(note, "stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:3000", "address to serve the API on")
	f.StringVar(&template, "template", "template.yaml", "SAM template to run")
	f.StringVar(&endpoint, "endpoint", os.Getenv("AWS_ENDPOINT_URL"), "a running AWS emulator to use instead of starting moto")
	f.StringVar(&prefix, "prefix", "framegate-dev", "prefix of the resource names (<prefix>-<LogicalID>)")
	f.StringVar(&logLevel, "log-level", "INFO", "DEBUG, INFO, WARN or ERROR")
	f.BoolVar(&meter, "meter", false, "log each request's DynamoDB calls and sequential round trips")
	f.DurationVar(&dynamoDelay, "dynamodb-delay", 0, "hold every DynamoDB call this long (implies --meter), e.g. 150ms")
	return cmd
}
