package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/webhooksig"
)

func newWebhooksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Receive your workspace's webhooks on this machine",
		Long:  "webhooks works with webhook endpoints; the key needs webhooks:manage." + apiEnvHelp,
	}
	cmd.AddCommand(newWebhooksListenCmd(), newWebhooksRecoverCmd())
	return cmd
}

func newWebhooksRecoverCmd() *cobra.Command {
	var since string
	cmd := &cobra.Command{
		Use:   "recover ENDPOINT_ID --since TIME",
		Short: "Send every failed delivery since a time again, in order, once",
		Long: `recover asks the API (POST /v1/webhooks/{id}/recover) to send again every
delivery of the endpoint that failed, or waits to retry a failed attempt, for
an event since --since: an RFC 3339 time (2030-01-02T03:04:05Z) or a duration
ago (90m, 36h), within the 30 days the delivery log keeps. They go out one at
a time in the order of their events, each once; the delivery log shows the
attempts with the recovery's id.` + apiEnvHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseSince(since, time.Now())
			if err != nil {
				return usageError{err}
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			r, err := c.RecoverWebhook(cmd.Context(), args[0], t)
			if err != nil {
				return fmt.Errorf("recover %s: %w", args[0], err)
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recovery %s queued: endpoint %s, events from %s to %s\n", r.ID, r.EndpointID, r.Since, r.Until)
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "RFC 3339 time, or a duration ago (e.g. 36h)")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

// parseSince reads an RFC 3339 time or a positive duration before now.
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time or a duration ago such as 36h", v)
}

func newWebhooksListenCmd() *cobra.Command {
	var (
		addr, host, scheme string
		events             []string
	)
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Print events as they arrive, signatures verified (like `stripe listen`)",
		Long: `listen starts an HTTP receiver on this machine, registers it as a temporary
webhook endpoint (POST /v1/webhooks, every event unless --events), verifies
each delivery's Standard Webhooks signature, and prints the event: type, id
and data, or with --output json one JSON object per line. Ctrl-C deletes the
endpoint and stops.

--signature-scheme v1 (the default) verifies v1 HMAC signatures with the
secret the API returned; v1a registers an ed25519 endpoint and verifies its
v1a signatures with the endpoint's public key (whpk_…), as a receiver that
holds no secret does.

The API must be able to reach the receiver: the local stack (framegate dev)
can, and allows plain http to loopback. A deployed API needs a public https
URL in front of the receiver (a tunnel): pass it as --public-url.` + apiEnvHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			c, err := apiClient()
			if err != nil {
				return err
			}
			if scheme != client.SchemeV1 && scheme != client.SchemeV1a {
				return usageError{fmt.Errorf("--signature-scheme must be v1 or v1a, got %q", scheme)}
			}
			return listen(ctx, c, listenConfig{
				Addr: addr, PublicURL: host, Events: events, Scheme: scheme, JSON: jsonOutput(cmd),
				Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr(),
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:0", "address of the receiver (port 0: any free port)")
	f.StringVar(&host, "public-url", "", "URL the API should deliver to, if not the receiver's own (a tunnel)")
	f.StringSliceVar(&events, "events", []string{"*"}, "event types to receive, comma-separated")
	f.StringVar(&scheme, "signature-scheme", client.SchemeV1, "v1 (HMAC, verified with the secret) or v1a (ed25519, verified with the public key)")
	return cmd
}

type listenConfig struct {
	Addr, PublicURL string
	Events          []string
	Scheme          string // "" is v1
	JSON            bool
	Out, Err        io.Writer
}

// listen runs until ctx ends, then removes the endpoint it registered.
func listen(ctx context.Context, c *client.Client, cfg listenConfig) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	u := cfg.PublicURL
	if u == "" {
		u = "http://" + ln.Addr().String() + "/webhooks"
	}
	// Register before serving: deliveries can only come once the endpoint
	// exists, and until Serve starts they wait in the listen backlog, so
	// the handler never runs without the secret.
	ep, err := c.CreateWebhook(ctx, client.CreateWebhookRequest{
		URL: u, Events: cfg.Events, Description: "framegate webhooks listen (temporary)", SignatureScheme: cfg.Scheme,
	})
	if err != nil {
		return fmt.Errorf("register the receiver %s: %w", u, err)
	}
	defer func() {
		// ctx is done by now: a fresh one, so Ctrl-C still cleans up.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := c.DeleteWebhook(dctx, ep.ID); err != nil {
			fmt.Fprintf(cfg.Err, "could not delete endpoint %s: %v (delete it with DELETE /v1/webhooks/%s)\n", ep.ID, err, ep.ID)
			return
		}
		fmt.Fprintf(cfg.Err, "deleted endpoint %s\n", ep.ID)
	}()

	rc := &receiver{key: ep.VerificationKey(), json: cfg.JSON, out: cfg.Out, errw: cfg.Err, seen: map[string]bool{}}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	verifies := "secret " + webhooksig.Mask(ep.Secret)
	if ep.PublicKey != "" {
		verifies = "v1a, public key " + ep.PublicKey
	}
	fmt.Fprintf(cfg.Err, "Ready: endpoint %s delivers %s to %s (%s). Ctrl-C to stop.\n",
		ep.ID, strings.Join(ep.Events, ","), u, verifies)

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("receiver: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// receiver verifies and prints deliveries.
type receiver struct {
	key       string // the v1 secret or the v1a public key
	json      bool
	out, errw io.Writer

	mu   sync.Mutex // orders output lines and guards seen
	seen map[string]bool
}

// maxDelivery bounds a body: events are under 20 KB.
const maxDelivery = 1 << 20

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDelivery))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if err := webhooksig.Verify(rc.key, r.Header, body, 0); err != nil {
		rc.mu.Lock()
		fmt.Fprintf(rc.errw, "rejected a delivery from %s: %v\n", r.RemoteAddr, err)
		rc.mu.Unlock()
		// 400, not 401: the sender retries, and a bad signature will not
		// get better, but a misconfiguration should show in the delivery log.
		http.Error(w, "signature verification failed", http.StatusBadRequest)
		return
	}
	var ev struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	// A retry of a delivery we answered (the answer got lost) carries the
	// same webhook-id: print each message once.
	msgID := r.Header.Get(webhooksig.HeaderID)
	if rc.seen[msgID] {
		return
	}
	rc.seen[msgID] = true
	if rc.json {
		var line bytes.Buffer
		if err := json.Compact(&line, body); err != nil {
			line.Reset()
			line.Write(body)
		}
		fmt.Fprintln(rc.out, line.String())
		return
	}
	var data bytes.Buffer
	if err := json.Compact(&data, ev.Data); err != nil {
		data.Reset()
		data.Write(ev.Data)
	}
	fmt.Fprintf(rc.out, "%s  %s  %s  %s\n", ev.Timestamp, ev.Type, ev.ID, data.String())
}
