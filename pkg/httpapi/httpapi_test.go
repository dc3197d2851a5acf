package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/ratelimit"
)

func srv() Server {
	return Server{DocsURL: "https://docs.example/errors", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func event(v *ratelimit.Verdict, method, resource, body string) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{HTTPMethod: method, Resource: resource, Path: resource, Body: body,
		Headers:        map[string]string{"Content-Type": "application/json"},
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "req-1"}}
	if v != nil {
		ev.RequestContext.Authorizer = v.Context()
	}
	return ev
}

func base(outcome string) *ratelimit.Verdict {
	return &ratelimit.Verdict{Outcome: outcome, Workspace: "ws_1", Env: "live", KeyID: "key_1", Scopes: "videos:read",
		RequiredScope: "videos:write", RetryAfter: 7,
		KeyLimit:       ratelimit.Limit{Name: "key", Limit: 100, Remaining: 0, Reset: 7, Window: 60},
		WorkspaceLimit: ratelimit.Limit{Name: "workspace", Limit: 1000, Remaining: 500, Reset: 7, Window: 60}}
}

func envelope(t *testing.T, body string) apierr.Body {
	t.Helper()
	var env struct {
		Error apierr.Body `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		t.Fatalf("not an envelope: %s (%v)", body, err)
	}
	if env.Error.RequestID != "req-1" || !strings.HasSuffix(env.Error.Docs, "#"+string(env.Error.Code)) {
		t.Fatalf("envelope %+v", env.Error)
	}
	return env.Error
}

func TestVerdictsAreAnsweredBeforeHandlers(t *testing.T) {
	called := 0
	h := srv().API(Routes{"POST /videos": func(context.Context, *Request) (Response, error) { called++; return Response{}, nil }})
	cases := []struct {
		v      *ratelimit.Verdict
		status int
		code   apierr.Code
	}{
		{base(ratelimit.RateLimited), 429, apierr.RateLimited},
		{base(ratelimit.InsufficientScope), 403, apierr.InsufficientScope},
		{nil, 500, apierr.Internal},
	}
	for _, c := range cases {
		resp, err := h(context.Background(), event(c.v, "POST", "/videos", "{}"))
		if err != nil || resp.StatusCode != c.status {
			t.Fatalf("%v: %d %v", c.code, resp.StatusCode, err)
		}
		if e := envelope(t, resp.Body); e.Code != c.code {
			t.Fatalf("code %s want %s", e.Code, c.code)
		}
		if c.v != nil && (resp.Headers["X-RateLimit-Limit"] != "100" || resp.Headers["RateLimit"] != `"key";r=0;t=7`) {
			t.Fatalf("headers %v", resp.Headers)
		}
	}
	if r, _ := h(context.Background(), event(base(ratelimit.RateLimited), "POST", "/videos", "")); r.Headers["Retry-After"] != "7" {
		t.Fatalf("Retry-After %q", r.Headers["Retry-After"])
	}
	if called != 0 {
		t.Fatalf("handler ran %d times", called)
	}
	if r, _ := h(context.Background(), event(base(ratelimit.InsufficientScope), "POST", "/videos", "")); !strings.Contains(r.Body, "videos:write") {
		t.Fatalf("403 does not name the scope: %s", r.Body)
	}
}

func TestHeadersOnSuccessAndErrors(t *testing.T) {
	v := base(ratelimit.Allow)
	v.KeyLimit.Remaining = 42
	h := srv().API(Routes{
		"GET /ok": func(context.Context, *Request) (Response, error) { return Response{Body: map[string]int{"a": 1}}, nil },
		"GET /bad": func(context.Context, *Request) (Response, error) {
			return Response{}, apierr.Invalid("/x", "x is wrong")
		},
		"GET /boom": func(context.Context, *Request) (Response, error) {
			return Response{}, errors.New("dynamodb: secret table name")
		},
		"GET /panic": func(context.Context, *Request) (Response, error) { panic("nil map") },
	})
	for path, want := range map[string]int{"/ok": 200, "/bad": 400, "/boom": 500, "/panic": 500} {
		resp, err := h(context.Background(), event(v, "GET", path, ""))
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		for _, name := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit", "X-Request-Id"} {
			if resp.Headers[name] == "" {
				t.Fatalf("%s: no %s header", path, name)
			}
		}
		if resp.Headers["X-RateLimit-Remaining"] != "42" || resp.Headers["RateLimit-Policy"] != `"key";q=100;w=60, "workspace";q=1000;w=60` {
			t.Fatalf("%s: %v", path, resp.Headers)
		}
		if want >= 400 {
			e := envelope(t, resp.Body)
			if strings.Contains(resp.Body, "secret table") || strings.Contains(resp.Body, "nil map") {
				t.Fatalf("%s leaks: %s", path, resp.Body)
			}
			if path == "/bad" && e.Field != "/x" {
				t.Fatalf("field %q", e.Field)
			}
		}
	}
}

func TestDecode(t *testing.T) {
	type in struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
		Inner struct {
			N int `json:"n"`
		} `json:"inner"`
	}
	cases := map[string]string{
		`{"name":"a","extra":1}`:    "/extra",
		`{"count":"x"}`:             "/count",
		`{"inner":{"n":"x"}}`:       "/inner/n",
		`{"name":"a"} {"name":"b"}`: "",
		`[1,2]`:                     "",
		`{"name":`:                  "",
		`not json`:                  "",
	}
	for body, field := range cases {
		var v in
		err := apierr.DecodeJSON([]byte(body), &v)
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != apierr.InvalidRequest || e.Field != field {
			t.Errorf("%s: %v (field %q want %q)", body, err, fieldOf(e), field)
		}
	}
	var v0 in
	if err := apierr.DecodeJSON([]byte(`{"`+strings.Repeat("k", 5000)+`":1}`), &v0); len(apierr.From(err).Message) > 200 {
		t.Fatalf("a long unknown field name is echoed whole")
	}
	r := &Request{Event: events.APIGatewayProxyRequest{Body: `{"name":"a"}`, Headers: map[string]string{"content-type": "text/plain"}}}
	var v in
	if err := r.Decode(&v, false); apierr.From(err).Code != apierr.UnsupportedMediaType {
		t.Fatalf("text/plain: %v", err)
	}
	r.Event.Headers["content-type"] = "application/json; charset=utf-8"
	if err := r.Decode(&v, false); err != nil || v.Name != "a" {
		t.Fatalf("%v %+v", err, v)
	}
	r.Event.Body = strings.Repeat(" ", MaxBody+1) + "{}"
	if err := r.Decode(&v, false); apierr.From(err).Code != apierr.PayloadTooLarge {
		t.Fatalf("large: %v", err)
	}
}

func fieldOf(e *apierr.Error) string {
	if e == nil {
		return "<nil>"
	}
	return e.Field
}
