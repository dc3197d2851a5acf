package videos

// The /v1/videos routes: creating renders (idempotently, under the queue cap
// and the sandbox rules), reading their status and progress, listing them
// with filters and pagination links, downloading the file and its
// thumbnail through short-lived presigned URLs, and cancelling or deleting
// them. All of it is
// confined to the calling key's workspace and environment.

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/templates"
)

// New is the constructor of functions/videos.
func New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	catalog, err := templates.OpenCatalog(ctx, d)
	if err != nil {
		return nil, err
	}
	sv, err := Open(ctx, d, catalog)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), sv), nil
}

// Handler returns the routes of functions/videos.
func Handler(srv httpapi.Server, sv *Service) lambdas.HTTPFunc {
	a := &api{sv: sv}
	return srv.API(httpapi.Routes{
		"POST /videos":               a.create,
		"GET /videos":                a.list,
		"GET /videos/{id}":           a.get,
		"GET /videos/{id}/status":    a.get,
		"GET /videos/{id}/download":  a.download,
		"GET /videos/{id}/thumbnail": a.thumbnail,
		"DELETE /videos/{id}":        a.remove,
	})
}

type api struct{ sv *Service }

func (a *api) create(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	body := []byte(r.Event.Body)
	if r.Event.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Event.Body)
		if err != nil {
			return httpapi.Response{}, apierr.Invalid("", "The body is not valid base64.")
		}
		body = b
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return httpapi.Response{}, apierr.Invalid("", "A JSON body is required.")
	}
	if len(body) > httpapi.MaxBody {
		return httpapi.Response{}, apierr.New(apierr.PayloadTooLarge, "The body is larger than %d bytes.", httpapi.MaxBody)
	}
	if err := checkContentType(r.Header("Content-Type")); err != nil {
		return httpapi.Response{}, err
	}
	out, err := a.sv.Create(ctx, r.Workspace(), r.Env(), body, r.Header("Idempotency-Key"))
	if err != nil {
		return httpapi.Response{}, err
	}
	h := map[string]string{"Location": "/v1/videos/" + out.VideoID}
	if out.Replayed {
		h["Idempotent-Replayed"] = "true"
	}
	return httpapi.Response{Status: out.Status, Raw: out.Body, Headers: h}, nil
}

func checkContentType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(ct)), ";")
	mt = strings.TrimSpace(mt)
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return apierr.New(apierr.UnsupportedMediaType, "Send the body as application/json.")
	}
	return nil
}

func (a *api) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	v, err := a.sv.Get(ctx, r.Workspace(), r.Env(), r.PathParam("id"))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: ViewOf(v, true)}, nil
}

func (a *api) download(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	return link(ctx, r, a.sv.DownloadURL)
}

func (a *api) thumbnail(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	return link(ctx, r, a.sv.ThumbnailURL)
}

// link answers 302 to a presigned link, with the link in the body too; with
// redirect=false it answers 200 with the body only, for pages that want the
// link itself (the console's player): a script cannot read a redirect's
// target.
func link(ctx context.Context, r *httpapi.Request, sign func(context.Context, string, apikey.Env, string) (Download, error)) (httpapi.Response, error) {
	follow := true
	switch r.Query("redirect") {
	case "", "true":
	case "false":
		follow = false
	default:
		return httpapi.Response{}, apierr.Invalid("redirect", "redirect must be true or false.")
	}
	d, err := sign(ctx, r.Workspace(), r.Env(), r.PathParam("id"))
	if err != nil {
		return httpapi.Response{}, err
	}
	if !follow {
		return httpapi.Response{Body: d}, nil
	}
	return httpapi.Response{Status: http.StatusFound, Body: d, Headers: map[string]string{"Location": d.URL}}, nil
}

// Deleted is the answer to deleting a finished video.
type Deleted struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func (a *api) remove(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	v, gone, err := a.sv.Remove(ctx, r.Workspace(), r.Env(), r.PathParam("id"))
	if err != nil {
		return httpapi.Response{}, err
	}
	if gone {
		return httpapi.Response{Body: Deleted{Object: "video", ID: v.ID, Deleted: true}}, nil
	}
	return httpapi.Response{Body: ViewOf(v, false)}, nil
}

// List is a page of videos.
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
	if cursor != "" && !ids.Valid("vid", cursor) {
		return httpapi.Response{}, apierr.Invalid("cursor", "cursor must be a video id from a previous page's links.")
	}
	var flt Filter
	if st := r.Query("status"); st != "" {
		if !slices.Contains(Statuses, st) {
			return httpapi.Response{}, apierr.Invalid("status", "status must be one of %s.", strings.Join(Statuses, ", "))
		}
		flt.Status = st
	}
	createdAfter := r.Query("createdAfter")
	if createdAfter != "" {
		t, err := time.Parse(time.RFC3339, createdAfter)
		if err != nil {
			return httpapi.Response{}, apierr.Invalid("createdAfter", "createdAfter must be an RFC 3339 time such as 2030-01-31T12:00:00Z.")
		}
		// The smallest id of the next millisecond: ids sort by creation time.
		flt.CreatedAfterID, _ = ids.New("vid", t.Truncate(time.Millisecond).Add(time.Millisecond), zeros{})
	}
	ws, env := r.Workspace(), r.Env()
	type oldest struct {
		v   []Video
		err error
	}
	oc := make(chan oldest, 1)
	go func() { // the last link costs a reverse query; run it alongside
		v, err := a.sv.Store.Oldest(ctx, ws, env, flt, limit+1)
		oc <- oldest{v, err}
	}()
	page, more, err := a.sv.Store.List(ctx, ws, env, flt, cursor, limit)
	o := <-oc
	if err != nil {
		return httpapi.Response{}, err
	}
	if o.err != nil {
		return httpapi.Response{}, o.err
	}
	link := httpapi.PageLink("/v1/videos", limit, map[string]string{"status": flt.Status, "createdAfter": createdAfter})
	out := List{Object: "list", Data: make([]View, 0, len(page))}
	for _, v := range page {
		out.Data = append(out.Data, ViewOf(v, false))
	}
	next := ""
	if more {
		next = page[len(page)-1].ID
	}
	out.Pagination = httpapi.Paginate(limit, cursor, next, link)
	out.Pagination.Last = link("")
	// With more than a page of matches, the last page holds the oldest
	// limit videos: the ones after the (limit+1)-th oldest.
	if len(o.v) > limit {
		out.Pagination.Last = link(o.v[limit].ID)
	}
	return httpapi.Response{Body: out}, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
