package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
)

// script answers the i-th request with steps[i] (the last one repeats) and
// records what arrived.
type script struct {
	mu    sync.Mutex
	steps []step
	got   []*http.Request
}

type step struct {
	status int
	header map[string]string
	body   string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := min(len(s.got), len(s.steps)-1)
	s.got = append(s.got, r.Clone(context.Background()))
	st := s.steps[i]
	s.mu.Unlock()
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st.status)
	io.WriteString(w, st.body)
}

func (s *script) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.got...)
}

const envelope429 = `{"error":{"code":"rate_limited","message":"Too many requests.","requestId":"req-429","docs":"d"}}`
const envelope503 = `{"error":{"code":"service_unavailable","message":"Try later.","requestId":"req-503","docs":"d"}}`
const video = `{"object":"video","id":"vid_1","status":"queued","progress":0}`

// harness is a client of an httptest server whose sleeps are recorded, not
// slept, and whose jitter is the upper bound minus one (the worst case), so
// delays are exact.
type harness struct {
	*Client
	srv    *script
	slept  []time.Duration
	bounds []time.Duration
}

func newHarness(t *testing.T, steps []step, opts ...Option) *harness {
	t.Helper()
	h := &harness{srv: &script{steps: steps}}
	ts := httptest.NewServer(h.srv)
	t.Cleanup(ts.Close)
	base := []Option{
		WithHTTPClient(ts.Client()),
		WithSleep(func(_ context.Context, d time.Duration) error { h.slept = append(h.slept, d); return nil }),
		WithJitter(func(n time.Duration) time.Duration { h.bounds = append(h.bounds, n); return max(n-1, 0) }),
	}
	h.Client = New(ts.URL+"/v1/", "fg_test_key", append(base, opts...)...)
	return h
}

func TestRetriesThenSucceeds(t *testing.T) {
	tests := []struct {
		name      string
		steps     []step
		wantCalls int
		wantSlept []time.Duration
	}{
		{"429 honours Retry-After", []step{
			{429, map[string]string{"Retry-After": "3"}, envelope429},
			{200, nil, video},
		}, 2, []time.Duration{3 * time.Second}},
		{"503 without Retry-After backs off exponentially", []step{
			{503, nil, envelope503}, {502, nil, "bad gateway"}, {500, nil, envelope503},
			{200, nil, video},
		}, 4, []time.Duration{250*time.Millisecond - 1, 500*time.Millisecond - 1, time.Second - 1}},
		{"no retry needed", []step{{200, nil, video}}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.steps)
			v, err := h.GetVideo(context.Background(), "vid_1")
			if err != nil {
				t.Fatal(err)
			}
			if v.ID != "vid_1" {
				t.Errorf("id %q", v.ID)
			}
			if n := len(h.srv.requests()); n != tt.wantCalls {
				t.Errorf("%d calls, want %d", n, tt.wantCalls)
			}
			if !equalDurations(h.slept, tt.wantSlept) {
				t.Errorf("slept %v, want %v", h.slept, tt.wantSlept)
			}
			if got := h.srv.requests()[0].URL.Path; got != "/v1/videos/vid_1" {
				t.Errorf("path %q", got)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRetriesAreBounded(t *testing.T) {
	t.Run("max attempts", func(t *testing.T) {
		h := newHarness(t, []step{{503, nil, envelope503}}, WithRetries(3, time.Hour))
		_, err := h.GetVideo(context.Background(), "vid_1")
		var e *Error
		if !errors.As(err, &e) || e.Status != 503 {
			t.Fatalf("err %v, want the 503", err)
		}
		if n := len(h.srv.requests()); n != 3 {
			t.Errorf("%d calls, want 3", n)
		}
	})
	t.Run("a Retry-After beyond the budget ends the retries", func(t *testing.T) {
		h := newHarness(t, []step{{429, map[string]string{"Retry-After": "60"}, envelope429}}, WithRetries(5, 30*time.Second))
		_, err := h.GetVideo(context.Background(), "vid_1")
		var e *Error
		if !errors.As(err, &e) || e.Code != "rate_limited" || e.RetryAfter != time.Minute {
			t.Fatalf("err %#v", err)
		}
		if n := len(h.srv.requests()); n != 1 || len(h.slept) != 0 {
			t.Errorf("%d calls, slept %v; want 1 call and no sleep", n, h.slept)
		}
	})
	t.Run("total wait", func(t *testing.T) {
		h := newHarness(t, []step{{429, map[string]string{"Retry-After": "4"}, envelope429}}, WithRetries(100, 10*time.Second))
		h.GetVideo(context.Background(), "vid_1")
		if n := len(h.srv.requests()); n != 3 { // waits 4 + 4; a third wait would pass 10 s
			t.Errorf("%d calls, want 3 (slept %v)", n, h.slept)
		}
	})
	t.Run("backoff ceiling", func(t *testing.T) {
		h := newHarness(t, []step{{500, nil, envelope503}}, WithRetries(10, time.Hour), WithBackoff(time.Second, 4*time.Second))
		h.GetVideo(context.Background(), "vid_1")
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
		if !equalDurations(h.bounds[:4], want) {
			t.Errorf("jitter bounds %v, want to start %v", h.bounds, want)
		}
	})
	t.Run("context cancelled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		h := newHarness(t, []step{{503, nil, envelope503}},
			WithSleep(func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }))
		_, err := h.GetVideo(ctx, "vid_1")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if n := len(h.srv.requests()); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
}

func TestDefaultJitterStaysBelowItsBound(t *testing.T) {
	for _, n := range []time.Duration{1, 7, time.Millisecond, 8 * time.Second} {
		for range 200 {
			if d := cryptoJitter(n); d < 0 || d >= n {
				t.Fatalf("jitter(%v) = %v, outside [0, %v)", n, d, n)
			}
		}
	}
	if d := cryptoJitter(0); d != 0 {
		t.Errorf("jitter(0) = %v", d)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Run("generated once, stable across retries", func(t *testing.T) {
		n := 0
		h := newHarness(t, []step{{503, nil, envelope503}, {500, nil, envelope503}, {201, nil, video}},
			WithIdempotencyKeys(func() string { n++; return "gen-" + string(rune('0'+n)) }))
		if _, err := h.CreateVideo(context.Background(), CreateVideoRequest{Spec: []byte(`{"resolution":"sd"}`)}); err != nil {
			t.Fatal(err)
		}
		reqs := h.srv.requests()
		if len(reqs) != 3 {
			t.Fatalf("%d calls, want 3", len(reqs))
		}
		for i, r := range reqs {
			if k := r.Header.Get("Idempotency-Key"); k != "gen-1" {
				t.Errorf("attempt %d: Idempotency-Key %q, want gen-1", i, k)
			}
		}
	})
	t.Run("the caller's key wins", func(t *testing.T) {
		h := newHarness(t, []step{{201, nil, video}})
		h.CreateVideo(context.Background(), CreateVideoRequest{}, WithIdempotencyKey("mine"))
		if k := h.srv.requests()[0].Header.Get("Idempotency-Key"); k != "mine" {
			t.Errorf("Idempotency-Key %q", k)
		}
	})
	t.Run("reads carry none", func(t *testing.T) {
		h := newHarness(t, []step{{200, nil, video}})
		h.GetVideo(context.Background(), "vid_1")
		if k := h.srv.requests()[0].Header.Get("Idempotency-Key"); k != "" {
			t.Errorf("GET carried Idempotency-Key %q", k)
		}
	})
}

// A POST whose route does not deduplicate is not repeated after a 5xx (it
// may have been done), but is after a 429 (refused before anything ran).
func TestNonIdempotentPOSTs(t *testing.T) {
	key := `{"object":"api_key","id":"key_1"}`
	t.Run("5xx is final", func(t *testing.T) {
		h := newHarness(t, []step{{500, nil, envelope503}, {201, nil, key}})
		_, err := h.CreateKey(context.Background(), CreateKeyRequest{Name: "n", Role: "render"})
		if err == nil || len(h.srv.requests()) != 1 {
			t.Fatalf("err %v after %d calls; want the 500 after 1", err, len(h.srv.requests()))
		}
	})
	t.Run("429 is retried", func(t *testing.T) {
		h := newHarness(t, []step{{429, map[string]string{"Retry-After": "1"}, envelope429}, {201, nil, key}})
		if _, err := h.CreateKey(context.Background(), CreateKeyRequest{Name: "n", Role: "render"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an explicit key makes 5xx retryable", func(t *testing.T) {
		h := newHarness(t, []step{{500, nil, envelope503}, {201, nil, key}})
		if _, err := h.CreateKey(context.Background(), CreateKeyRequest{Name: "n", Role: "render"}, WithIdempotencyKey("k1")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTypedErrors(t *testing.T) {
	tests := []struct {
		name string
		step step
		want Error
		code apierr.Code
	}{
		{"envelope", step{400, map[string]string{"X-Request-Id": "hdr"},
			`{"error":{"code":"invalid_request","message":"name is required.","field":"/name","requestId":"req-1","docs":"https://d#invalid_request"}}`},
			Error{Status: 400, Code: "invalid_request", Message: "name is required.", Field: "/name", RequestID: "req-1", Docs: "https://d#invalid_request"},
			apierr.InvalidRequest},
		{"not found", step{404, nil, `{"error":{"code":"not_found","message":"No key.","requestId":"req-2"}}`},
			Error{Status: 404, Code: "not_found", Message: "No key.", RequestID: "req-2"}, apierr.NotFound},
		{"not the envelope", step{502, map[string]string{"X-Request-Id": "hdr"}, `Bad Gateway`},
			Error{Status: 502, Message: "Bad Gateway", RequestID: "hdr"}, apierr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []step{tt.step}, WithRetries(1, 0))
			_, err := h.GetKey(context.Background(), "key_1")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T %v", err, err)
			}
			if *e != tt.want {
				t.Errorf("got %+v\nwant %+v", *e, tt.want)
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Code != tt.code {
				t.Errorf("as apierr: %v, want code %s", ae, tt.code)
			}
			if !strings.Contains(err.Error(), tt.want.Message) {
				t.Errorf("message %q lacks %q", err.Error(), tt.want.Message)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	h := newHarness(t, []step{{200, nil, `{"object":"list","data":[],"pagination":{"limit":5,"next":"/v1/keys?cursor=key_9&limit=5"}}`}})
	l, err := h.ListKeys(context.Background(), ListKeysParams{ListParams: ListParams{Limit: 5, Cursor: "key_3"}, Status: "all"})
	if err != nil {
		t.Fatal(err)
	}
	r := h.srv.requests()[0]
	if got := r.URL.RequestURI(); got != "/v1/keys?cursor=key_3&limit=5&status=all" {
		t.Errorf("URI %q", got)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer fg_test_key" {
		t.Errorf("Authorization %q", got)
	}
	if c := l.Pagination.NextCursor(); c != "key_9" {
		t.Errorf("next cursor %q", c)
	}
}

func TestDownloadDoesNotFollowWithTheKey(t *testing.T) {
	cases := []struct {
		route, object string
		get           func(*Client, io.Writer) (int64, error)
	}{
		{"/v1/videos/vid_1/download", "/renders/x.mp4", func(c *Client, w io.Writer) (int64, error) {
			return c.DownloadVideo(context.Background(), "vid_1", w)
		}},
		{"/v1/videos/vid_1/thumbnail", "/renders/x.jpg", func(c *Client, w io.Writer) (int64, error) {
			return c.Thumbnail(context.Background(), "vid_1", w)
		}},
	}
	for _, tc := range cases {
		var storageAuth, storagePath string
		storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			storageAuth, storagePath = r.Header.Get("Authorization"), r.URL.Path
			io.WriteString(w, "FILEDATA")
		}))
		defer storage.Close()
		link := storage.URL + tc.object + "?sig=1"
		h := newHarness(t, []step{{200, nil, `{"url":"` + link + `","expiresAt":"2030-01-01T00:00:00.000Z"}`}})
		var b strings.Builder
		n, err := tc.get(h.Client, &b)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.srv.requests()[0].URL.RequestURI(); got != tc.route+"?redirect=false" {
			t.Errorf("asked %s, want %s", got, tc.route)
		}
		if n != 8 || b.String() != "FILEDATA" || storagePath != tc.object {
			t.Errorf("%s: got %d bytes %q from %s", tc.route, n, b.String(), storagePath)
		}
		if storageAuth != "" {
			t.Errorf("%s: the API key went to storage: %q", tc.route, storageAuth)
		}
	}
}

// TestBaseURL: no base URL is the local stack; one that cannot be called
// fails every call with an error that says what to give, before any
// request (not Go's "unsupported protocol scheme").
func TestBaseURL(t *testing.T) {
	if got := New("", "k").BaseURL(); got != DefaultBaseURL {
		t.Errorf("default base URL %q, want %q", got, DefaultBaseURL)
	}
	if got := New(" https://api.example.com/v1/ ", "k").BaseURL(); got != "https://api.example.com/v1" {
		t.Errorf("base URL %q", got)
	}
	for _, bad := range []string{"api.example.com/v1", "ftp://x/v1", "http://", "://x"} {
		_, err := New(bad, "k").Auth(context.Background())
		if err == nil || !strings.Contains(err.Error(), "not an absolute http(s) URL") || strings.Contains(err.Error(), "unsupported protocol") {
			t.Errorf("base %q: %v", bad, err)
		}
	}
}
