package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// TestMakeDevWebhooks runs the stack `make dev` runs (template.yaml, every
// function of the registry with the real render worker and ffmpeg, loopback
// receivers allowed, the default retry schedule) and shows, over HTTP:
//
//   - a v1a endpoint receives a render's render.succeeded whose "v1a,"
//     signature OpenSSL's ed25519 verifies with the endpoint's publicKey,
//     and whose download link, signed when it was sent, downloads the MP4;
//   - an endpoint that failed twice, then POST /v1/webhooks/{id}/recover:
//     the event arrives within 10 s, once.
func TestMakeDevWebhooks(t *testing.T) {
	s := testenv.NewStack(t, testenv.WithRegistry(devstack.Registry()), func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true"}
	})
	_, keys := s.Workspace("make-dev", ratelimit.Plan{})
	key := keys[apikey.Test]
	c := testenv.NewAPIClient(t, s.URL())

	t.Run("v1a render.succeeded", func(t *testing.T) {
		rcv := testenv.NewReceiver(t, http.StatusNoContent)
		r := c.Expect(c.Do("POST", "/webhooks", key, map[string]any{"url": rcv.URL + "/hooks",
			"events": []string{"render.succeeded"}, "signatureScheme": "v1a"}), 201)
		pub := r.Str("publicKey")
		video := c.Expect(c.Do("POST", "/videos", key, map[string]any{"spec": map[string]any{"resolution": "sd",
			"scenes": []any{map[string]any{"duration": 1, "background": map[string]any{"color": "#1d4ed8"}}}}}), 202).Str("id")
		got := rcv.WaitFor(t, 90*time.Second) // the render, then the event
		if !bytes.Contains(got.Body, []byte(video)) || !bytes.Contains(got.Body, []byte(`"render.succeeded"`)) {
			t.Fatalf("event %s", got.Body)
		}
		sig, ok := strings.CutPrefix(got.Header.Get("Webhook-Signature"), "v1a,")
		raw, err := base64.StdEncoding.DecodeString(sig)
		if !ok || err != nil {
			t.Fatalf("webhook-signature %q", got.Header.Get("Webhook-Signature"))
		}
		signed := []byte(got.Header.Get("Webhook-Id") + "." + got.Header.Get("Webhook-Timestamp") + ".")
		if err := testenv.OpenSSLVerifyEd25519(t, testenv.DecodeKey(t, pub, webhooksig.PublicKeyPrefix), append(signed, got.Body...), raw); err != nil {
			t.Fatalf("OpenSSL does not verify the v1a signature with %s: %v", pub, err)
		}
		if err := webhooksig.Verify(pub, got.Header, got.Body, time.Minute); err != nil {
			t.Errorf("Verify: %v", err)
		}
		var ev testenv.Reply
		_ = json.Unmarshal(got.Body, &ev.Body)
		link := ev.Str("data", "downloadUrl")
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		mp4, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(mp4) < 12 || string(mp4[4:8]) != "ftyp" {
			t.Errorf("GET downloadUrl: %d, %d bytes", resp.StatusCode, len(mp4))
		}
	})

	t.Run("recover after two failures", func(t *testing.T) {
		var (
			mu       sync.Mutex
			fails    = 2
			received []string
			arrived  = make(chan time.Time, 10)
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			received = append(received, r.Header.Get("Webhook-Id"))
			if len(received) <= fails {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			arrived <- time.Now()
		}))
		t.Cleanup(srv.Close)
		id := c.Expect(c.Do("POST", "/webhooks", key, map[string]any{"url": srv.URL, "events": []string{"webhook.test"}}), 201).Str("id")
		eventID := c.Expect(c.Do("POST", "/webhooks/"+id+"/test", key, nil), 202).Str("eventId")
		// The default schedule: at once, then 5 s later; the third attempt
		// would come 5 minutes after that.
		deadline := time.Now().Add(30 * time.Second)
		for {
			d := c.Expect(c.Do("GET", "/webhooks/"+id+"/deliveries", key, nil), 200)
			if n, _ := d.Get("data", "0", "attemptCount").(float64); n == 2 {
				if d.Str("data", "0", "status") != "pending" || d.Str("data", "0", "nextAttemptAt") == "" {
					t.Fatalf("after two failures: %s", d.Raw)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no two failed attempts: %s", d.Raw)
			}
			time.Sleep(250 * time.Millisecond)
		}
		asked := time.Now()
		c.Expect(c.Do("POST", "/webhooks/"+id+"/recover", key, map[string]any{"since": asked.Add(-time.Hour).UTC().Format(time.RFC3339)}), 202)
		select {
		case at := <-arrived:
			t.Logf("the event arrived %s after recover", at.Sub(asked).Round(time.Millisecond))
			if at.Sub(asked) > 10*time.Second {
				t.Errorf("the event arrived %s after recover, want within 10 s", at.Sub(asked))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the event did not arrive within 10 s of recover")
		}
		time.Sleep(2 * time.Second) // room for a duplicate to show
		mu.Lock()
		defer mu.Unlock()
		if len(received) != 3 || received[2] != eventID {
			t.Errorf("requests %v: want two failures and the recovered event %s, once", received, eventID)
		}
		d := c.Expect(c.Do("GET", "/webhooks/"+id+"/deliveries", key, nil), 200)
		if d.Str("data", "0", "status") != "succeeded" || !strings.HasPrefix(d.Str("data", "0", "attempts", "2", "recovery"), "rcv_") {
			t.Errorf("log after recovery: %s", d.Raw)
		}
	})
}
