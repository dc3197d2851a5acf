package templates

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
)

// Handler returns the routes of functions/templates.
func Handler(srv httpapi.Server, c *Catalog, log *audit.Log, now func() time.Time) lambdas.HTTPFunc {
	a := &api{c: c, audit: log, now: now}
	return srv.API(httpapi.Routes{
		"GET /templates":         a.list,
		"GET /templates/{id}":    a.get,
		"POST /templates":        a.create,
		"PUT /templates/{id}":    a.replace,
		"DELETE /templates/{id}": a.remove,
	})
}

type api struct {
	c     *Catalog
	audit *audit.Log
	now   func() time.Time
}

// view is a template as served: its document plus object and builtIn.
func view(e Entry) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(e.Doc, &m); err != nil {
		return nil, err
	}
	m["object"] = "template"
	m["builtIn"] = e.BuiltIn
	return json.Marshal(m)
}

// List is a page of templates.
type List struct {
	Object     string             `json:"object"`
	Data       []json.RawMessage  `json:"data"`
	Pagination httpapi.Pagination `json:"pagination"`
}

// cursor orders the merged list: built-ins first, then the workspace's own,
// each by id.
func cursor(e Entry) string {
	if e.BuiltIn {
		return "b:" + e.ID
	}
	return "o:" + e.ID
}

func (a *api) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	limit, err := r.IntQuery("limit", 20, 1, 100)
	if err != nil {
		return httpapi.Response{}, err
	}
	after := r.Query("cursor")
	if after != "" && !strings.HasPrefix(after, "b:") && !strings.HasPrefix(after, "o:") {
		return httpapi.Response{}, apierr.Invalid("cursor", "cursor must come from a previous page's links.")
	}
	category, orientation, q := r.Query("category"), r.Query("orientation"), r.Query("q")
	switch strings.ToLower(orientation) {
	case "", Landscape, Portrait, Square:
	default:
		return httpapi.Response{}, apierr.Invalid("orientation", "orientation must be landscape, portrait or square.")
	}
	if len(q) > 100 {
		return httpapi.Response{}, apierr.Invalid("q", "q must be at most 100 characters.")
	}
	all, err := a.c.All(ctx, r.Workspace(), r.Env())
	if err != nil {
		return httpapi.Response{}, err
	}
	var match []Entry
	for _, e := range all {
		if e.matches(category, orientation, q) {
			match = append(match, e)
		}
	}
	start := 0
	if after != "" {
		start = len(match)
		for i, e := range match {
			if cursor(e) > after {
				start = i
				break
			}
		}
	}
	page := match[start:min(start+limit, len(match))]
	link := httpapi.PageLink("/v1/templates", limit, map[string]string{"category": category, "orientation": orientation, "q": q})
	out := List{Object: "list", Data: make([]json.RawMessage, 0, len(page))}
	for _, e := range page {
		v, err := view(e)
		if err != nil {
			return httpapi.Response{}, err
		}
		out.Data = append(out.Data, v)
	}
	next := ""
	if start+limit < len(match) {
		next = cursor(page[len(page)-1])
	}
	out.Pagination = httpapi.Paginate(limit, after, next, link)
	out.Pagination.Last = link("")
	if len(match) > limit {
		lastStart := len(match) - ((len(match)-1)%limit + 1)
		out.Pagination.Last = link(cursor(match[lastStart-1]))
	}
	return httpapi.Response{Body: out}, nil
}

func (a *api) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	e, err := a.c.Get(ctx, r.Workspace(), r.Env(), r.PathParam("id"))
	if err != nil {
		return httpapi.Response{}, err
	}
	v, err := view(e)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Raw: v}, nil
}

var ownID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// document reads a template body and sets its id to id (when the body
// names none, or names the same).
func (a *api) document(r *httpapi.Request, id string) (Entry, error) {
	var m map[string]json.RawMessage
	if err := r.Decode(&m, false); err != nil {
		return Entry{}, err
	}
	if raw, ok := m["id"]; ok {
		var bodyID string
		if json.Unmarshal(raw, &bodyID) != nil {
			return Entry{}, apierr.Invalid("/id", "id must be a string.")
		}
		switch {
		case id == "":
			id = bodyID
		case bodyID != id:
			return Entry{}, apierr.Invalid("/id", "The body's id %q differs from the path's %q.", bodyID, id)
		}
	}
	if id == "" {
		var err error
		if id, err = ids.New("tpl", a.now(), nil); err != nil {
			return Entry{}, err
		}
	}
	if !ownID.MatchString(id) {
		return Entry{}, apierr.Invalid("/id", "id must be 1 to 64 lower-case letters, digits, '-' or '_'.")
	}
	m["id"], _ = json.Marshal(id)
	doc, _ := json.Marshal(m)
	return a.c.Decode(doc)
}

func (a *api) create(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	return a.put(ctx, r, "", true)
}

func (a *api) replace(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	return a.put(ctx, r, r.PathParam("id"), false)
}

func (a *api) put(ctx context.Context, r *httpapi.Request, id string, create bool) (httpapi.Response, error) {
	if id != "" {
		if _, builtIn := a.c.builtIn[id]; builtIn {
			return httpapi.Response{}, apierr.New(apierr.Conflict, "Template %s is built in and read-only; create your own with another id.", id)
		}
	}
	e, err := a.document(r, id)
	if err != nil {
		return httpapi.Response{}, err
	}
	if err := a.c.Put(ctx, r.Workspace(), r.Env(), e, create, a.audit.For(audit.FromRequest(r))); err != nil {
		return httpapi.Response{}, err
	}
	v, err := view(e)
	if err != nil {
		return httpapi.Response{}, err
	}
	status := 200
	if create {
		status = 201
	}
	return httpapi.Response{Status: status, Raw: v, Headers: map[string]string{"Location": "/v1/templates/" + e.ID}}, nil
}

// Deleted is the answer to DELETE.
type Deleted struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func (a *api) remove(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.PathParam("id")
	if err := a.c.Delete(ctx, r.Workspace(), r.Env(), id, a.audit.For(audit.FromRequest(r))); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: Deleted{Object: "template", ID: id, Deleted: true}}, nil
}
