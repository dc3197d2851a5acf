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
		Short: "Manage webhook endpoints and their deliveries, or receive events on this machine",
		Long:  "webhooks works with webhook endpoints (docs/webhooks.md); the key needs webhooks:manage." + apiEnvHelp,
	}
	cmd.AddCommand(newWebhooksListenCmd(), newWebhooksListCmd(), newWebhooksGetCmd(), newWebhooksCreateCmd(), newWebhooksUpdateCmd(),
		newWebhooksDeleteCmd(), newWebhooksRotateSecretCmd(), newWebhooksTestCmd(), newWebhooksDeliveriesCmd(), newWebhooksRedeliverCmd(), newWebhooksRecoverCmd())
	return cmd
}

func newWebhooksListCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "list",
		Short: "List webhook endpoints (secrets masked), every page",
		Args:  noArgs,
	}, "listWebhookEndpoints", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		eps, err := collect(0, func(p client.ListParams) ([]client.WebhookEndpoint, client.Pagination, error) {
			page, err := c.ListWebhooks(cmd.Context(), p)
			if err != nil {
				return nil, client.Pagination{}, fmt.Errorf("list webhooks: %w", err)
			}
			return page.Data, page.Pagination, nil
		})
		if err != nil {
			return err
		}
		return table(cmd, eps, "ID\tKIND\tURL\tEVENTS\tENABLED\tSECRET", func(row func(string, ...any)) {
			for _, e := range eps {
				row("%s\t%s\t%s\t%s\t%t\t%s", e.ID, e.Kind, deref(e.URL, "-"), strings.Join(e.Events, ","), e.Enabled, deref(e.SecretPreview, "-"))
			}
		})
	})
}

func newWebhooksGetCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "get ENDPOINT_ID",
		Short: "Show one webhook endpoint",
		Args:  exactArgs(1),
	}, "getWebhookEndpoint", func(cmd *cobra.Command, c *client.Client, args []string) error {
		e, err := c.GetWebhook(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("get webhook %s: %w", args[0], err)
		}
		return printEndpoint(cmd, e)
	})
}

func newWebhooksCreateCmd() *cobra.Command {
	var u, description string
	var events []string
	cmd := apiCmd(&cobra.Command{
		Use:   "create --url URL [--events t1,t2] [--description D]",
		Short: "Register a webhook endpoint; its signing secret is shown once",
		Args:  noArgs,
	}, "createWebhookEndpoint", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		e, err := c.CreateWebhook(cmd.Context(), client.CreateWebhookRequest{URL: u, Events: events, Description: description})
		if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		return printEndpoint(cmd, e)
	})
	f := cmd.Flags()
	f.StringVar(&u, "url", "", "https URL to deliver to (required)")
	f.StringSliceVar(&events, "events", []string{"*"}, "event types, comma-separated (* for all)")
	f.StringVar(&description, "description", "", "what the endpoint is for")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func newWebhooksUpdateCmd() *cobra.Command {
	var u, description string
	var events []string
	var enable, disable bool
	cmd := apiCmd(&cobra.Command{
		Use:   "update ENDPOINT_ID [--url U] [--events t1,t2] [--enable|--disable] [--description D]",
		Short: "Change a webhook endpoint; --enable also clears why it was disabled",
		Args:  exactArgs(1),
	}, "updateWebhookEndpoint", func(cmd *cobra.Command, c *client.Client, args []string) error {
		var in client.UpdateWebhookRequest
		f := cmd.Flags()
		if f.Changed("url") {
			in.URL = &u
		}
		if f.Changed("events") {
			in.Events = &events
		}
		if f.Changed("description") {
			in.Description = &description
		}
		if enable || disable {
			in.Enabled = &enable
		}
		e, err := c.UpdateWebhook(cmd.Context(), args[0], in)
		if err != nil {
			return fmt.Errorf("update webhook %s: %w", args[0], err)
		}
		return printEndpoint(cmd, e)
	})
	f := cmd.Flags()
	f.StringVar(&u, "url", "", "new URL")
	f.StringSliceVar(&events, "events", nil, "new event types, comma-separated")
	f.StringVar(&description, "description", "", "new description")
	f.BoolVar(&enable, "enable", false, "enable the endpoint")
	f.BoolVar(&disable, "disable", false, "disable the endpoint")
	cmd.MarkFlagsMutuallyExclusive("enable", "disable")
	return cmd
}

func newWebhooksDeleteCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "delete ENDPOINT_ID",
		Short: "Delete a webhook endpoint",
		Args:  exactArgs(1),
	}, "deleteWebhookEndpoint", func(cmd *cobra.Command, c *client.Client, args []string) error {
		if err := c.DeleteWebhook(cmd.Context(), args[0]); err != nil {
			return fmt.Errorf("delete webhook %s: %w", args[0], err)
		}
		return printDeleted(cmd, "webhook_endpoint", args[0])
	})
}

func newWebhooksRotateSecretCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "rotate-secret ENDPOINT_ID",
		Short: "Issue a new signing secret, shown once; the old one keeps signing for 24 h",
		Args:  exactArgs(1),
	}, "rotateWebhookSecret", func(cmd *cobra.Command, c *client.Client, args []string) error {
		e, err := c.RotateWebhookSecret(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("rotate the secret of webhook %s: %w", args[0], err)
		}
		return printEndpoint(cmd, e)
	})
}

func newWebhooksTestCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "test ENDPOINT_ID",
		Short: "Send a webhook.test event to one endpoint",
		Args:  exactArgs(1),
	}, "testWebhookEndpoint", func(cmd *cobra.Command, c *client.Client, args []string) error {
		r, err := c.TestWebhook(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("test webhook %s: %w", args[0], err)
		}
		return emit(cmd, r, func(w io.Writer) { fmt.Fprintf(w, "sent %s %s as delivery %s\n", r.Type, r.EventID, r.DeliveryID) })
	})
}

func newWebhooksDeliveriesCmd() *cobra.Command {
	var limit int
	cmd := apiCmd(&cobra.Command{
		Use:   "deliveries ENDPOINT_ID [--limit N]",
		Short: "List an endpoint's deliveries, newest first, with their attempts",
		Args:  exactArgs(1),
	}, "listWebhookDeliveries", func(cmd *cobra.Command, c *client.Client, args []string) error {
		ds, err := collect(limit, func(p client.ListParams) ([]client.Delivery, client.Pagination, error) {
			page, err := c.ListDeliveries(cmd.Context(), args[0], p)
			if err != nil {
				return nil, client.Pagination{}, fmt.Errorf("list deliveries of %s: %w", args[0], err)
			}
			return page.Data, page.Pagination, nil
		})
		if err != nil {
			return err
		}
		return table(cmd, ds, "ID\tEVENT\tTYPE\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tCREATED", func(row func(string, ...any)) {
			for _, d := range ds {
				row("%s\t%s\t%s\t%s\t%d\t%s\t%s", d.ID, d.EventID, d.EventType, d.Status, d.AttemptCount, deref(d.NextAttemptAt, "-"), d.CreatedAt)
			}
		})
	})
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many deliveries (0: all)")
	return cmd
}

func newWebhooksRedeliverCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "redeliver ENDPOINT_ID DELIVERY_ID",
		Short: "Send a delivery again now, with the same webhook-id and body",
		Args:  exactArgs(2),
	}, "redeliverWebhook", func(cmd *cobra.Command, c *client.Client, args []string) error {
		d, err := c.Redeliver(cmd.Context(), args[0], args[1])
		if err != nil {
			return fmt.Errorf("redeliver %s: %w", args[1], err)
		}
		return emit(cmd, d, func(w io.Writer) {
			fmt.Fprintf(w, "%s (%s %s) %s, %d attempts\n", d.ID, d.EventType, d.EventID, d.Status, d.AttemptCount)
		})
	})
}

func printEndpoint(cmd *cobra.Command, e *client.WebhookEndpoint) error {
	return emit(cmd, e, func(w io.Writer) {
		state := "enabled"
		if !e.Enabled {
			state = "disabled " + deref(e.DisabledReason, "")
		}
		fmt.Fprintf(w, "%s %s %s: %s, %s\n", e.ID, e.Kind, deref(e.URL, "-"), strings.Join(e.Events, ","), strings.TrimSpace(state))
		if e.Secret != "" {
			fmt.Fprintf(w, "signing secret (shown once, store it now): %s\n", e.Secret)
		}
	})
}

func newWebhooksListenCmd() *cobra.Command {
	var (
		addr, host, scheme string
		events             []string
	)
	cmd := apiCmd(&cobra.Command{
		Use:   "listen",
		Short: "Print events as they arrive, signatures verified (like `stripe listen`)",
		Long: `listen starts an HTTP receiver on this machine, registers it as a temporary
webhook endpoint (POST /v1/webhooks, every event unless --events), verifies
each delivery's Standard Webhooks signature, and prints the event: type, id
and data, or with --output json one JSON object per line. Ctrl-C (or SIGTERM)
deletes the endpoint and stops.

--signature-scheme v1 (the default) verifies v1 HMAC signatures with the
secret the API returned; v1a registers an ed25519 endpoint and verifies its
v1a signatures with the endpoint's public key (whpk_…), as a receiver that
holds no secret does.

The API must be able to reach the receiver: the local stack (framegate dev)
can, and allows plain http to loopback. A deployed API needs a public https
URL in front of the receiver (a tunnel): pass it as --public-url.`,
		Args: noArgs,
	}, "createWebhookEndpoint,deleteWebhookEndpoint", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if scheme != client.SchemeV1 && scheme != client.SchemeV1a {
			return usageError{fmt.Errorf("--signature-scheme must be v1 or v1a, got %q", scheme)}
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return listen(ctx, c, listenConfig{
			Addr: addr, PublicURL: host, Events: events, Scheme: scheme, JSON: jsonOutput(cmd),
			Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr(),
		})
	})
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
		fmt.Fprintln(rc.out, plainJSON(body))
		return
	}
	fmt.Fprintf(rc.out, "%s  %s  %s  %s\n", ev.Timestamp, ev.Type, ev.ID, plainJSON(ev.Data))
}

// plainJSON is b on one line with the characters Go's encoder escapes for
// HTML (&, <, >) written as they are: a URL reads as the URL, not with
// \u0026. Object keys come out sorted.
func plainJSON(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(bytes.TrimSpace(b))
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return string(bytes.TrimSpace(b))
	}
	return strings.TrimSuffix(out.String(), "\n")
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
		Args:        exactArgs(1),
		Annotations: map[string]string{operationAnnotation: "recoverWebhookDeliveries"},
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
