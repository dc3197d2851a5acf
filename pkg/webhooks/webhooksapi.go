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

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/webhooksig"
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
	log, err := audit.Open(d)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), &API{
		Store: st, Queue: q, Guard: o.guard(d.Getenv), Now: d.Now, Audit: log,
		Publisher: Publisher{SQS: q.SQS, WebhookQueueURL: q.URL},
	}), nil
}

// APIStore is what the handlers need from the delivery store. Every
// change takes the audit change its record is written with.
type APIStore interface {
	CreateEndpoint(ctx context.Context, ws, env string, ne NewEndpoint, ch *audit.Change) (Endpoint, string, error)
	GetEndpoint(ctx context.Context, ws, env, id string) (Endpoint, error)
	ListEndpoints(ctx context.Context, ws, env, after string, limit int) ([]Endpoint, string, error)
	UpdateEndpoint(ctx context.Context, cur Endpoint, p Patch, ch *audit.Change) (Endpoint, error)
	DeleteEndpoint(ctx context.Context, ws, env, id string, ch *audit.Change) error
	RotateSecret(ctx context.Context, cur Endpoint, ch *audit.Change) (Endpoint, string, error)
	RequestRedelivery(ctx context.Context, d Delivery, ch *audit.Change) error
	VideoURLs(ctx context.Context, ws, env string) (Endpoint, error)
	RevealOnce(ctx context.Context, e Endpoint) (string, error)
	GetDelivery(ctx context.Context, ws, env, ep, id string) (Delivery, error)
	ListDeliveries(ctx context.Context, ws, env, ep, after string, limit int) ([]Delivery, string, error)
}

// Scheduler queues redeliveries and recoveries.
type Scheduler interface {
	Schedule(ctx context.Context, j Job, wait time.Duration) error
	Recover(ctx context.Context, r Recovery) error
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
	Audit *audit.Log
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
		"POST /webhooks/{id}/recover":                           a.recoverDeliveries,
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
	Object string  `json:"object"`
	ID     string  `json:"id"`
	Kind   string  `json:"kind"`
	Type   string  `json:"type"`
	URL    *string `json:"url"`
	// QueueURL or EventBusARN, RoleARN and ExternalID: AWS destinations.
	QueueURL       string   `json:"queueUrl,omitempty"`
	EventBusARN    string   `json:"eventBusArn,omitempty"`
	RoleARN        string   `json:"roleArn,omitempty"`
	ExternalID     string   `json:"externalId,omitempty"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	Enabled        bool     `json:"enabled"`
	DisabledReason *string  `json:"disabledReason"`
	Environment    string   `json:"environment"`
	// SignatureScheme is v1 (SecretPreview masks the whsec_ secret) or
	// v1a (PublicKey verifies; there is no secret to show).
	SignatureScheme string  `json:"signatureScheme"`
	SecretPreview   *string `json:"secretPreview"`
	PublicKey       string  `json:"publicKey,omitempty"`
	// PreviousPublicKey is the v1a key replaced by the last rotation,
	// while it still signs.
	PreviousPublicKey string `json:"previousPublicKey,omitempty"`
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
	v := EndpointView{Object: "webhook_endpoint", ID: e.ID, Kind: e.Kind, Type: e.Type, Events: e.Events, Description: e.Description,
		Enabled: e.Enabled, Environment: e.Env, SignatureScheme: e.Scheme, PublicKey: e.PublicKey, FailingSince: ts(e.FailingSince),
		CreatedAt: e.CreatedAt.UTC().Format(timeFormat), UpdatedAt: e.UpdatedAt.UTC().Format(timeFormat), Secret: secret}
	switch e.Type {
	case TypeSQS:
		v.QueueURL, v.RoleARN, v.ExternalID = e.URL, e.RoleARN, e.ExternalID
	case TypeEventBridge:
		v.EventBusARN, v.RoleARN, v.ExternalID = e.URL, e.RoleARN, e.ExternalID
	default:
		if e.URL != "" {
			v.URL = &e.URL
		}
	}
	if e.SecretPreview != "" {
		v.SecretPreview = &e.SecretPreview
	}
	if !e.Enabled {
		r := e.DisabledReason
		v.DisabledReason = &r
	}
	if p := e.PreviousSecretUntil; p != nil && a.Now().Before(*p) {
		v.PreviousSecretExpiresAt = ts(p)
		v.PreviousPublicKey = e.PreviousPublicKey
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
	Recovery   string `json:"recovery,omitempty"`
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
		av := AttemptView{At: at.At.UTC().Format(timeFormat), LatencyMS: at.LatencyMS, Response: at.Response, Error: at.Error,
			Manual: at.Manual, Recovery: at.Recovery}
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
	return CheckTargetURL(ctx, a.Guard, raw, env, "/url")
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
	return d, apierr.Text("/description", d, MaxDescriptionLen, false)
}

// ------------------------------------------------------------------ endpoints

// CreateRequest is the body of POST /v1/webhooks. Pointers tell absent
// from empty, so a field of another destination type is refused rather
// than ignored.
type CreateRequest struct {
	Type            *string  `json:"type"`
	URL             *string  `json:"url"`
	QueueURL        *string  `json:"queueUrl"`
	EventBusARN     *string  `json:"eventBusArn"`
	RoleARN         *string  `json:"roleArn"`
	Events          []string `json:"events"`
	Description     *string  `json:"description"`
	SignatureScheme *string  `json:"signatureScheme"`
}

// address is a request's address field of one destination type.
type address struct {
	typ   string
	value *string // nil: absent
}

// addresses lists a request's address fields by type, in the order errors
// name them.
func addresses(url, queueURL, busARN *string) []address {
	return []address{{TypeHTTP, url}, {TypeSQS, queueURL}, {TypeEventBridge, busARN}}
}

// only returns the address of typ (nil when absent), refusing one of
// another type as a 400 naming it (refusal formats the field, its type
// and typ).
func only(as []address, typ, refusal string) (*string, error) {
	var value *string
	for _, a := range as {
		switch {
		case a.typ == typ:
			value = a.value
		case a.value != nil:
			return nil, apierr.Invalid("/"+fieldOf(a.typ), refusal, fieldOf(a.typ), a.typ, typ)
		}
	}
	return value, nil
}

// checkDestination validates the destination of a creation: its type, the
// one address field of that type, and the role of an AWS destination.
func (a *API) checkDestination(ctx context.Context, in CreateRequest, env string) (NewEndpoint, error) {
	ne := NewEndpoint{Type: TypeHTTP}
	if in.Type != nil {
		ne.Type = *in.Type
	}
	if ne.Type != TypeHTTP && ne.Type != TypeSQS && ne.Type != TypeEventBridge {
		return NewEndpoint{}, apierr.Invalid("/type", "type must be \"http\" (the default), \"sqs\" or \"eventbridge\".")
	}
	raw, err := only(addresses(in.URL, in.QueueURL, in.EventBusARN), ne.Type, "%s is a field of %s endpoints, not %s ones.")
	if err != nil {
		return NewEndpoint{}, err
	}
	if raw == nil {
		return NewEndpoint{}, apierr.Invalid("/"+fieldOf(ne.Type), "%s is required.", fieldOf(ne.Type))
	}
	if ne.Type == TypeHTTP {
		if in.RoleARN != nil {
			return NewEndpoint{}, apierr.Invalid("/roleArn", "roleArn is a field of sqs and eventbridge endpoints.")
		}
		u, err := a.checkURL(ctx, *raw, env)
		ne.URL = u
		return ne, err
	}
	if ne.URL, err = checkAWSAddress(ne.Type, *raw); err != nil {
		return NewEndpoint{}, err
	}
	if in.RoleARN == nil {
		return NewEndpoint{}, apierr.Invalid("/roleArn", "roleArn is required: the role in your account that framegate assumes to deliver.")
	}
	ne.RoleARN, err = checkRoleARN(*in.RoleARN)
	return ne, err
}

func (a *API) create(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in CreateRequest
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	ne, err := a.checkDestination(ctx, in, string(r.Env()))
	if err != nil {
		return httpapi.Response{}, err
	}
	if ne.Events, err = checkEvents(in.Events); err != nil {
		return httpapi.Response{}, err
	}
	if in.Description != nil {
		if ne.Description, err = checkDescription(*in.Description); err != nil {
			return httpapi.Response{}, err
		}
	}
	if in.SignatureScheme != nil {
		if *in.SignatureScheme != webhooksig.SchemeV1 && *in.SignatureScheme != webhooksig.SchemeV1a {
			return httpapi.Response{}, apierr.Invalid("/signatureScheme", "signatureScheme must be \"v1\" (HMAC-SHA256 with a whsec_ secret, the default) or \"v1a\" (ed25519, verified with the endpoint's whpk_ public key).")
		}
		ne.Scheme = *in.SignatureScheme
	}
	e, secret, err := a.Store.CreateEndpoint(ctx, r.Workspace(), string(r.Env()), ne, a.Audit.For(audit.FromRequest(r)))
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

// UpdateRequest is the body of PATCH /v1/webhooks/{id}. The destination
// type cannot change; its address and role can.
type UpdateRequest struct {
	URL         *string   `json:"url"`
	QueueURL    *string   `json:"queueUrl"`
	EventBusARN *string   `json:"eventBusArn"`
	RoleARN     *string   `json:"roleArn"`
	Events      *[]string `json:"events"`
	Enabled     *bool     `json:"enabled"`
	Description *string   `json:"description"`
}

func (a *API) update(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in UpdateRequest
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	if in == (UpdateRequest{}) {
		return httpapi.Response{}, apierr.Invalid("", "Send at least one of url (or queueUrl, eventBusArn, roleArn), events, enabled, description.")
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
	raw, err := only(addresses(in.URL, in.QueueURL, in.EventBusARN), e.Type,
		"%s is a field of %s endpoints and this one is %s: the type cannot change; create another endpoint.")
	if err != nil {
		return httpapi.Response{}, err
	}
	if in.RoleARN != nil && e.Type == TypeHTTP {
		return httpapi.Response{}, apierr.Invalid("/roleArn", "roleArn is a field of sqs and eventbridge endpoints.")
	}
	var p Patch
	if raw != nil {
		var u string
		if e.Type == TypeHTTP {
			u, err = a.checkURL(ctx, *raw, string(r.Env()))
		} else {
			u, err = checkAWSAddress(e.Type, *raw)
		}
		if err != nil {
			return httpapi.Response{}, err
		}
		p.URL = &u
	}
	if in.RoleARN != nil {
		role, err := checkRoleARN(*in.RoleARN)
		if err != nil {
			return httpapi.Response{}, err
		}
		p.RoleARN = &role
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
	e, err = a.Store.UpdateEndpoint(ctx, e, p, a.Audit.For(audit.FromRequest(r)))
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
	if err := a.Store.DeleteEndpoint(ctx, r.Workspace(), string(r.Env()), e.ID, a.Audit.For(audit.FromRequest(r))); err != nil {
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
	e, secret, err := a.Store.RotateSecret(ctx, e, a.Audit.For(audit.FromRequest(r)))
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
	id := r.PathParam("id")
	limit, cursor, link, err := page(r, "/v1/webhooks/"+id+"/deliveries", "dlv")
	if err != nil {
		return httpapi.Response{}, err
	}
	// The log is keyed by workspace, environment and endpoint, so it can be
	// read alongside the endpoint: another tenant's id finds neither.
	var (
		ds   []Delivery
		next string
	)
	err = dynamo.Together(
		func() (err error) { _, err = a.endpoint(ctx, r); return err },
		func() (err error) {
			ds, next, err = a.Store.ListDeliveries(ctx, r.Workspace(), string(r.Env()), id, cursor, limit)
			return err
		})
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
	id := r.PathParam("deliveryId")
	if !ids.Valid("dlv", id) {
		return httpapi.Response{}, apierr.New(apierr.NotFound, "No delivery with this id.")
	}
	// The delivery is keyed by the endpoint's id, so both are read at once
	// (another tenant's id finds neither): one read, then the transaction.
	var (
		e Endpoint
		d Delivery
	)
	err := dynamo.Together(
		func() (err error) { e, err = a.endpoint(ctx, r); return err },
		func() (err error) {
			d, err = a.Store.GetDelivery(ctx, r.Workspace(), string(r.Env()), r.PathParam("id"), id)
			return err
		})
	if err != nil {
		return httpapi.Response{}, err
	}
	if !e.Enabled {
		return httpapi.Response{}, apierr.New(apierr.Conflict, "This endpoint is disabled; enable it first with PATCH {\"enabled\": true}.")
	}
	if err := a.Store.RequestRedelivery(ctx, d, a.Audit.For(audit.FromRequest(r))); err != nil {
		return httpapi.Response{}, err
	}
	j := Job{Workspace: d.Workspace, Env: d.Env, Endpoint: d.EndpointID, Delivery: d.ID,
		Attempts: d.AttemptCount, NotBefore: a.Now().UnixMilli(), Manual: true}
	if err := a.Queue.Schedule(ctx, j, 0); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusAccepted, Body: deliveryView(d)}, nil
}

// RecoverRequest is the body of POST /v1/webhooks/{id}/recover.
type RecoverRequest struct {
	Since *string `json:"since"`
}

// RecoveryView answers POST /v1/webhooks/{id}/recover.
type RecoveryView struct {
	Object     string `json:"object"`
	ID         string `json:"id"`
	EndpointID string `json:"endpointId"`
	Since      string `json:"since"`
	Until      string `json:"until"`
}

// recoverDeliveries queues a recovery: every delivery of the endpoint that
// failed (its retries exhausted, or refused) or waits to retry a failed
// attempt, for an event from since until now, is sent again, in event
// order, once.
func (a *API) recoverDeliveries(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in RecoverRequest
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	now := a.Now().UTC()
	if in.Since == nil {
		return httpapi.Response{}, apierr.Invalid("/since", "since is required: an RFC 3339 time such as %s.", now.Add(-time.Hour).Format(time.RFC3339))
	}
	since, err := time.Parse(time.RFC3339Nano, *in.Since)
	switch {
	case err != nil:
		return httpapi.Response{}, apierr.Invalid("/since", "since must be an RFC 3339 time such as %s.", now.Add(-time.Hour).Format(time.RFC3339))
	case since.After(now):
		return httpapi.Response{}, apierr.Invalid("/since", "since is in the future.")
	case now.Sub(since) > Retention:
		return httpapi.Response{}, apierr.Invalid("/since", "since must be within the last %d days: the delivery log keeps no more.", int(Retention/(24*time.Hour)))
	}
	e, err := a.endpoint(ctx, r)
	if err != nil {
		return httpapi.Response{}, err
	}
	if !e.Enabled {
		return httpapi.Response{}, apierr.New(apierr.Conflict, "This endpoint is disabled; enable it first with PATCH {\"enabled\": true}.")
	}
	id, err := ids.New("rcv", now, nil)
	if err != nil {
		return httpapi.Response{}, err
	}
	rc := Recovery{ID: id, Workspace: e.Workspace, Env: e.Env, Endpoint: e.ID, Since: since.UnixMilli(), Until: now.UnixMilli()}
	if err := a.Queue.Recover(ctx, rc); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusAccepted, Body: RecoveryView{Object: "webhook_recovery", ID: id, EndpointID: e.ID,
		Since: since.UTC().Format(timeFormat), Until: now.Format(timeFormat)}}, nil
}

// compile-time checks that the production types fit the interfaces.
var (
	_ APIStore  = (*Store)(nil)
	_ Scheduler = Queue{}
)
