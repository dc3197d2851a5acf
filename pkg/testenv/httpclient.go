package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// APIClient talks to a local stack over HTTP the way a client of the API
// does, for end-to-end tests that read answers loosely by path.
type APIClient struct {
	t      testing.TB
	base   string
	http   *http.Client
	header http.Header // sent with every request
}

// NewAPIClient returns a client of base (a stack's URL, ending in /v1).
func NewAPIClient(t testing.TB, base string) *APIClient {
	return &APIClient{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}
}

// WithoutRedirects makes the client hand back redirects (a 302 to a
// download) instead of following them.
func (c *APIClient) WithoutRedirects() *APIClient {
	h := *c.http
	h.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &APIClient{t: c.t, base: c.base, http: &h, header: c.header}
}

// WithHeader makes the client send name: value with every request (the
// console's X-Framegate-Console, say).
func (c *APIClient) WithHeader(name, value string) *APIClient {
	h := c.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(name, value)
	return &APIClient{t: c.t, base: c.base, http: c.http, header: h}
}

// Reply is one answer: status, headers, the body decoded as a JSON object
// (nil when it is not one) and raw.
type Reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Str is the string at a path of object keys and array indexes.
func (r Reply) Str(path ...string) string {
	v, _ := r.Get(path...).(string)
	return v
}

// Get is the value at a path of object keys and array indexes, or nil.
func (r Reply) Get(path ...string) any {
	var cur any = r.Body
	for _, k := range path {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// Do sends method path (relative to base) with key as a Bearer token and
// body as JSON when not nil.
func (c *APIClient) Do(method, path, key string, body any) Reply {
	c.t.Helper()
	return c.DoWith(method, path, key, body, nil)
}

// DoWith is Do with extra request headers.
func (c *APIClient) DoWith(method, path, key string, body any, header map[string]string) Reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	for name, v := range c.header {
		req.Header[name] = v
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return c.send(req)
}

// Post sends raw as a JSON body with headers and no key (public routes
// that authenticate otherwise, like signed partner reports).
func (c *APIClient) Post(path string, raw []byte, headers map[string]string) Reply {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return c.send(req)
}

func (c *APIClient) send(req *http.Request) Reply {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := Reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// Expect fails the test unless r has status, and returns r.
func (c *APIClient) Expect(r Reply, status int) Reply {
	c.t.Helper()
	if r.Status != status {
		c.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}
