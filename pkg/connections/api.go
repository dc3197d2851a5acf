package connections

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/webhooks"
)

// Options are what tests may inject; the zero value is production.
type Options struct {
	Resolver egress.Resolver
}

// New is the constructor of functions/connections.
func New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) { return Options{}.New(ctx, d) }

// New is the constructor of functions/connections with o.
func (o Options) New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	st, err := OpenStore(ctx, d, true)
	if err != nil {
		return nil, err
	}
	log, err := audit.Open(d)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), &API{Store: st, Guard: webhooks.Guard(d.Getenv, o.Resolver),
		Access: &Checker{Roles: NewRoles(d.AWS), Log: d.Logger}, Audit: log}), nil
}

// OpenStore builds the store from the function's environment: DATA_TABLE,
// and WEBHOOK_KEY_SECRET_ARN when withCipher (only the functions that
// create connections or sign with their secrets read the data key).
func OpenStore(ctx context.Context, d lambdas.Deps, withCipher bool) (*Store, error) {
	d = d.WithDefaults()
	table := d.Getenv(webhooks.EnvTable)
	if table == "" {
		return nil, errors.New("open connections store: " + webhooks.EnvTable + " is not set")
	}
	so := StoreOptions{Now: d.Now}
	if withCipher {
		c, err := webhooks.LoadCipher(ctx, secretsmanager.NewFromConfig(d.AWS), d.Getenv(webhooks.EnvKeySecret))
		if err != nil {
			return nil, err
		}
		so.Cipher = c
	}
	return NewStore(dynamodb.NewFromConfig(d.AWS), table, so)
}

// Manager is what the handlers need from the store.
type Manager interface {
	Prepare(ws, env string, n Spec) (Connection, string, error)
	Insert(ctx context.Context, c Connection, ch *audit.Change) error
	Get(ctx context.Context, ws, env, id string) (Connection, error)
	List(ctx context.Context, ws, env, after string, limit int) ([]Connection, string, error)
	Delete(ctx context.Context, ws, env, id string, ch *audit.Change) error
}

// API holds the handlers' dependencies.
type API struct {
	Store Manager
	Guard *egress.Guard
	// Access checks an s3 connection before it is stored (*Checker).
	Access AccessChecker
	Audit  *audit.Log
}

// AccessChecker proves that framegate can publish to an s3 connection.
type AccessChecker interface {
	Check(ctx context.Context, c Connection) error
}

// Handler returns the routes of functions/connections.
func Handler(srv httpapi.Server, a *API) lambdas.HTTPFunc {
	return srv.API(httpapi.Routes{
		"POST /connections":        a.create,
		"GET /connections":         a.list,
		"GET /connections/{id}":    a.get,
		"DELETE /connections/{id}": a.delete,
	})
}

// TimeFormat is the API's time format.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// View is a connection as the API shows it; the fields of the other type
// are absent.
type View struct {
	Object      string `json:"object"`
	ID          string `json:"id"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	Environment string `json:"environment"`
	CreatedAt   string `json:"createdAt"`

	URL           string `json:"url,omitempty"`
	SecretPreview string `json:"secretPreview,omitempty"`
	// Secret is the plaintext signing secret, present once: at creation.
	Secret string `json:"secret,omitempty"`

	Bucket     string  `json:"bucket,omitempty"`
	Prefix     *string `json:"prefix,omitempty"`
	Region     string  `json:"region,omitempty"`
	RoleARN    string  `json:"roleArn,omitempty"`
	ExternalID string  `json:"externalId,omitempty"`
}

// ViewOf renders c; secret is shown only when given.
func ViewOf(c Connection, secret string) View {
	v := View{Object: "connection", ID: c.ID, Type: c.Type, Name: c.Name, Environment: c.Env,
		CreatedAt: c.CreatedAt.UTC().Format(TimeFormat), URL: c.URL, SecretPreview: c.SecretPreview, Secret: secret,
		Bucket: c.Bucket, Region: c.Region, RoleARN: c.RoleARN, ExternalID: c.ExternalID}
	if c.Type == TypeS3 {
		p := c.Prefix
		v.Prefix = &p
	}
	return v
}

func (a *API) create(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in CreateRequest
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	n, err := in.Validate(ctx, a.Guard, string(r.Env()))
	if err != nil {
		return httpapi.Response{}, err
	}
	c, secret, err := a.Store.Prepare(r.Workspace(), string(r.Env()), n)
	if err != nil {
		return httpapi.Response{}, err
	}
	// An s3 connection is stored only once its role and bucket work, so a
	// mistake shows now rather than when the first publication fails.
	if c.Type == TypeS3 {
		if a.Access == nil {
			return httpapi.Response{}, errors.New("create connection: no access checker")
		}
		if err := a.Access.Check(ctx, c); err != nil {
			return httpapi.Response{}, err
		}
	}
	if err := a.Store.Insert(ctx, c, a.Audit.For(audit.FromRequest(r))); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusCreated, Body: ViewOf(c, secret),
		Headers: map[string]string{"Location": "/v1/connections/" + c.ID}}, nil
}

// List is a page of connections.
type List struct {
	Object     string             `json:"object"`
	Data       []View             `json:"data"`
	Pagination httpapi.Pagination `json:"pagination"`
}

func (a *API) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	limit, err := r.IntQuery("limit", 20, 1, 100)
	if err != nil {
		return httpapi.Response{}, err
	}
	cursor := r.Query("cursor")
	if cursor != "" && !ids.Valid(IDPrefix, cursor) {
		return httpapi.Response{}, apierr.Invalid("cursor", "cursor must come from a previous page's next link.")
	}
	cs, next, err := a.Store.List(ctx, r.Workspace(), string(r.Env()), cursor, limit)
	if err != nil {
		return httpapi.Response{}, err
	}
	out := List{Object: "list", Data: make([]View, 0, len(cs)),
		Pagination: httpapi.Paginate(limit, cursor, next, httpapi.PageLink("/v1/connections", limit, nil))}
	for _, c := range cs {
		out.Data = append(out.Data, ViewOf(c, ""))
	}
	return httpapi.Response{Body: out}, nil
}

// id reads the path's id; malformed ids are 404 without a database call.
func id(r *httpapi.Request) (string, error) {
	id := r.PathParam("id")
	if !ids.Valid(IDPrefix, id) {
		return "", apierr.New(apierr.NotFound, "No connection with this id.")
	}
	return id, nil
}

func (a *API) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	cid, err := id(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	c, err := a.Store.Get(ctx, r.Workspace(), string(r.Env()), cid)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: ViewOf(c, "")}, nil
}

func (a *API) delete(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	cid, err := id(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := a.Store.Delete(ctx, r.Workspace(), string(r.Env()), cid, a.Audit.For(audit.FromRequest(r))); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: map[string]any{"object": "connection", "id": cid, "deleted": true}}, nil
}

var _ Manager = (*Store)(nil)
