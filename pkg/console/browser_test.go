package console_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// chromium is Debian's browser; FRAMEGATE_CHROMIUM names another binary.
func chromium() string {
	if p := os.Getenv("FRAMEGATE_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// TestConsoleInTheBrowser runs the console in a real browser against the
// local stack (testdata/browser/console.mjs: sign in with a one-time link,
// see the keys, create a key and read it once, revoke it and see it fail
// in the API, watch a render finish and play it, send and redeliver a
// webhook, 375 px wide, the link a second time shows nothing). Like every
// integration test it never skips: without chromium or playwright-core it
// fails and says how to install them (`make browser-tools`).
func TestConsoleInTheBrowser(t *testing.T) {
	testenv.Integration(t)
	dir, _ := filepath.Abs(filepath.Join("testdata", "browser"))
	for _, need := range []string{chromium(), filepath.Join(dir, "node_modules", "playwright-core", "package.json")} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s is missing: run `make browser-tools` (apt-get install chromium; npm ci in %s)", need, dir)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is missing: install Node.js 20 or newer (apt-get install nodejs)")
	}

	s := testenv.NewStack(t, func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true", "WebhookRetrySchedule": "0s,1s"}
	})
	_, keys := s.Workspace("Browser", ratelimit.Plan{})
	test := keys[apikey.Test]
	api := testenv.NewAPIClient(t, s.URL())
	hook := testenv.NewReceiver(t, http.StatusOK)
	api.Expect(api.Do("POST", "/webhooks", test, map[string]any{"url": hook.URL + "/fg", "events": []string{"*"}}), http.StatusCreated)
	link := api.Expect(api.Do("POST", "/console/sessions", test, nil), http.StatusCreated).Str("url")

	shots := filepath.Join(testenv.RepoRoot(t), "build", "console-screenshots")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "console.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LINK="+link, "API="+s.URL(), "SHOTS="+shots, "CHROMIUM="+chromium(), "KEY="+test)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("browser run (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("the console failed in the browser: %v", err)
	}
	// The test event and its redelivery reached the endpoint.
	if n := hook.Count(); n < 2 {
		t.Errorf("the webhook endpoint got %d deliveries, want the test event and its redelivery", n)
	}
	for _, name := range []string{"keys", "key-created", "renders", "render-player", "webhooks", "usage", "audit", "keys-375px", "link-used-again"} {
		if fi, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s.png: %v", name, err)
		}
	}
	if !strings.Contains(out.String(), "all steps passed") {
		t.Error("the browser script did not finish")
	}
}
