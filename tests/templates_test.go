package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/ratelimit"
)

// builtIns are the built-in templates in list order (by id).
var builtIns = []string{"tpl_countdown", "tpl_product_promo", "tpl_quote", "tpl_title_card", "tpl_vertical_story"}

// templateIDs are the ids of a list page, in order.
func templateIDs(t *testing.T, r response) []string {
	t.Helper()
	data, ok := r.get("data").([]any)
	if !ok {
		t.Fatalf("no data in %s", r)
	}
	out := make([]string, 0, len(data))
	for _, x := range data {
		m, _ := x.(map[string]any)
		if m["object"] != "template" {
			t.Errorf("list item without object template: %v", m)
		}
		id, _ := m["id"].(string)
		out = append(out, id)
	}
	return out
}

// myIntro is a user template: a title on a brand color.
func myIntro(name string) map[string]any {
	return map[string]any{
		"id":          "my-intro",
		"name":        name,
		"description": "The channel intro: the episode title on the brand color.",
		"category":    "intro",
		"orientation": "landscape",
		"variables": []any{
			map[string]any{"name": "title", "type": "string", "required": true},
			map[string]any{"name": "brandColor", "type": "color", "default": "#1e293b"},
			map[string]any{"name": "duration", "type": "number", "default": 3},
		},
		"spec": map[string]any{
			"resolution": "hd",
			"scenes": []any{map[string]any{
				"duration":   "{{duration}}",
				"background": map[string]any{"color": "{{brandColor}}"},
				"elements":   []any{map[string]any{"type": "text", "text": "{{title}}", "fontSize": 72, "color": "#ffffff"}},
			}},
		},
	}
}

// TestTemplatesOverHTTP: the built-ins with filters and pagination, the
// life of a workspace's own template, read-only built-ins, isolation
// between workspaces and environments, scopes, and videos made from
// templates.
func TestTemplatesOverHTTP(t *testing.T) {
	s := newStack(t)
	_, keys := s.workspace(ratelimit.Plan{})
	_, other := s.workspace(ratelimit.Plan{})
	primary := keys[apikey.Live]

	// The built-ins, one page.
	r := expect(t, s.do("GET", "/v1/templates", primary, nil), http.StatusOK)
	rateHeaders(t, r, 100)
	if got := templateIDs(t, r); !slices.Equal(got, builtIns) {
		t.Fatalf("built-ins %v, want %v", got, builtIns)
	}
	for _, x := range r.get("data").([]any) {
		if m := x.(map[string]any); m["builtIn"] != true {
			t.Errorf("%v is not builtIn", m["id"])
		}
	}
	if r.get("pagination", "next") != nil {
		t.Errorf("one page has a next link: %s", r)
	}

	// Filters.
	for q, want := range map[string][]string{
		"orientation=portrait": {"tpl_vertical_story"},
		"q=quote":              {"tpl_quote"},
		"q=QUOTE":              {"tpl_quote"},
		"category=social":      {"tpl_quote", "tpl_vertical_story"},
		"orientation=square":   {"tpl_quote"},
		"category=nothing":     {},
	} {
		r := expect(t, s.do("GET", "/v1/templates?"+q, primary, nil), http.StatusOK)
		if got := templateIDs(t, r); !slices.Equal(got, want) {
			t.Errorf("?%s: %v, want %v", q, got, want)
		}
	}
	expectError(t, s.do("GET", "/v1/templates?limit=0", primary, nil), http.StatusBadRequest, "invalid_request", "limit")
	expectError(t, s.do("GET", "/v1/templates?cursor=nope", primary, nil), http.StatusBadRequest, "invalid_request", "cursor")

	// Pagination: two per page, next to the end.
	r = expect(t, s.do("GET", "/v1/templates?limit=2", primary, nil), http.StatusOK)
	last := r.str("pagination", "last")
	var seen []string
	var pages int
	for {
		pages++
		ids := templateIDs(t, r)
		if len(ids) > 2 {
			t.Fatalf("page %d has %d templates, limit 2", pages, len(ids))
		}
		seen = append(seen, ids...)
		next, _ := r.get("pagination", "next").(string)
		if next == "" {
			if self := r.str("pagination", "self"); self != last {
				t.Errorf("last page is %s, the first page said last %s", self, last)
			}
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r = expect(t, s.do("GET", next, primary, nil), http.StatusOK)
		if r.str("pagination", "self") != next {
			t.Errorf("self %q, want the link followed %q", r.str("pagination", "self"), next)
		}
	}
	if pages != 3 || !slices.Equal(seen, builtIns) {
		t.Errorf("%d pages of %v, want 3 of %v", pages, seen, builtIns)
	}

	// One built-in.
	r = expect(t, s.do("GET", "/v1/templates/tpl_quote", primary, nil), http.StatusOK)
	if r.str("id") != "tpl_quote" || r.str("object") != "template" || r.get("builtIn") != true ||
		r.str("orientation") != "square" || r.get("spec") == nil {
		t.Errorf("tpl_quote: %s", r)
	}
	if vars, _ := r.get("variables").([]any); len(vars) == 0 || vars[0].(map[string]any)["name"] != "quote" || vars[0].(map[string]any)["required"] != true {
		t.Errorf("tpl_quote variables: %s", r)
	}
	expectError(t, s.do("GET", "/v1/templates/tpl_nope", primary, nil), http.StatusNotFound, "not_found", "")

	// A workspace's own template: create, read, list, replace.
	r = expect(t, s.do("POST", "/v1/templates", primary, myIntro("My intro")), http.StatusCreated)
	rateHeaders(t, r, 100)
	if r.Header.Get("Location") != "/v1/templates/my-intro" || r.str("id") != "my-intro" || r.get("builtIn") != false || r.str("object") != "template" {
		t.Fatalf("create: %s (Location %q)", r, r.Header.Get("Location"))
	}
	expectError(t, s.do("POST", "/v1/templates", primary, myIntro("again")), http.StatusConflict, "conflict", "")
	r = expect(t, s.do("GET", "/v1/templates/my-intro", primary, nil), http.StatusOK)
	if r.str("name") != "My intro" || r.get("builtIn") != false {
		t.Errorf("get: %s", r)
	}
	r = expect(t, s.do("GET", "/v1/templates", primary, nil), http.StatusOK)
	if got := templateIDs(t, r); !slices.Equal(got, append(slices.Clone(builtIns), "my-intro")) {
		t.Errorf("list with an own template: %v", got)
	}
	if got := templateIDs(t, expect(t, s.do("GET", "/v1/templates?category=intro", primary, nil), http.StatusOK)); !slices.Equal(got, []string{"tpl_title_card", "my-intro"}) {
		t.Errorf("?category=intro: %v", got)
	}
	renamed := myIntro("My intro (2027)")
	delete(renamed, "id") // the path names it
	r = expect(t, s.do("PUT", "/v1/templates/my-intro", primary, renamed), http.StatusOK)
	if r.str("name") != "My intro (2027)" || r.str("id") != "my-intro" {
		t.Errorf("replace: %s", r)
	}
	if n := expect(t, s.do("GET", "/v1/templates/my-intro", primary, nil), http.StatusOK).str("name"); n != "My intro (2027)" {
		t.Errorf("after replace the name is %q", n)
	}

	// Invalid templates write nothing and name the field.
	bad := myIntro("Bad")
	bad["id"] = "bad-one"
	bad["spec"].(map[string]any)["scenes"].([]any)[0].(map[string]any)["elements"].([]any)[0].(map[string]any)["text"] = "{{subtitle}}"
	expectError(t, s.do("POST", "/v1/templates", primary, bad), http.StatusBadRequest, "invalid_request", "/spec/scenes/0/elements/0/text")
	bad = myIntro("Bad")
	bad["id"] = "bad-one"
	bad["orientation"] = "portrait"
	expectError(t, s.do("POST", "/v1/templates", primary, bad), http.StatusBadRequest, "invalid_request", "/orientation")
	bad = myIntro("Bad")
	bad["builtIn"] = true
	expectError(t, s.do("POST", "/v1/templates", primary, bad), http.StatusBadRequest, "invalid_request", "/builtIn")
	expectError(t, s.do("PUT", "/v1/templates/my-intro", primary, myIntro("")), http.StatusBadRequest, "invalid_request", "/name")
	expectError(t, s.do("PUT", "/v1/templates/other-id", primary, myIntro("x")), http.StatusBadRequest, "invalid_request", "/id")
	expectError(t, s.do("GET", "/v1/templates/bad-one", primary, nil), http.StatusNotFound, "not_found", "")

	// Built-ins are read-only.
	expectError(t, s.do("PUT", "/v1/templates/tpl_title_card", primary, renamed), http.StatusConflict, "conflict", "")
	expectError(t, s.do("DELETE", "/v1/templates/tpl_title_card", primary, nil), http.StatusConflict, "conflict", "")
	bad = myIntro("Mine")
	bad["id"] = "tpl_quote"
	expectError(t, s.do("POST", "/v1/templates", primary, bad), http.StatusConflict, "conflict", "")
	if n := expect(t, s.do("GET", "/v1/templates/tpl_title_card", primary, nil), http.StatusOK).str("name"); n != "Title card" {
		t.Errorf("tpl_title_card is now %q", n)
	}

	// Another workspace, and this workspace's sandbox, do not see it.
	for name, k := range map[string]string{"other workspace": other[apikey.Live], "sandbox": keys[apikey.Test]} {
		t.Run(name, func(t *testing.T) {
			expectError(t, s.do("GET", "/v1/templates/my-intro", k, nil), http.StatusNotFound, "not_found", "")
			expectError(t, s.do("PUT", "/v1/templates/my-intro", k, renamed), http.StatusNotFound, "not_found", "")
			expectError(t, s.do("DELETE", "/v1/templates/my-intro", k, nil), http.StatusNotFound, "not_found", "")
			expectError(t, s.do("POST", "/v1/videos", k, map[string]any{"templateId": "my-intro", "variables": map[string]any{"title": "x"}}),
				http.StatusBadRequest, "invalid_request", "/templateId")
			if got := templateIDs(t, expect(t, s.do("GET", "/v1/templates", k, nil), http.StatusOK)); !slices.Equal(got, builtIns) {
				t.Errorf("list: %v", got)
			}
		})
	}

	// A read_only key lists and reads, but writes nothing.
	ro := create(t, s, primary, map[string]any{"name": "ro", "role": "read_only"})
	expect(t, s.do("GET", "/v1/templates", ro.plain, nil), http.StatusOK)
	expect(t, s.do("GET", "/v1/templates/my-intro", ro.plain, nil), http.StatusOK)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/templates", myIntro("ro's")},
		{"PUT", "/v1/templates/my-intro", renamed},
		{"DELETE", "/v1/templates/my-intro", nil},
	} {
		r := expectError(t, s.do(c.method, c.path, ro.plain, c.body), http.StatusForbidden, "insufficient_scope", "")
		if !strings.Contains(r.str("error", "message"), "templates:write") {
			t.Errorf("%s %s: message %q does not name templates:write", c.method, c.path, r.str("error", "message"))
		}
		rateHeaders(t, r, 100)
	}

	// Videos from templates: a built-in and the workspace's own.
	for id, vars := range map[string]map[string]any{
		"tpl_title_card": {"title": "Hello from a template", "duration": 2},
		"my-intro":       {"title": "Episode 1"},
	} {
		r := expect(t, s.do("POST", "/v1/videos", primary, map[string]any{"templateId": id, "variables": vars}), http.StatusAccepted)
		if r.str("templateId") != id || r.str("status") != "queued" {
			t.Errorf("video from %s: %s", id, r)
		}
		// Cancelled at once: this test is about the call, not the render.
		expect(t, s.do("DELETE", "/v1/videos/"+r.str("id"), primary, nil), http.StatusOK)
	}
	for _, c := range []struct {
		vars  map[string]any
		field string
	}{
		{map[string]any{}, "/variables/title"},
		{map[string]any{"title": "x", "textColor": "white"}, "/variables/textColor"},
		{map[string]any{"title": "x", "duration": "long"}, "/variables/duration"},
		{map[string]any{"title": "x", "font": "Comic"}, "/variables/font"},
	} {
		t.Run(strings.TrimPrefix(c.field, "/variables/"), func(t *testing.T) {
			expectError(t, s.do("POST", "/v1/videos", primary, map[string]any{"templateId": "tpl_title_card", "variables": c.vars}),
				http.StatusBadRequest, "invalid_request", c.field)
		})
	}

	// Delete: gone, and a second delete or a replace is 404.
	r = expect(t, s.do("DELETE", "/v1/templates/my-intro", primary, nil), http.StatusOK)
	if r.str("object") != "template" || r.str("id") != "my-intro" || r.get("deleted") != true {
		t.Errorf("delete: %s", r)
	}
	expectError(t, s.do("GET", "/v1/templates/my-intro", primary, nil), http.StatusNotFound, "not_found", "")
	expectError(t, s.do("DELETE", "/v1/templates/my-intro", primary, nil), http.StatusNotFound, "not_found", "")
	expectError(t, s.do("PUT", "/v1/templates/my-intro", primary, renamed), http.StatusNotFound, "not_found", "")
	if got := templateIDs(t, expect(t, s.do("GET", "/v1/templates", primary, nil), http.StatusOK)); !slices.Equal(got, builtIns) {
		t.Errorf("after delete: %v", got)
	}
}
