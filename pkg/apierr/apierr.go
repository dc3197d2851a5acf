// Package apierr is framegate's one application error type: a closed list of
// codes, each mapped to exactly one HTTP status, and the JSON envelope every
// error is rendered in. Internal causes are kept for logs and never shown.
package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code is one of the closed list below.
type Code string

// The closed list of error codes. Adding one means adding its status below
// and its entry in docs/errors.md.
const (
	InvalidRequest          Code = "invalid_request"
	MissingAPIKey           Code = "missing_api_key"
	InvalidAPIKey           Code = "invalid_api_key"
	APIKeyExpired           Code = "api_key_expired"
	InvalidConsoleLink      Code = "invalid_console_link"
	InvalidSignature        Code = "invalid_signature"
	InsufficientScope       Code = "insufficient_scope"
	NotFound                Code = "not_found"
	Conflict                Code = "conflict"
	KeyLimitReached         Code = "key_limit_reached"
	ConnectionLimitReached  Code = "connection_limit_reached"
	StorageLimitReached     Code = "storage_limit_reached"
	IdempotencyMismatch     Code = "idempotency_mismatch"
	PayloadTooLarge         Code = "payload_too_large"
	UnsupportedMediaType    Code = "unsupported_media_type"
	RateLimited             Code = "rate_limited"
	QueueFull               Code = "queue_full"
	SandboxDurationExceeded Code = "sandbox_duration_exceeded"
	RenderBudgetExceeded    Code = "render_budget_exceeded"
	Internal                Code = "internal_error"
	ServiceUnavailable      Code = "service_unavailable"
)

var statuses = map[Code]int{
	InvalidRequest:          http.StatusBadRequest,
	MissingAPIKey:           http.StatusUnauthorized,
	InvalidAPIKey:           http.StatusUnauthorized,
	APIKeyExpired:           http.StatusUnauthorized,
	InvalidConsoleLink:      http.StatusUnauthorized,
	InvalidSignature:        http.StatusUnauthorized,
	InsufficientScope:       http.StatusForbidden,
	NotFound:                http.StatusNotFound,
	Conflict:                http.StatusConflict,
	KeyLimitReached:         http.StatusConflict,
	ConnectionLimitReached:  http.StatusConflict,
	StorageLimitReached:     http.StatusConflict,
	IdempotencyMismatch:     http.StatusConflict,
	PayloadTooLarge:         http.StatusRequestEntityTooLarge,
	UnsupportedMediaType:    http.StatusUnsupportedMediaType,
	RateLimited:             http.StatusTooManyRequests,
	QueueFull:               http.StatusTooManyRequests,
	SandboxDurationExceeded: http.StatusBadRequest,
	RenderBudgetExceeded:    http.StatusBadRequest,
	Internal:                http.StatusInternalServerError,
	ServiceUnavailable:      http.StatusServiceUnavailable,
}

// Codes returns the closed list, for docs and tests.
func Codes() []Code {
	out := make([]Code, 0, len(statuses))
	for c := range statuses {
		out = append(out, c)
	}
	return out
}

// Status is the HTTP status of a code; unknown codes are internal errors.
func Status(c Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an error a client may see. Cause is for logs only.
type Error struct {
	Code    Code
	Message string
	// Field names the offending input as a JSON pointer ("/expiresAt") or a
	// parameter name ("limit") for invalid_request.
	Field string
	// RetryAfter, when set, is sent as the Retry-After header: when a
	// retry may succeed.
	RetryAfter time.Duration
	Cause      error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns a client error with a code and message.
func New(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 naming the wrong field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: InvalidRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// From classifies any error: application errors keep their code, everything
// else becomes an internal error whose message says nothing about the cause.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "An internal error occurred. Retry later or contact support with the request id.", Cause: err}
}

// Envelope is the JSON body of every error response.
type Envelope struct {
	Error Body `json:"error"`
}

// Body is the inside of the envelope.
type Body struct {
	Code      Code   `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"requestId"`
	Docs      string `json:"docs"`
}

// Render returns the envelope of e as JSON. docsBase is the errors page URL;
// the code is its anchor.
func Render(e *Error, requestID, docsBase string) []byte {
	b, err := json.Marshal(Envelope{Error: Body{
		Code: e.Code, Message: e.Message, Field: e.Field,
		RequestID: requestID, Docs: docsBase + "#" + string(e.Code),
	}})
	if err != nil { // cannot happen with these field types
		return []byte(`{"error":{"code":"internal_error","message":"An internal error occurred."}}`)
	}
	return b
}
