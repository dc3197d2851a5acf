package templates_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/movie"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/templates"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// tpl is a stand-in template type with the shape the catalog reads: a
// title variable substituted into a one-scene movie.
type tpl struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Category    string `json:"category,omitempty"`
	Orientation string `json:"orientation,omitempty"`
	Resolution  string `json:"resolution"`
}

func (t tpl) Validate() error {
	if t.Name == "" {
		return apierr.Invalid("/name", "name is required.")
	}
	if _, ok := movie.Resolutions[t.Resolution]; !ok {
		return apierr.Invalid("/resolution", "bad resolution.")
	}
	return nil
}

func (t tpl) Instantiate(vars map[string]any, l movie.Limits) (movie.Spec, error) {
	title, ok := vars["title"].(string)
	if !ok {
		return movie.Spec{}, apierr.Invalid("/variables/title", "title is required.")
	}
	body, _ := json.Marshal(map[string]any{"resolution": t.Resolution, "scenes": []any{map[string]any{
		"duration": 2, "background": map[string]any{"color": "#000000"},
		"elements": []any{map[string]any{"type": "text", "text": title}},
	}}})
	return movie.Parse(body, l)
}

type codec struct{}

func (codec) BuiltIn() []templates.Definition {
	return []templates.Definition{
		tpl{ID: "title-card", Name: "Title card", Description: "A bold title", Category: "intro", Orientation: "landscape", Resolution: "hd"},
		tpl{ID: "quote", Name: "Quote", Description: "A quotation", Category: "social", Orientation: "square", Resolution: "square"},
		tpl{ID: "vertical-story", Name: "Vertical story", Description: "Stories", Category: "social", Orientation: "portrait", Resolution: "vertical"},
	}
}

func (codec) Decode(doc []byte) (templates.Definition, error) {
	var t tpl
	if err := apierr.DecodeJSON(doc, &t); err != nil {
		return nil, err
	}
	return t, nil
}

type fixture struct {
	h   lambdas.HTTPFunc
	cat *templates.Catalog
	d   lambdas.Deps
	ws  string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	env := testenv.New(t)
	d := env.Deps("VideosFunction", nil)
	cat, err := templates.NewCatalog(codec{}, dynamodb.NewFromConfig(env.AWS), d.Getenv("DATA_TABLE"), d.Now)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(context.Background(), env.Deps("KeysFunction", nil))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := ks.CreateWorkspace(context.Background(), "T", ratelimit.DefaultPlan, ratelimit.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.NewLog(d.Getenv(audit.EnvTable), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{h: templates.Handler(httpapi.NewServer(d), cat, log, d.Now), cat: cat, d: d, ws: ws.ID}
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

func (f *fixture) do(t *testing.T, ws string, env apikey.Env, method, resource, id string, q map[string]string, body string) response {
	t.Helper()
	v := ratelimit.Verdict{Outcome: ratelimit.Allow, Workspace: ws, Env: string(env), KeyID: "key_1", Scopes: "templates:read templates:write"}
	ev := events.APIGatewayProxyRequest{
		HTTPMethod: method, Resource: resource, Path: strings.ReplaceAll(resource, "{id}", id), Body: body,
		QueryStringParameters: q, PathParameters: map[string]string{"id": id},
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "r", Authorizer: v.Context()},
	}
	out, err := f.h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: out.StatusCode, raw: out.Body}
	_ = json.Unmarshal([]byte(out.Body), &r.body)
	return r
}

func ids(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, x := range r.body["data"].([]any) {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

func TestTemplatesCRUDAndFilters(t *testing.T) {
	f := setup(t)
	ws := f.ws
	r := f.do(t, ws, apikey.Live, "POST", "/templates", "", nil, `{"id":"promo","name":"My promo","category":"ads","orientation":"landscape","resolution":"sd"}`)
	if r.status != 201 || r.body["builtIn"] != false || r.body["object"] != "template" {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	if r := f.do(t, ws, apikey.Live, "GET", "/templates", "", map[string]string{"orientation": "sideways"}, ""); r.status != 400 || !strings.Contains(string(r.raw), "orientation") {
		t.Errorf("unknown orientation: %d %s", r.status, r.raw)
	}
	if r := f.do(t, ws, apikey.Live, "POST", "/templates", "", nil, `{"id":"promo","name":"again","resolution":"sd"}`); r.status != 409 {
		t.Errorf("duplicate create: %d", r.status)
	}
	if r := f.do(t, ws, apikey.Live, "POST", "/templates", "", nil, `{"name":"","resolution":"sd"}`); r.status != 400 {
		t.Errorf("invalid template: %d %s", r.status, r.raw)
	}
	for _, id := range []string{"title-card", "promo"} {
		if g := f.do(t, ws, apikey.Live, "GET", "/templates/{id}", id, nil, ""); g.status != 200 || g.body["id"] != id {
			t.Errorf("get %s: %d %s", id, g.status, g.raw)
		}
	}
	// Other environments and workspaces do not see it.
	if g := f.do(t, ws, apikey.Test, "GET", "/templates/{id}", "promo", nil, ""); g.status != 404 {
		t.Errorf("sandbox sees a live template: %d", g.status)
	}
	if g := f.do(t, "ws_other", apikey.Live, "GET", "/templates/{id}", "promo", nil, ""); g.status != 404 {
		t.Errorf("another workspace sees it: %d", g.status)
	}
	for _, tc := range []struct {
		q    map[string]string
		want string
	}{
		{nil, "[quote title-card vertical-story promo]"},
		{map[string]string{"category": "social"}, "[quote vertical-story]"},
		{map[string]string{"orientation": "landscape"}, "[title-card promo]"},
		{map[string]string{"q": "PROMO"}, "[promo]"},
		{map[string]string{"q": "stories"}, "[vertical-story]"},
	} {
		if got := fmt.Sprint(ids(t, f.do(t, ws, apikey.Live, "GET", "/templates", "", tc.q, ""))); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.q, got, tc.want)
		}
	}
	// Pagination: 4 templates, 3 per page.
	p := f.do(t, ws, apikey.Live, "GET", "/templates", "", map[string]string{"limit": "3"}, "")
	pg := p.body["pagination"].(map[string]any)
	u, _ := url.Parse(pg["next"].(string))
	q := map[string]string{}
	for k, v := range u.Query() {
		q[k] = v[0]
	}
	if got := fmt.Sprint(ids(t, f.do(t, ws, apikey.Live, "GET", "/templates", "", q, ""))); got != "[promo]" {
		t.Errorf("page 2: %s", got)
	}
	if pg["last"] != pg["next"] {
		t.Errorf("last %v, want the second page %v", pg["last"], pg["next"])
	}
	// Built-ins are read-only.
	if r := f.do(t, ws, apikey.Live, "PUT", "/templates/{id}", "quote", nil, `{"name":"Mine","resolution":"sd"}`); r.status != 409 {
		t.Errorf("PUT built-in: %d", r.status)
	}
	if r := f.do(t, ws, apikey.Live, "DELETE", "/templates/{id}", "quote", nil, ""); r.status != 409 {
		t.Errorf("DELETE built-in: %d", r.status)
	}
	if r := f.do(t, ws, apikey.Live, "PUT", "/templates/{id}", "promo", nil, `{"name":"Renamed","resolution":"sd"}`); r.status != 200 || r.body["name"] != "Renamed" {
		t.Errorf("PUT: %d %s", r.status, r.raw)
	}
	if r := f.do(t, ws, apikey.Live, "PUT", "/templates/{id}", "nope", nil, `{"name":"x","resolution":"sd"}`); r.status != 404 {
		t.Errorf("PUT missing: %d", r.status)
	}
	if r := f.do(t, ws, apikey.Live, "DELETE", "/templates/{id}", "promo", nil, ""); r.status != 200 {
		t.Errorf("DELETE: %d", r.status)
	}
	if g := f.do(t, ws, apikey.Live, "GET", "/templates/{id}", "promo", nil, ""); g.status != 404 {
		t.Errorf("deleted template: %d", g.status)
	}
}

// TestVideoFromTemplate: POST /v1/videos with {templateId, variables}
// goes through the catalog.
func TestVideoFromTemplate(t *testing.T) {
	f := setup(t)
	sv, err := videos.Open(context.Background(), f.d, f.cat)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sv.Create(context.Background(), f.ws, apikey.Test, []byte(`{"templateId":"quote","variables":{"title":"Hi"}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := sv.Get(context.Background(), f.ws, apikey.Test, out.VideoID)
	if err != nil || v.TemplateID != "quote" || v.Width != 1080 || v.Height != 1080 || string(v.Variables) != `{"title":"Hi"}` {
		t.Fatalf("%+v %v", v, err)
	}
	for body, field := range map[string]string{
		`{"templateId":"quote","variables":{}}`:   "/variables/title",
		`{"templateId":"nope","variables":{}}`:    "/templateId",
		`{"templateId":"quote","spec":{"a":1}}`:   "/templateId",
		`{"variables":{"title":"x"},"spec":null}`: "/spec",
	} {
		_, err := sv.Create(context.Background(), f.ws, apikey.Test, []byte(body), "")
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != apierr.InvalidRequest || e.Field != field {
			t.Errorf("%s: %v, want invalid_request at %s", body, err, field)
		}
	}
}
