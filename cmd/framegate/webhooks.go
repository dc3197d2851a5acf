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
	cmd.AddCommand(newWebhooksListenCmd())
	return cmd
}

func newWebhooksListenCmd() *cobra.Command {
	var (
		addr, host string
		events     []string
	)
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Print events as they arrive, signatures verified (like `stripe listen`)",
		Long: `listen starts an HTTP receiver on this machine, registers it as a temporary
webhook endpoint (POST /v1/webhooks, every event unless --events), verifies
each delivery's Standard Webhooks signature with the secret the API returned,
and prints the event: type, id and data, or with --output json one JSON
object per line. Ctrl-C deletes the endpoint and stops.

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
			return listen(ctx, c, listenConfig{
				Addr: addr, PublicURL: host, Events: events, JSON: jsonOutput(cmd),
				Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr(),
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:0", "address of the receiver (port 0: any free port)")
	f.StringVar(&host, "public-url", "", "URL the API should deliver to, if not the receiver's own (a tunnel)")
	f.StringSliceVar(&events, "events", []string{"*"}, "event types to receive, comma-separated")
	return cmd
}

type listenConfig struct {
	Addr, PublicURL string
	Events          []string
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
		URL: u, Events: cfg.Events, Description: "framegate webhooks listen (temporary)",
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

	rc := &receiver{secret: ep.Secret, json: cfg.JSON, out: cfg.Out, errw: cfg.Err, seen: map[string]bool{}}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(cfg.Err, "Ready: endpoint %s delivers %s to %s (secret %s). Ctrl-C to stop.\n",
		ep.ID, strings.Join(ep.Events, ","), u, webhooksig.Mask(ep.Secret))

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
	secret    string
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
	if err := webhooksig.Verify(rc.secret, r.Header, body, 0); err != nil {
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
