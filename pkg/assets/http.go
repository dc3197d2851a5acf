package assets

// The /v1/assets routes: creating an asset answers with where to upload
// it; reading and listing show its status and what probing found;
// deleting removes the file too. All of it is confined to the calling
// key's workspace and environment.

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
)

// New is the constructor of functions/assets.
func New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	sv, err := Open(ctx, d)
	if err != nil {
		return nil, err
	}
	log, err := audit.Open(d)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), sv, log), nil
}

// Handler returns the routes of functions/assets.
func Handler(srv httpapi.Server, sv *Service, log *audit.Log) lambdas.HTTPFunc {
	a := &api{sv: sv, audit: log}
	return srv.API(httpapi.Routes{
		"POST /assets":        a.create,
		"GET /assets":         a.list,
		"GET /assets/{id}":    a.get,
		"DELETE /assets/{id}": a.remove,
	})
}

type api struct {
	sv    *Service
	audit *audit.Log
}

// View is an asset as the API shows it. Kind, duration, size in pixels and
// codecs are null until the asset is ready, and stay null where they do
// not apply (an image has no duration, audio no width).
type View struct {
	Object          string   `json:"object"`
	ID              string   `json:"id"`
	Status          string   `json:"status"`
	Environment     string   `json:"environment"`
	Filename        string   `json:"filename"`
	ContentType     string   `json:"contentType"`
	SizeBytes       int64    `json:"sizeBytes"`
	Kind            *string  `json:"kind"`
	DurationSeconds *float64 `json:"durationSeconds"`
	Width           *int     `json:"width"`
	Height          *int     `json:"height"`
	Codecs          *Codecs  `json:"codecs"`
	Error           *Error   `json:"error"`
	CreatedAt       string   `json:"createdAt"`
	FinishedAt      *string  `json:"finishedAt"`
	ExpiresAt       *string  `json:"expiresAt"`
	Upload          *Upload  `json:"upload,omitempty"`
}

// Codecs are a ready asset's codecs.
type Codecs struct {
	Video string `json:"video,omitempty"`
	Audio string `json:"audio,omitempty"`
}

func ts(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(TimeFormat)
	return &s
}

// ViewOf renders a; up is the upload to show (at creation only).
func ViewOf(a Asset, up *Upload) View {
	v := View{
		Object: "asset", ID: a.ID, Status: a.Status, Environment: string(a.Env), Filename: a.Filename,
		ContentType: a.ContentType, SizeBytes: a.DeclaredSize, Error: a.Error,
		CreatedAt: a.CreatedAt.UTC().Format(TimeFormat), FinishedAt: ts(a.FinishedAt), ExpiresAt: ts(a.ExpiresAt), Upload: up,
	}
	if a.Status != Ready {
		return v
	}
	m := a.Media
	v.SizeBytes, v.Kind, v.Codecs = a.SizeBytes, &m.Kind, &Codecs{Video: m.VideoCodec, Audio: m.AudioCodec}
	if m.Kind != KindImage {
		v.DurationSeconds = &m.DurationSeconds
	}
	if m.Kind != KindAudio {
		v.Width, v.Height = &m.Width, &m.Height
	}
	return v
}

func (a *api) create(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var req CreateRequest
	if err := r.Decode(&req, false); err != nil {
		return httpapi.Response{}, err
	}
	as, up, err := a.sv.Create(ctx, r.Workspace(), r.Env(), req, a.audit.For(audit.FromRequest(r)))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusCreated, Body: ViewOf(as, up), Headers: map[string]string{"Location": "/v1/assets/" + as.ID}}, nil
}

func (a *api) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	as, err := a.sv.Get(ctx, r.Workspace(), r.Env(), r.PathParam("id"))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: ViewOf(as, nil)}, nil
}

// Deleted is the answer to a deletion.
type Deleted struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func (a *api) remove(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	as, err := a.sv.Delete(ctx, r.Workspace(), r.Env(), r.PathParam("id"), a.audit.For(audit.FromRequest(r)))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: Deleted{Object: "asset", ID: as.ID, Deleted: true}}, nil
}

// List is a page of assets.
type List struct {
	Object     string             `json:"object"`
	Data       []View             `json:"data"`
	Pagination httpapi.Pagination `json:"pagination"`
}

func (a *api) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	limit, err := r.IntQuery("limit", 20, 1, 100)
	if err != nil {
		return httpapi.Response{}, err
	}
	cursor := r.Query("cursor")
	if cursor != "" && !ids.Valid(IDPrefix, cursor) {
		return httpapi.Response{}, apierr.Invalid("cursor", "cursor must be an asset id from a previous page's links.")
	}
	status := r.Query("status")
	if status != "" && !slices.Contains(Statuses, status) {
		return httpapi.Response{}, apierr.Invalid("status", "status must be one of %s.", strings.Join(Statuses, ", "))
	}
	page, more, err := a.sv.Store.List(ctx, r.Workspace(), r.Env(), status, cursor, limit)
	if err != nil {
		return httpapi.Response{}, err
	}
	out := List{Object: "list", Data: make([]View, 0, len(page))}
	for _, as := range page {
		out.Data = append(out.Data, ViewOf(as, nil))
	}
	next := ""
	if more {
		next = page[len(page)-1].ID
	}
	out.Pagination = httpapi.Paginate(limit, cursor, next, httpapi.PageLink("/v1/assets", limit, map[string]string{"status": status}))
	return httpapi.Response{Body: out}, nil
}
