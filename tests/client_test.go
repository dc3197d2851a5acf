package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// t0 is 2.5 s after a 10-second cell boundary, so the requests of a test
// share one rate-limit cell and the window's end is known exactly.
var t0 = time.Unix(1_800_000_000, int64(2500*time.Millisecond))

// stack is the whole local stack for one test, with its injected clock and
// a key store on the same resources for creating workspaces.
type stack struct {
	t      *testing.T
	s      *testenv.Stack
	clock  *testenv.Clock
	store  *keystore.Store
	origin string // http://127.0.0.1:port, to which /v1/... paths are appended
	http   *http.Client
}

func newStack(t *testing.T, opts ...testenv.StackOption) *stack {
	t.Helper()
	clock := testenv.NewClock(t0)
	s := testenv.NewStack(t, append([]testenv.StackOption{testenv.WithClock(clock.Now)}, opts...)...)
	st, err := keystore.Open(context.Background(), s.Deps("KeysFunction"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(s.URL(), "/v1") {
		t.Fatalf("stack URL %q does not end in /v1", s.URL())
	}
	return &stack{t: t, s: s, clock: clock, store: st, origin: u.Scheme + "://" + u.Host,
		http: &http.Client{Timeout: 30 * time.Second}}
}

// workspace creates a workspace and returns it with its plaintext primary keys.
func (s *stack) workspace(overrides ratelimit.Plan) (keystore.Workspace, map[apikey.Env]string) {
	s.t.Helper()
	return s.s.Workspace("E2E "+s.t.Name(), overrides)
}

// response is one HTTP exchange's outcome.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any // the decoded JSON object, nil if the body is not one
	what   string         // "METHOD path", for messages
}

// do sends method path ("/v1/..."), authenticating with key as a Bearer
// token unless key is empty; body, unless nil, is sent as JSON: a string or
// []byte verbatim, anything else marshalled.
func (s *stack) do(method, path, key string, body any) response {
	s.t.Helper()
	h := map[string]string{}
	if key != "" {
		h["Authorization"] = "Bearer " + key
	}
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			s.t.Fatal(err)
		}
	}
	if body != nil {
		h["Content-Type"] = "application/json"
	}
	return s.send(method, path, h, raw)
}

// send is do with every header explicit.
func (s *stack) send(method, path string, headers map[string]string, body []byte) response {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.origin+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw, what: method + " " + path}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		out.Body = m
	}
	return out
}

// str walks the decoded body along keys and returns the string there ("" if absent).
func (r response) str(keys ...string) string {
	v, _ := r.get(keys...).(string)
	return v
}

// num is str for numbers; ok is false when the value is absent or not a number.
func (r response) num(keys ...string) (float64, bool) {
	v, ok := r.get(keys...).(float64)
	return v, ok
}

func (r response) get(keys ...string) any {
	var cur any = r.Body
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func (r response) String() string {
	return r.what + " → " + http.StatusText(r.Status) + ": " + string(r.Raw)
}
