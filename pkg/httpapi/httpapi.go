// Package httpapi is the one door into every API handler: it reads the
// authorizer's verdict, answers 403 insufficient_scope and 429 rate_limited
// before any handler logic runs, writes the rate-limit headers on every
// response, routes to the handler, and renders errors in the shared envelope
// with internal details logged, never shown.
package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
)

// Request is what a handler gets: the proxy event and the verdict of the
// authorizer (zero for public routes).
type Request struct {
	Event     events.APIGatewayProxyRequest
	Verdict   ratelimit.Verdict
	RequestID string
}

// Env is the environment of the calling key.
func (r *Request) Env() apikey.Env { return apikey.Env(r.Verdict.Env) }

// Workspace is the calling key's workspace.
func (r *Request) Workspace() string { return r.Verdict.Workspace }

// Response is what a handler returns; Body is marshalled to JSON unless Raw is set.
type Response struct {
	Status  int
	Body    any
	Raw     []byte
	Headers map[string]string
}

// Handler serves one route.
type Handler func(context.Context, *Request) (Response, error)

// Routes maps "METHOD /resource" (as in template.yaml, e.g. "GET /keys/{id}")
// to its handler.
type Routes map[string]Handler

// Server holds what every response needs.
type Server struct {
	// DocsURL is the errors page the envelope links to.
	DocsURL string
	Logger  *slog.Logger
}

// NewServer reads DOCS_URL from the function's environment.
func NewServer(d lambdas.Deps) Server {
	d = d.WithDefaults()
	docs := d.Getenv("DOCS_URL")
	if docs == "" {
		docs = "https://github.com/framegate/framegate/blob/main/docs/errors.md"
	}
	return Server{DocsURL: docs, Logger: d.Logger}
}

// API wraps routes that need a key: nothing in routes runs unless the
// authorizer allowed the request.
func (s Server) API(routes Routes) lambdas.HTTPFunc {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		req := &Request{Event: ev, RequestID: ev.RequestContext.RequestID}
		v, err := ratelimit.FromContext(ev.RequestContext.Authorizer)
		if err != nil {
			return s.fail(ctx, req, nil, fmt.Errorf("request without an authorizer verdict: %w", err)), nil
		}
		req.Verdict = v
		h := rateLimitHeaders(v)
		switch v.Outcome {
		case ratelimit.RateLimited:
			h["Retry-After"] = strconv.Itoa(max(v.RetryAfter, 1))
			return s.fail(ctx, req, h, apierr.New(apierr.RateLimited,
				"Too many requests for this %s; retry after %d seconds.", v.Binding().Name, max(v.RetryAfter, 1))), nil
		case ratelimit.InsufficientScope:
			return s.fail(ctx, req, h, apierr.New(apierr.InsufficientScope,
				"This API key lacks the '%s' scope this route requires.", v.RequiredScope)), nil
		}
		return s.serve(ctx, req, h, routes), nil
	}
}

// Public wraps routes that need no key.
func (s Server) Public(routes Routes) lambdas.HTTPFunc {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		req := &Request{Event: ev, RequestID: ev.RequestContext.RequestID}
		return s.serve(ctx, req, map[string]string{}, routes), nil
	}
}

func (s Server) serve(ctx context.Context, req *Request, h map[string]string, routes Routes) (out events.APIGatewayProxyResponse) {
	handler, ok := routes[req.Event.HTTPMethod+" "+req.Event.Resource]
	if !ok {
		return s.fail(ctx, req, h, apierr.New(apierr.NotFound, "No route %s %s.", req.Event.HTTPMethod, req.Event.Path))
	}
	defer func() {
		if p := recover(); p != nil {
			out = s.fail(ctx, req, h, fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
		}
	}()
	resp, err := handler(ctx, req)
	if err != nil {
		return s.fail(ctx, req, h, err)
	}
	for k, v := range resp.Headers {
		h[k] = v
	}
	body := resp.Raw
	if body == nil && resp.Body != nil {
		body, err = json.Marshal(resp.Body)
		if err != nil {
			return s.fail(ctx, req, h, fmt.Errorf("encode response: %w", err))
		}
	}
	if _, ok := h["Content-Type"]; !ok && body != nil {
		h["Content-Type"] = "application/json; charset=utf-8"
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	return s.respond(req, status, h, body)
}

func (s Server) respond(req *Request, status int, h map[string]string, body []byte) events.APIGatewayProxyResponse {
	if req.RequestID != "" {
		h["X-Request-Id"] = req.RequestID
	}
	if _, ok := h["Cache-Control"]; !ok {
		h["Cache-Control"] = "no-store"
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: h, Body: string(body)}
}

// fail renders err in the envelope. Internal errors are logged with their
// cause and shown only as a generic message with the request id.
func (s Server) fail(ctx context.Context, req *Request, h map[string]string, err error) events.APIGatewayProxyResponse {
	if h == nil {
		h = map[string]string{}
	}
	e := apierr.From(err)
	status := apierr.Status(e.Code)
	if status >= 500 {
		s.Logger.ErrorContext(ctx, "request failed", "request_id", req.RequestID,
			"route", req.Event.HTTPMethod+" "+req.Event.Resource, "err", err)
	}
	if e.RetryAfter > 0 {
		h["Retry-After"] = strconv.Itoa(int(max(time.Second, e.RetryAfter.Round(time.Second)) / time.Second))
	}
	h["Content-Type"] = "application/json; charset=utf-8"
	return s.respond(req, status, h, apierr.Render(e, req.RequestID, s.DocsURL))
}

// rateLimitHeaders are written on every authorized response, 2xx included.
func rateLimitHeaders(v ratelimit.Verdict) map[string]string {
	b := v.Binding()
	h := map[string]string{
		"X-RateLimit-Limit":     strconv.Itoa(b.Limit),
		"X-RateLimit-Remaining": strconv.Itoa(b.Remaining),
		"X-RateLimit-Reset":     strconv.Itoa(b.Reset),
		"RateLimit":             fmt.Sprintf("%q;r=%d;t=%d", b.Name, b.Remaining, b.Reset),
	}
	policy := fmt.Sprintf("%q;q=%d;w=%d", v.KeyLimit.Name, v.KeyLimit.Limit, v.KeyLimit.Window)
	if v.WorkspaceLimit.Limit > 0 {
		policy += fmt.Sprintf(", %q;q=%d;w=%d", v.WorkspaceLimit.Name, v.WorkspaceLimit.Limit, v.WorkspaceLimit.Window)
	}
	h["RateLimit-Policy"] = policy
	return h
}
