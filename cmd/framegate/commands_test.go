package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// commands is every command the CLI promises (issue #16 and docs):
// each must exist and answer --help.
var commands = []string{
	"dev", "auth",
	"workspace create", "workspace list", "workspace show", "workspace set-plan", "workspace reset-primary",
	"keys create", "keys list", "keys get", "keys rotate", "keys revoke", "keys reset-primary", "keys scan",
	"videos create", "videos list", "videos get", "videos status", "videos delete", "videos download", "videos thumbnail",
	"templates list", "templates get", "templates create", "templates replace", "templates delete",
	"webhooks listen", "webhooks list", "webhooks get", "webhooks create", "webhooks update", "webhooks delete",
	"webhooks rotate-secret", "webhooks test", "webhooks deliveries", "webhooks redeliver", "webhooks recover",
	"connections list", "connections get", "connections create", "connections delete",
	"publications create", "publications list", "publications cancel",
	"assets upload", "assets list", "assets get", "assets delete",
	"console", "console sessions", "console revoke",
	"audit", "usage",
}

// notCLI are the operations of openapi.yaml no command calls, and why.
var notCLI = map[string]string{
	"getOpenAPI":       "the API description, for tools (code generators, linters), not an action on a workspace: curl $FRAMEGATE_API_URL/openapi.json",
	"getConsole":       "the console's HTML page, for a browser: `framegate console` prints the link that opens it",
	"getConsoleAsset":  "a script or style sheet of the console page, fetched by the browser",
	"reportLeakedKeys": "called by GitHub's secret scanning, authenticated by GitHub's signature, not by a user's key; `framegate keys scan` finds keys in files offline",
	"signInToConsole":  "the browser's exchange of a one-time link for an HttpOnly session cookie, which a CLI cannot hold; `framegate console` prints the link",
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		out, err := run(t, append(strings.Fields(c), "--help")...)
		if err != nil || !strings.Contains(out, "Usage:") || !strings.Contains(out, "framegate "+c) {
			t.Errorf("framegate %s --help: %v\n%s", c, err, out)
		}
	}
	// And the other way: a command that is not in the list is not documented here.
	walk(newRoot(), func(c *cobra.Command) {
		if path := strings.TrimPrefix(c.CommandPath(), "framegate "); c.Runnable() && !c.HasSubCommands() && c != c.Root() &&
			c.Name() != "help" && !strings.HasPrefix(path, "completion") && !slices.Contains(commands, path) {
			t.Errorf("command %q is not in the test's list (nor in the docs?)", path)
		}
	})
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// TestEveryOperationHasACommand: each operation of openapi.yaml is called
// by a command (its annotation) or is in notCLI with a reason.
func TestEveryOperationHasACommand(t *testing.T) {
	v, err := testenv.DefaultValidator()
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, item := range v.Doc().Paths.Map() {
		for _, op := range item.Operations() {
			ops[op.OperationID] = true
		}
	}
	byOp := map[string][]string{}
	walk(newRoot(), func(c *cobra.Command) {
		for _, op := range strings.Split(c.Annotations[operationAnnotation], ",") {
			if op == "" {
				continue
			}
			if !ops[op] {
				t.Errorf("%s names operation %q, which openapi.yaml does not have", c.CommandPath(), op)
			}
			byOp[op] = append(byOp[op], c.CommandPath())
		}
	})
	for op := range ops {
		_, excused := notCLI[op]
		switch {
		case len(byOp[op]) == 0 && !excused:
			t.Errorf("operation %s has no CLI command: add one (annotated %q) or list it in notCLI with the reason", op, operationAnnotation)
		case len(byOp[op]) > 0 && excused:
			t.Errorf("operation %s has a command %v and is listed in notCLI", op, byOp[op])
		}
	}
	for op := range notCLI {
		if !ops[op] {
			t.Errorf("notCLI lists %s, which openapi.yaml does not have", op)
		}
	}
}

// TestNoFlagShadowsAGlobal: -o/--output means the output format in every
// command; no command redefines a persistent flag of the root.
func TestNoFlagShadowsAGlobal(t *testing.T) {
	root := newRoot()
	walk(root, func(c *cobra.Command) {
		if c == root {
			return
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			root.PersistentFlags().VisitAll(func(g *pflag.Flag) {
				if f.Name == g.Name || (f.Shorthand != "" && f.Shorthand == g.Shorthand) {
					t.Errorf("%s: --%s/-%s shadows the global --%s/-%s", c.CommandPath(), f.Name, f.Shorthand, g.Name, g.Shorthand)
				}
			})
		})
	})
}

// TestUsageErrorsExit2: whatever cobra or a command refuses before any
// request is exit 2, as docs/quickstart.md says; --output takes text or
// json only.
func TestUsageErrorsExit2(t *testing.T) {
	t.Setenv(apiKeyEnv, "fg_test_unused")
	t.Setenv(apiURLEnv, "http://127.0.0.1:1/v1") // nothing is sent: every case fails before
	for _, args := range [][]string{
		{"-o", "yaml", "keys", "list"},
		{"keys", "list", "--output", "table"},
		{"nope"},
		{"videos", "nope"},
		{"keys", "list", "--nope"},
		{"keys", "revoke"},
		{"keys", "revoke", "a", "b"},
		{"keys", "create"},                        // --name is required
		{"keys", "rotate", "k", "--grace", "25h"}, // checked by the command
		{"keys", "reset-primary"},                 // needs --yes
		{"keys", "list", "--limit", "many"},
		{"workspace", "show"},
		{"webhooks", "update", "e", "--enable", "--disable"},
		{"videos", "create", "--file", filepath.Join(t.TempDir(), "missing.json")},
		{"dev", "extra"},
	} {
		if _, err := run(t, args...); exitCode(err) != exitUsage {
			t.Errorf("framegate %s: exit %d (%v), want %d", strings.Join(args, " "), exitCode(err), err, exitUsage)
		}
	}
	if _, err := run(t, "-o", "json", "keys", "--help"); err != nil {
		t.Errorf("-o json: %v", err)
	}
}

// TestWaitOutlastsRetryAfter: --wait keeps following a render through a
// 429 whose Retry-After is longer than the client's own retry budget, and
// through a 503, because the render goes on meanwhile.
func TestWaitOutlastsRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"Too many requests.","requestId":"r1"}}`)
		case 2:
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"code":"service_unavailable","message":"Try later.","requestId":"r2"}}`)
		case 3:
			fmt.Fprint(w, `{"object":"video","id":"vid_1","status":"rendering","progress":50}`)
		default:
			fmt.Fprint(w, `{"object":"video","id":"vid_1","status":"succeeded","progress":100}`)
		}
	}))
	defer srv.Close()
	var slept []time.Duration
	var log strings.Builder
	w := waiter{
		c:     client.New(srv.URL+"/v1", "fg_test_x", client.WithSleep(func(context.Context, time.Duration) error { return nil })),
		every: time.Second,
		sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil },
		out:   &log,
	}
	v, err := w.wait(context.Background(), &client.Video{ID: "vid_1", Status: "queued"})
	if err != nil || v.Status != "succeeded" {
		t.Fatalf("wait: %+v %v\n%s", v, err, log.String())
	}
	want := []time.Duration{time.Second, time.Hour, 120 * time.Second, time.Second}
	if !slices.Equal(slept, want) {
		t.Errorf("waited %v, want %v", slept, want)
	}
	if !strings.Contains(log.String(), "429 rate_limited, asking again in 1h0m0s") {
		t.Errorf("progress log:\n%s", log.String())
	}
	// Anything else (a 404, say) ends the wait with the error.
	calls.Store(100)
	srv404 := httptest.NewServer(http.NotFoundHandler())
	defer srv404.Close()
	w.c = client.New(srv404.URL+"/v1", "fg_test_x")
	if _, err := w.wait(context.Background(), &client.Video{ID: "vid_1", Status: "queued"}); exitCode(err) != exitNotFound {
		t.Errorf("404 while waiting: %v", err)
	}
}

// TestLocalStackFoundFromAnyDirectory: `framegate dev` records its stack
// in the user's config directory, one file per stack, so the commands
// find it from any working directory; a second stack neither overwrites
// nor deletes the first one's record; a dead stack's record is ignored.
func TestLocalStackFoundFromAnyDirectory(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv(apiURLEnv, "")
	t.Chdir(t.TempDir())

	a := devState{target: target{APIURL: "http://127.0.0.1:3000/v1", KeysTable: "a-keys", PepperSecretArn: "arn:a"}, PID: os.Getpid()}
	stopA, err := recordDevStack(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // another directory
	if got, err := apiURL(); err != nil || got != a.APIURL {
		t.Fatalf("apiURL from another directory: %q %v", got, err)
	}

	b := devState{target: target{APIURL: "http://127.0.0.1:3001/v1", KeysTable: "b-keys"}, PID: os.Getpid()}
	stopB, err := recordDevStack(b)
	if err != nil {
		t.Fatal(err)
	}
	// Two stacks: the commands ask which, unless FRAMEGATE_API_URL says.
	if _, err := apiURL(); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "3000") || !strings.Contains(err.Error(), "3001") {
		t.Errorf("two stacks: %v", err)
	}
	t.Setenv(apiURLEnv, b.APIURL)
	if s, found, err := localStack(); err != nil || !found || s.KeysTable != "b-keys" {
		t.Errorf("FRAMEGATE_API_URL picks b: %+v %v %v", s, found, err)
	}
	t.Setenv(apiURLEnv, "")

	// The second stack stops: the first one's record stays.
	stopB()
	if s, found, err := localStack(); err != nil || !found || s.KeysTable != "a-keys" {
		t.Errorf("after b stopped: %+v %v %v", s, found, err)
	}
	// A record that is not ours any more (another stack took the address
	// after we died) is not removed by our stop.
	a2 := a
	a2.PID = os.Getppid()
	if _, err := recordDevStack(a2); err != nil {
		t.Fatal(err)
	}
	stopA()
	if s, found, _ := localStack(); !found || s.PID != a2.PID {
		t.Errorf("stop removed another stack's record: %+v %v", s, found)
	}
	// A dead stack's record is ignored: the default URL again.
	dead := a
	dead.PID = 1 << 30
	if _, err := recordDevStack(dead); err != nil {
		t.Fatal(err)
	}
	if got, err := apiURL(); err != nil || got != client.DefaultBaseURL {
		t.Errorf("dead stack: %q %v", got, err)
	}
}

func TestPlainJSON(t *testing.T) {
	in := `{"type":"render.succeeded","data":{"downloadUrl":"https://s3/x.mp4?a=1\u0026b=\u003c2\u003e","n":12.50,"s":"a\\u0026b"}}`
	got := plainJSON([]byte(in))
	want := `{"data":{"downloadUrl":"https://s3/x.mp4?a=1&b=<2>","n":12.50,"s":"a\\u0026b"},"type":"render.succeeded"}`
	if got != want {
		t.Errorf("plainJSON\n got %s\nwant %s", got, want)
	}
	if got := plainJSON([]byte("not json")); got != "not json" {
		t.Errorf("not JSON: %q", got)
	}
}

// FuzzPlainJSON: what plainJSON prints for valid JSON is valid JSON with
// the same value.
func FuzzPlainJSON(f *testing.F) {
	for _, s := range []string{`{"u":"a\u0026b"}`, `[1,2.50,"<>"]`, `"\u2028"`, `{"a":{"b":null}}`, `not json`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := plainJSON([]byte(in))
		var a, b any
		if json.Unmarshal([]byte(in), &a) != nil {
			return
		}
		if err := json.Unmarshal([]byte(out), &b); err != nil {
			t.Fatalf("plainJSON(%q) = %q: %v", in, out, err)
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("plainJSON(%q) = %q changes the value", in, out)
		}
	})
}

// publishing drives connections and publications on a succeeded video.
func publishing(t *testing.T, videoID string) {
	t.Helper()
	var conn client.Connection
	runJSON(t, &conn, "connections", "create", "--type", "webhook", "--name", "zap", "--url", "http://127.0.0.1:9/catch")
	if !strings.HasPrefix(conn.Secret, "whsec_") {
		t.Fatalf("connection %+v", conn)
	}
	var conns []client.Connection
	runJSON(t, &conns, "connections", "list")
	if len(conns) != 1 || conns[0].ID != conn.ID {
		t.Errorf("connections list: %+v", conns)
	}
	runJSON(t, &conn, "connections", "get", conn.ID)
	at := time.Now().Add(12 * time.Hour).UTC().Format(time.RFC3339) // a sandbox video expires in 24 h
	var p client.Publication
	runJSON(t, &p, "publications", "create", videoID, "--connection", conn.ID, "--at", at)
	if p.Status != "scheduled" || p.VideoID != videoID {
		t.Fatalf("publication %+v", p)
	}
	var ps []client.Publication
	runJSON(t, &ps, "publications", "list", videoID)
	if len(ps) != 1 || ps[0].ID != p.ID {
		t.Errorf("publications list: %+v", ps)
	}
	runJSON(t, &p, "publications", "cancel", videoID, p.ID)
	if p.Status != "cancelled" {
		t.Errorf("cancelled publication %+v", p)
	}
	if out, err := run(t, "connections", "delete", conn.ID); err != nil || !strings.Contains(out, "deleted connection "+conn.ID) {
		t.Errorf("connections delete: %v %s", err, out)
	}
}

// runJSON runs a command with -o json and decodes what it printed.
func runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := run(t, append([]string{"-o", "json"}, args...)...)
	if err != nil {
		t.Fatalf("framegate %s: %v (exit %d)\n%s", strings.Join(args, " "), err, exitCode(err), out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("framegate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestCLIResources drives the users' commands against the local stack:
// every group, JSON and text output, and the exit codes of refusals.
func TestCLIResources(t *testing.T) {
	s := testenv.NewStack(t, testenv.WithRegistry(devstack.Registry()), func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true"}
	})
	_, keys := s.Workspace("cli-resources", ratelimit.Plan{})
	t.Setenv(apiURLEnv, s.URL())
	t.Setenv(apiKeyEnv, keys[apikey.Test])

	var id client.Identity
	runJSON(t, &id, "auth")
	if id.Environment != "test" || id.Key.Kind != "primary" {
		t.Errorf("auth %+v", id)
	}
	if out, err := run(t, "auth"); err != nil || !strings.Contains(out, "primary") || !strings.Contains(out, "requests left") {
		t.Errorf("auth (text): %v\n%s", err, out)
	}
	var k client.Key
	runJSON(t, &k, "keys", "get", id.Key.ID)
	if k.ID != id.Key.ID || k.Key != "" {
		t.Errorf("keys get %+v", k)
	}

	// Templates: create, read, replace, delete.
	body := `{"id":"greeting","name":"Greeting","orientation":"landscape",
	  "variables":[{"name":"who","type":"string","required":true}],
	  "spec":{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"},"elements":[{"type":"text","text":"Hi {{who}}"}]}]}}`
	tpl := writeFile(t, body)
	var got client.Template
	runJSON(t, &got, "templates", "create", "--file", tpl)
	if got.ID != "greeting" || got.BuiltIn {
		t.Fatalf("templates create %+v", got)
	}
	runJSON(t, &got, "templates", "get", "greeting")
	tpl2 := writeFile(t, strings.Replace(body, `"Greeting"`, `"Hello card"`, 1))
	if out, err := run(t, "templates", "replace", "greeting", "--file", tpl2); err != nil || !strings.Contains(out, `"Hello card"`) {
		t.Errorf("templates replace: %v\n%s", err, out)
	}
	if out, err := run(t, "templates", "delete", "greeting"); err != nil || !strings.Contains(out, "deleted template greeting") {
		t.Errorf("templates delete: %v\n%s", err, out)
	}
	if _, err := run(t, "templates", "get", "greeting"); exitCode(err) != exitNotFound {
		t.Errorf("deleted template: exit %d", exitCode(err))
	}

	// Videos: a render from a template call, listed, read, cancelled or deleted.
	var v client.Video
	runJSON(t, &v, "videos", "create", "--file", filepath.Join(testenv.RepoRoot(t), "examples", "hello.json"))
	var vs []client.Video
	runJSON(t, &vs, "videos", "list")
	if len(vs) != 1 || vs[0].ID != v.ID {
		t.Errorf("videos list %+v", vs)
	}
	runJSON(t, &v, "videos", "get", v.ID)
	runJSON(t, &v, "videos", "status", v.ID)
	if out, err := run(t, "videos", "delete", v.ID); err != nil || !strings.Contains(out, v.ID) {
		t.Errorf("videos delete: %v\n%s", err, out)
	}

	// Webhook endpoints and their deliveries.
	rcv := testenv.NewReceiver(t, http.StatusNoContent)
	var ep client.WebhookEndpoint
	runJSON(t, &ep, "webhooks", "create", "--url", rcv.URL+"/hook", "--events", "webhook.test")
	if !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Fatalf("webhooks create %+v", ep)
	}
	var eps []client.WebhookEndpoint
	runJSON(t, &eps, "webhooks", "list")
	if !slices.ContainsFunc(eps, func(e client.WebhookEndpoint) bool { return e.ID == ep.ID }) {
		t.Errorf("webhooks list %+v", eps)
	}
	runJSON(t, &ep, "webhooks", "update", ep.ID, "--description", "ci")
	if ep.Description != "ci" {
		t.Errorf("webhooks update %+v", ep)
	}
	runJSON(t, &ep, "webhooks", "get", ep.ID)
	var tr client.WebhookTest
	runJSON(t, &tr, "webhooks", "test", ep.ID)
	var ds []client.Delivery
	deadline := time.Now().Add(20 * time.Second)
	for {
		runJSON(t, &ds, "webhooks", "deliveries", ep.ID)
		if len(ds) == 1 && ds[0].Status != "pending" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(ds) != 1 || ds[0].ID != tr.DeliveryID || ds[0].Status != "succeeded" {
		t.Fatalf("deliveries %+v", ds)
	}
	var d client.Delivery
	runJSON(t, &d, "webhooks", "redeliver", ep.ID, ds[0].ID)
	runJSON(t, &ep, "webhooks", "rotate-secret", ep.ID)
	if ep.Secret == "" {
		t.Errorf("rotate-secret shows no secret: %+v", ep)
	}
	if _, err := run(t, "webhooks", "delete", ep.ID); err != nil {
		t.Error(err)
	}

	// Last, as it stops the key this test runs with.
	runJSON(t, &k, "keys", "reset-primary", "--yes")
	if !strings.HasPrefix(k.Key, "fg_test_") {
		t.Fatalf("reset-primary %+v", k)
	}
	if _, err := run(t, "auth"); exitCode(err) != exitRejected {
		t.Errorf("the old primary key after a reset: exit %d (%v)", exitCode(err), err)
	}
	t.Setenv(apiKeyEnv, k.Key)
	if _, err := run(t, "auth"); err != nil {
		t.Errorf("the new primary key: %v", err)
	}
}
