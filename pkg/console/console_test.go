package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/console"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type noSignIn struct{}

func (noSignIn) SignInConsole(context.Context, string) (keystore.ConsoleSession, string, error) {
	panic("the sign-in must be refused before the store is asked")
}

func handler(t *testing.T) func(events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	h, err := console.Handler(httpapi.Server{Logger: testenv.Logger(t)}, noSignIn{}, "https://renders.s3.us-east-1.amazonaws.com", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
		ev.RequestContext.Stage = "v1"
		resp, err := h(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// The page and every asset carry the strict policy; the page names its
// assets under the stage; only embedded files of known types are served;
// the sign-in is refused without the console's header.
func TestPageAndAssets(t *testing.T) {
	call := handler(t)
	page := call(events.APIGatewayProxyRequest{HTTPMethod: "GET", Resource: "/console", Path: "/console"})
	if page.StatusCode != 200 || !strings.HasPrefix(page.Headers["Content-Type"], "text/html") {
		t.Fatalf("page: %d %v", page.StatusCode, page.Headers)
	}
	csp := page.Headers["Content-Security-Policy"]
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "media-src https://renders.s3.us-east-1.amazonaws.com;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http:") || strings.Contains(csp, "*") {
		t.Errorf("CSP %q allows more than its origin", csp)
	}
	// No inline script or style, nothing from another origin, only assets that exist.
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|https?://`).MatchString(page.Body) {
		t.Errorf("the page has inline code, inline style or an absolute URL:\n%s", page.Body)
	}
	refs := regexp.MustCompile(`(?:src|href)="/v1/console/([^"]+)"`).FindAllStringSubmatch(page.Body, -1)
	if len(refs) < 3 {
		t.Fatalf("the page names %d assets under /v1/console/", len(refs))
	}
	imports := map[string]bool{}
	for _, r := range refs {
		imports[r[1]] = true
	}
	// Every module the page loads, and every module those import, is served.
	for len(imports) > 0 {
		for name := range imports {
			delete(imports, name)
			a := call(events.APIGatewayProxyRequest{HTTPMethod: "GET", Resource: "/console/{asset}", PathParameters: map[string]string{"asset": name}})
			if a.StatusCode != 200 || a.Headers["Content-Security-Policy"] != csp || a.Headers["X-Content-Type-Options"] != "nosniff" {
				t.Fatalf("asset %s: %d %v", name, a.StatusCode, a.Headers)
			}
			for _, m := range regexp.MustCompile(`from '\./([a-z]+\.js)'`).FindAllStringSubmatch(a.Body, -1) {
				imports[m[1]] = true
			}
			if strings.HasSuffix(name, ".js") && strings.Contains(a.Body, "innerHTML") {
				t.Errorf("%s builds markup from strings", name)
			}
		}
	}
	for _, name := range []string{"index.html", "../console.go", "nope.js", "console_test.go"} {
		a := call(events.APIGatewayProxyRequest{HTTPMethod: "GET", Resource: "/console/{asset}", PathParameters: map[string]string{"asset": name}})
		if a.StatusCode != 404 {
			t.Errorf("asset %q: %d, want 404", name, a.StatusCode)
		}
	}
	s := call(events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/console/signin", Body: `{"token":"x"}`,
		Headers: map[string]string{"Content-Type": "application/json"}})
	if s.StatusCode != 400 || !strings.Contains(s.Body, "X-Framegate-Console") || s.Headers["Set-Cookie"] != "" {
		t.Fatalf("sign-in without the header: %d %s", s.StatusCode, s.Body)
	}
}

// The whole sign-in over HTTP on the local stack: a key asks for a link,
// the link signs in once and sets an HttpOnly, Secure, SameSite=Strict
// cookie for the stage; the cookie works only with the console's header;
// the same link a second time is 401 and sets nothing; a session cannot
// open another session; signing out revokes it and clears the cookie.
func TestSignInOverHTTP(t *testing.T) {
	s := testenv.NewStack(t)
	_, keys := s.Workspace("Console", ratelimit.Plan{})
	api := testenv.NewAPIClient(t, s.URL())
	link := api.Expect(api.Do("POST", "/console/sessions", keys[apikey.Test], nil), http.StatusCreated)
	u := link.Str("url")
	if !strings.HasPrefix(u, s.URL()+"/console#signin=cs_") || link.Str("id") == "" {
		t.Fatalf("link %q, want it under %s/console", u, s.URL())
	}
	token := strings.SplitN(u, "#signin=", 2)[1]
	// A key that expires cannot open a session acting for keys that do not.
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	expiring := api.Expect(api.Do("POST", "/keys", keys[apikey.Test], map[string]any{"name": "temp", "role": "manager", "expiresAt": exp}), http.StatusCreated).Str("key")
	if r := api.Do("POST", "/console/sessions", expiring, nil); r.Status != http.StatusForbidden || r.Str("error", "code") != "insufficient_scope" {
		t.Errorf("an expiring key opened a console session: %d %s", r.Status, r.Raw)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	send := func(method, path, env, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		if env != "" {
			req.Header.Set("X-Framegate-Console", env)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	signin := `{"token":"` + token + `"}`
	resp, body := send("POST", "/console/signin", "test", signin)
	if resp.StatusCode != 200 {
		t.Fatalf("sign in: %d %s", resp.StatusCode, body)
	}
	c := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"fg_console_test=fgcs_test_", "; Path=/v1;", "; HttpOnly", "; Secure", "; SameSite=Strict", "; Max-Age=43200"} {
		if !strings.Contains(c, want) {
			t.Errorf("Set-Cookie %q lacks %q", c, want)
		}
	}
	// The jar keeps Secure cookies for http://127.0.0.1 like browsers do
	// for loopback; give it the cookie the way a browser would hold it.
	base, _ := url.Parse(s.URL() + "/")
	jar.SetCookies(base, []*http.Cookie{{Name: "fg_console_test", Value: strings.SplitN(strings.SplitN(c, "=", 2)[1], ";", 2)[0], Path: "/v1"}})

	resp, body = send("GET", "/auth", "test", "")
	var who struct {
		Workspace   struct{ ID string }
		Environment string
		Key         struct{ ID, Kind string }
	}
	_ = json.Unmarshal([]byte(body), &who)
	if resp.StatusCode != 200 || who.Key.Kind != "console" || who.Environment != "test" || who.Key.ID != link.Str("id") {
		t.Fatalf("GET /auth with the session: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send("GET", "/keys", "", ""); resp.StatusCode != 401 {
		t.Errorf("the cookie without the console header: %d, want 401", resp.StatusCode)
	}
	if resp, _ := send("GET", "/keys", "live", ""); resp.StatusCode != 401 {
		t.Errorf("the test cookie for the live environment: %d, want 401", resp.StatusCode)
	}
	if resp, body := send("POST", "/console/sessions", "test", ""); resp.StatusCode != 403 {
		t.Errorf("a session opening a session: %d %s, want 403", resp.StatusCode, body)
	}
	// A console session creates non-expiring keys, as the people of the workspace do.
	if resp, body := send("POST", "/keys", "test", `{"name":"from the console","role":"render"}`); resp.StatusCode != 201 || !strings.Contains(body, `"expiresAt":null`) {
		t.Errorf("create a key from the console: %d %s", resp.StatusCode, body)
	}

	// The link a second time: refused, no cookie, nothing of the workspace.
	resp, body = send("POST", "/console/signin", "test", signin)
	if resp.StatusCode != 401 || !strings.Contains(body, "invalid_console_link") || resp.Header.Get("Set-Cookie") != "" || strings.Contains(body, "ws_") {
		t.Fatalf("second use: %d %s %q", resp.StatusCode, body, resp.Header.Get("Set-Cookie"))
	}

	list := api.Expect(api.Do("GET", "/console/sessions", keys[apikey.Test], nil), http.StatusOK)
	if list.Str("data", "0", "id") != link.Str("id") || list.Str("data", "0", "status") != "active" {
		t.Fatalf("sessions: %s", list.Raw)
	}
	resp, body = send("DELETE", "/console/sessions/"+link.Str("id"), "test", "")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Set-Cookie"), "fg_console_test=; Path=/v1; Max-Age=0") {
		t.Fatalf("sign out: %d %s %q", resp.StatusCode, body, resp.Header.Get("Set-Cookie"))
	}
	jar.SetCookies(base, []*http.Cookie{{Name: "fg_console_test", Value: strings.SplitN(strings.SplitN(c, "=", 2)[1], ";", 2)[0], Path: "/v1"}})
	if resp, _ := send("GET", "/auth", "test", ""); resp.StatusCode != 401 {
		t.Errorf("a signed-out session's cookie still works: %d", resp.StatusCode)
	}
	// The short way to the console.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := noRedirect.Get("http://" + s.Addr() + "/console")
	if err != nil || r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/v1/console" {
		t.Fatalf("/console: %v %v", r, err)
	}
	r.Body.Close()
}
