package testenv_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/openapi"
	"github.com/framegate/framegate/pkg/samtemplate"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/webhooks"
)

func validator(t *testing.T) *testenv.Validator {
	t.Helper()
	v, err := testenv.DefaultValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func templateRoutes(t *testing.T, tpl *samtemplate.Template) []string {
	t.Helper()
	var out []string
	for _, f := range tpl.Functions {
		for _, r := range f.Routes {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	slices.Sort(out)
	return out
}

func loadTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestSpecCoversTemplate: every route template.yaml serves is in
// openapi.yaml and the reverse.
func TestSpecCoversTemplate(t *testing.T) {
	notInSpec, notInTemplate := testenv.CompareRoutes(templateRoutes(t, loadTemplate(t)), validator(t).Routes())
	for _, r := range notInSpec {
		t.Errorf("template.yaml serves %s but openapi.yaml does not describe it", r)
	}
	for _, r := range notInTemplate {
		t.Errorf("openapi.yaml describes %s but template.yaml does not serve it", r)
	}
}

// TestRouteDriftIsCaught: the comparison above fails both ways, on a
// template with a route the spec lacks and on a spec missing a path.
func TestRouteDriftIsCaught(t *testing.T) {
	// The spec's own routes stand for an agreeing template, so this test
	// does not depend on the two agreeing today.
	v := validator(t)
	tplRoutes := v.Routes()

	notInSpec, _ := testenv.CompareRoutes(append(slices.Clone(tplRoutes), "POST /videos/{id}/ghost"), v.Routes())
	if !slices.Equal(notInSpec, []string{"POST /videos/{id}/ghost"}) {
		t.Errorf("a route only in template.yaml: got %v", notInSpec)
	}

	// The same document without /keys/{id}/rotate.
	y := string(openapi.YAML())
	start := strings.Index(y, "\n  /keys/{id}/rotate:\n")
	end := strings.Index(y, "\n  /keys/primary/reset:\n")
	if start < 0 || end < start {
		t.Fatal("openapi.yaml layout changed: cannot cut /keys/{id}/rotate out")
	}
	cut, err := testenv.NewValidator([]byte(y[:start] + y[end:]))
	if err != nil {
		t.Fatal(err)
	}
	notInSpec, notInTemplate := testenv.CompareRoutes(tplRoutes, cut.Routes())
	if !slices.Equal(notInSpec, []string{"POST /keys/{id}/rotate"}) || len(notInTemplate) != 0 {
		t.Errorf("a route missing from openapi.yaml: got notInSpec %v, notInTemplate %v", notInSpec, notInTemplate)
	}
	_, notInTemplate = testenv.CompareRoutes(slices.DeleteFunc(slices.Clone(tplRoutes), func(r string) bool { return r == "GET /auth" }), v.Routes())
	if !slices.Equal(notInTemplate, []string{"GET /auth"}) {
		t.Errorf("a route only in openapi.yaml: got %v", notInTemplate)
	}
}

// TestErrorCodesAreApierrs: the Error schema's code enum is exactly the
// closed list in pkg/apierr.
func TestErrorCodesAreApierrs(t *testing.T) {
	s := validator(t).Doc().Components.Schemas["ErrorCode"].Value
	var got []string
	for _, e := range s.Enum {
		got = append(got, e.(string))
	}
	var want []string
	for _, c := range apierr.Codes() {
		want = append(want, string(c))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("openapi.yaml ErrorCode enum %v, pkg/apierr has %v", got, want)
	}
	// Each status the codes map to is a response the spec documents.
	desc := string(openapi.YAML())
	for _, c := range apierr.Codes() {
		if !strings.Contains(desc, "`"+string(c)+"`") {
			t.Errorf("openapi.yaml never documents code %s", c)
		}
	}
}

// TestClosedListsMatchTheCode: the enums of openapi.yaml that name the
// code's closed lists are exactly those lists: audit actions, event types,
// scopes.
func TestClosedListsMatchTheCode(t *testing.T) {
	schemas := validator(t).Doc().Components.Schemas
	var scopeNames []string
	for _, s := range scopes.All {
		scopeNames = append(scopeNames, string(s))
	}
	for name, want := range map[string][]string{
		"AuditAction": audit.Actions(), "EventType": webhooks.Types(), "Scope": scopeNames,
	} {
		var got []string
		for _, e := range schemas[name].Value.Enum {
			got = append(got, e.(string))
		}
		want = slices.Clone(want)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("openapi.yaml %s enum %v, the code has %v", name, got, want)
		}
	}
}

// TestGatewayResponseCodesAreDeclared: the codes template.yaml's gateway
// responses put in the envelope are in the closed list.
func TestGatewayResponseCodesAreDeclared(t *testing.T) {
	codes := map[string]bool{}
	for _, c := range apierr.Codes() {
		codes[string(c)] = true
	}
	re := regexp.MustCompile(`"code":"([^"$]+)"`)
	for typ, gr := range loadTemplate(t).Api.GatewayResponses {
		for _, body := range gr.Templates {
			for _, m := range re.FindAllStringSubmatch(body, -1) {
				if !codes[m[1]] {
					t.Errorf("gateway response %s answers code %q, not in pkg/apierr nor openapi.yaml", typ, m[1])
				}
			}
		}
	}
}

func rateLimited(h http.Header) http.Header {
	h.Set("X-Request-Id", "req-1")
	h.Set("X-RateLimit-Limit", "100")
	h.Set("X-RateLimit-Remaining", "99")
	h.Set("X-RateLimit-Reset", "60")
	h.Set("RateLimit-Policy", `"key";q=100;w=60, "workspace";q=1000;w=60`)
	h.Set("RateLimit", `"key";r=99;t=60`)
	return h
}

const goodKey = `{"object":"api_key","id":"key_1","name":"ci","kind":"secondary","role":"render",
"scopes":["videos:read","videos:write","templates:read"],"environment":"live","preview":"fg_live_abcd…wxyz",
"status":"active","createdAt":"2030-01-01T00:00:00.000Z","expiresAt":null,"lastUsedAt":null}`

const goodError = `{"error":{"code":"not_found","message":"No such key.","requestId":"req-1","docs":"https://example.com/errors.md#not_found"}}`

// TestResponses: right shapes pass, and each kind of drift is caught with
// a message that names it.
func TestResponses(t *testing.T) {
	v := validator(t)
	json := func() http.Header { return http.Header{"Content-Type": {"application/json; charset=utf-8"}} }
	cases := []struct {
		name         string
		method, path string
		status       int
		header       http.Header
		body         string
		want         string // "" passes; else a substring of the error
	}{
		{"key", "GET", "/v1/keys/key_1", 200, rateLimited(json()), goodKey, ""},
		{"id is a number", "GET", "/v1/keys/key_1", 200, rateLimited(json()), `{"id":5}`, "at '/id': got number, want string"},
		{"required field missing", "GET", "/v1/keys/key_1", 200, rateLimited(json()),
			strings.Replace(goodKey, `"preview":"fg_live_abcd…wxyz",`, "", 1), "missing property 'preview'"},
		{"unknown field", "GET", "/v1/keys/key_1", 200, rateLimited(json()),
			strings.Replace(goodKey, `"id":"key_1"`, `"id":"key_1","hash":"x"`, 1), "additional properties 'hash' not allowed"},
		{"enum drift", "GET", "/v1/keys/key_1", 200, rateLimited(json()),
			strings.Replace(goodKey, `"status":"active"`, `"status":"paused"`, 1), "at '/status'"},
		{"bad timestamp", "GET", "/v1/keys/key_1", 200, rateLimited(json()),
			strings.Replace(goodKey, `"2030-01-01T00:00:00.000Z"`, `"yesterday"`, 1), "at '/createdAt'"},
		{"status not declared", "GET", "/v1/keys/key_1", 418, rateLimited(json()), goodError, "status 418 is not declared"},
		{"rate-limit header missing", "GET", "/v1/keys/key_1", 200, func() http.Header {
			h := rateLimited(json())
			h.Del("RateLimit")
			return h
		}(), goodKey, "required header RateLimit is missing"},
		{"rate-limit header malformed", "GET", "/v1/keys/key_1", 200, func() http.Header {
			h := rateLimited(json())
			h.Set("X-RateLimit-Remaining", "lots")
			return h
		}(), goodKey, `header X-RateLimit-Remaining: "lots" is not a number`},
		{"header not declared", "GET", "/v1/keys/key_1", 200, func() http.Header {
			h := rateLimited(json())
			h.Set("X-Debug", "1")
			return h
		}(), goodKey, "header X-Debug is not declared"},
		{"wrong content type", "GET", "/v1/keys/key_1", 200, func() http.Header {
			h := rateLimited(json())
			h.Set("Content-Type", "text/plain")
			return h
		}(), goodKey, "Content-Type text/plain is not declared"},
		{"error envelope", "GET", "/v1/keys/key_1", 404, rateLimited(json()), goodError, ""},
		{"error code outside the closed list", "GET", "/v1/keys/key_1", 404, rateLimited(json()),
			strings.Replace(goodError, "not_found", "gone", 2), "at '/error/code'"},
		{"429 needs Retry-After", "GET", "/v1/keys/key_1", 429, rateLimited(json()),
			strings.Replace(goodError, "not_found", "rate_limited", 2), "required header Retry-After is missing"},
		{"gateway 401 (ACCESS_DENIED)", "GET", "/v1/keys", 401, http.Header{
			"Content-Type": {"application/json"}, "Www-Authenticate": {"Bearer"}, "X-Amzn-Requestid": {"r"}, "X-Amzn-Errortype": {"ACCESS_DENIED"}},
			strings.Replace(goodError, "not_found", "invalid_api_key", 2), ""},
		{"gateway 503 (AUTHORIZER_FAILURE)", "POST", "/v1/videos", 503, http.Header{
			"Content-Type": {"application/json"}, "Retry-After": {"1"}},
			strings.Replace(goodError, "not_found", "service_unavailable", 2), ""},
		{"gateway 404 for an unknown route", "GET", "/v1/nothing/here", 404, json(), goodError, ""},
		{"gateway 404 for an unknown method", "PUT", "/v1/keys", 404, json(), goodError, ""},
		{"a 200 from no route", "GET", "/v1/nothing/here", 200, json(), `{}`, "no operation in openapi.yaml matches"},
		{"public route without rate-limit headers", "GET", "/v1/openapi.json", 200,
			http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r"}}, `{"openapi":"3.1.0","info":{},"paths":{}}`, ""},
		{"static segment beats {id}", "POST", "/v1/keys/primary/reset", 201, rateLimited(json()),
			strings.Replace(goodKey, `"lastUsedAt":null`, `"lastUsedAt":null,"key":"fg_live_0123456789abcdefghijABCDEFGHIJ012345"`, 1), ""},
		{"created key without its plaintext", "POST", "/v1/keys", 201, rateLimited(json()), goodKey, "missing property 'key'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Response(c.method, c.path, c.status, c.header, []byte(c.body))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("want no error, got %v", err)
			case c.want != "" && err == nil:
				t.Errorf("want an error with %q, got none", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("want an error with %q, got %v", c.want, err)
			}
		})
	}
}

// TestEmbeddedIsTheRootFile: what the binaries serve is openapi.yaml.
func TestEmbeddedIsTheRootFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, openapi.YAML()) {
		t.Fatal("the embedded document differs from openapi.yaml")
	}
}

func BenchmarkResponse(b *testing.B) {
	v, err := testenv.DefaultValidator()
	if err != nil {
		b.Fatal(err)
	}
	h := rateLimited(http.Header{"Content-Type": {"application/json"}})
	body := []byte(goodKey)
	for b.Loop() {
		if err := v.Response("GET", "/v1/keys/key_1", 200, h, body); err != nil {
			b.Fatal(err)
		}
	}
}
