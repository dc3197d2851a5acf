package webhooks

// The /v1/webhooks routes: the webhook endpoints of the caller's workspace
// and environment (create, list, read, update, delete, rotate the signing
// secret, send a test event) and their delivery log with redelivery.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
)

// Limits of the endpoint fields.
const (
	MaxDescriptionLen = 200
	MaxEvents         = 10
)

// New is the constructor of functions/webhooks.
func New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) { return Options{}.New(ctx, d) }

// New is the constructor of functions/webhooks with o.
func (o Options) New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	st, err := OpenStore(ctx, d, o)
	if err != nil {
		return nil, err
	}
	q, err := OpenQueue(d)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), &API{
		Store: st, Queue: q, Guard: Guard(d.Getenv, o.Resolver), Now: d.Now,
		Publisher: Publisher{SQS: q.SQS, WebhookQueueURL: q.URL},
	}), nil
}

// APIStore is what the handlers need from the delivery store.
type APIStore interface {
	CreateEndpoint(ctx context.Context, ws, env string, ne NewEndpoint) (Endpoint, string, error)
	GetEndpoint(ctx context.Context, ws, env, id string) (Endpoint, error)
	ListEndpoints(ctx context.Context, ws, env, after string, limit int) ([]Endpoint, string, error)
	UpdateEndpoint(ctx context.Context, ws, env, id string, p Patch) (Endpoint, error)
	DeleteEndpoint(ctx context.Context, ws, env, id string) error
	RotateSecret(ctx context.Context, ws, env, id string) (Endpoint, string, error)
	VideoURLs(ctx context.Context, ws, env string) (Endpoint, error)
	RevealOnce(ctx context.Context, e Endpoint) (string, error)
	GetDelivery(ctx context.Context, ws, env, ep, id string) (Delivery, error)
	ListDeliveries(ctx context.Context, ws, env, ep, after string, limit int) ([]Delivery, string, error)
}

// Scheduler queues redeliveries.
type Scheduler interface {
	Schedule(ctx context.Context, j Job, wait time.Duration) error
}

// API holds the handlers' dependencies.
type API struct {
	Store     APIStore
	Queue     Scheduler
	Publisher interface {
		SendToEndpoint(ctx context.Context, ev Event, r Route, endpointID string) error
	}
	Guard *egress.Guard
	Now   func() time.Time
}

// Handler returns the routes of functions/webhooks.
func Handler(srv httpapi.Server, a *API) lambdas.HTTPFunc {
	return srv.API(httpapi.Routes{
		"POST /webhooks":                                        a.create,
		"GET /webhooks":                                         a.list,
		"GET /webhooks/{id}":                                    a.get,
		"PATCH /webhooks/{id}":                                  a.update,
		"DELETE /webhooks/{id}":                                 a.delete,
		"POST /webhooks/{id}/rotate-secret":                     a.rotate,
		"POST /webhooks/{id}/test":                              a.test,
		"GET /webhooks/{id}/deliveries":                         a.deliveries,
		"POST /webhooks/{id}/deliveries/{deliveryId}/redeliver": a.redeliver,
	})
}

// ------------------------------------------------------------------ views

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func ts(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(timeFormat)
	return &s
}

// EndpointView is an endpoint as the API shows it.
type EndpointView struct {
	Object         string   `json:"object"`
	ID             string   `json:"id"`
	Kind           string   `json:"kind"`
	URL            *string  `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	DisabledReason *string  `json:"disabledReason"`
	Environment    string   `json:"environment"`
	SecretPreview  string   `json:"secretPreview"`
	// PreviousSecretExpiresAt is when the secret replaced by the last
	// rotation stops signing; until then deliveries carry both signatures.
	PreviousSecretExpiresAt *string `json:"previousSecretExpiresAt"`
	FailingSince            *string `json:"failingSince"`
	CreatedAt               string  `json:"createdAt"`
	UpdatedAt               string  `json:"updatedAt"`
	// Secret is the plaintext, present once: when created or rotated.
	Secret string `json:"secret,omitempty"`
}

func (a *API) view(e Endpoint, secret string) EndpointView {
	v := EndpointView{Object: "webhook_endpoint", ID: e.ID, Kind: e.Kind, Events: e.Events, Description: e.Description,
		Enabled: e.Enabled, Environment: e.Env, SecretPreview: e.SecretPreview, FailingSince: ts(e.FailingSince),
		CreatedAt: e.CreatedAt.UTC().Format(timeFormat), UpdatedAt: e.UpdatedAt.UTC().Format(timeFormat), Secret: secret}
	if e.URL != "" {
		v.URL = &e.URL
	}
	if !e.Enabled {
		r := e.DisabledReason
		v.DisabledReason = &r
	}
	if p := e.PreviousSecretUntil; p != nil && a.Now().Before(*p) {
		v.PreviousSecretExpiresAt = ts(p)
	}
	if v.Events == nil {
		v.Events = []string{}
	}
	return v
}

// DeliveryView is a delivery with its attempts.
type DeliveryView struct {
	Object        string          `json:"object"`
	ID            string          `json:"id"`
	EndpointID    string          `json:"endpointId"`
	EventID       string          `json:"eventId"`
	EventType     string          `json:"eventType"`
	URL           *string         `json:"url,omitempty"` // per-video deliveries
	Status        string          `json:"status"`
	AttemptCount  int             `json:"attemptCount"`
	NextAttemptAt *string         `json:"nextAttemptAt"`
	CreatedAt     string          `json:"createdAt"`
	Attempts      []AttemptView   `json:"attempts"`
	Payload       json.RawMessage `json:"payload"`
}

// AttemptView is one attempt.
type AttemptView struct {
	At         string `json:"at"`
	StatusCode *int   `json:"statusCode"`
	LatencyMS  int64  `json:"latencyMs"`
	Response   string `json:"response"`
	Error      string `json:"error,omitempty"`
	Manual     bool   `json:"manual,omitempty"`
}

func deliveryView(d Delivery) DeliveryView {
	v := DeliveryView{Object: "webhook_delivery", ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType,
		Status: d.Status, AttemptCount: d.AttemptCount, NextAttemptAt: ts(d.NextAttemptAt),
		CreatedAt: d.CreatedAt.UTC().Format(timeFormat), Attempts: make([]AttemptView, 0, len(d.Attempts))}
	if d.URL != "" {
		v.URL = &d.URL
	}
	if json.Valid(d.Payload) {
		v.Payload = d.Payload
	}
	for _, at := range d.Attempts {
		av := AttemptView{At: at.At.UTC().Format(timeFormat), LatencyMS: at.LatencyMS, Response: at.Response, Error: at.Error, Manual: at.Manual}
		if at.StatusCode != 0 {
			c := at.StatusCode
			av.StatusCode = &c
		}
		v.Attempts = append(v.Attempts, av)
	}
	return v
}

// ------------------------------------------------------------------ validation

// checkURL applies the destination URL policy shared with connections.
func (a *API) checkURL(ctx context.Context, raw, env string) (string, error) {
	return CheckTargetURL(ctx, a.Guard, raw, env)
}

func checkEvents(in []string) ([]string, error) {
	const f = "/events"
	if len(in) == 0 || len(in) > MaxEvents {
		return nil, apierr.Invalid(f, "events must list 1 to %d event types: %s, or \"*\" for all.", MaxEvents, strings.Join(Types(), ", "))
	}
	out := make([]string, 0, len(in))
	for i, t := range in {
		if !Known(t) {
			return nil, apierr.Invalid(fmt.Sprintf("%s/%d", f, i), "Unknown event type %q; use one of %s, or \"*\".", t, strings.Join(Types(), ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

func checkDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if !utf8.ValidString(d) || utf8.RuneCountInString(d) > MaxDescriptionLen {
		return "", apierr.Invalid("/description", "description must be at most %d characters.", MaxDescriptionLen)
	}
	return d, nil
}

// ------------------------------------------------------------------ endpoints

// CreateRequest is the body of POST /v1/webhooks.
type CreateRequest struct {
	URL         *string  `json:"url"`
	Events      []string `json:"events"`
	Description *string  `json:"description"`
}

func (a *API) create(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in CreateRequest
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	if in.URL == nil {
		return httpapi.Response{}, apierr.Invalid("/url", "url is required.")
	}
	u, err := a.checkURL(ctx, *in.URL, string(r.Env()))
	if err != nil {
		return httpapi.Response{}, err
	}
	evs, err := checkEvents(in.Events)
	if err != nil {
		return httpapi.Response{}, err
	}
	desc := ""
	if in.Description != nil {
		if desc, err = checkDescription(*in.Description); err != nil {
			return httpapi.Response{}, err
		}
	}
	e, secret, err := a.Store.CreateEndpoint(ctx, r.Workspace(), string(r.Env()), NewEndpoint{URL: u, Events: evs, Description: desc})
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusCreated, Body: a.view(e, secret),
		Headers: map[string]string{"Location": "/v1/webhooks/" + e.ID}}, nil
}

// List is a page of a list.
type List[T any] struct {
	Object     string             `json:"object"`
	Data       []T                `json:"data"`
	Pagination httpapi.Pagination `json:"pagination"`
}

func page(r *httpapi.Request, path, prefix string) (limit int, cursor string, link func(string) string, err error) {
	if limit, err = r.IntQuery("limit", 20, 1, 100); err != nil {
		return 0, "", nil, err
	}
	cursor = r.Query("cursor")
	if cursor != "" && !ids.Valid(prefix, cursor) && cursor != VideoURLsID {
		return 0, "", nil, apierr.Invalid("cursor", "cursor must come from a previous page's next link.")
	}
	return limit, cursor, httpapi.PageLink(path, limit, nil), nil
}

func (a *API) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	limit, cursor, link, err := page(r, "/v1/webhooks", "we")
	if err != nil {
		return httpapi.Response{}, err
	}
	eps, next, err := a.Store.ListEndpoints(ctx, r.Workspace(), string(r.Env()), cursor, limit)
	if err != nil {
		return httpapi.Response{}, err
	}
	out := List[EndpointView]{Object: "list", Data: make([]EndpointView, 0, len(eps))}
	for _, e := range eps {
		out.Data = append(out.Data, a.view(e, ""))
	}
	out.Pagination = httpapi.Paginate(limit, cursor, next, link)
	return httpapi.Response{Body: out}, nil
}

// endpoint loads the endpoint named by the path in the caller's workspace
// and environment; ids of other tenants, and malformed ones, are 404.
func (a *API) endpoint(ctx context.Context, r *httpapi.Request) (Endpoint, error) {
	id := r.PathParam("id")
	switch {
	case id == VideoURLsID:
		return a.Store.VideoURLs(ctx, r.Workspace(), string(r.Env()))
	case !ids.Valid("we", id):
		return Endpoint{}, apierr.New(apierr.NotFound, "No webhook endpoint with this id.")
	}
	return a.Store.GetEndpoint(ctx, r.Workspace(), string(r.Env()), id)
}

func (a *API) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	e, err := a.endpoint(ctx, r)
	if err != nil {
		return httpapi.Response{}, err
	}
	// The video-URLs secret is made by whoever needs it first, often the
	// worker: its first read is the one that shows it.
	secret, err := a.Store.RevealOnce(ctx, e)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: a.view(e, secret)}, nil
}

// UpdateRequest is the body of PATCH /v1/webhooks/{id}.
type UpdateRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Enabled     *bool     `json:"enabled"`
	Description *string   `json:"description"`
}

func (a *API) update(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in UpdateRequest
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	if in.URL == nil && in.Events == nil && in.Enabled == nil && in.Description == nil {
		return httpapi.Response{}, apierr.Invalid("", "Send at least one of url, events, enabled, description.")
	}
	e, err := a.endpoint(ctx, r)
	if err != nil {
		return httpapi.Response{}, err
	}
	if e.Kind == KindVideoURLs && (in.URL != nil || in.Events != nil) {
		field := "/url"
		if in.URL == nil {
			field = "/events"
		}
		return httpapi.Response{}, apierr.Invalid(field, "The video-urls endpoint delivers render events to each video's webhookUrl; only enabled and description can change.")
	}
	var p Patch
	if in.URL != nil {
		u, err := a.checkURL(ctx, *in.URL, string(r.Env()))
		if err != nil {
			return httpapi.Response{}, err
		}
		p.URL = &u
	}
	if in.Events != nil {
		if p.Events, err = checkEvents(*in.Events); err != nil {
			return httpapi.Response{}, err
		}
	}
	if in.Description != nil {
		d, err := checkDescription(*in.Description)
		if err != nil {
			return httpapi.Response{}, err
		}
		p.Description = &d
	}
	p.Enabled = in.Enabled
	e, err = a.Store.UpdateEndpoint(ctx, r.Workspace(), string(r.Env()), e.ID, p)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: a.view(e, "")}, nil
}

func (a *API) delete(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	e, err := a.endpoint(ctx, r)
	if err != nil {
		return httpapi.Response{}, err
	}
	if e.Kind == KindVideoURLs {
		return httpapi.Response{}, apierr.New(apierr.Conflict, "The video-urls endpoint cannot be deleted; disable it with PATCH {\"enabled\": false}.")
	}
	if err := a.Store.DeleteEndpoint(ctx, r.Workspace(), string(r.Env()), e.ID); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: map[string]any{"object": "webhook_endpoint", "id": e.ID, "deleted": true}}, nil
}

func (a *API) rotate(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	if err := r.Decode(&struct{}{}, true); err != nil {
		return httpapi.Response{}, err
	}
	e, err := a.endpoint(ctx, r)
	if err != nil {
		return httpapi.Response{}, err
	}
	e, secret, err := a.Store.RotateSecret(ctx, r.Workspace(), string(r.Env()), e.ID)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: a.view(e, secret)}, nil
}

// TestResponse answers POST /v1/webhooks/{id}/test.
type TestResponse struct {
	Object     string `json:"object"`
	EventID    string `json:"eventId"`
	Type       string `json:"type"`
	DeliveryID string `json:"deliveryId"`
}

func (a *API) test(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	if err := r.Decode(&struct{}{}, true); err != nil {
		return httpapi.Response{}, err
	}
	e, err := a.endpoint(ctx, r)
	if err != nil {
		return httpapi.Response{}, err
	}
	switch {
	case e.Kind != KindEndpoint:
		return httpapi.Response{}, apierr.New(apierr.Conflict, "The video-urls endpoint has no URL of its own to test; create a video with a webhookUrl instead.")
	case !e.Enabled:
		return httpapi.Response{}, apierr.New(apierr.Conflict, "This endpoint is disabled; enable it first with PATCH {\"enabled\": true}.")
	}
	ev, err := NewEvent(WebhookTest, map[string]string{
		"endpointId": e.ID, "message": "This is a test event from framegate.",
	}, a.Now(), nil)
	if err != nil {
		return httpapi.Response{}, err
	}
	route := Route{Workspace: r.Workspace(), Environment: string(r.Env())}
	if err := a.Publisher.SendToEndpoint(ctx, ev, route, e.ID); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusAccepted, Body: TestResponse{Object: "webhook_test", EventID: ev.ID,
		Type: ev.Type, DeliveryID: DeliveryID(ev.ID, e.ID)}}, nil
}

func (a *API) deliveries(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	e, err := a.endpoint(ctx, r)
	if err != nil {
		return httpapi.Response{}, err
	}
	limit, cursor, link, err := page(r, "/v1/webhooks/"+e.ID+"/deliveries", "dlv")
	if err != nil {
		return httpapi.Response{}, err
	}
	ds, next, err := a.Store.ListDeliveries(ctx, r.Workspace(), string(r.Env()), e.ID, cursor, limit)
	if err != nil {
		return httpapi.Response{}, err
	}
	out := List[DeliveryView]{Object: "list", Data: make([]DeliveryView, 0, len(ds))}
	for _, d := range ds {
		out.Data = append(out.Data, deliveryView(d))
	}
	out.Pagination = httpapi.Paginate(limit, cursor, next, link)
	return httpapi.Response{Body: out}, nil
}

func (a *API) redeliver(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	if err := r.Decode(&struct{}{}, true); err != nil {
		return httpapi.Response{}, err
	}
	e, err := a.endpoint(ctx, r)
	if err != nil {
		return httpapi.Response{}, err
	}
	id := r.PathParam("deliveryId")
	if !ids.Valid("dlv", id) {
		return httpapi.Response{}, apierr.New(apierr.NotFound, "No delivery with this id.")
	}
	d, err := a.Store.GetDelivery(ctx, r.Workspace(), string(r.Env()), e.ID, id)
	if err != nil {
		return httpapi.Response{}, err
	}
	if !e.Enabled {
		return httpapi.Response{}, apierr.New(apierr.Conflict, "This endpoint is disabled; enable it first with PATCH {\"enabled\": true}.")
	}
	j := Job{Workspace: d.Workspace, Env: d.Env, Endpoint: d.EndpointID, Delivery: d.ID,
		Attempts: d.AttemptCount, NotBefore: a.Now().UnixMilli(), Manual: true}
	if err := a.Queue.Schedule(ctx, j, 0); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusAccepted, Body: deliveryView(d)}, nil
}

// compile-time checks that the production types fit the interfaces.
var (
	_ APIStore  = (*Store)(nil)
	_ Scheduler = Queue{}
)
