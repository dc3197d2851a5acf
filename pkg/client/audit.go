package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// AuditEvent is one entry of the audit log: who changed what, from where.
type AuditEvent struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Action string `json:"action"`
	Actor  struct {
		Type string `json:"type"` // api_key, operator, secret_scanning
		ID   string `json:"id"`
	} `json:"actor"`
	Target struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"target"`
	Environment string            `json:"environment"`
	OccurredAt  string            `json:"occurredAt"`
	RequestID   string            `json:"requestId"`
	SourceIP    string            `json:"sourceIp"`
	UserAgent   string            `json:"userAgent"`
	Details     map[string]string `json:"details"`
}

// AuditEventList is a page of the audit log.
type AuditEventList struct {
	Object     string       `json:"object"`
	Data       []AuditEvent `json:"data"`
	Pagination Pagination   `json:"pagination"`
}

// ListAuditEventsParams filter GET /v1/audit-events; zero fields select
// everything.
type ListAuditEventsParams struct {
	ListParams
	Action string // e.g. key.revoked
	Actor  string // a key id, an operator's ARN, or github
	Target string // the id of what was changed
	Since  time.Time
	Until  time.Time
}

// ListAuditEvents reads a page of the audit log, newest first (needs
// audit:read).
func (c *Client) ListAuditEvents(ctx context.Context, p ListAuditEventsParams) (*AuditEventList, error) {
	r := c.newCall(http.MethodGet, "/audit-events", nil, nil)
	r.query = p.values()
	for k, v := range map[string]string{"action": p.Action, "actor": p.Actor, "target": p.Target} {
		if v != "" {
			r.query.Set(k, v)
		}
	}
	setTimes(r.query, map[string]time.Time{"since": p.Since, "until": p.Until})
	var out AuditEventList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// RequestCounts are requests by outcome.
type RequestCounts struct {
	Admitted    int64 `json:"admitted"`
	RateLimited int64 `json:"rateLimited"`
	Forbidden   int64 `json:"forbidden"`
}

// RequestSeries hold one number per bucket of a usage report.
type RequestSeries struct {
	Admitted    []int64 `json:"admitted"`
	RateLimited []int64 `json:"rateLimited"`
	Forbidden   []int64 `json:"forbidden"`
}

// Usage is GET /v1/usage: the environment's requests by outcome, per key,
// and its render seconds, in buckets of StepSeconds from From.
type Usage struct {
	Object      string        `json:"object"`
	Environment string        `json:"environment"`
	Granularity string        `json:"granularity"`
	From        string        `json:"from"`
	To          string        `json:"to"`
	StepSeconds int           `json:"stepSeconds"`
	Requests    RequestCounts `json:"requests"`
	Series      RequestSeries `json:"series"`
	Keys        []struct {
		KeyID      string        `json:"keyId"`
		LastUsedAt *string       `json:"lastUsedAt"`
		Requests   RequestCounts `json:"requests"`
		Series     RequestSeries `json:"series"`
	} `json:"keys"`
	RenderSeconds struct {
		Total  float64   `json:"total"`
		Series []float64 `json:"series"`
	} `json:"renderSeconds"`
}

// UsageParams select a usage report; zero fields take the API's defaults
// (by hour, the last 24 hours, every key).
type UsageParams struct {
	Granularity string // minute, hour or day
	From, To    time.Time
	KeyID       string
}

// GetUsage reads the usage of the calling key's environment (needs
// usage:read).
func (c *Client) GetUsage(ctx context.Context, p UsageParams) (*Usage, error) {
	r := c.newCall(http.MethodGet, "/usage", nil, nil)
	r.query = ListParams{}.values()
	if p.Granularity != "" {
		r.query.Set("granularity", p.Granularity)
	}
	if p.KeyID != "" {
		r.query.Set("keyId", p.KeyID)
	}
	setTimes(r.query, map[string]time.Time{"from": p.From, "to": p.To})
	var out Usage
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// setTimes sets the non-zero times as RFC 3339 query parameters.
func setTimes(q url.Values, times map[string]time.Time) {
	for k, t := range times {
		if !t.IsZero() {
			q.Set(k, t.UTC().Format(time.RFC3339))
		}
	}
}
