package audit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
)

// Open is the log of a function's environment: AUDIT_TABLE, and
// EVENTS_QUEUE_URL for the copies of committed records.
func Open(d lambdas.Deps) (*Log, error) {
	d = d.WithDefaults()
	table := d.Getenv(EnvTable)
	if table == "" {
		return nil, errors.New("audit: " + EnvTable + " is not set")
	}
	q := d.Getenv(EnvEventsQueue)
	if q == "" {
		return nil, errors.New("audit: " + EnvEventsQueue + " is not set")
	}
	return NewLog(table, Options{Now: d.Now, SQS: sqs.NewFromConfig(d.AWS), EventsQueueURL: q, Logger: d.Logger})
}

// FromRequest is the context of a change made through the API by the
// calling key.
func FromRequest(r *httpapi.Request) Context {
	id := r.Event.RequestContext.Identity
	ua := id.UserAgent
	if ua == "" {
		ua = r.Header("User-Agent")
	}
	return Context{
		Workspace: r.Workspace(), Env: string(r.Env()),
		Actor:     Actor{Type: ActorAPIKey, ID: r.Verdict.KeyID},
		RequestID: r.RequestID, SourceIP: id.SourceIP, UserAgent: ua,
	}
}

// New is the constructor of functions/audit: GET /v1/audit-events.
func New(_ context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	table := d.Getenv(EnvTable)
	if table == "" {
		return nil, errors.New("audit: " + EnvTable + " is not set")
	}
	rd, err := NewReader(dynamodb.NewFromConfig(d.AWS), table, d.Now)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), rd), nil
}

// Handler returns the routes of functions/audit.
func Handler(srv httpapi.Server, rd *Reader) lambdas.HTTPFunc {
	return srv.API(httpapi.Routes{"GET /audit-events": func(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
		return list(ctx, r, rd)
	}})
}

// List is a page of records.
type List struct {
	Object     string             `json:"object"`
	Data       []View             `json:"data"`
	Pagination httpapi.Pagination `json:"pagination"`
}

// maxFilterLen bounds the id filters (ids are far shorter).
const maxFilterLen = 256

func list(ctx context.Context, r *httpapi.Request, rd *Reader) (httpapi.Response, error) {
	limit, err := r.IntQuery("limit", 20, 1, 100)
	if err != nil {
		return httpapi.Response{}, err
	}
	cursor := r.Query("cursor")
	if cursor != "" && !ids.Valid(IDPrefix, cursor) {
		return httpapi.Response{}, apierr.Invalid("cursor", "cursor must come from a previous page's next link.")
	}
	f := Filter{Action: r.Query("action"), Actor: r.Query("actor"), Target: r.Query("target")}
	if f.Action != "" && !slices.Contains(Actions(), f.Action) {
		return httpapi.Response{}, apierr.Invalid("action", "action must be one of %s.", strings.Join(Actions(), ", "))
	}
	for name, v := range map[string]string{"actor": f.Actor, "target": f.Target} {
		if len(v) > maxFilterLen || strings.ContainsFunc(v, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return httpapi.Response{}, apierr.Invalid(name, "%s must be an id of at most %d characters.", name, maxFilterLen)
		}
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		s := r.Query(name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return httpapi.Response{}, apierr.Invalid(name, "%s must be an RFC 3339 time such as 2030-01-31T12:00:00Z.", name)
		}
		*dst = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return httpapi.Response{}, apierr.Invalid("until", "until must not be before since.")
	}
	recs, next, err := rd.List(ctx, r.Workspace(), string(r.Env()), f, cursor, limit)
	if err != nil {
		return httpapi.Response{}, err
	}
	out := List{Object: "list", Data: make([]View, 0, len(recs))}
	for _, rec := range recs {
		out.Data = append(out.Data, ViewOf(rec))
	}
	out.Pagination = httpapi.Paginate(limit, cursor, next, httpapi.PageLink("/v1/audit-events", limit, map[string]string{
		"action": f.Action, "actor": f.Actor, "target": f.Target, "since": r.Query("since"), "until": r.Query("until"),
	}))
	return httpapi.Response{Body: out}, nil
}
