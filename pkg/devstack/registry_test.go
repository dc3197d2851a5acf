package devstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/testenv"
)

// TestRegistryMatchesTemplate: every function template.yaml declares can be
// built, and the registry holds nothing template.yaml does not run.
func TestRegistryMatchesTemplate(t *testing.T) {
	tpl := testenv.RepoTemplate(t)
	reg := devstack.Registry()
	declared := map[string]bool{}
	for _, f := range tpl.Functions {
		declared[f.Name] = true
		if _, ok := reg[f.Name]; !ok {
			t.Errorf("template.yaml declares %s (CodeUri %s) but the registry has no %q", f.LogicalID, f.CodeURI, f.Name)
		}
	}
	for name := range reg {
		if !declared[name] {
			t.Errorf("registry entry %q is no function of template.yaml", name)
		}
	}
}

// TestEveryRouteHasAScope: the one route → scope table covers every route
// of template.yaml, with Public exactly where the template says Authorizer:
// NONE, and holds no entry for a served path with a method the template does
// not serve.
func TestEveryRouteHasAScope(t *testing.T) {
	tpl := testenv.RepoTemplate(t)
	table := scopes.Routes()
	declared := map[string]string{} // "METHOD /path" → function
	servedPaths := map[string]bool{}
	n := 0
	for _, f := range tpl.Functions {
		for _, rt := range f.Routes {
			n++
			key := rt.Method + " " + rt.Path
			if rt.Method == "ANY" {
				t.Errorf("%s: route %s: ANY cannot be given one required scope; declare each method", f.LogicalID, key)
				continue
			}
			if other, dup := declared[key]; dup {
				t.Errorf("route %s is declared by both %s and %s", key, other, f.LogicalID)
			}
			declared[key], servedPaths[rt.Path] = f.LogicalID, true
			req, ok := table[key]
			if !ok {
				t.Errorf("%s: route %s has no entry in scopes.Routes()", f.LogicalID, key)
				continue
			}
			if req.Public != !rt.Authorized {
				t.Errorf("%s: route %s: scopes says Public=%v, template.yaml says Authorized=%v", f.LogicalID, key, req.Public, rt.Authorized)
			}
			if got, ok := scopes.Route(rt.Method, rt.Path); !ok || got != req {
				t.Errorf("scopes.Route(%s, %s) = %+v, %v; scopes.Routes() has %+v", rt.Method, rt.Path, got, ok, req)
			}
		}
	}
	if n == 0 {
		t.Fatal("template.yaml declares no Api routes")
	}
	method := regexp.MustCompile(`^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S*$`)
	for key, req := range table {
		if !method.MatchString(key) {
			t.Errorf("scopes entry %q is not \"METHOD /path\"", key)
			continue
		}
		switch {
		case req.Public && req.Scope != "":
			t.Errorf("scopes entry %s is public yet requires %s", key, req.Scope)
		case req.Scope != "" && !slices.Contains(scopes.All, req.Scope):
			t.Errorf("scopes entry %s requires unknown scope %q", key, req.Scope)
		}
		_, path, _ := strings.Cut(key, " ")
		if _, ok := declared[key]; servedPaths[path] && !ok {
			t.Errorf("scopes entry %s: template.yaml serves %s but not with this method", key, path)
		}
	}
}

// snapshot renders every item of a table, sorted, so two snapshots are
// equal exactly when nothing was written in between.
func snapshot(t *testing.T, db *dynamodb.Client, table string) []string {
	t.Helper()
	var out []string
	var start map[string]types.AttributeValue
	for {
		page, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			out = append(out, render(&types.AttributeValueMemberM{Value: it}))
		}
		if page.LastEvaluatedKey == nil {
			sort.Strings(out)
			return out
		}
		start = page.LastEvaluatedKey
	}
}

func render(av types.AttributeValue) string {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return strconv.Quote(v.Value)
	case *types.AttributeValueMemberN:
		return "N" + v.Value
	case *types.AttributeValueMemberBOOL:
		return strconv.FormatBool(v.Value)
	case *types.AttributeValueMemberNULL:
		return "null"
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("B%x", v.Value)
	case *types.AttributeValueMemberSS:
		s := slices.Sorted(slices.Values(v.Value))
		return fmt.Sprintf("SS%q", s)
	case *types.AttributeValueMemberNS:
		s := slices.Sorted(slices.Values(v.Value))
		return fmt.Sprintf("NS%v", s)
	case *types.AttributeValueMemberL:
		parts := make([]string, len(v.Value))
		for i, x := range v.Value {
			parts[i] = render(x)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *types.AttributeValueMemberM:
		keys := make([]string, 0, len(v.Value))
		for k := range v.Value {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + ":" + render(v.Value[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprintf("%T", av)
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// event is what API Gateway sends a function for route rt, every path
// parameter set to id, with a body a handler would act on.
func event(method, resource, id string, authorizer map[string]any) events.APIGatewayProxyRequest {
	params := map[string]string{}
	path := pathParam.ReplaceAllStringFunc(resource, func(m string) string {
		params[m[1:len(m)-1]] = id
		return id
	})
	if len(params) == 0 {
		params = nil
	}
	body := ""
	switch {
	case method == http.MethodPost && strings.HasSuffix(resource, "/rotate"):
		body = `{"gracePeriodSeconds":0}`
	case method == http.MethodPost && resource == "/keys":
		body = `{"name":"bypass","role":"read_only"}`
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		body = `{}`
	}
	return events.APIGatewayProxyRequest{
		Resource: resource, Path: path, HTTPMethod: method,
		Headers:        map[string]string{"Content-Type": "application/json"},
		PathParameters: params, Body: body,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "req-" + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(method+resource),
			Stage:     "v1", ResourcePath: resource, HTTPMethod: method, Path: "/v1" + path,
			Authorizer: authorizer,
		},
	}
}

// envelope decodes an error body and checks its shape.
func envelope(t *testing.T, resp events.APIGatewayProxyResponse, requestID string) map[string]string {
	t.Helper()
	var env map[string]map[string]string
	if err := json.Unmarshal([]byte(resp.Body), &env); err != nil || len(env) != 1 || env["error"] == nil {
		t.Fatalf("body is not the error envelope: %s (%v)", resp.Body, err)
	}
	e := env["error"]
	for _, k := range []string{"code", "message", "requestId", "docs"} {
		if e[k] == "" {
			t.Errorf("envelope lacks %s: %s", k, resp.Body)
		}
	}
	if e["requestId"] != requestID {
		t.Errorf("requestId %q, want %q", e["requestId"], requestID)
	}
	return e
}

// TestNoHandlerWithoutTheMiddleware builds every function of template.yaml
// with Api routes exactly as the Lambda binaries and the local stack do, and
// calls each route with a verdict that must stop it: rate limited → 429,
// insufficient scope → 403, no verdict at all (not through the authorizer)
// → 5xx. Every route's handler is given a real workspace, a real key id and
// a body it would act on, and no table or queue may change.
func TestNoHandlerWithoutTheMiddleware(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	st, err := keystore.Open(ctx, env.Deps("KeysFunction", nil))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := st.CreateWorkspace(ctx, "Middleware", ratelimit.DefaultPlan, ratelimit.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	target, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "target", Role: scopes.Render}, env.Operator(ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := st.ListKeys(ctx, ws.ID, apikey.Live, "", 10, keystore.StatusActive)
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %v %v", keys, err)
	}
	primaryID := keys[0].ID
	if keys[0].Kind != keystore.Primary {
		primaryID = keys[1].ID
	}
	db := dynamodb.NewFromConfig(env.AWS)
	q := sqs.NewFromConfig(env.AWS)
	// state is every item of every table and the depth of every queue.
	state := func() []string {
		var out []string
		for _, r := range env.Resources.ByID {
			switch r.Kind {
			case devstack.KindTable:
				for _, it := range snapshot(t, db, r.Name) {
					out = append(out, r.LogicalID+" "+it)
				}
			case devstack.KindQueue:
				a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(r.URL), AttributeNames: []sqstypes.QueueAttributeName{
					sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
				}})
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprintf("%s messages=%s in-flight=%s", r.LogicalID,
					a.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)],
					a.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]))
			}
		}
		sort.Strings(out)
		return out
	}

	base := ratelimit.Verdict{
		Workspace: ws.ID, Env: string(apikey.Live), KeyID: primaryID, KeyKind: keystore.Primary,
		Role: string(scopes.Manager), Scopes: scopes.Join(scopes.All),
		KeyLimit:       ratelimit.Limit{Name: "key", Limit: 10, Remaining: 0, Reset: 42, Window: 60},
		WorkspaceLimit: ratelimit.Limit{Name: "workspace", Limit: 1000, Remaining: 500, Reset: 42, Window: 60},
	}
	handlers := map[string]lambdas.HTTPFunc{}
	reg := devstack.Registry()
	before := state()
	routes := 0
	for _, f := range env.Template.Functions {
		if len(f.Routes) == 0 {
			continue
		}
		fn := reg[f.Name]
		if fn.HTTP == nil {
			t.Fatalf("%s has Api routes but no HTTP constructor in registry entry %q", f.LogicalID, f.Name)
		}
		hf, err := fn.HTTP(ctx, env.Deps(f.LogicalID, nil))
		if err != nil {
			t.Fatalf("build %s: %v", f.LogicalID, err)
		}
		handlers[f.LogicalID] = hf
		for _, rt := range f.Routes {
			if !rt.Authorized {
				continue // public: nothing for the middleware to enforce
			}
			routes++
			req, _ := scopes.Route(rt.Method, rt.Path)
			required := string(req.Scope)
			if required == "" {
				required = string(scopes.VideosWrite)
			}
			t.Run(f.LogicalID+" "+rt.Method+" "+rt.Path, func(t *testing.T) {
				// Rate limited: 429 with Retry-After and the headers.
				v := base
				v.Outcome, v.RetryAfter, v.RequiredScope = ratelimit.RateLimited, 42, string(req.Scope)
				ev := event(rt.Method, rt.Path, target.ID, v.Context())
				resp, err := hf(ctx, ev)
				if err != nil {
					t.Fatalf("rate limited: handler error %v", err)
				}
				if resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("rate limited: status %d, want 429: %s", resp.StatusCode, resp.Body)
				}
				if e := envelope(t, resp, ev.RequestContext.RequestID); e["code"] != "rate_limited" {
					t.Errorf("rate limited: code %q", e["code"])
				}
				for name, want := range map[string]string{
					"Retry-After": "42", "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "42",
					"RateLimit":        `"key";r=0;t=42`,
					"RateLimit-Policy": `"key";q=10;w=60, "workspace";q=1000;w=60`,
				} {
					if got := resp.Headers[name]; got != want {
						t.Errorf("rate limited: %s = %q, want %q", name, got, want)
					}
				}

				// Insufficient scope: 403 naming the scope, headers still there.
				v = base
				v.Outcome, v.RequiredScope = ratelimit.InsufficientScope, required
				v.KeyLimit.Remaining = 7
				ev = event(rt.Method, rt.Path, target.ID, v.Context())
				resp, err = hf(ctx, ev)
				if err != nil {
					t.Fatalf("insufficient scope: handler error %v", err)
				}
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("insufficient scope: status %d, want 403: %s", resp.StatusCode, resp.Body)
				}
				e := envelope(t, resp, ev.RequestContext.RequestID)
				if e["code"] != "insufficient_scope" || !strings.Contains(e["message"], required) {
					t.Errorf("insufficient scope: %s, want code insufficient_scope naming %s", resp.Body, required)
				}
				if resp.Headers["X-RateLimit-Remaining"] != "7" || resp.Headers["X-RateLimit-Limit"] != "10" || resp.Headers["RateLimit-Policy"] == "" || resp.Headers["RateLimit"] == "" || resp.Headers["X-RateLimit-Reset"] != "42" {
					t.Errorf("insufficient scope: rate-limit headers %v", resp.Headers)
				}
				if _, ok := resp.Headers["Retry-After"]; ok {
					t.Errorf("insufficient scope: unexpected Retry-After")
				}

				// Not through the authorizer: no context, or one without a
				// verdict. Fail closed with a 5xx that says nothing inside.
				for name, authz := range map[string]map[string]any{
					"no authorizer context":   nil,
					"context without verdict": {"principalId": "key_x", "workspace": ws.ID},
					"unknown outcome":         withOutcome(base, "maybe"),
					"allow without workspace": withWorkspace(base, ""),
				} {
					ev := event(rt.Method, rt.Path, target.ID, authz)
					resp, err := hf(ctx, ev)
					if err != nil {
						t.Fatalf("%s: handler error %v", name, err)
					}
					if resp.StatusCode < 500 || resp.StatusCode > 599 {
						t.Fatalf("%s: status %d, want 5xx: %s", name, resp.StatusCode, resp.Body)
					}
					e := envelope(t, resp, ev.RequestContext.RequestID)
					if e["code"] != "internal_error" || strings.Contains(resp.Body, "authorizer") || strings.Contains(resp.Body, "verdict") {
						t.Errorf("%s: body %s leaks detail or has the wrong code", name, resp.Body)
					}
					if _, ok := resp.Headers["X-RateLimit-Limit"]; ok {
						t.Errorf("%s: rate-limit headers without a verdict: %v", name, resp.Headers)
					}
				}
			})
		}
	}
	if routes == 0 {
		t.Fatal("template.yaml has no authorized Api route")
	}
	after := state()
	if !slices.Equal(before, after) {
		t.Fatalf("tables or queues changed although no request may have reached a handler:\nbefore %d items\n%s\nafter %d items\n%s",
			len(before), strings.Join(before, "\n"), len(after), strings.Join(after, "\n"))
	}
	if k, err := st.GetKey(ctx, ws.ID, apikey.Live, target.ID); err != nil || k.RevokedAt != nil || k.RotatedTo != "" {
		t.Fatalf("target key after the calls: %+v %v", k, err)
	}

	// Control: the same kind of request with an allowing verdict does reach
	// the handler and does write, so the checks above could have seen it.
	keysFn := handlers["KeysFunction"]
	if keysFn == nil {
		t.Fatal("template.yaml has no KeysFunction")
	}
	v := base
	v.Outcome, v.RequiredScope = ratelimit.Allow, string(scopes.KeysManage)
	v.KeyLimit.Remaining = 9
	resp, err := keysFn(ctx, event(http.MethodPost, "/keys", "", v.Context()))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("allowed POST /keys: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	if resp.Headers["X-RateLimit-Remaining"] != "9" || resp.Headers["RateLimit-Policy"] == "" {
		t.Errorf("allowed POST /keys: rate-limit headers %v", resp.Headers)
	}
	if after := state(); slices.Equal(before, after) {
		t.Fatal("an allowed POST /keys wrote nothing: the side-effect check above proves nothing")
	}
}

func withOutcome(v ratelimit.Verdict, outcome string) map[string]any {
	v.Outcome = outcome
	return v.Context()
}

func withWorkspace(v ratelimit.Verdict, ws string) map[string]any {
	v.Outcome, v.Workspace = ratelimit.Allow, ws
	return v.Context()
}
