package keysapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func codeOf(err error) apierr.Code {
	var e *apierr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestParseReport(t *testing.T) {
	good := `[{"token":"fg_live_x","type":"framegate_api_key","url":"https://github.com/o/r/blob/1/a.env","source":"content","extra":1}]`
	fs, err := keysapi.ParseReport([]byte(good))
	if err != nil || len(fs) != 1 || fs[0].Token != "fg_live_x" || fs[0].Source != "content" || fs[0].URL == "" {
		t.Fatalf("%+v %v", fs, err)
	}
	if fs, err := keysapi.ParseReport([]byte(`[]`)); err != nil || len(fs) != 0 {
		t.Fatalf("empty report: %+v %v", fs, err)
	}
	for _, tc := range []struct{ name, body, field string }{
		{"not json", `nope`, ""},
		{"an object", `{"token":"x"}`, ""},
		{"no token", `[{"type":"t"}]`, "/0/token"},
		{"token not a string", `[{"token":1}]`, "/0/token"},
		{"long url", `[{"token":"x","url":"` + strings.Repeat("u", 3000) + `"}]`, "/0/url"},
		{"too many", "[" + strings.Repeat(`{"token":"x"},`, keysapi.MaxFindings) + `{"token":"x"}]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keysapi.ParseReport([]byte(tc.body))
			var e *apierr.Error
			if !errors.As(err, &e) || e.Code != apierr.InvalidRequest || e.Field != tc.field {
				t.Fatalf("got %v, want invalid_request at %q", err, tc.field)
			}
		})
	}
}

// FuzzParseReport: the parser never panics, and whatever it accepts has a
// token in every finding and stays within the report's limits.
func FuzzParseReport(f *testing.F) {
	f.Add([]byte(`[{"token":"fg_live_x","type":"t","url":"u","source":"content"}]`))
	f.Add([]byte(`[{"token":null}]`))
	f.Add([]byte(`[{"token":"a"},{"token":"b","url":[1]}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fs, err := keysapi.ParseReport(body)
		if err != nil {
			if codeOf(err) != apierr.InvalidRequest {
				t.Fatalf("error outside the closed list: %v", err)
			}
			return
		}
		if len(fs) > keysapi.MaxFindings {
			t.Fatalf("%d findings", len(fs))
		}
		for _, x := range fs {
			if x.Token == "" {
				t.Fatal("a finding without a token")
			}
		}
	})
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	signer, err := keysapi.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := keysapi.NewSigner()
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, signer.KeyList(), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := keysapi.KeysFromFile(path, time.Now)
	body := []byte(`[{"token":"x"}]`)
	h, _ := signer.Headers(body)
	id, sig := h["Github-Public-Key-Identifier"], h["Github-Public-Key-Signature"]
	if err := keys.Verify(ctx, body, id, sig); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	oh, _ := other.Headers(body)
	for name, tc := range map[string]struct{ body, id, sig string }{
		"unsigned":          {string(body), "", ""},
		"no key id":         {string(body), "", sig},
		"another body":      {`[{"token":"y"}]`, id, sig},
		"an untrusted key":  {string(body), oh["Github-Public-Key-Identifier"], oh["Github-Public-Key-Signature"]},
		"another key's sig": {string(body), id, oh["Github-Public-Key-Signature"]},
		"not base64":        {string(body), id, "!!"},
		"not DER":           {string(body), id, "AAAA"},
	} {
		if err := keys.Verify(ctx, []byte(tc.body), tc.id, tc.sig); codeOf(err) != apierr.InvalidSignature {
			t.Errorf("%s: %v, want invalid_signature", name, err)
		}
	}
}

// TestPublishedKeysAreCached: production reads GitHub's key list over
// HTTP (here a loopback server through the injectable URL): once for many
// reports, again for an unknown key id at most once a minute, and the last
// good list keeps working while the source is down.
func TestPublishedKeysAreCached(t *testing.T) {
	ctx := context.Background()
	signer, _ := keysapi.NewSigner()
	rotated, _ := keysapi.NewSigner()
	var fetches atomic.Int32
	var list atomic.Pointer[[]byte]
	l := signer.KeyList()
	list.Store(&l)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		b := *list.Load()
		if b == nil {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	clock := testenv.NewClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	keys := keysapi.KeysFromURL(srv.URL, srv.Client(), clock.Now)
	body := []byte(`[]`)
	sign := func(s *keysapi.Signer) (string, string) {
		h, _ := s.Headers(body)
		return h["Github-Public-Key-Identifier"], h["Github-Public-Key-Signature"]
	}
	for range 5 {
		id, sig := sign(signer)
		if err := keys.Verify(ctx, body, id, sig); err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 5 reports, want 1", n)
	}
	// GitHub rotates: the new key is unknown until the list is read again,
	// which an unknown id triggers at most once a minute.
	both := append([]byte(nil), rotated.KeyList()...)
	list.Store(&both)
	id, sig := sign(rotated)
	if err := keys.Verify(ctx, body, id, sig); codeOf(err) != apierr.InvalidSignature {
		t.Fatalf("within a minute of the last fetch: %v", err)
	}
	clock.Advance(61 * time.Second)
	if err := keys.Verify(ctx, body, id, sig); err != nil || fetches.Load() != 2 {
		t.Fatalf("after a minute: %v, %d fetches", err, fetches.Load())
	}
	// The source goes down after the list aged out: the known key still verifies.
	list.Store(new([]byte))
	clock.Advance(2 * time.Hour)
	if err := keys.Verify(ctx, body, id, sig); err != nil {
		t.Fatalf("with the source down: %v", err)
	}
	// A never-seen key with the source down is a server error (GitHub retries), not a 401.
	stranger, _ := keysapi.NewSigner()
	clock.Advance(2 * time.Minute)
	sid, ssig := sign(stranger)
	if err := keys.Verify(ctx, body, sid, ssig); err == nil || codeOf(err) != "" {
		t.Fatalf("unknown key, source down: %v", err)
	}
}

// TestLeakedKeyRevokedOnTheStack is what `make dev` shows: a report signed
// by a trusted key revokes the reported key at once (its next request is
// 401) and labels it true_positive, an unknown token false_positive; an
// unsigned or wrongly signed report is 401 and revokes nothing; the audit
// log names the revocation; key.leaked reaches a webhook endpoint.
func TestLeakedKeyRevokedOnTheStack(t *testing.T) {
	s := testenv.NewStack(t, testenv.WithParameter("WebhookAllowLoopback", "true"))
	_, keys := s.Workspace("Leaky", ratelimit.Plan{})
	primary := keys[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	rcv := testenv.NewReceiver(t, http.StatusNoContent)
	c.Expect(c.Do("POST", "/webhooks", primary, map[string]any{"url": rcv.URL, "events": []string{"key.leaked"}}), 201)
	r := c.Expect(c.Do("POST", "/keys", primary, map[string]any{"name": "ci", "role": "render"}), 201)
	leaked, leakedID := r.Str("key"), r.Str("id")
	unknown, _ := apikey.New(apikey.Live, nil) // a valid checksum, never issued
	report, _ := json.Marshal([]map[string]string{
		{"token": leaked, "type": "framegate_api_key", "url": "https://github.com/o/r/blob/abc/.env", "source": "content"},
		{"token": unknown, "type": "framegate_api_key", "url": "https://github.com/o/r/blob/abc/x", "source": "content"},
		{"token": "fg_live_not_a_key", "type": "framegate_api_key", "source": "content"},
	})
	post := func(headers map[string]string) testenv.Reply {
		return c.Post("/secret-scanning/github", report, headers)
	}

	// Unsigned, and signed by a key the stack does not trust: 401, nothing revoked.
	impostor, _ := keysapi.NewSigner()
	bad, _ := impostor.Headers(report)
	wrongBody, _ := s.Scanning.Headers(append([]byte(" "), report...))
	for name, h := range map[string]map[string]string{"unsigned": nil, "untrusted key": bad, "signature of another body": wrongBody} {
		if r := post(h); r.Status != 401 || r.Str("error", "code") != "invalid_signature" {
			t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	c.Expect(c.Do("GET", "/auth", leaked, nil), 200)

	good, _ := s.Scanning.Headers(report)
	r = post(good)
	if r.Status != 200 {
		t.Fatalf("signed report: %d %s", r.Status, r.Raw)
	}
	var labels []keysapi.Label
	if err := json.Unmarshal([]byte(r.Raw), &labels); err != nil || len(labels) != 3 {
		t.Fatalf("labels: %s", r.Raw)
	}
	for i, want := range []string{keysapi.TruePositive, keysapi.FalsePositive, keysapi.FalsePositive} {
		if labels[i].Label != want || labels[i].TokenType != "framegate_api_key" {
			t.Errorf("token %d: %+v, want %s", i, labels[i], want)
		}
	}
	if labels[0].TokenRaw != leaked {
		t.Errorf("token_raw: %+v", labels[0])
	}
	if r := c.Do("GET", "/auth", leaked, nil); r.Status != 401 {
		t.Fatalf("the leaked key still works: %d %s", r.Status, r.Raw)
	}
	// Reported again: already revoked, so a false positive now.
	again, _ := s.Scanning.Headers(report)
	if r := post(again); !strings.Contains(r.Raw, `"label":"false_positive"`) || strings.Contains(r.Raw, "true_positive") {
		t.Errorf("second report: %s", r.Raw)
	}

	r = c.Expect(c.Do("GET", "/audit-events?action=key.leak_revoked", primary, nil), 200)
	if r.Str("data", "0", "target", "id") != leakedID || r.Str("data", "0", "actor", "type") != "secret_scanning" ||
		r.Str("data", "0", "details", "url") != "https://github.com/o/r/blob/abc/.env" || r.Get("data", "1") != nil {
		t.Errorf("audit: %s", r.Raw)
	}

	got := rcv.Wait(t)
	var ev struct {
		Type string `json:"type"`
		Data struct {
			KeyID, Preview string
			Leak           struct {
				URL     string `json:"url"`
				Revoked bool   `json:"revoked"`
			} `json:"leak"`
		} `json:"data"`
	}
	if err := json.Unmarshal(got.Body, &ev); err != nil || ev.Type != "key.leaked" || ev.Data.KeyID != leakedID ||
		!ev.Data.Leak.Revoked || ev.Data.Leak.URL == "" || !strings.HasPrefix(ev.Data.Preview, "fg_live_") {
		t.Fatalf("webhook: %s (%v)", got.Body, err)
	}
	if strings.Contains(string(got.Body), leaked) {
		t.Error("the webhook carries the leaked key itself")
	}
}

// TestKeyEventsReachEndpoints: rotating and revoking a key through the API
// send key.rotated and key.revoked to the workspace's endpoints, naming the
// key by id and preview, never by the key itself.
func TestKeyEventsReachEndpoints(t *testing.T) {
	s := testenv.NewStack(t, testenv.WithParameter("WebhookAllowLoopback", "true"))
	_, keys := s.Workspace("Events", ratelimit.Plan{})
	primary := keys[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	rcv := testenv.NewReceiver(t, http.StatusNoContent)
	c.Expect(c.Do("POST", "/webhooks", primary, map[string]any{"url": rcv.URL, "events": []string{"key.rotated", "key.revoked"}}), 201)
	k := c.Expect(c.Do("POST", "/keys", primary, map[string]any{"name": "ci", "role": "render"}), 201)
	rot := c.Expect(c.Do("POST", "/keys/"+k.Str("id")+"/rotate", primary, map[string]any{"gracePeriodSeconds": 60}), 201)
	c.Expect(c.Do("DELETE", "/keys/"+rot.Str("id"), primary, nil), 200)
	c.Expect(c.Do("DELETE", "/keys/"+rot.Str("id"), primary, nil), 200) // a no-op: no second event
	got := map[string]map[string]any{}
	for range 2 {
		r := rcv.Wait(t)
		var ev struct {
			Type string
			Data map[string]any
		}
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatal(err)
		}
		got[ev.Type] = ev.Data
		for _, key := range []string{k.Str("key"), rot.Str("key")} {
			if strings.Contains(string(r.Body), key) {
				t.Errorf("%s carries a key", ev.Type)
			}
		}
	}
	if d := got["key.rotated"]; d["keyId"] != k.Str("id") || d["newKeyId"] != rot.Str("id") || d["gracePeriodEndsAt"] == nil {
		t.Errorf("key.rotated: %v", d)
	}
	if d := got["key.revoked"]; d["keyId"] != rot.Str("id") || d["reason"] != "revoked" || d["preview"] != rot.Str("preview") {
		t.Errorf("key.revoked: %v", d)
	}
	time.Sleep(500 * time.Millisecond)
	if n := rcv.Count(); n != 2 {
		t.Errorf("%d deliveries, want 2", n)
	}
}
