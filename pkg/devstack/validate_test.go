package devstack_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/samtemplate"
	"github.com/framegate/framegate/pkg/testenv"
)

// TestGatewayValidatesResponses: with ValidateResponse set, a handler
// answering a shape openapi.yaml does not allow reaches the client as a 500
// naming the mismatch and is reported; right answers and the gateway's own
// errors pass untouched.
func TestGatewayValidatesResponses(t *testing.T) {
	tpl, err := samtemplate.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := testenv.DefaultValidator()
	if err != nil {
		t.Fatal(err)
	}
	// The verdict httpapi would turn into the rate-limit headers.
	allow := ratelimit.Verdict{Outcome: ratelimit.Allow, Workspace: "ws_1", Env: "live", KeyID: "key_1", KeyKind: "primary",
		Role: "manager", Scopes: "keys:manage", KeyLimit: ratelimit.Limit{Name: "key", Limit: 100, Remaining: 99, Reset: 60, Window: 60}}
	authz := func(_ context.Context, r events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		out := events.APIGatewayCustomAuthorizerResponse{PrincipalID: "key_1", PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17", Statement: []events.IAMPolicyStatement{{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{r.MethodArn}}}}}
		if r.Headers["Authorization"] == "" {
			out.PolicyDocument.Statement[0].Effect = "Deny"
			out.Context = map[string]any{"code": "missing_api_key", "message": "Send your API key."}
			return out, nil
		}
		out.Context = allow.Context()
		return out, nil
	}
	var body string
	handler := func(_ context.Context, r events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: body, Headers: map[string]string{
			"Content-Type": "application/json", "X-Request-Id": r.RequestContext.RequestID,
			"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99", "X-RateLimit-Reset": "60",
			"RateLimit-Policy": `"key";q=100;w=60`, "RateLimit": `"key";r=99;t=60`,
		}}, nil
	}
	handlers := map[string]lambdas.HTTPFunc{}
	for _, f := range tpl.Functions {
		if len(f.Routes) > 0 {
			handlers[f.LogicalID] = handler
		}
	}
	var mu sync.Mutex
	var reported []error
	g, err := devstack.NewGateway(devstack.GatewayConfig{
		Template: tpl, APIID: "api", Region: "us-east-1", AccountID: "123456789012",
		Authorizer: authz, Handlers: handlers, Logger: slog.New(slog.DiscardHandler),
		ValidateResponse: v.Response,
		ResponseInvalid: func(method, path string, err error) {
			mu.Lock()
			defer mu.Unlock()
			reported = append(reported, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()

	get := func(path string, auth bool) (*http.Response, map[string]map[string]string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer fg_live_x")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env map[string]map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&env)
		return resp, env
	}
	reset := func() []error {
		mu.Lock()
		defer mu.Unlock()
		r := reported
		reported = nil
		return r
	}

	body = `{"id":5}`
	resp, env := get("/v1/keys/key_1", true)
	if resp.StatusCode != 500 || !strings.Contains(env["error"]["message"], "at '/id': got number, want string") {
		t.Errorf("wrong shape: status %d, body %v; want 500 naming /id", resp.StatusCode, env)
	}
	if r := reset(); len(r) != 1 || !strings.Contains(r[0].Error(), "GET /keys/{id}") {
		t.Errorf("wrong shape: reported %v, want one error naming the operation", r)
	}

	body = `{"object":"api_key","id":"key_1","name":"ci","kind":"secondary","role":"render","scopes":["videos:read"],` +
		`"environment":"live","preview":"fg_live_abcd…wxyz","status":"active","createdAt":"2030-01-01T00:00:00.000Z","expiresAt":null,"lastUsedAt":null}`
	if resp, env := get("/v1/keys/key_1", true); resp.StatusCode != 200 || resp.Header.Get("RateLimit") == "" {
		t.Errorf("right shape: status %d, body %v", resp.StatusCode, env)
	}
	if resp, _ := get("/v1/keys/key_1", false); resp.StatusCode != 401 {
		t.Errorf("no key: status %d, want the gateway's 401", resp.StatusCode)
	}
	if resp, _ := get("/v1/no/such/route", true); resp.StatusCode != 404 {
		t.Errorf("unknown route: status %d, want the gateway's 404", resp.StatusCode)
	}
	if r := reset(); len(r) != 0 {
		t.Errorf("valid responses reported: %v", r)
	}
}
