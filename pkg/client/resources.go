package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Pagination holds the links of a cursor-paginated list.
type Pagination struct {
	Limit int     `json:"limit"`
	Self  string  `json:"self"`
	First string  `json:"first"`
	Next  *string `json:"next"`
	Last  string  `json:"last,omitempty"` // videos only
}

// NextCursor is the cursor of the next page, "" on the last page.
func (p Pagination) NextCursor() string {
	if p.Next == nil {
		return ""
	}
	u, err := url.Parse(*p.Next)
	if err != nil {
		return ""
	}
	return u.Query().Get("cursor")
}

// ListParams page through a list.
type ListParams struct {
	Limit  int    // 1..100; 0: the API's default (20)
	Cursor string // from Pagination.NextCursor
}

func (p ListParams) values() url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return q
}

func esc(id string) string { return url.PathEscape(id) }

// ---------------------------------------------------------------- auth

// Identity is who the calling key is (GET /v1/auth).
type Identity struct {
	Object    string `json:"object"`
	Workspace struct {
		ID string `json:"id"`
	} `json:"workspace"`
	Environment string `json:"environment"`
	Key         struct {
		ID        string   `json:"id"`
		Kind      string   `json:"kind"`
		Role      string   `json:"role"`
		Scopes    []string `json:"scopes"`
		ExpiresAt *string  `json:"expiresAt"`
	} `json:"key"`
	RateLimits struct {
		Key       RateLimit `json:"key"`
		Workspace RateLimit `json:"workspace"`
	} `json:"rateLimits"`
}

// RateLimit is one limit's state.
type RateLimit struct {
	Limit     int `json:"limit"`
	Remaining int `json:"remaining"`
	Reset     int `json:"reset"`
	Window    int `json:"window"`
}

// Auth describes the calling key.
func (c *Client) Auth(ctx context.Context) (*Identity, error) {
	var out Identity
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/auth", nil, nil), &out)
	return &out, err
}

// ---------------------------------------------------------------- keys

// Key is an API key. Key (the plaintext) is set only in the answer that
// created it.
type Key struct {
	Object      string   `json:"object"`
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Role        string   `json:"role"`
	Scopes      []string `json:"scopes"`
	Environment string   `json:"environment"`
	Preview     string   `json:"preview"`
	Status      string   `json:"status"`
	CreatedAt   string   `json:"createdAt"`
	ExpiresAt   *string  `json:"expiresAt"`
	LastUsedAt  *string  `json:"lastUsedAt"`
	RevokedAt   *string  `json:"revokedAt,omitempty"`
	RotatedTo   string   `json:"rotatedTo,omitempty"`
	Key         string   `json:"key,omitempty"`
}

// KeyList is a page of keys.
type KeyList struct {
	Object     string     `json:"object"`
	Data       []Key      `json:"data"`
	Pagination Pagination `json:"pagination"`
}

// CreateKeyRequest is the body of POST /v1/keys.
type CreateKeyRequest struct {
	Name      string  `json:"name"`
	Role      string  `json:"role"`                // read_only, render, editor, manager
	ExpiresAt *string `json:"expiresAt,omitempty"` // RFC 3339
}

// CreateKey creates a secondary key in the calling key's workspace and
// environment.
func (c *Client) CreateKey(ctx context.Context, in CreateKeyRequest, opts ...CallOption) (*Key, error) {
	var out Key
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/keys", in, opts), &out)
	return &out, err
}

// ListKeysParams filter GET /v1/keys.
type ListKeysParams struct {
	ListParams
	// Status is one status (active, rotating, rotated, expired, revoked)
	// or all; empty lists the active keys.
	Status string
}

// ListKeys lists a page of keys.
func (c *Client) ListKeys(ctx context.Context, p ListKeysParams) (*KeyList, error) {
	r := c.newCall(http.MethodGet, "/keys", nil, nil)
	r.query = p.values()
	if p.Status != "" {
		r.query.Set("status", p.Status)
	}
	var out KeyList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// GetKey reads a key.
func (c *Client) GetKey(ctx context.Context, id string) (*Key, error) {
	var out Key
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/keys/"+esc(id), nil, nil), &out)
	return &out, err
}

// RevokeKey revokes a key at once.
func (c *Client) RevokeKey(ctx context.Context, id string) (*Key, error) {
	var out Key
	_, err := c.do(ctx, c.newCall(http.MethodDelete, "/keys/"+esc(id), nil, nil), &out)
	return &out, err
}

// RotateKey replaces a key with a new one of the same role and limits; the
// old one keeps working for grace (0 to 24 h, whole seconds).
func (c *Client) RotateKey(ctx context.Context, id string, graceSeconds int, opts ...CallOption) (*Key, error) {
	var out Key
	body := map[string]int{"gracePeriodSeconds": graceSeconds}
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/keys/"+esc(id)+"/rotate", body, opts), &out)
	return &out, err
}

// ResetPrimary replaces the primary key; the old one dies at once.
func (c *Client) ResetPrimary(ctx context.Context, opts ...CallOption) (*Key, error) {
	var out Key
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/keys/primary/reset", struct{}{}, opts), &out)
	return &out, err
}

// ---------------------------------------------------------------- console

// ConsoleLink is a one-time link that signs a person in to the console.
type ConsoleLink struct {
	Object    string `json:"object"`
	ID        string `json:"id"` // the console session it opens
	URL       string `json:"url"`
	ExpiresAt string `json:"expiresAt"` // the link's; the session lasts up to 12 hours
}

// ConsoleSession is a console sign-in: a link until used, then a session.
type ConsoleSession struct {
	Object        string  `json:"object"`
	ID            string  `json:"id"`
	Environment   string  `json:"environment"`
	Status        string  `json:"status"` // pending, active, expired, revoked
	CreatedAt     string  `json:"createdAt"`
	CreatedBy     string  `json:"createdBy"`
	LinkExpiresAt string  `json:"linkExpiresAt"`
	SignedInAt    *string `json:"signedInAt"`
	ExpiresAt     *string `json:"expiresAt"`
	RevokedAt     *string `json:"revokedAt"`
}

// CreateConsoleSession asks for a one-time console link for the key's
// workspace and environment (POST /v1/console/sessions). The key needs
// keys:manage and must not expire.
func (c *Client) CreateConsoleSession(ctx context.Context, opts ...CallOption) (*ConsoleLink, error) {
	var out ConsoleLink
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/console/sessions", struct{}{}, opts), &out)
	return &out, err
}

// ListConsoleSessions lists the console links and sessions, newest first.
func (c *Client) ListConsoleSessions(ctx context.Context) ([]ConsoleSession, error) {
	var out struct {
		Data []ConsoleSession `json:"data"`
	}
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/console/sessions", nil, nil), &out)
	return out.Data, err
}

// RevokeConsoleSession ends a console session, or cancels an unused link.
func (c *Client) RevokeConsoleSession(ctx context.Context, id string) (*ConsoleSession, error) {
	var out ConsoleSession
	_, err := c.do(ctx, c.newCall(http.MethodDelete, "/console/sessions/"+esc(id), nil, nil), &out)
	return &out, err
}

// ---------------------------------------------------------------- videos

// Video is a render job.
type Video struct {
	Object   string `json:"object"`
	ID       string `json:"id"`
	Status   string `json:"status"` // queued, rendering, succeeded, failed, cancelled
	Progress int    `json:"progress"`
	// Attempts counts the renders started: above 1, earlier attempts
	// failed (or their worker died) and the render was retried.
	Attempts        int             `json:"attempts"`
	Environment     string          `json:"environment"`
	TemplateID      string          `json:"templateId,omitempty"`
	Variables       json.RawMessage `json:"variables,omitempty"`
	Spec            json.RawMessage `json:"spec,omitempty"`
	DurationSeconds float64         `json:"durationSeconds"`
	SizeBytes       *int64          `json:"sizeBytes"`
	Width           int             `json:"width,omitempty"`
	Height          int             `json:"height,omitempty"`
	Watermark       bool            `json:"watermark"`
	WebhookURL      string          `json:"webhookUrl,omitempty"`
	Error           *VideoError     `json:"error"`
	CreatedAt       string          `json:"createdAt"`
	StartedAt       *string         `json:"startedAt"`
	FinishedAt      *string         `json:"finishedAt"`
	ExpiresAt       *string         `json:"expiresAt"`
}

// Terminal reports whether the video will not change status again.
func (v *Video) Terminal() bool {
	return v.Status == "succeeded" || v.Status == "failed" || v.Status == "cancelled"
}

// VideoError is why a render failed.
type VideoError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// VideoList is a page of videos, newest first.
type VideoList struct {
	Object     string     `json:"object"`
	Data       []Video    `json:"data"`
	Pagination Pagination `json:"pagination"`
}

// CreateVideoRequest is the body of POST /v1/videos: a movie spec, or a
// template and its variables.
type CreateVideoRequest struct {
	Spec       json.RawMessage `json:"spec,omitempty"`
	TemplateID string          `json:"templateId,omitempty"`
	Variables  map[string]any  `json:"variables,omitempty"`
	WebhookURL string          `json:"webhookUrl,omitempty"`
}

// CreateVideo queues a render. The API deduplicates on the Idempotency-Key
// for 24 h, so the client retries a create after a 5xx or a lost
// connection without rendering twice.
func (c *Client) CreateVideo(ctx context.Context, in CreateVideoRequest, opts ...CallOption) (*Video, error) {
	r := c.newCall(http.MethodPost, "/videos", in, opts)
	r.dedupes = true
	var out Video
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// ListVideosParams filter GET /v1/videos.
type ListVideosParams struct {
	ListParams
	Status       string // one status, or all
	CreatedAfter string // RFC 3339
}

// ListVideos lists a page of videos.
func (c *Client) ListVideos(ctx context.Context, p ListVideosParams) (*VideoList, error) {
	r := c.newCall(http.MethodGet, "/videos", nil, nil)
	r.query = p.values()
	if p.Status != "" {
		r.query.Set("status", p.Status)
	}
	if p.CreatedAfter != "" {
		r.query.Set("createdAfter", p.CreatedAfter)
	}
	var out VideoList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// GetVideo reads a video with its spec.
func (c *Client) GetVideo(ctx context.Context, id string) (*Video, error) {
	var out Video
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/videos/"+esc(id), nil, nil), &out)
	return &out, err
}

// VideoStatus reads a video's status and progress: the route to poll.
func (c *Client) VideoStatus(ctx context.Context, id string) (*Video, error) {
	var out Video
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/videos/"+esc(id)+"/status", nil, nil), &out)
	return &out, err
}

// DeleteVideoResult is the answer of DELETE /v1/videos/{id}: a finished
// video is deleted (Deleted true); a queued or rendering one is cancelled
// and comes back as Video.
type DeleteVideoResult struct {
	Deleted bool
	Video   *Video
}

// DeleteVideo cancels a pending render or deletes a finished one.
func (c *Client) DeleteVideo(ctx context.Context, id string) (*DeleteVideoResult, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, c.newCall(http.MethodDelete, "/videos/"+esc(id), nil, nil), &raw); err != nil {
		return nil, err
	}
	var probe struct {
		Deleted bool `json:"deleted"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("DELETE /videos/%s: decode response: %w", id, err)
	}
	if probe.Deleted {
		return &DeleteVideoResult{Deleted: true}, nil
	}
	var v Video
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("DELETE /videos/%s: decode response: %w", id, err)
	}
	return &DeleteVideoResult{Video: &v}, nil
}

// DownloadLink is a short-lived URL of a succeeded video's file or
// thumbnail.
type DownloadLink struct {
	URL       string `json:"url"`
	ExpiresAt string `json:"expiresAt"`
}

// VideoDownloadURL asks for a download link without following it.
func (c *Client) VideoDownloadURL(ctx context.Context, id string) (*DownloadLink, error) {
	return c.link(ctx, id, "download")
}

// VideoThumbnailURL asks for a link to the video's JPEG poster without
// following it.
func (c *Client) VideoThumbnailURL(ctx context.Context, id string) (*DownloadLink, error) {
	return c.link(ctx, id, "thumbnail")
}

// link asks GET /videos/{id}/<what> for its presigned link.
func (c *Client) link(ctx context.Context, id, what string) (*DownloadLink, error) {
	r := c.newCall(http.MethodGet, "/videos/"+esc(id)+"/"+what, nil, nil)
	r.query = url.Values{"redirect": {"false"}} // 200 with the link: nothing to follow
	var out DownloadLink
	if _, err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	if out.URL == "" {
		return nil, fmt.Errorf("GET /videos/%s/%s: no url in the answer", id, what)
	}
	return &out, nil
}

// DownloadVideo writes a succeeded video's file (in its spec's format:
// MP4, WebM or GIF) to w and returns its size. The file comes from the
// storage URL the API hands out, fetched without the API key: the link is
// presigned and the key must not leave the API.
func (c *Client) DownloadVideo(ctx context.Context, id string, w io.Writer) (int64, error) {
	link, err := c.VideoDownloadURL(ctx, id)
	if err != nil {
		return 0, err
	}
	return c.fetch(ctx, "download "+id, link.URL, w)
}

// Thumbnail writes a succeeded video's JPEG poster, the movie's size, to
// w and returns its size; like DownloadVideo, without the API key.
func (c *Client) Thumbnail(ctx context.Context, id string, w io.Writer) (int64, error) {
	link, err := c.VideoThumbnailURL(ctx, id)
	if err != nil {
		return 0, err
	}
	return c.fetch(ctx, "thumbnail of "+id, link.URL, w)
}

// fetch copies a presigned URL's object to w.
func (c *Client) fetch(ctx context.Context, what, url string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("%s: storage answered %d: %s", what, resp.StatusCode, b)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// ---------------------------------------------------------------- templates

// Template is a reusable movie with variables. Raw keeps the whole object
// as the API sent it, for fields this client does not name.
type Template struct {
	Object      string `json:"object"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Category    string `json:"category,omitempty"`
	Orientation string `json:"orientation,omitempty"`
	// BuiltIn templates come with framegate and are read-only.
	BuiltIn   bool            `json:"builtIn"`
	Variables json.RawMessage `json:"variables,omitempty"`
	Raw       json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw object beside the named fields.
func (t *Template) UnmarshalJSON(b []byte) error {
	type plain Template
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = Template(p)
	t.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// MarshalJSON writes the object as the API sent it.
func (t Template) MarshalJSON() ([]byte, error) {
	if t.Raw != nil {
		return t.Raw, nil
	}
	type plain Template
	return json.Marshal(plain(t))
}

// TemplateList is a page of templates.
type TemplateList struct {
	Object     string     `json:"object"`
	Data       []Template `json:"data"`
	Pagination Pagination `json:"pagination"`
}

// ListTemplatesParams filter GET /v1/templates.
type ListTemplatesParams struct {
	ListParams
	Category    string
	Orientation string
	Q           string // words in the name or description
}

// ListTemplates lists a page of templates: the built-ins, then the
// workspace's own.
func (c *Client) ListTemplates(ctx context.Context, p ListTemplatesParams) (*TemplateList, error) {
	r := c.newCall(http.MethodGet, "/templates", nil, nil)
	r.query = p.values()
	for k, v := range map[string]string{"category": p.Category, "orientation": p.Orientation, "q": p.Q} {
		if v != "" {
			r.query.Set(k, v)
		}
	}
	var out TemplateList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// GetTemplate reads a template.
func (c *Client) GetTemplate(ctx context.Context, id string) (*Template, error) {
	var out Template
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/templates/"+esc(id), nil, nil), &out)
	return &out, err
}

// CreateTemplate creates a template from body, any JSON-encodable value in
// the shape of POST /v1/templates.
func (c *Client) CreateTemplate(ctx context.Context, body any, opts ...CallOption) (*Template, error) {
	var out Template
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/templates", body, opts), &out)
	return &out, err
}

// UpdateTemplate replaces a template (PUT).
func (c *Client) UpdateTemplate(ctx context.Context, id string, body any) (*Template, error) {
	var out Template
	_, err := c.do(ctx, c.newCall(http.MethodPut, "/templates/"+esc(id), body, nil), &out)
	return &out, err
}

// DeleteTemplate deletes a template.
func (c *Client) DeleteTemplate(ctx context.Context, id string) error {
	_, err := c.do(ctx, c.newCall(http.MethodDelete, "/templates/"+esc(id), nil, nil), nil)
	return err
}

// ---------------------------------------------------------------- webhooks

// Webhook destination types and signature schemes.
const (
	WebhookHTTP        = "http"
	WebhookSQS         = "sqs"
	WebhookEventBridge = "eventbridge"
	SchemeV1           = "v1"  // HMAC-SHA256 with a whsec_ secret
	SchemeV1a          = "v1a" // ed25519, verified with the endpoint's whpk_ public key
)

// WebhookEndpoint is a webhook endpoint. Secret is set only when a v1
// endpoint was created or its secret rotated; a v1a endpoint shows its
// PublicKey instead, and never a secret.
type WebhookEndpoint struct {
	Object string  `json:"object"`
	ID     string  `json:"id"`
	Kind   string  `json:"kind"`
	Type   string  `json:"type"`
	URL    *string `json:"url"`
	// QueueURL or EventBusARN, RoleARN and ExternalID: AWS destinations.
	QueueURL                string   `json:"queueUrl,omitempty"`
	EventBusARN             string   `json:"eventBusArn,omitempty"`
	RoleARN                 string   `json:"roleArn,omitempty"`
	ExternalID              string   `json:"externalId,omitempty"`
	Events                  []string `json:"events"`
	Description             string   `json:"description"`
	Enabled                 bool     `json:"enabled"`
	DisabledReason          *string  `json:"disabledReason"`
	Environment             string   `json:"environment"`
	SignatureScheme         string   `json:"signatureScheme"`
	SecretPreview           *string  `json:"secretPreview"`
	PublicKey               string   `json:"publicKey,omitempty"`
	PreviousPublicKey       string   `json:"previousPublicKey,omitempty"`
	PreviousSecretExpiresAt *string  `json:"previousSecretExpiresAt"`
	FailingSince            *string  `json:"failingSince"`
	CreatedAt               string   `json:"createdAt"`
	UpdatedAt               string   `json:"updatedAt"`
	Secret                  string   `json:"secret,omitempty"`
}

// VerificationKey is what verifies the endpoint's deliveries with
// webhooksig.Verify: its public key (v1a), or the secret shown at creation
// or rotation (v1), "" when neither is at hand.
func (w *WebhookEndpoint) VerificationKey() string {
	if w.PublicKey != "" {
		return w.PublicKey
	}
	return w.Secret
}

// WebhookList is a page of endpoints.
type WebhookList struct {
	Object     string            `json:"object"`
	Data       []WebhookEndpoint `json:"data"`
	Pagination Pagination        `json:"pagination"`
}

// CreateWebhookRequest is the body of POST /v1/webhooks: an http endpoint
// (URL), or with Type sqs or eventbridge a queue (QueueURL) or bus
// (EventBusARN) in your account that framegate reaches through RoleARN.
type CreateWebhookRequest struct {
	Type            string   `json:"type,omitempty"` // "" is http
	URL             string   `json:"url,omitempty"`
	QueueURL        string   `json:"queueUrl,omitempty"`
	EventBusARN     string   `json:"eventBusArn,omitempty"`
	RoleARN         string   `json:"roleArn,omitempty"`
	Events          []string `json:"events"` // event types, or "*"
	Description     string   `json:"description,omitempty"`
	SignatureScheme string   `json:"signatureScheme,omitempty"` // "" is v1
}

// UpdateWebhookRequest is the body of PATCH /v1/webhooks/{id}; nil fields
// stay as they are. The destination type cannot change.
type UpdateWebhookRequest struct {
	URL         *string   `json:"url,omitempty"`
	QueueURL    *string   `json:"queueUrl,omitempty"`
	EventBusARN *string   `json:"eventBusArn,omitempty"`
	RoleARN     *string   `json:"roleArn,omitempty"`
	Events      *[]string `json:"events,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
	Description *string   `json:"description,omitempty"`
}

// CreateWebhook registers an endpoint; keep the returned Secret to verify
// deliveries.
func (c *Client) CreateWebhook(ctx context.Context, in CreateWebhookRequest, opts ...CallOption) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/webhooks", in, opts), &out)
	return &out, err
}

// ListWebhooks lists a page of endpoints.
func (c *Client) ListWebhooks(ctx context.Context, p ListParams) (*WebhookList, error) {
	r := c.newCall(http.MethodGet, "/webhooks", nil, nil)
	r.query = p.values()
	var out WebhookList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// GetWebhook reads an endpoint.
func (c *Client) GetWebhook(ctx context.Context, id string) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/webhooks/"+esc(id), nil, nil), &out)
	return &out, err
}

// UpdateWebhook changes an endpoint.
func (c *Client) UpdateWebhook(ctx context.Context, id string, in UpdateWebhookRequest) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, c.newCall(http.MethodPatch, "/webhooks/"+esc(id), in, nil), &out)
	return &out, err
}

// DeleteWebhook deletes an endpoint.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	_, err := c.do(ctx, c.newCall(http.MethodDelete, "/webhooks/"+esc(id), nil, nil), nil)
	return err
}

// RotateWebhookSecret replaces an endpoint's signing secret; the old one
// keeps signing alongside for a while (PreviousSecretExpiresAt).
func (c *Client) RotateWebhookSecret(ctx context.Context, id string, opts ...CallOption) (*WebhookEndpoint, error) {
	var out WebhookEndpoint
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/webhooks/"+esc(id)+"/rotate-secret", struct{}{}, opts), &out)
	return &out, err
}

// WebhookTest is the answer of POST /v1/webhooks/{id}/test.
type WebhookTest struct {
	Object     string `json:"object"`
	EventID    string `json:"eventId"`
	Type       string `json:"type"`
	DeliveryID string `json:"deliveryId"`
}

// TestWebhook sends a webhook.test event to an endpoint.
func (c *Client) TestWebhook(ctx context.Context, id string, opts ...CallOption) (*WebhookTest, error) {
	var out WebhookTest
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/webhooks/"+esc(id)+"/test", struct{}{}, opts), &out)
	return &out, err
}

// Delivery is one event's delivery to one endpoint, with its attempts.
type Delivery struct {
	Object        string          `json:"object"`
	ID            string          `json:"id"`
	EndpointID    string          `json:"endpointId"`
	EventID       string          `json:"eventId"`
	EventType     string          `json:"eventType"`
	URL           *string         `json:"url,omitempty"`
	Status        string          `json:"status"`
	AttemptCount  int             `json:"attemptCount"`
	NextAttemptAt *string         `json:"nextAttemptAt"`
	CreatedAt     string          `json:"createdAt"`
	Attempts      []Attempt       `json:"attempts"`
	Payload       json.RawMessage `json:"payload"`
}

// Attempt is one delivery attempt.
type Attempt struct {
	At         string `json:"at"`
	StatusCode *int   `json:"statusCode"`
	LatencyMS  int64  `json:"latencyMs"`
	Response   string `json:"response"`
	Error      string `json:"error,omitempty"`
	Manual     bool   `json:"manual,omitempty"`
	Recovery   string `json:"recovery,omitempty"` // the recovery that made it
}

// DeliveryList is a page of deliveries.
type DeliveryList struct {
	Object     string     `json:"object"`
	Data       []Delivery `json:"data"`
	Pagination Pagination `json:"pagination"`
}

// ListDeliveries lists an endpoint's deliveries, newest first.
func (c *Client) ListDeliveries(ctx context.Context, endpointID string, p ListParams) (*DeliveryList, error) {
	r := c.newCall(http.MethodGet, "/webhooks/"+esc(endpointID)+"/deliveries", nil, nil)
	r.query = p.values()
	var out DeliveryList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// Redeliver queues a delivery again now.
func (c *Client) Redeliver(ctx context.Context, endpointID, deliveryID string, opts ...CallOption) (*Delivery, error) {
	var out Delivery
	path := "/webhooks/" + esc(endpointID) + "/deliveries/" + esc(deliveryID) + "/redeliver"
	_, err := c.do(ctx, c.newCall(http.MethodPost, path, struct{}{}, opts), &out)
	return &out, err
}

// WebhookRecovery is the answer of POST /v1/webhooks/{id}/recover.
type WebhookRecovery struct {
	Object     string `json:"object"`
	ID         string `json:"id"`
	EndpointID string `json:"endpointId"`
	Since      string `json:"since"`
	Until      string `json:"until"`
}

// RecoverWebhook sends every delivery of an endpoint that failed, or waits
// to retry a failed attempt, for an event since then, again: in event
// order, once each. since must be within the last 30 days.
func (c *Client) RecoverWebhook(ctx context.Context, endpointID string, since time.Time, opts ...CallOption) (*WebhookRecovery, error) {
	var out WebhookRecovery
	body := map[string]string{"since": since.UTC().Format(time.RFC3339Nano)}
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/webhooks/"+esc(endpointID)+"/recover", body, opts), &out)
	return &out, err
}

// ---------------------------------------------------------------- connections

// Connection is a place to publish videos to: a webhook catch-hook or an
// S3 bucket. Secret is set only in the answer that creates a webhook
// connection.
type Connection struct {
	Object        string `json:"object"`
	ID            string `json:"id"`
	Type          string `json:"type"` // webhook or s3
	Name          string `json:"name"`
	Environment   string `json:"environment"`
	CreatedAt     string `json:"createdAt"`
	URL           string `json:"url,omitempty"`
	SecretPreview string `json:"secretPreview,omitempty"`
	Secret        string `json:"secret,omitempty"`
	Bucket        string `json:"bucket,omitempty"`
	Prefix        string `json:"prefix,omitempty"`
	Region        string `json:"region,omitempty"`
	RoleArn       string `json:"roleArn,omitempty"`
	ExternalID    string `json:"externalId,omitempty"`
}

// ConnectionList is a page of connections.
type ConnectionList struct {
	Object     string       `json:"object"`
	Data       []Connection `json:"data"`
	Pagination Pagination   `json:"pagination"`
}

// CreateConnectionRequest is the body of POST /v1/connections: Type
// "webhook" takes URL; "s3" takes Bucket, RoleArn and optionally Prefix
// and Region.
type CreateConnectionRequest struct {
	Type    string `json:"type"`
	Name    string `json:"name,omitempty"`
	URL     string `json:"url,omitempty"`
	Bucket  string `json:"bucket,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Region  string `json:"region,omitempty"`
	RoleArn string `json:"roleArn,omitempty"`
}

// CreateConnection registers a destination; for a webhook connection keep
// the returned Secret to verify what it receives.
func (c *Client) CreateConnection(ctx context.Context, in CreateConnectionRequest, opts ...CallOption) (*Connection, error) {
	var out Connection
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/connections", in, opts), &out)
	return &out, err
}

// ListConnections lists a page of connections.
func (c *Client) ListConnections(ctx context.Context, p ListParams) (*ConnectionList, error) {
	r := c.newCall(http.MethodGet, "/connections", nil, nil)
	r.query = p.values()
	var out ConnectionList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// GetConnection reads a connection (never its secret).
func (c *Client) GetConnection(ctx context.Context, id string) (*Connection, error) {
	var out Connection
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/connections/"+esc(id), nil, nil), &out)
	return &out, err
}

// DeleteConnection deletes a connection; its scheduled publications fail
// with connection_deleted when due.
func (c *Client) DeleteConnection(ctx context.Context, id string) error {
	_, err := c.do(ctx, c.newCall(http.MethodDelete, "/connections/"+esc(id), nil, nil), nil)
	return err
}

// ---------------------------------------------------------------- publishing

// Publication sends one succeeded video to one connection.
type Publication struct {
	Object         string            `json:"object"`
	ID             string            `json:"id"`
	VideoID        string            `json:"videoId"`
	ConnectionID   string            `json:"connectionId"`
	ConnectionType string            `json:"connectionType"`
	Status         string            `json:"status"` // scheduled, executing, executed, failed, cancelled
	PublishAt      string            `json:"publishAt"`
	ExecutedAt     *string           `json:"executedAt"`
	CancelledAt    *string           `json:"cancelledAt"`
	NextAttemptAt  *string           `json:"nextAttemptAt"`
	Attempts       int               `json:"attempts"`
	Destination    *string           `json:"destination"`
	Error          *PublicationError `json:"error"`
	CreatedAt      string            `json:"createdAt"`
}

// PublicationError is why a publication failed (or its last attempt did).
type PublicationError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// PublicationList is a page of a video's publications, newest first.
type PublicationList struct {
	Object     string        `json:"object"`
	Data       []Publication `json:"data"`
	Pagination Pagination    `json:"pagination"`
}

// PublishRequest is the body of POST /v1/videos/{id}/publish.
type PublishRequest struct {
	ConnectionID string `json:"connectionId"`
	PublishAt    string `json:"publishAt,omitempty"` // RFC 3339; empty: now
}

// PublishVideo schedules a succeeded video's publication to a connection.
// The API deduplicates on the Idempotency-Key, so a retry after a 5xx or a
// lost connection schedules it once.
func (c *Client) PublishVideo(ctx context.Context, videoID string, in PublishRequest, opts ...CallOption) (*Publication, error) {
	r := c.newCall(http.MethodPost, "/videos/"+esc(videoID)+"/publish", in, opts)
	r.dedupes = true
	var out Publication
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// ListPublications lists a page of a video's publications.
func (c *Client) ListPublications(ctx context.Context, videoID string, p ListParams) (*PublicationList, error) {
	r := c.newCall(http.MethodGet, "/videos/"+esc(videoID)+"/publications", nil, nil)
	r.query = p.values()
	var out PublicationList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// CancelPublication cancels a scheduled publication.
func (c *Client) CancelPublication(ctx context.Context, videoID, publicationID string) (*Publication, error) {
	var out Publication
	path := "/videos/" + esc(videoID) + "/publications/" + esc(publicationID)
	_, err := c.do(ctx, c.newCall(http.MethodDelete, path, nil, nil), &out)
	return &out, err
}

// ---------------------------------------------------------------- meta

// OpenAPI returns the API's OpenAPI document, as JSON.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/openapi.json", nil, nil), &out)
	return out, err
}
