package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
)

// Error is an error answer of the API, parsed from its envelope
// {"error": {"code", "message", "field", "requestId", "docs"}}.
type Error struct {
	Status    int
	Code      string // one of apierr's codes; empty when the body was not the envelope
	Message   string
	Field     string // the wrong input, for invalid_request
	RequestID string // quote it to support
	Docs      string
	// RetryAfter is the Retry-After of a 429 or 503, zero if absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "framegate API: %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " (field %s)", e.Field)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// As lets errors.As turn an *Error into the server's *apierr.Error, so code
// that classifies API errors by apierr code (the CLI's exit codes) handles
// both the same way.
func (e *Error) As(target any) bool {
	t, ok := target.(**apierr.Error)
	if !ok {
		return false
	}
	code := apierr.Code(e.Code)
	if code == "" {
		code = codeOfStatus(e.Status)
	}
	*t = &apierr.Error{Code: code, Message: e.Message, Field: e.Field}
	return true
}

// codeOfStatus guesses a code for an answer that did not carry the envelope
// (a proxy's 502, say).
func codeOfStatus(status int) apierr.Code {
	switch {
	case status == http.StatusNotFound:
		return apierr.NotFound
	case status == http.StatusTooManyRequests:
		return apierr.RateLimited
	case status == http.StatusUnauthorized:
		return apierr.InvalidAPIKey
	case status == http.StatusForbidden:
		return apierr.InsufficientScope
	case status == http.StatusServiceUnavailable:
		return apierr.ServiceUnavailable
	case status >= 400 && status < 500:
		return apierr.InvalidRequest
	}
	return apierr.Internal
}

func parseError(resp *http.Response, raw []byte) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var env struct {
		Error *struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			Field     string `json:"field"`
			RequestID string `json:"requestId"`
			Docs      string `json:"docs"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil && env.Error.Code != "" {
		e.Code, e.Message, e.Field, e.Docs = env.Error.Code, env.Error.Message, env.Error.Field, env.Error.Docs
		if env.Error.RequestID != "" {
			e.RequestID = env.Error.RequestID
		}
	} else {
		msg := strings.TrimSpace(string(raw))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		e.Message = msg
	}
	e.RetryAfter = retryAfterHeader(resp.Header.Get("Retry-After"), time.Now())
	return e
}
