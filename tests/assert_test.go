package e2e

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// expect fails the test unless r has the given status.
func expect(t *testing.T, r response, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("want %d, got %s", status, r)
	}
	return r
}

// expectError checks that r is status with the error envelope, exactly:
// {"error":{"code","message","requestId","docs"(,"field")}}, code as given,
// a non-empty request id equal to the one in the response headers, and field
// as given ("" means none).
func expectError(t *testing.T, r response, status int, code, field string) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("want %d %s, got %s", status, code, r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", r.what, ct)
	}
	var env map[string]map[string]any
	if err := json.Unmarshal(r.Raw, &env); err != nil || len(env) != 1 || env["error"] == nil {
		t.Fatalf("%s: body is not the error envelope: %s (%v)", r.what, r.Raw, err)
	}
	e := env["error"]
	allowed := []string{"code", "message", "requestId", "docs", "field"}
	for k, v := range e {
		if !slices.Contains(allowed, k) {
			t.Errorf("%s: unexpected envelope member %q in %s", r.what, k, r.Raw)
		}
		if _, ok := v.(string); !ok {
			t.Errorf("%s: envelope member %q is %T, want a string", r.what, k, v)
		}
	}
	for _, k := range allowed[:4] {
		if s, _ := e[k].(string); s == "" {
			t.Errorf("%s: envelope member %q missing or empty in %s", r.what, k, r.Raw)
		}
	}
	if got := e["code"]; got != code {
		t.Errorf("%s: code %v, want %s (%s)", r.what, got, code, r.Raw)
	}
	if id := r.Header.Get("X-Amzn-Requestid"); id == "" || e["requestId"] != id {
		t.Errorf("%s: requestId %v does not match the response's request id %q", r.what, e["requestId"], id)
	}
	if docs, _ := e["docs"].(string); !strings.HasSuffix(docs, "#"+code) {
		t.Errorf("%s: docs %q do not link to #%s", r.what, docs, code)
	}
	gotField, hasField := e["field"]
	switch {
	case field == "" && hasField:
		t.Errorf("%s: unexpected field %v", r.what, gotField)
	case field != "" && gotField != field:
		t.Errorf("%s: field %v, want %q (%s)", r.what, gotField, field, r.Raw)
	}
	return r
}

var (
	policyRE = regexp.MustCompile(`^"key";q=(\d+);w=60, "workspace";q=(\d+);w=60$`)
	limitRE  = regexp.MustCompile(`^"(key|workspace)";r=(\d+);t=(\d+)$`)
)

// rateHeaders checks the five rate-limit headers on an authorized response
// against the key's limit and returns X-RateLimit-Remaining.
func rateHeaders(t *testing.T, r response, keyLimit int) int {
	t.Helper()
	h := r.Header
	for _, name := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit"} {
		if h.Get(name) == "" {
			t.Fatalf("%s: no %s header (headers %v)", r.what, name, h)
		}
	}
	atoi := func(name string) int {
		v, err := strconv.Atoi(h.Get(name))
		if err != nil {
			t.Fatalf("%s: %s %q is not an integer", r.what, name, h.Get(name))
		}
		return v
	}
	limit, remaining, reset := atoi("X-RateLimit-Limit"), atoi("X-RateLimit-Remaining"), atoi("X-RateLimit-Reset")
	if limit != keyLimit {
		t.Errorf("%s: X-RateLimit-Limit %d, want %d", r.what, limit, keyLimit)
	}
	if remaining < 0 || remaining > limit {
		t.Errorf("%s: X-RateLimit-Remaining %d outside 0..%d", r.what, remaining, limit)
	}
	if reset < 1 || reset > 60 {
		t.Errorf("%s: X-RateLimit-Reset %d outside 1..60", r.what, reset)
	}
	p := policyRE.FindStringSubmatch(h.Get("RateLimit-Policy"))
	if p == nil || p[1] != strconv.Itoa(keyLimit) {
		t.Errorf("%s: RateLimit-Policy %q, want \"key\";q=%d;w=60, \"workspace\";q=N;w=60", r.what, h.Get("RateLimit-Policy"), keyLimit)
	}
	m := limitRE.FindStringSubmatch(h.Get("RateLimit"))
	if m == nil || m[2] != strconv.Itoa(remaining) || m[3] != strconv.Itoa(reset) {
		t.Errorf("%s: RateLimit %q disagrees with X-RateLimit-Remaining %d / Reset %d", r.what, h.Get("RateLimit"), remaining, reset)
	}
	return remaining
}
