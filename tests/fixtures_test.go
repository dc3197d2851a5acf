package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// The sample events carry this workspace and the authorizer's placeholder
// key; the fixture test swaps in a real workspace and key.
const (
	sampleWorkspace = "ws_01m8ac0tzfqhnptq51g3yd3wq5"
	sampleKey       = "fg_test_<your test key>"
)

// TestSampleEvents feeds every file under events/ to its function, built
// through the registry against the emulator, the way `sam local invoke -e`
// would: the samples cannot drift from the code.
func TestSampleEvents(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	st, err := keystore.Open(ctx, env.Deps("KeysFunction", nil))
	if err != nil {
		t.Fatal(err)
	}
	ws, keys, err := st.CreateWorkspace(ctx, "Fixtures", ratelimit.DefaultPlan, ratelimit.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "events", "*"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, f := range env.Template.Functions {
		byName[f.Name] = f.LogicalID
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		logical, ok := byName[name]
		if !ok {
			t.Errorf("events/%s: no function %q in template.yaml", name, name)
			continue
		}
		seen[name] = true
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) == 0 {
			t.Errorf("events/%s has no sample", name)
		}
		fn, ok := devstack.Registry()[name]
		if !ok {
			t.Errorf("events/%s: no registry entry", name)
			continue
		}
		d := env.Deps(logical, nil)
		if name == "webhooks" || name == "connections" {
			// The sample's receiver is swapped for a loopback one below,
			// which the egress guard allows only when told to.
			getenv := d.Getenv
			d.Getenv = func(k string) string {
				if k == "WEBHOOK_ALLOW_LOOPBACK" {
					return "true"
				}
				return getenv(k)
			}
		}
		h, err := build(ctx, fn, d)
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			body := strings.ReplaceAll(string(raw), sampleWorkspace, ws.ID)
			// No DNS here: the sample receiver becomes a loopback one.
			body = strings.ReplaceAll(body, "https://hooks.example.com", "http://127.0.0.1:9")
			t.Run(name+"/"+filepath.Base(file), func(t *testing.T) {
				invokeSample(t, ctx, h, body, keys[apikey.Test])
			})
		}
	}
	for name := range byName {
		if !seen[name] {
			t.Errorf("function %s has no sample event under events/%s", name, name)
		}
	}
}

// build runs the one constructor fn has.
func build(ctx context.Context, fn lambdas.Function, d lambdas.Deps) (any, error) {
	switch {
	case fn.Authorizer != nil:
		return fn.Authorizer(ctx, d)
	case fn.HTTP != nil:
		return fn.HTTP(ctx, d)
	case fn.SQS != nil:
		return fn.SQS(ctx, d)
	case fn.Schedule != nil:
		return fn.Schedule(ctx, d)
	}
	return nil, errors.New("registry entry without a constructor")
}

func invokeSample(t *testing.T, ctx context.Context, h any, body, key string) {
	t.Helper()
	switch f := h.(type) {
	case lambdas.AuthorizerFunc:
		var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
		mustDecode(t, body, &ev)
		resp, err := f(ctx, ev)
		if err != nil || resp.PolicyDocument.Statement[0].Effect != "Deny" || resp.Context["code"] != "invalid_api_key" {
			t.Fatalf("the placeholder key must be denied as malformed: %+v %v", resp, err)
		}
		mustDecode(t, strings.ReplaceAll(body, sampleKey, key), &ev)
		if resp, err = f(ctx, ev); err != nil || resp.PolicyDocument.Statement[0].Effect != "Allow" {
			t.Fatalf("a real key must be allowed: %+v %v", resp, err)
		}
	case lambdas.HTTPFunc:
		var ev events.APIGatewayProxyRequest
		mustDecode(t, body, &ev)
		resp, err := f(ctx, ev)
		if err != nil || resp.StatusCode >= 500 || resp.StatusCode == 0 {
			t.Fatalf("%s %s: %d %v %s", ev.HTTPMethod, ev.Path, resp.StatusCode, err, resp.Body)
		}
		if ev.HTTPMethod == "POST" && ev.Resource == "/"+strings.Split(strings.TrimPrefix(ev.Resource, "/"), "/")[0] && resp.StatusCode >= 300 {
			t.Fatalf("creating %s from the sample failed: %d %s", ev.Resource, resp.StatusCode, resp.Body)
		}
		if resp.StatusCode >= 400 {
			var env struct {
				Error struct{ Code, RequestID string } `json:"error"`
			}
			if json.Unmarshal([]byte(resp.Body), &env) != nil || env.Error.Code == "" {
				t.Fatalf("error outside the envelope: %s", resp.Body)
			}
		}
	case lambdas.SQSFunc:
		var ev events.SQSEvent
		mustDecode(t, body, &ev)
		if _, err := f(ctx, ev); err != nil {
			t.Fatalf("sqs handler: %v", err)
		}
	case lambdas.ScheduleFunc:
		var ev events.EventBridgeEvent
		mustDecode(t, body, &ev)
		if err := f(ctx, ev); err != nil {
			t.Fatalf("scheduled handler: %v", err)
		}
	default:
		t.Fatalf("unknown handler type %T", h)
	}
}

func mustDecode(t *testing.T, body string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode sample: %v", err)
	}
}
