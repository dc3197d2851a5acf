// Package e2e drives the whole local stack over real HTTP: the local API
// Gateway, the authorizer, the handlers and DynamoDB on the emulator, with an
// injected clock so rate-limit windows and expiries pass without sleeping.
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func allScopes() []string {
	out := make([]string, len(scopes.All))
	for i, s := range scopes.All {
		out[i] = string(s)
	}
	return out
}

func stringsOf(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is %T, want a JSON array", v, v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		out[i], _ = x.(string)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestAuthEndpoint: GET /v1/auth with either header, and every way of not
// getting there, each answered in the error envelope.
func TestAuthEndpoint(t *testing.T) {
	s := newStack(t)
	ws, keys := s.workspace(ratelimit.Plan{})
	live, test := keys[apikey.Live], keys[apikey.Test]
	primaries, _, err := s.store.ListKeys(context.Background(), ws.ID, apikey.Live, "", 10, keystore.StatusActive)
	if err != nil || len(primaries) != 1 {
		t.Fatalf("list keys: %v %v", primaries, err)
	}

	r := expect(t, s.do("GET", "/v1/auth", live, nil), http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if r.str("object") != "auth" || r.str("workspace", "id") != ws.ID || r.str("environment") != "live" {
		t.Errorf("wrong identity: %s", r)
	}
	if r.str("key", "id") != primaries[0].ID || r.str("key", "kind") != "primary" || r.str("key", "role") != "manager" {
		t.Errorf("wrong key facts (want id %s, primary, manager): %s", primaries[0].ID, r)
	}
	if got := stringsOf(t, r.get("key", "scopes")); !sameSet(got, allScopes()) {
		t.Errorf("scopes %v, want %v", got, allScopes())
	}
	for _, c := range []struct {
		path             []string
		limit, remaining float64
	}{
		{[]string{"rateLimits", "key"}, 100, 99},
		{[]string{"rateLimits", "workspace"}, 1000, 999},
	} {
		l, _ := r.num(append(c.path, "limit")...)
		rem, _ := r.num(append(c.path, "remaining")...)
		win, _ := r.num(append(c.path, "window")...)
		reset, _ := r.num(append(c.path, "reset")...)
		if l != c.limit || rem != c.remaining || win != 60 || reset < 1 || reset > 60 {
			t.Errorf("%v: limit %v remaining %v window %v reset %v, want %v/%v/60/1..60", c.path, l, rem, win, reset, c.limit, c.remaining)
		}
	}
	if rem := rateHeaders(t, r, 100); rem != 99 {
		t.Errorf("X-RateLimit-Remaining %d after the first request, want 99", rem)
	}

	// The same through x-api-key; the count goes on.
	r = expect(t, s.send("GET", "/v1/auth", map[string]string{"x-api-key": live}, nil), http.StatusOK)
	if r.str("key", "id") != primaries[0].ID || r.str("workspace", "id") != ws.ID {
		t.Errorf("x-api-key: wrong identity: %s", r)
	}
	if rem := rateHeaders(t, r, 100); rem != 98 {
		t.Errorf("x-api-key: X-RateLimit-Remaining %d, want 98", rem)
	}
	// The test key is the sandbox of the same workspace, with its own key id.
	r = expect(t, s.send("GET", "/v1/auth", map[string]string{"X-API-Key": test}, nil), http.StatusOK)
	if r.str("environment") != "test" || r.str("workspace", "id") != ws.ID || r.str("key", "id") == primaries[0].ID || r.str("key", "id") == "" {
		t.Errorf("test key: wrong identity: %s", r)
	}

	// Authentication failures, rendered by the gateway responses.
	unknown, err := apikey.New(apikey.Live, nil) // well-formed, never stored
	if err != nil {
		t.Fatal(err)
	}
	// One character changed: the checksum no longer matches.
	typo := live[:len(live)-1] + "a"
	if live[len(live)-1] == 'a' {
		typo = live[:len(live)-1] + "b"
	}
	for _, c := range []struct {
		name    string
		headers map[string]string
		code    string
	}{
		{"no key", nil, "missing_api_key"},
		{"garbage bearer", map[string]string{"Authorization": "Bearer garbage"}, "invalid_api_key"},
		{"garbage x-api-key", map[string]string{"x-api-key": "fg_live_nope"}, "invalid_api_key"},
		{"bad checksum", map[string]string{"Authorization": "Bearer " + typo}, "invalid_api_key"},
		{"unknown key", map[string]string{"Authorization": "Bearer " + unknown}, "invalid_api_key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := expectError(t, s.send("GET", "/v1/auth", c.headers, nil), http.StatusUnauthorized, c.code, "")
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	// No such route, with and without a key; a known path with a wrong method.
	expectError(t, s.do("GET", "/v1/nope", "", nil), http.StatusNotFound, "not_found", "")
	expectError(t, s.do("GET", "/v1/nope", live, nil), http.StatusNotFound, "not_found", "")
	expectError(t, s.do("PUT", "/v1/auth", live, nil), http.StatusNotFound, "not_found", "")
	expectError(t, s.do("DELETE", "/v1/keys", live, nil), http.StatusNotFound, "not_found", "")
	expectError(t, s.do("GET", "/v2/auth", live, nil), http.StatusNotFound, "not_found", "")

	// None of the failures above counted against the key.
	r = expect(t, s.do("GET", "/v1/auth", live, nil), http.StatusOK)
	if rem := rateHeaders(t, r, 100); rem != 97 {
		t.Errorf("X-RateLimit-Remaining %d after 3 admitted requests, want 97", rem)
	}
}

// TestRateLimitOverHTTP: 10 requests a minute, 40 from 8 goroutines →
// exactly 10 admitted, 30 × 429 with a Retry-After within the window; the
// clock moved past the window admits again. Handler errors carry the
// headers too.
func TestRateLimitOverHTTP(t *testing.T) {
	s := newStack(t)
	_, keys := s.workspace(ratelimit.Plan{KeyRequestsPerMinute: 10})
	key := keys[apikey.Live]

	// A handler error (404 from the keys function) is authorized and counted,
	// and carries the headers.
	r := expectError(t, s.do("GET", "/v1/keys/key_doesnotexist", key, nil), http.StatusNotFound, "not_found", "")
	if rem := rateHeaders(t, r, 10); rem != 9 {
		t.Errorf("404 from a handler: X-RateLimit-Remaining %d, want 9", rem)
	}
	// So does a 400.
	r = expectError(t, s.do("GET", "/v1/keys?limit=0", key, nil), http.StatusBadRequest, "invalid_request", "limit")
	if rem := rateHeaders(t, r, 10); rem != 8 {
		t.Errorf("400 from a handler: X-RateLimit-Remaining %d, want 8", rem)
	}

	// Move to the next window so the burst starts from zero.
	s.clock.Advance(time.Minute)
	now := s.clock.Now()
	cellStart := time.Unix(now.Unix()/10*10, 0)
	windowEnd := cellStart.Add(time.Minute)
	maxRetry := int((windowEnd.Sub(now) + time.Second - 1) / time.Second)

	const total, workers = 40, 8
	results := make(chan response, total)
	jobs := make(chan int, total)
	for i := range total {
		jobs <- i
	}
	close(jobs)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				results <- s.do("GET", "/v1/auth", key, nil)
			}
		}()
	}
	wg.Wait()
	close(results)
	var ok, limited int
	var remaining []int
	for r := range results {
		switch r.Status {
		case http.StatusOK:
			ok++
			remaining = append(remaining, rateHeaders(t, r, 10))
			if r.Header.Get("Retry-After") != "" {
				t.Errorf("200 with Retry-After %s", r.Header.Get("Retry-After"))
			}
		case http.StatusTooManyRequests:
			limited++
			expectError(t, r, http.StatusTooManyRequests, "rate_limited", "")
			if rem := rateHeaders(t, r, 10); rem != 0 {
				t.Errorf("429 with X-RateLimit-Remaining %d", rem)
			}
			ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > maxRetry {
				t.Errorf("Retry-After %q, want 1..%d (the window ends at %s, now %s)", r.Header.Get("Retry-After"), maxRetry, windowEnd, now)
			}
		default:
			t.Errorf("unexpected %s", r)
		}
	}
	if ok != 10 || limited != 30 {
		t.Fatalf("%d × 200 and %d × 429, want exactly 10 and 30", ok, limited)
	}
	// Each admitted request saw its own place in the window.
	slices.Sort(remaining)
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(remaining, want) {
		t.Errorf("X-RateLimit-Remaining of the admitted requests %v, want %v", remaining, want)
	}

	// Still limited just before the window's end...
	s.clock.Advance(windowEnd.Sub(now) - time.Second)
	expectError(t, s.do("GET", "/v1/auth", key, nil), http.StatusTooManyRequests, "rate_limited", "")
	// ...and admitted again once the burst's cell has left the window.
	s.clock.Advance(time.Second)
	r = expect(t, s.do("GET", "/v1/auth", key, nil), http.StatusOK)
	if rem := rateHeaders(t, r, 10); rem != 9 {
		t.Errorf("after the window: X-RateLimit-Remaining %d, want 9 (rejected requests must not count)", rem)
	}
}

// TestWorkspaceLimitSharedOverHTTP: two keys of one workspace share its
// limit, and the workspace limit binds the headers when it is the tighter.
func TestWorkspaceLimitSharedOverHTTP(t *testing.T) {
	s := newStack(t)
	_, keys := s.workspace(ratelimit.Plan{KeyRequestsPerMinute: 10, WorkspaceRequestsPerMinute: 6})
	primary := keys[apikey.Live]
	second := expect(t, s.do("POST", "/v1/keys", primary, map[string]any{"name": "second", "role": "read_only"}), http.StatusCreated).str("key")
	// 1 request so far; 5 more fit.
	for i := range 5 {
		k := primary
		if i%2 == 1 {
			k = second
		}
		r := expect(t, s.do("GET", "/v1/auth", k, nil), http.StatusOK)
		if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(4-i) {
			t.Errorf("request %d: X-RateLimit-Remaining %s, want %d (the workspace's)", i+2, got, 4-i)
		}
	}
	r := expectError(t, s.do("GET", "/v1/auth", second, nil), http.StatusTooManyRequests, "rate_limited", "")
	if r.Header.Get("Retry-After") == "" || !strings.Contains(r.str("error", "message"), "workspace") {
		t.Errorf("workspace 429 should say so and carry Retry-After: %s %v", r, r.Header)
	}
}

// key is a created key as the API returned it.
type key struct{ id, plain string }

func create(t *testing.T, s *stack, caller string, body map[string]any) key {
	t.Helper()
	r := expect(t, s.do("POST", "/v1/keys", caller, body), http.StatusCreated)
	k := key{id: r.str("id"), plain: r.str("key")}
	if k.id == "" || k.plain == "" {
		t.Fatalf("create: no id or key in %s", r)
	}
	return k
}

// TestKeysAPI: create, use, list (paginated, metadata only), get, and every
// validation failure, which writes nothing.
func TestKeysAPI(t *testing.T) {
	s := newStack(t)
	ws, keys := s.workspace(ratelimit.Plan{})
	primary := keys[apikey.Live]

	r := expect(t, s.do("POST", "/v1/keys", primary, map[string]any{"name": "CI deploys", "role": "render"}), http.StatusCreated)
	rateHeaders(t, r, 100)
	ci := key{id: r.str("id"), plain: r.str("key")}
	env, err := apikey.Parse(ci.plain)
	if err != nil || env != apikey.Live {
		t.Fatalf("created key %q does not parse as a live key: %v", ci.plain, err)
	}
	if p := r.str("preview"); p != apikey.Preview(ci.plain) || strings.Contains(p, ci.plain[8:30]) {
		t.Errorf("preview %q, want %q", p, apikey.Preview(ci.plain))
	}
	if r.str("name") != "CI deploys" || r.str("role") != "render" || r.str("kind") != "secondary" ||
		r.str("status") != "active" || r.str("environment") != "live" || r.get("lastUsedAt") != nil {
		t.Errorf("create: unexpected body %s", r)
	}
	if got := stringsOf(t, r.get("scopes")); !sameSet(got, []string{"videos:read", "videos:write", "templates:read", "assets:read", "assets:write"}) {
		t.Errorf("render scopes %v", got)
	}

	// The new key works and is who it says.
	s.clock.Advance(2 * time.Second)
	usedAt := s.clock.Now()
	r = expect(t, s.do("GET", "/v1/auth", ci.plain, nil), http.StatusOK)
	if r.str("key", "id") != ci.id || r.str("key", "role") != "render" || r.str("workspace", "id") != ws.ID {
		t.Errorf("new key's identity: %s", r)
	}

	// GET /v1/keys/{id}: metadata, lastUsedAt set by that request.
	r = expect(t, s.do("GET", "/v1/keys/"+ci.id, primary, nil), http.StatusOK)
	if r.str("id") != ci.id || r.get("key") != nil || r.str("preview") == "" {
		t.Errorf("get: %s", r)
	}
	if lu, err := time.Parse(time.RFC3339, r.str("lastUsedAt")); err != nil || !lu.Equal(usedAt.Truncate(time.Millisecond)) {
		t.Errorf("lastUsedAt %q, want %s", r.str("lastUsedAt"), usedAt.UTC().Format(time.RFC3339Nano))
	}

	// Three more: the workspace's five keys, primary included.
	all := map[string]bool{ci.id: true}
	plains := []string{primary, ci.plain}
	for i := range 3 {
		k := create(t, s, primary, map[string]any{"name": fmt.Sprintf("k%d", i), "role": "read_only"})
		all[k.id] = true
		plains = append(plains, k.plain)
	}
	r = expect(t, s.do("GET", "/v1/keys", primary, nil), http.StatusOK)
	for _, p := range plains {
		if strings.Contains(string(r.Raw), p) || strings.Contains(string(r.Raw), p[8:38]) {
			t.Fatalf("GET /v1/keys leaks a plaintext key: %s", r.Raw)
		}
	}
	data, _ := r.get("data").([]any)
	if len(data) != 5 {
		t.Fatalf("list: %d keys, want 5: %s", len(data), r)
	}
	for _, d := range data {
		m := d.(map[string]any)
		if _, ok := m["key"]; ok {
			t.Errorf("list item carries a key: %v", m)
		}
		if m["kind"] == "primary" {
			all[m["id"].(string)] = true
			if m["lastUsedAt"] == nil {
				t.Errorf("primary has been used but lastUsedAt is null: %v", m)
			}
		}
		if m["id"] == ci.id && m["lastUsedAt"] == nil {
			t.Errorf("used key has lastUsedAt null: %v", m)
		}
	}

	// Pagination: limit=2, following next to the end.
	seen := map[string]bool{}
	pages := 0
	for next := "/v1/keys?limit=2"; next != ""; pages++ {
		if pages > 5 {
			t.Fatalf("pagination does not end")
		}
		r := expect(t, s.do("GET", next, primary, nil), http.StatusOK)
		page, _ := r.get("data").([]any)
		if len(page) == 0 || len(page) > 2 {
			t.Fatalf("page %d has %d items: %s", pages, len(page), r)
		}
		for _, d := range page {
			id := d.(map[string]any)["id"].(string)
			if seen[id] {
				t.Errorf("key %s on two pages", id)
			}
			seen[id] = true
		}
		if l, _ := r.num("pagination", "limit"); l != 2 {
			t.Errorf("pagination.limit %v", l)
		}
		next = r.str("pagination", "next")
		if next != "" && !strings.HasPrefix(next, "/v1/keys?") {
			t.Fatalf("pagination.next %q is not a /v1/keys link", next)
		}
	}
	if pages != 3 || len(seen) != 5 {
		t.Errorf("%d pages with %d keys, want 3 pages with 5", pages, len(seen))
	}
	for id := range all {
		if !seen[id] {
			t.Errorf("key %s missing from the pages", id)
		}
	}

	// Validation: 400 with the field, 415, and nothing written.
	type bad struct {
		name   string
		ctype  string
		body   string
		status int
		code   string
		field  string
		msg    string
	}
	past := s.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []bad{
		{"missing name", "application/json", `{"role":"render"}`, 400, "invalid_request", "/name", "name"},
		{"empty name", "application/json", `{"name":"  ","role":"render"}`, 400, "invalid_request", "/name", "name"},
		{"unknown role", "application/json", `{"name":"x","role":"owner"}`, 400, "invalid_request", "/role", "role"},
		{"missing role", "application/json", `{"name":"x"}`, 400, "invalid_request", "/role", "role"},
		{"unknown field", "application/json", `{"name":"x","role":"render","colour":"red"}`, 400, "invalid_request", "/colour", "colour"},
		{"bad JSON", "application/json", `{"name":"x",`, 400, "invalid_request", "", ""},
		{"not an object", "application/json", `["x"]`, 400, "invalid_request", "", ""},
		{"wrong type", "application/json", `{"name":5,"role":"render"}`, 400, "invalid_request", "/name", ""},
		{"wrong content type", "text/plain", `{"name":"x","role":"render"}`, 415, "unsupported_media_type", "", ""},
		{"form content type", "application/x-www-form-urlencoded", `name=x&role=render`, 415, "unsupported_media_type", "", ""},
		{"expiresAt in the past", "application/json", `{"name":"x","role":"render","expiresAt":"` + past + `"}`, 400, "invalid_request", "/expiresAt", "expiresAt"},
		{"expiresAt not a time", "application/json", `{"name":"x","role":"render","expiresAt":"tomorrow"}`, 400, "invalid_request", "/expiresAt", "expiresAt"},
		{"empty body", "application/json", ``, 400, "invalid_request", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer " + primary, "Content-Type": c.ctype}
			r := expectError(t, s.send("POST", "/v1/keys", h, []byte(c.body)), c.status, c.code, c.field)
			if c.msg != "" && !strings.Contains(r.str("error", "message"), c.msg) {
				t.Errorf("message %q does not name %q", r.str("error", "message"), c.msg)
			}
			rateHeaders(t, r, 100)
		})
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x"} {
		expectError(t, s.do("GET", "/v1/keys?"+q, primary, nil), 400, "invalid_request", "limit")
	}
	expectError(t, s.do("GET", "/v1/keys?cursor=%22%3B", primary, nil), 400, "invalid_request", "cursor")
	expectError(t, s.do("GET", "/v1/keys/key_nope", primary, nil), 404, "not_found", "")

	// Nothing was half-written: still the same five keys, and the cap was
	// not consumed (a sixth is refused for the cap, not for anything else).
	r = expect(t, s.do("GET", "/v1/keys?status=all", primary, nil), http.StatusOK)
	if data, _ := r.get("data").([]any); len(data) != 5 {
		t.Errorf("after the failed creates: %d keys, want 5: %s", len(data), r)
	}
	expectError(t, s.do("POST", "/v1/keys", primary, map[string]any{"name": "sixth", "role": "render"}), 409, "key_limit_reached", "")
}

// TestActiveKeyCapOverHTTP: from the primary alone, 20 concurrent creates →
// exactly 4 created, 16 × 409; revoking one frees a place, and the revoked
// key fails on its very next request.
func TestActiveKeyCapOverHTTP(t *testing.T) {
	s := newStack(t)
	_, keys := s.workspace(ratelimit.Plan{})
	primary := keys[apikey.Live]

	const n = 20
	results := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = s.do("POST", "/v1/keys", primary, map[string]any{"name": fmt.Sprintf("c%d", i), "role": "render"})
		}()
	}
	close(start)
	wg.Wait()
	var created []key
	conflicts := 0
	for _, r := range results {
		switch r.Status {
		case http.StatusCreated:
			created = append(created, key{id: r.str("id"), plain: r.str("key")})
		case http.StatusConflict:
			conflicts++
			expectError(t, r, http.StatusConflict, "key_limit_reached", "")
			rateHeaders(t, r, 100)
		default:
			t.Errorf("unexpected %s", r)
		}
	}
	if len(created) != 4 || conflicts != 16 {
		t.Fatalf("%d × 201 and %d × 409, want exactly 4 and 16", len(created), conflicts)
	}
	r := expect(t, s.do("GET", "/v1/keys", primary, nil), http.StatusOK)
	if data, _ := r.get("data").([]any); len(data) != 5 {
		t.Fatalf("%d active keys listed, want 5", len(data))
	}

	victim := created[0]
	expect(t, s.do("GET", "/v1/auth", victim.plain, nil), http.StatusOK)
	r = expect(t, s.do("DELETE", "/v1/keys/"+victim.id, primary, nil), http.StatusOK)
	if r.str("status") != "revoked" || r.str("revokedAt") == "" || r.get("key") != nil {
		t.Errorf("revoke: %s", r)
	}
	expectError(t, s.do("GET", "/v1/auth", victim.plain, nil), http.StatusUnauthorized, "invalid_api_key", "")
	expectError(t, s.do("GET", "/v1/keys", victim.plain, nil), http.StatusUnauthorized, "invalid_api_key", "")
	// The other keys are untouched.
	expect(t, s.do("GET", "/v1/auth", created[1].plain, nil), http.StatusOK)
	// Revoking frees exactly one place.
	create(t, s, primary, map[string]any{"name": "replacement", "role": "render"})
	expectError(t, s.do("POST", "/v1/keys", primary, map[string]any{"name": "one too many", "role": "render"}), http.StatusConflict, "key_limit_reached", "")
	// The primary cannot be deleted, only reset.
	self := expect(t, s.do("GET", "/v1/auth", primary, nil), http.StatusOK).str("key", "id")
	expectError(t, s.do("DELETE", "/v1/keys/"+self, primary, nil), http.StatusConflict, "conflict", "")
}

// TestTenantIsolationOverHTTP: a key sees only the keys of its own
// workspace and environment; anything else is 404, and nothing changes.
func TestTenantIsolationOverHTTP(t *testing.T) {
	s := newStack(t)
	_, a := s.workspace(ratelimit.Plan{})
	_, b := s.workspace(ratelimit.Plan{})
	aLive, aTest, bLive := a[apikey.Live], a[apikey.Test], b[apikey.Live]

	bPrimaryID := expect(t, s.do("GET", "/v1/auth", bLive, nil), http.StatusOK).str("key", "id")
	bSecondary := create(t, s, bLive, map[string]any{"name": "b's", "role": "render"})
	aTestPrimaryID := expect(t, s.do("GET", "/v1/auth", aTest, nil), http.StatusOK).str("key", "id")
	aTestSecondary := create(t, s, aTest, map[string]any{"name": "a's sandbox", "role": "render"})

	for name, id := range map[string]string{
		"B's primary": bPrimaryID, "B's secondary": bSecondary.id,
		"A's test primary": aTestPrimaryID, "A's test secondary": aTestSecondary.id,
	} {
		t.Run(name, func(t *testing.T) {
			expectError(t, s.do("GET", "/v1/keys/"+id, aLive, nil), http.StatusNotFound, "not_found", "")
			expectError(t, s.do("DELETE", "/v1/keys/"+id, aLive, nil), http.StatusNotFound, "not_found", "")
			expectError(t, s.do("POST", "/v1/keys/"+id+"/rotate", aLive, map[string]any{"gracePeriodSeconds": 0}), http.StatusNotFound, "not_found", "")
		})
	}
	// A's live list holds only A's live primary.
	r := expect(t, s.do("GET", "/v1/keys?status=all", aLive, nil), http.StatusOK)
	if data, _ := r.get("data").([]any); len(data) != 1 || data[0].(map[string]any)["kind"] != "primary" {
		t.Errorf("A's live keys: %s", r)
	}
	// And every one of those keys still works.
	for _, k := range []string{bLive, bSecondary.plain, aTest, aTestSecondary.plain} {
		expect(t, s.do("GET", "/v1/auth", k, nil), http.StatusOK)
	}
	// Their owners see them as they were.
	if st := expect(t, s.do("GET", "/v1/keys/"+bSecondary.id, bLive, nil), http.StatusOK).str("status"); st != "active" {
		t.Errorf("B's secondary is %s", st)
	}
}

// TestRotationOverHTTP: the rotated key carries the old one's count, the
// old one works until the grace period ends; grace out of range is a 400;
// a primary reset kills the old primary at once.
func TestRotationOverHTTP(t *testing.T) {
	s := newStack(t)
	_, keys := s.workspace(ratelimit.Plan{KeyRequestsPerMinute: 10})
	primary := keys[apikey.Live]
	old := create(t, s, primary, map[string]any{"name": "rotate me", "role": "editor"})

	for i := range 6 {
		r := expect(t, s.do("GET", "/v1/auth", old.plain, nil), http.StatusOK)
		if rem := rateHeaders(t, r, 10); rem != 9-i {
			t.Fatalf("use %d: remaining %d", i+1, rem)
		}
	}
	for _, g := range []any{86401, -1, "60", 1.5} {
		expectError(t, s.do("POST", "/v1/keys/"+old.id+"/rotate", primary, map[string]any{"gracePeriodSeconds": g}), http.StatusBadRequest, "invalid_request", "/gracePeriodSeconds")
	}
	// The bad requests did not rotate anything.
	if st := expect(t, s.do("GET", "/v1/keys/"+old.id, primary, nil), http.StatusOK).str("status"); st != "active" {
		t.Fatalf("after rejected rotations the key is %s", st)
	}

	r := expect(t, s.do("POST", "/v1/keys/"+old.id+"/rotate", primary, map[string]any{"gracePeriodSeconds": 3600}), http.StatusCreated)
	nw := key{id: r.str("id"), plain: r.str("key")}
	if nw.id == "" || nw.id == old.id || nw.plain == "" || r.str("role") != "editor" || r.str("name") != "rotate me" {
		t.Fatalf("rotate: %s", r)
	}
	r = expect(t, s.do("GET", "/v1/auth", nw.plain, nil), http.StatusOK)
	if rem := rateHeaders(t, r, 10); rem != 3 {
		t.Errorf("new key's X-RateLimit-Remaining %d, want 3 (6 carried over + this one)", rem)
	}
	if r.str("key", "id") != nw.id || r.str("key", "role") != "editor" {
		t.Errorf("new key's identity: %s", r)
	}
	expect(t, s.do("GET", "/v1/auth", old.plain, nil), http.StatusOK)
	r = expect(t, s.do("GET", "/v1/keys/"+old.id, primary, nil), http.StatusOK)
	if r.str("status") != "rotating" || r.str("rotatedTo") != nw.id {
		t.Errorf("old key after rotation: %s", r)
	}
	// Rotating it again is refused.
	expectError(t, s.do("POST", "/v1/keys/"+old.id+"/rotate", primary, nil), http.StatusConflict, "conflict", "")

	// Still inside the grace period a second before it ends...
	s.clock.Advance(3600*time.Second - time.Second)
	expect(t, s.do("GET", "/v1/auth", old.plain, nil), http.StatusOK)
	// ...and expired after.
	s.clock.Advance(2 * time.Second)
	expectError(t, s.do("GET", "/v1/auth", old.plain, nil), http.StatusUnauthorized, "api_key_expired", "")
	expect(t, s.do("GET", "/v1/auth", nw.plain, nil), http.StatusOK)

	// Primary reset: the old primary dies at once, the new one works.
	r = expect(t, s.do("POST", "/v1/keys/primary/reset", primary, nil), http.StatusCreated)
	newPrimary := r.str("key")
	if newPrimary == "" || newPrimary == primary || r.str("kind") != "primary" {
		t.Fatalf("reset: %s", r)
	}
	expectError(t, s.do("GET", "/v1/auth", primary, nil), http.StatusUnauthorized, "invalid_api_key", "")
	newPrimaryID := r.str("id")
	r = expect(t, s.do("GET", "/v1/auth", newPrimary, nil), http.StatusOK)
	if r.str("key", "id") != newPrimaryID || r.str("key", "kind") != "primary" {
		t.Errorf("new primary: %s", r)
	}
	// The secondary keys are not affected by the reset.
	expect(t, s.do("GET", "/v1/auth", nw.plain, nil), http.StatusOK)
}

// TestScopesOverHTTP: 403 insufficient_scope naming the scope, with the
// rate-limit headers; a key can create no key beyond its own lifetime.
func TestScopesOverHTTP(t *testing.T) {
	s := newStack(t)
	_, keys := s.workspace(ratelimit.Plan{})
	primary := keys[apikey.Live]
	readOnly := create(t, s, primary, map[string]any{"name": "ro", "role": "read_only"})
	render := create(t, s, primary, map[string]any{"name": "render", "role": "render"})

	for _, c := range []struct {
		name, method, path, key string
		body                    any
	}{
		{"read_only creates", "POST", "/v1/keys", readOnly.plain, map[string]any{"name": "x", "role": "read_only"}},
		{"read_only lists", "GET", "/v1/keys", readOnly.plain, nil},
		{"read_only revokes", "DELETE", "/v1/keys/" + render.id, readOnly.plain, nil},
		{"render creates a manager", "POST", "/v1/keys", render.plain, map[string]any{"name": "x", "role": "manager"}},
		{"render rotates", "POST", "/v1/keys/" + readOnly.id + "/rotate", render.plain, map[string]any{}},
		{"render resets the primary", "POST", "/v1/keys/primary/reset", render.plain, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := expectError(t, s.do(c.method, c.path, c.key, c.body), http.StatusForbidden, "insufficient_scope", "")
			if !strings.Contains(r.str("error", "message"), "keys:manage") {
				t.Errorf("message %q does not name keys:manage", r.str("error", "message"))
			}
			rateHeaders(t, r, 100)
		})
	}
	// Nothing happened: still the primary and the two keys, the render key active.
	r := expect(t, s.do("GET", "/v1/keys", primary, nil), http.StatusOK)
	if data, _ := r.get("data").([]any); len(data) != 3 {
		t.Errorf("%d keys, want 3: %s", len(data), r)
	}
	expect(t, s.do("GET", "/v1/auth", render.plain, nil), http.StatusOK)

	// Make room under the cap of five for the keys below.
	expect(t, s.do("DELETE", "/v1/keys/"+readOnly.id, primary, nil), http.StatusOK)

	// A manager key that expires in an hour may only create keys that
	// expire no later.
	now := s.clock.Now().UTC()
	exp := now.Add(time.Hour).Truncate(time.Second)
	mgr := create(t, s, primary, map[string]any{"name": "temp manager", "role": "manager", "expiresAt": exp.Format(time.RFC3339)})
	for _, body := range []map[string]any{
		{"name": "forever", "role": "render"},
		{"name": "later", "role": "render", "expiresAt": exp.Add(time.Hour).Format(time.RFC3339)},
		{"name": "a second later", "role": "read_only", "expiresAt": exp.Add(time.Second).Format(time.RFC3339)},
	} {
		expectError(t, s.do("POST", "/v1/keys", mgr.plain, body), http.StatusBadRequest, "invalid_request", "/expiresAt")
	}
	r = expect(t, s.do("POST", "/v1/keys", mgr.plain, map[string]any{"name": "sooner", "role": "render", "expiresAt": exp.Add(-30 * time.Minute).Format(time.RFC3339)}), http.StatusCreated)
	if got, err := time.Parse(time.RFC3339, r.str("expiresAt")); err != nil || !got.Equal(exp.Add(-30*time.Minute)) {
		t.Errorf("expiresAt %q, want %s", r.str("expiresAt"), exp.Add(-30*time.Minute).Format(time.RFC3339))
	}
	same := create(t, s, mgr.plain, map[string]any{"name": "same", "role": "render", "expiresAt": exp.Format(time.RFC3339)})

	// Nor can it rotate a key that outlives it, or reset the primary (which
	// never expires) — either would hand it a key that outlives it.
	expectError(t, s.do("POST", "/v1/keys/"+render.id+"/rotate", mgr.plain, map[string]any{"gracePeriodSeconds": 0}), http.StatusForbidden, "insufficient_scope", "")
	expectError(t, s.do("POST", "/v1/keys/primary/reset", mgr.plain, nil), http.StatusForbidden, "insufficient_scope", "")
	expect(t, s.do("GET", "/v1/auth", primary, nil), http.StatusOK)
	expect(t, s.do("POST", "/v1/keys/"+same.id+"/rotate", mgr.plain, map[string]any{"gracePeriodSeconds": 0}), http.StatusCreated)

	// The manager key itself expires on time.
	s.clock.Advance(exp.Sub(now))
	expectError(t, s.do("GET", "/v1/auth", mgr.plain, nil), http.StatusUnauthorized, "api_key_expired", "")
}
