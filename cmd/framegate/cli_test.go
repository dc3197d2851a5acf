package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/movie"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// cli runs the root command in-process, as the binary would.
func cli(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	root := newRoot()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(strings.NewReader(""))
	return execute(ctx, root, args)
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cli(context.Background(), &out, &errb, args...)
	if errb.Len() > 0 {
		t.Logf("framegate %s (stderr):\n%s", strings.Join(args, " "), errb.String())
	}
	return out.String(), err
}

// lines is an io.Writer that hands out whole lines on a channel.
type lines struct {
	mu  sync.Mutex
	buf []byte
	ch  chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 100)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.ch <- string(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lines) await(t *testing.T, what string, d time.Duration, match func(string) bool) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case s := <-l.ch:
			t.Logf("%s: %s", what, s)
			if match(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, d)
		}
	}
}

// shortExample is the shortest plain movie spec in examples/ that needs
// nothing from the internet (no image or audio URL), and its duration.
// Template calls are left out: their length depends on the template.
func shortExample(t *testing.T) (string, float64) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "examples", "*.json"))
	type cand struct {
		path string
		dur  float64
	}
	var cands []cand
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || bytes.Contains(b, []byte(`"url"`)) || bytes.Contains(b, []byte(`"templateId"`)) {
			continue
		}
		req, err := renderRequest(b)
		if err != nil {
			continue
		}
		spec, err := movie.Parse(req.Spec, movie.DefaultLimits(30, true))
		if err != nil {
			continue
		}
		cands = append(cands, cand{f, spec.Duration()})
	}
	if len(cands) == 0 {
		t.Fatal("no self-contained movie spec to render in examples/")
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].dur < cands[j].dur })
	t.Logf("rendering %s (%.2f s)", cands[0].path, cands[0].dur)
	return cands[0].path, cands[0].dur
}

// TestCLIEndToEnd is the developer's first ten minutes, in-process against
// the whole local stack with the real render worker and ffmpeg: listen for
// webhooks, render an example with --wait, download it, and see the signed
// render.succeeded event arrive.
func TestCLIEndToEnd(t *testing.T) {
	example, wantDur := shortExample(t)
	s, keys := webhookStack(t, "cli-test")
	events, status, _, stopListen := listening(t, "--output", "json")

	out, err := run(t, "videos", "create", "--file", example, "--wait", "--poll-interval", "100ms", "--output", "json")
	if err != nil {
		t.Fatalf("videos create --wait: %v (exit %d)\n%s", err, exitCode(err), out)
	}
	var v client.Video
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("videos create output: %v\n%s", err, out)
	}
	if v.Status != "succeeded" {
		t.Fatalf("status %s, want succeeded: %+v", v.Status, v)
	}

	// -o is the output format, here as everywhere; the file is --output-file.
	dst := filepath.Join(t.TempDir(), "out.mp4")
	out, err = run(t, "-o", "json", "videos", "download", v.ID, "--output-file", dst)
	var dl struct {
		File  string
		Bytes int64
	}
	if err != nil || json.Unmarshal([]byte(out), &dl) != nil || dl.File != dst || dl.Bytes == 0 {
		t.Fatalf("videos download: %v\n%s", err, out)
	}
	codec, dur := probe(t, dst)
	if codec != "h264" {
		t.Errorf("codec %q, want h264", codec)
	}
	if math.Abs(dur-wantDur) > 0.25 {
		t.Errorf("duration %.2f s, want %.2f s (%s)", dur, wantDur, filepath.Base(example))
	}

	// The poster: a JPEG of the movie's size.
	poster := filepath.Join(t.TempDir(), "poster.jpg")
	if out, err := run(t, "videos", "thumbnail", v.ID, "--output-file", poster); err != nil {
		t.Fatalf("videos thumbnail: %v\n%s", err, out)
	}
	if f, err := os.Open(poster); err != nil {
		t.Fatal(err)
	} else {
		cfg, err := jpeg.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != v.Width || cfg.Height != v.Height {
			t.Errorf("thumbnail %dx%d (%v), want a JPEG of %dx%d", cfg.Width, cfg.Height, err, v.Width, v.Height)
		}
	}

	// The receiver printed only what verified against the endpoint's secret.
	line := events.await(t, "event", 30*time.Second, func(s string) bool {
		return strings.Contains(s, `"render.succeeded"`) && strings.Contains(s, v.ID)
	})
	var ev struct {
		ID, Type string
		Data     struct {
			VideoID      string `json:"videoId"`
			Status       string `json:"status"`
			ThumbnailURL string `json:"thumbnailUrl"`
		}
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil || !strings.HasPrefix(ev.ID, "evt_") || ev.Data.Status != "succeeded" ||
		// The attempt's poster, under the video's prefix, named for the video.
		!strings.Contains(ev.Data.ThumbnailURL, "/"+v.ID+"/") || !strings.Contains(ev.Data.ThumbnailURL, ".jpg?") ||
		!strings.Contains(ev.Data.ThumbnailURL, "filename%3D%22"+v.ID+".jpg%22") {
		t.Errorf("event %q: %+v %v", line, ev, err)
	}
	// The download URL reads as a URL: & not \u0026.
	if strings.Contains(line, `\u0026`) || !strings.Contains(line, "&X-Amz-") {
		t.Errorf("event line escapes the URL's &: %s", line)
	}

	publishing(t, v.ID)

	stopListen()
	status.await(t, "listen status", 5*time.Second, func(s string) bool { return strings.HasPrefix(s, "deleted endpoint") })
	left, err := client.New(s.URL(), keys[apikey.Test]).ListWebhooks(context.Background(), client.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left.Data {
		if e.Kind == "endpoint" {
			t.Errorf("listen left endpoint %s behind", e.ID)
		}
	}
}

// TestCLIWebhooksV1aAndRecover: `webhooks listen --signature-scheme v1a`
// registers an ed25519 endpoint and prints only what verifies with its
// public key; `webhooks recover` queues a recovery, and a --since that is
// neither a time nor a duration is a usage error.
func TestCLIWebhooksV1aAndRecover(t *testing.T) {
	s, keys := webhookStack(t, "cli-webhooks")
	events, _, ready, stopListen := listening(t, "--signature-scheme", "v1a", "--events", "webhook.test", "--output", "json")
	if !strings.Contains(ready, "v1a, public key whpk_") {
		t.Errorf("ready line %q does not name the public key", ready)
	}
	id := strings.Fields(strings.TrimPrefix(ready, "Ready: endpoint "))[0]
	ep, err := client.New(s.URL(), keys[apikey.Test]).GetWebhook(context.Background(), id)
	if err != nil || ep.SignatureScheme != client.SchemeV1a || ep.Secret != "" {
		t.Fatalf("listen's endpoint %+v %v", ep, err)
	}
	sent, err := client.New(s.URL(), keys[apikey.Test]).TestWebhook(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	events.await(t, "event", 15*time.Second, func(s string) bool { return strings.Contains(s, sent.EventID) })

	out, err := run(t, "webhooks", "recover", id, "--since", "36h", "--output", "json")
	var rec client.WebhookRecovery
	if err != nil || json.Unmarshal([]byte(out), &rec) != nil || !strings.HasPrefix(rec.ID, "rcv_") || rec.EndpointID != id {
		t.Errorf("recover: %v\n%s", err, out)
	}
	if _, err := run(t, "webhooks", "recover", id, "--since", "last week"); exitCode(err) != exitUsage {
		t.Errorf("bad --since: exit %d (%v), want %d", exitCode(err), err, exitUsage)
	}
	if _, err := run(t, "webhooks", "recover", "we_00000000000000000000000000", "--since", "1h"); exitCode(err) != exitNotFound {
		t.Errorf("unknown endpoint: exit %d (%v), want %d", exitCode(err), err, exitNotFound)
	}
	stopListen()
}

// webhookStack runs the local stack with loopback receivers allowed, as
// `framegate dev` does, and points the CLI at it with a new workspace's
// test key.
func webhookStack(t *testing.T, workspace string) (*testenv.Stack, map[apikey.Env]string) {
	t.Helper()
	s := testenv.NewStack(t, testenv.WithRegistry(devstack.Registry()), func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true"}
	})
	_, keys := s.Workspace(workspace, ratelimit.Plan{})
	t.Setenv(apiKeyEnv, keys[apikey.Test])
	t.Setenv(apiURLEnv, s.URL())
	return s, keys
}

// listening runs `webhooks listen` with args until it is ready, and returns
// its output lines, its "Ready:" line and stop, which ends it as Ctrl-C
// would and fails the test unless it stops cleanly (also called when the
// test ends).
func listening(t *testing.T, args ...string) (events, status *lines, ready string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events, status = newLines(), newLines()
	listened := make(chan error, 1)
	go func() { listened <- cli(ctx, events, status, append([]string{"webhooks", "listen"}, args...)...) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-listened:
				if err != nil {
					t.Errorf("webhooks listen: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("webhooks listen did not stop")
			}
		})
	}
	t.Cleanup(stop)
	ready = status.await(t, "listen status", 20*time.Second, func(s string) bool { return strings.HasPrefix(s, "Ready:") })
	return events, status, ready, stop
}

// TestCLIKeysAndExitCodes checks the keys commands and that API errors
// become the documented exit codes.
func TestCLIKeysAndExitCodes(t *testing.T) {
	s := testenv.NewStack(t, testenv.WithRegistry(devstack.Registry()))
	ws, keys := s.Workspace("cli-test", ratelimit.Plan{})
	t.Setenv(apiURLEnv, s.URL())

	t.Setenv(apiKeyEnv, "")
	if _, err := run(t, "keys", "list"); exitCode(err) != exitUsage {
		t.Errorf("no key: exit %d (%v), want %d", exitCode(err), err, exitUsage)
	}
	t.Setenv(apiKeyEnv, keys[apikey.Test])

	out, err := run(t, "keys", "create", "--name", "ci", "--role", "render", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var k client.Key
	if err := json.Unmarshal([]byte(out), &k); err != nil || !strings.HasPrefix(k.Key, "fg_test_") {
		t.Fatalf("created %q: %v", out, err)
	}
	out, err = run(t, "keys", "rotate", k.ID, "--grace", "1m")
	if err != nil || !strings.Contains(out, "fg_test_") {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	if _, err := run(t, "keys", "revoke", k.ID); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "keys", "list", "--all")
	if err != nil || !strings.Contains(out, k.ID) || !strings.Contains(out, "primary") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = run(t, "templates", "list", "--output", "json")
	var list []client.Template
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) == 0 || list[0].ID == "" {
		t.Fatalf("templates list (the built-ins at least): %v\n%s", err, out)
	}

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"unknown video", []string{"videos", "download", "vid_00000000000000000000000000", "--output-file", filepath.Join(t.TempDir(), "x.mp4")}, exitNotFound},
		{"unknown video's thumbnail", []string{"videos", "thumbnail", "vid_00000000000000000000000000", "--output-file", filepath.Join(t.TempDir(), "x.jpg")}, exitNotFound},
		{"invalid role", []string{"keys", "create", "--name", "x", "--role", "god"}, exitUsage},
		{"missing argument", []string{"keys", "revoke"}, exitUsage},
		{"bad flag", []string{"keys", "list", "--nope"}, exitUsage},
		{"invalid spec", []string{"videos", "create", "--file", writeFile(t, `{"resolution":"sd","scenes":[]}`)}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.args...)
			if got := exitCode(err); got != tt.want {
				t.Errorf("exit %d (%v), want %d", got, err, tt.want)
			}
		})
	}
	// Console links: with the key, and as an operator for any workspace.
	var link consoleLinkView
	out, err = run(t, "console", "--output", "json")
	if err != nil || json.Unmarshal([]byte(out), &link) != nil || !strings.HasPrefix(link.URL, s.URL()+"/console#signin=cs_") {
		t.Fatalf("console with the key: %v\n%s", err, out)
	}
	var sessions []client.ConsoleSession
	out, err = run(t, "console", "sessions", "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &sessions) != nil || len(sessions) == 0 || sessions[0].ID != link.ID || sessions[0].Status != "pending" {
		t.Fatalf("console sessions: %v\n%s", err, out)
	}
	if out, err = run(t, "console", "revoke", link.ID); err != nil || out != link.ID+" revoked\n" {
		t.Fatalf("console revoke: %v\n%s", err, out)
	}
	env := s.Getenv("KeysFunction")
	operator := []string{"console", "--table", env("KEYS_TABLE"), "--pepper-secret", env("PEPPER_SECRET_ARN"), "--audit-table", env("AUDIT_TABLE"), "--endpoint", s.Endpoint(), "--api-url", s.URL(), "--env", "test"}
	out, err = run(t, append(operator, "--workspace", ws.ID)...)
	if err != nil || !strings.HasPrefix(out, s.URL()+"/console#signin=cs_") {
		t.Fatalf("console as an operator: %v\n%s", err, out)
	}
	token := strings.TrimSpace(strings.SplitN(out, "#signin=", 2)[1])
	req, _ := http.NewRequest("POST", s.URL()+"/console/signin", strings.NewReader(`{"token":"`+token+`"}`))
	req.Header.Set("X-Framegate-Console", "test")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Set-Cookie"), "fg_console_test=fgcs_test_") {
		t.Fatalf("signing in with the operator's link: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := run(t, append(operator, "--workspace", "ws_00000000000000000000000000")...); exitCode(err) != exitNotFound {
		t.Errorf("console for an unknown workspace: exit %d (%v), want %d", exitCode(err), err, exitNotFound)
	}
	// The audit log has the key's life; usage counts the commands above.
	out, err = run(t, "audit", "--target", k.ID, "-o", "json")
	var evs []client.AuditEvent
	if err != nil || json.Unmarshal([]byte(out), &evs) != nil || len(evs) != 3 || evs[0].Action != "key.revoked" || evs[2].Action != "key.created" {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	out, err = run(t, "audit", "--action", "key.rotated")
	if err != nil || !strings.Contains(out, "key.rotated") || strings.Contains(out, "key.created") {
		t.Fatalf("audit --action: %v\n%s", err, out)
	}
	if _, err := run(t, "audit", "--since", "yesterday"); exitCode(err) != exitUsage {
		t.Errorf("audit --since yesterday: exit %d", exitCode(err))
	}
	out, err = run(t, "usage", "--granularity", "minute")
	if err != nil || !strings.Contains(out, "admitted") || !strings.Contains(out, keyIDOf(t, keys[apikey.Test])) {
		t.Fatalf("usage: %v\n%s", err, out)
	}

	// A render key cannot manage keys: understood and refused.
	t.Setenv(apiKeyEnv, k.Key) // revoked
	if _, err := run(t, "keys", "list"); exitCode(err) != exitRejected {
		t.Errorf("revoked key: exit %d (%v), want %d", exitCode(err), err, exitRejected)
	}

	// Exact status filters: the rotated key alone is rotated (grace over).
	t.Setenv(apiKeyEnv, keys[apikey.Test])
	out, err = run(t, "keys", "list", "--status", "revoked", "--output", "json")
	var listed []client.Key
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0].ID != k.ID {
		t.Errorf("keys list --status revoked: %v\n%s", err, out)
	}

	// An operator (AWS credentials, no API key) resets the primary: the old
	// one stops, the new one works.
	out, err = run(t, "workspace", "reset-primary", ws.ID, "--env", "test", "--table", env("KEYS_TABLE"),
		"--pepper-secret", env("PEPPER_SECRET_ARN"), "--audit-table", env("AUDIT_TABLE"), "--endpoint", s.Endpoint(), "--output", "json")
	var reset struct{ Key, ID string }
	if err != nil || json.Unmarshal([]byte(out), &reset) != nil || !strings.HasPrefix(reset.Key, "fg_test_") {
		t.Fatalf("workspace reset-primary: %v\n%s", err, out)
	}
	if _, err := run(t, "keys", "list"); exitCode(err) != exitRejected {
		t.Errorf("the old primary after a reset: exit %d (%v), want %d", exitCode(err), err, exitRejected)
	}
	t.Setenv(apiKeyEnv, reset.Key)
	if out, err := run(t, "keys", "list"); err != nil || !strings.Contains(out, reset.ID) {
		t.Errorf("the new primary: %v\n%s", err, out)
	}
	if _, err := run(t, "workspace", "reset-primary", ws.ID, "--env", "staging", "--table", env("KEYS_TABLE"),
		"--pepper-secret", env("PEPPER_SECRET_ARN"), "--endpoint", s.Endpoint()); err == nil {
		t.Error("reset-primary --env staging succeeded")
	}
}

// keyIDOf is the id of a key, asked of the API.
func keyIDOf(t *testing.T, key string) string {
	t.Helper()
	u, err := apiURL()
	if err != nil {
		t.Fatal(err)
	}
	id, err := client.New(u, key).Auth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id.Key.ID
}

func writeFile(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "f.json")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// probe asks ffprobe for the first video stream's codec and the duration.
func probe(t *testing.T, path string) (string, float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name:format=duration", "-of", "default=nw=1", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var codec string
	var dur float64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "codec_name":
			codec = v
		case "duration":
			dur, _ = strconv.ParseFloat(v, 64)
		}
	}
	return codec, dur
}

// TestKeysScan: keys scan finds real keys (by pattern and checksum, offline),
// never prints them, skips look-alikes and .git, and exits 5 on a find.
func TestKeysScan(t *testing.T) {
	dir := t.TempDir()
	live, _ := apikey.New(apikey.Live, nil)
	test, _ := apikey.New(apikey.Test, nil)
	last := "a"
	if live[len(live)-1] == 'a' {
		last = "b"
	}
	lookalike := live[:len(live)-1] + last // the checksum fails
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("clean.txt", "nothing here\nfg_live_tooshort\n"+lookalike+"\n")
	write("app/.env", "A=1\nFRAMEGATE_KEY="+live+" # x "+test+"\n")
	write(".git/objects/ab", live)
	if out, err := run(t, "keys", "scan", filepath.Join(dir, "clean.txt")); err != nil || out != "" {
		t.Fatalf("clean file: %q %v", out, err)
	}
	out, err := run(t, "keys", "scan", dir)
	if exitCode(err) != exitKeysFound {
		t.Fatalf("exit %d (%v), want %d", exitCode(err), err, exitKeysFound)
	}
	env := filepath.Join(dir, "app", ".env")
	want := env + ":2:15: framegate live key " + apikey.Preview(live) + "\n" +
		env + ":2:" + strconv.Itoa(15+len(live)+5) + ": framegate test key " + apikey.Preview(test) + "\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if strings.Contains(out, live) || strings.Contains(out, test) {
		t.Fatal("scan printed a key")
	}
	out, err = run(t, "keys", "scan", "-o", "json", env)
	var fs []finding
	if exitCode(err) != exitKeysFound || json.Unmarshal([]byte(out), &fs) != nil || len(fs) != 2 || fs[1].Env != "test" {
		t.Fatalf("json: %s %v", out, err)
	}
}
