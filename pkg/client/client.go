// Package client is the Go client of the framegate API: one typed method per
// route, an Idempotency-Key on every create, bounded retries of what is safe
// to retry (429 and 5xx, honouring Retry-After, otherwise exponential backoff
// with full jitter), and errors as *Error parsed from the API's envelope.
//
//	c := client.New("https://api.example.com/v1", os.Getenv("FRAMEGATE_API_KEY"))
//	v, err := c.CreateVideo(ctx, client.CreateVideoRequest{Spec: spec})
//
// It depends on nothing but the standard library and pkg/apierr, so a
// program using it does not pull in the AWS SDK.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the retry policy.
const (
	DefaultMaxAttempts = 4
	DefaultMaxWait     = 30 * time.Second
	DefaultBaseDelay   = 250 * time.Millisecond
	DefaultMaxDelay    = 8 * time.Second
)

// DefaultBaseURL is the local stack that `make dev` runs: New uses it when
// given no base URL.
const DefaultBaseURL = "http://127.0.0.1:3000/v1"

// Client calls one framegate API with one key. It is safe for concurrent use.
type Client struct {
	base        string // no trailing slash, e.g. http://127.0.0.1:3000/v1
	baseErr     error  // why base cannot be called, returned by every call
	key         string
	hc          *http.Client
	sleep       func(context.Context, time.Duration) error
	jitter      func(n time.Duration) time.Duration // uniform in [0, n)
	newIdemKey  func() string
	maxAttempts int
	maxWait     time.Duration
	baseDelay   time.Duration
	maxDelay    time.Duration
	userAgent   string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc (default http.DefaultClient).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithSleep replaces the wait between attempts; tests pass one that
// records the delay and returns at once.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// WithJitter replaces the random source of backoff: j(n) must return a
// duration in [0, n).
func WithJitter(j func(n time.Duration) time.Duration) Option {
	return func(c *Client) { c.jitter = j }
}

// WithRetries bounds retrying: at most maxAttempts attempts in all (1: never
// retry) and at most maxWait spent waiting between them. A Retry-After
// longer than what is left of maxWait ends the retries with the error.
func WithRetries(maxAttempts int, maxWait time.Duration) Option {
	return func(c *Client) { c.maxAttempts, c.maxWait = max(maxAttempts, 1), max(maxWait, 0) }
}

// WithBackoff sets the exponential backoff: attempt n (from 0) waits a
// uniformly random time below min(maxDelay, base·2ⁿ).
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(c *Client) { c.baseDelay, c.maxDelay = base, maxDelay }
}

// WithIdempotencyKeys replaces the generator of Idempotency-Keys.
func WithIdempotencyKeys(gen func() string) Option { return func(c *Client) { c.newIdemKey = gen } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the API at baseURL (the stage URL, ending in /v1;
// "" is DefaultBaseURL) authenticating with apiKey. A base URL that is not
// an absolute http(s) URL makes every call fail with an error saying so.
func New(baseURL, apiKey string, opts ...Option) *Client {
	if strings.TrimSpace(baseURL) == "" {
		baseURL = DefaultBaseURL
	}
	base := strings.TrimRight(strings.TrimSpace(baseURL), "/")
	c := &Client{
		base:        base,
		baseErr:     checkBaseURL(base),
		key:         apiKey,
		hc:          http.DefaultClient,
		sleep:       sleepCtx,
		jitter:      cryptoJitter,
		newIdemKey:  randomKey,
		maxAttempts: DefaultMaxAttempts,
		maxWait:     DefaultMaxWait,
		baseDelay:   DefaultBaseDelay,
		maxDelay:    DefaultMaxDelay,
		userAgent:   "framegate-go",
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	return fmt.Errorf("framegate client: the base URL %q is not an absolute http(s) URL: give the stage URL, "+
		"e.g. %s locally or the deployed stack's ApiUrl output (https://….execute-api.….amazonaws.com/v1)", base, DefaultBaseURL)
}

// BaseURL is the API URL the client calls.
func (c *Client) BaseURL() string { return c.base }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func cryptoJitter(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil { // crypto/rand does not fail on supported platforms
		return n / 2
	}
	return time.Duration(v.Int64())
}

func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "fgc_" + hex.EncodeToString(b[:])
}

// CallOption tunes one call.
type CallOption func(*call)

// WithIdempotencyKey sends key as the Idempotency-Key instead of a
// generated one. Reuse it when you retry a create yourself (after a crash,
// say): the API then answers with the first result and creates nothing.
func WithIdempotencyKey(key string) CallOption { return func(r *call) { r.idemKey = key } }

// call is one logical request, sent in one or more attempts.
type call struct {
	method, path string
	query        url.Values
	body         any
	idemKey      string
	// dedupes says the route honours Idempotency-Key, so a generated key
	// makes a POST safe to repeat after a 5xx or a broken connection.
	dedupes bool
}

func (c *Client) newCall(method, path string, body any, opts []CallOption) *call {
	r := &call{method: method, path: path, body: body}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Response is what a successful attempt returned, for callers that want
// the headers (rate limits, Location, Idempotent-Replayed).
type Response struct {
	Status int
	Header http.Header
}

// do sends r, retrying what is safe, and decodes a 2xx JSON body into out
// (nil: discard).
func (c *Client) do(ctx context.Context, r *call, out any) (*Response, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	var payload []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s body: %w", r.method, r.path, err)
		}
		payload = b
	}
	explicitKey := r.idemKey != ""
	if r.method == http.MethodPost && r.idemKey == "" {
		r.idemKey = c.newIdemKey()
	}
	// A POST is repeated after an unknown outcome only if the server will
	// recognise the repeat: the caller vouched for the key, or the route
	// deduplicates on it.
	safe := idempotentMethod(r.method) || (r.idemKey != "" && (explicitKey || r.dedupes))

	var waited time.Duration
	for attempt := 0; ; attempt++ {
		resp, err := c.attempt(ctx, r, payload, out)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		wait, retry := c.retryAfter(err, attempt, safe)
		if !retry || attempt+1 >= c.maxAttempts || waited+wait > c.maxWait {
			return nil, err
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s %s: waiting to retry: %w", r.method, r.path, err)
		}
		waited += wait
	}
}

func idempotentMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// retryAfter decides whether err is worth another attempt and how long to
// wait first.
func (c *Client) retryAfter(err error, attempt int, safe bool) (time.Duration, bool) {
	var ae *Error
	if !errors.As(err, &ae) {
		// The request may or may not have reached the API.
		return c.backoff(attempt), safe
	}
	switch {
	case ae.Status == http.StatusTooManyRequests:
		// Refused before anything was done (rate_limited by the
		// middleware, queue_full before the write): always safe to repeat.
	case ae.Status >= 500 && ae.Status != http.StatusNotImplemented:
		if !safe {
			return 0, false
		}
	default:
		return 0, false
	}
	if ae.RetryAfter > 0 {
		return ae.RetryAfter, true
	}
	return c.backoff(attempt), true
}

// backoff is "full jitter": uniform in [0, min(maxDelay, base·2^attempt)),
// which spreads out clients that failed together better than a fixed
// exponential does.
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.maxDelay
	if attempt < 32 {
		if d := c.baseDelay << attempt; d > 0 && d < ceil {
			ceil = d
		}
	}
	return c.jitter(ceil)
}

func (c *Client) url(path string, q url.Values) string {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (c *Client) attempt(ctx context.Context, r *call, payload []byte, out any) (*Response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r.path, r.query), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.idemKey != "" {
		req.Header.Set("Idempotency-Key", r.idemKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", r.method, r.path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, parseError(resp, raw)
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode response: %w", r.method, r.path, err)
		}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header}, nil
}

// retryAfterHeader reads Retry-After in seconds or as an HTTP date.
func retryAfterHeader(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
