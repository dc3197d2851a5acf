package devstack_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// fakeAuthorizer decides by the x-test-auth header.
func fakeAuthorizer(_ context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	policy := func(effect, resource string) events.APIGatewayCustomAuthorizerPolicy {
		return events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{resource}},
		}}
	}
	// The method ARN without the method and path: what a real authorizer
	// would scope a policy to.
	base := req.MethodArn[:strings.Index(req.MethodArn, "/")+1] + "v1/"
	switch req.Headers["X-Test-Auth"] {
	case "allow":
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID:    "key_1",
			PolicyDocument: policy("Allow", base+"*"),
			Context:        map[string]any{"workspace": "ws_1", "limit": 100, "live": true},
		}, nil
	case "get-only":
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "key_2", PolicyDocument: policy("Allow", base+"GET/*")}, nil
	case "deny":
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID:    "key_3",
			PolicyDocument: policy("Deny", req.MethodArn),
			Context:        map[string]any{"code": "revoked_key", "message": "This key was revoked."},
		}, nil
	case "err":
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("dynamodb is down")
	case "no-principal":
		return events.APIGatewayCustomAuthorizerResponse{PolicyDocument: policy("Allow", "*")}, nil
	case "nested-context":
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "k", PolicyDocument: policy("Allow", "*"), Context: map[string]any{"x": []string{"a"}}}, nil
	case "panic":
		panic("authorizer bug")
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    "anonymous",
		PolicyDocument: policy("Deny", req.MethodArn),
		Context:        map[string]any{"code": "missing_api_key", "message": "No key."},
	}, nil
}

// echoHandler returns the event it got, and fails on demand.
func echoHandler(getenv func(string) string) lambdas.HTTPFunc {
	return func(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		switch req.PathParameters["id"] {
		case "boom":
			return events.APIGatewayProxyResponse{}, errors.New("secret internal detail")
		case "panic":
			panic("secret internal detail")
		}
		b, _ := json.Marshal(map[string]any{"event": req, "greeting": getenv("GREETING")})
		return events.APIGatewayProxyResponse{
			StatusCode:        200,
			Headers:           map[string]string{"Content-Type": "application/json", "X-One": "1"},
			MultiValueHeaders: map[string][]string{"X-Many": {"a", "b"}},
			Body:              string(b),
		}, nil
	}
}

// worker fails every record whose body starts with "fail" and records what it saw.
type worker struct {
	mu   sync.Mutex
	seen map[string]int // body -> deliveries
	recs []events.SQSMessage
}

func (w *worker) handle(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		w.seen[r.Body]++
		w.recs = append(w.recs, r)
		if strings.HasPrefix(r.Body, "fail") {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return resp, nil
}

func (w *worker) deliveries(body string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[body]
}

func startTestStack(t *testing.T) (*testenv.Stack, *worker) {
	w := &worker{seen: map[string]int{}}
	reg := map[string]lambdas.Function{
		"authz": {Authorizer: func(context.Context, lambdas.Deps) (lambdas.AuthorizerFunc, error) { return fakeAuthorizer, nil }},
		"echo": {Env: []string{"GREETING", "TABLE", "SECRET_ARN"}, HTTP: func(_ context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
			return echoHandler(d.Getenv), nil
		}},
		"worker": {SQS: func(context.Context, lambdas.Deps) (lambdas.SQSFunc, error) { return w.handle, nil }},
	}
	s := testenv.NewStack(t, testenv.WithTemplate("testdata/template.yaml"), testenv.WithRegistry(reg))
	return s, w
}

type result struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func do(t *testing.T, method, url, auth string, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("X-Test-Auth", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &r.json)
	return r
}

// errorOf digs error.code and error.requestId out of an envelope.
func errorOf(t *testing.T, r result) (code, requestID string) {
	t.Helper()
	e, ok := r.json["error"].(map[string]any)
	if !ok {
		t.Fatalf("status %d: not an error envelope: %s", r.status, r.body)
	}
	code, _ = e["code"].(string)
	requestID, _ = e["requestId"].(string)
	if !uuidRE.MatchString(requestID) {
		t.Errorf("requestId %q is not a UUID", requestID)
	}
	if got := r.header.Get("X-Amzn-Requestid"); got != requestID {
		t.Errorf("x-amzn-RequestId %q != body requestId %q", got, requestID)
	}
	return code, requestID
}

func TestGateway(t *testing.T) {
	s, _ := startTestStack(t)
	base := s.URL()

	t.Run("routing prefers static segments, then params, then greedy", func(t *testing.T) {
		tests := []struct {
			method, path string
			resource     string
			params       map[string]string
		}{
			{"GET", "/things/special", "/things/special", nil},
			{"GET", "/things/abc", "/things/{id}", map[string]string{"id": "abc"}},
			{"POST", "/things", "/things", nil},
			{"GET", "/files/a/b/c.mp4", "/files/{proxy+}", map[string]string{"proxy": "a/b/c.mp4"}},
		}
		for _, tc := range tests {
			r := do(t, tc.method, base+tc.path, "allow", nil)
			if r.status != 200 {
				t.Fatalf("%s %s: status %d: %s", tc.method, tc.path, r.status, r.body)
			}
			var got struct {
				Event events.APIGatewayProxyRequest `json:"event"`
			}
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatal(err)
			}
			ev := got.Event
			if ev.Resource != tc.resource || ev.Path != tc.path || ev.HTTPMethod != tc.method {
				t.Errorf("%s %s: resource %q path %q method %q", tc.method, tc.path, ev.Resource, ev.Path, ev.HTTPMethod)
			}
			if len(ev.PathParameters) != len(tc.params) {
				t.Errorf("%s %s: path params %v, want %v", tc.method, tc.path, ev.PathParameters, tc.params)
			}
			for k, v := range tc.params {
				if ev.PathParameters[k] != v {
					t.Errorf("%s %s: path params %v, want %v", tc.method, tc.path, ev.PathParameters, tc.params)
				}
			}
			if ev.RequestContext.Path != "/v1"+tc.path || ev.RequestContext.Stage != "v1" || ev.RequestContext.ResourcePath != tc.resource {
				t.Errorf("request context %+v", ev.RequestContext)
			}
		}
	})

	t.Run("the handler gets the event API Gateway sends", func(t *testing.T) {
		r := do(t, "GET", base+"/things/abc?a=1&a=2&b=x", "allow", nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var got struct {
			Event    events.APIGatewayProxyRequest `json:"event"`
			Greeting string                        `json:"greeting"`
		}
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatal(err)
		}
		ev := got.Event
		if got.Greeting != "hello" {
			t.Errorf("GREETING = %q: the template's environment did not reach the function", got.Greeting)
		}
		if ev.QueryStringParameters["a"] != "2" || len(ev.MultiValueQueryStringParameters["a"]) != 2 || ev.QueryStringParameters["b"] != "x" {
			t.Errorf("query %v %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
		}
		if ev.Headers["X-Test-Auth"] != "allow" || ev.MultiValueHeaders["X-Test-Auth"][0] != "allow" {
			t.Errorf("headers %v", ev.Headers)
		}
		// Authorizer context values arrive as strings, as on AWS.
		want := map[string]any{"workspace": "ws_1", "limit": "100", "live": "true", "principalId": "key_1"}
		for k, v := range want {
			if ev.RequestContext.Authorizer[k] != v {
				t.Errorf("authorizer[%s] = %#v, want %#v", k, ev.RequestContext.Authorizer[k], v)
			}
		}
		if !uuidRE.MatchString(ev.RequestContext.RequestID) || ev.RequestContext.APIID == "" || ev.RequestContext.AccountID == "" {
			t.Errorf("request context %+v", ev.RequestContext)
		}
		if r.header.Get("X-One") != "1" || len(r.header.Values("X-Many")) != 2 {
			t.Errorf("response headers %v", r.header)
		}
	})

	t.Run("binary bodies are base64", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/things", strings.NewReader("\x00\x01\xff"))
		req.Header.Set("X-Test-Auth", "allow")
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Event events.APIGatewayProxyRequest `json:"event"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&got)
		if !got.Event.IsBase64Encoded || got.Event.Body != "AAH/" {
			t.Errorf("body %q base64 %v", got.Event.Body, got.Event.IsBase64Encoded)
		}
	})

	t.Run("unknown route or method is not_found", func(t *testing.T) {
		for _, tc := range []struct{ method, path string }{
			{"GET", "/nope"}, {"DELETE", "/things/abc"}, {"GET", "/files"}, {"GET", "/v2/things/abc"},
		} {
			url := base + tc.path
			if strings.HasPrefix(tc.path, "/v2") {
				url = strings.TrimSuffix(base, "/v1") + tc.path
			}
			r := do(t, tc.method, url, "allow", nil)
			if r.status != 404 {
				t.Errorf("%s %s: status %d", tc.method, tc.path, r.status)
				continue
			}
			if code, _ := errorOf(t, r); code != "not_found" {
				t.Errorf("%s %s: code %q", tc.method, tc.path, code)
			}
		}
	})

	t.Run("deny renders the authorizer's context", func(t *testing.T) {
		r := do(t, "GET", base+"/things/abc", "deny", nil)
		if r.status != 401 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		code, id := errorOf(t, r)
		msg, _ := r.json["error"].(map[string]any)["message"].(string)
		if code != "revoked_key" || msg != "This key was revoked." {
			t.Errorf("code %q message %q", code, msg)
		}
		if r.header.Get("X-Request-Id") != id || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.header)
		}
		if r := do(t, "GET", base+"/things/abc", "", nil); r.status != 401 {
			t.Errorf("no key: status %d", r.status)
		} else if code, _ := errorOf(t, r); code != "missing_api_key" {
			t.Errorf("no key: code %q", code)
		}
	})

	t.Run("an Allow that does not cover the method ARN is a deny", func(t *testing.T) {
		if r := do(t, "GET", base+"/things/abc", "get-only", nil); r.status != 200 {
			t.Errorf("GET: status %d", r.status)
		}
		if r := do(t, "POST", base+"/things", "get-only", nil); r.status != 401 {
			t.Errorf("POST: status %d, want 401", r.status)
		}
	})

	t.Run("authorizer failures fail closed", func(t *testing.T) {
		for _, auth := range []string{"err", "panic", "no-principal", "nested-context"} {
			r := do(t, "GET", base+"/things/abc", auth, nil)
			if r.status != 503 {
				t.Errorf("%s: status %d: %s", auth, r.status, r.body)
				continue
			}
			if code, _ := errorOf(t, r); code != "service_unavailable" {
				t.Errorf("%s: code %q", auth, code)
			}
		}
	})

	t.Run("routes with Authorizer NONE skip the authorizer", func(t *testing.T) {
		r := do(t, "GET", base+"/open", "panic", nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if strings.Contains(r.body, `"principalId"`) {
			t.Errorf("an unauthorized route got an authorizer context: %s", r.body)
		}
	})

	t.Run("handler errors are 502 without details", func(t *testing.T) {
		for _, id := range []string{"boom", "panic"} {
			r := do(t, "GET", base+"/things/"+id, "allow", nil)
			if r.status != 502 {
				t.Errorf("%s: status %d", id, r.status)
				continue
			}
			if code, _ := errorOf(t, r); code != "internal_error" || strings.Contains(r.body, "secret") {
				t.Errorf("%s: %s", id, r.body)
			}
		}
	})

	t.Run("bodies over 10 MB are refused", func(t *testing.T) {
		r := do(t, "POST", base+"/things", "allow", strings.NewReader(strings.Repeat("x", devstack.MaxRequestBody+1)))
		if r.status != 413 {
			t.Fatalf("status %d", r.status)
		}
		if code, _ := errorOf(t, r); code != "payload_too_large" {
			t.Errorf("code %q", code)
		}
	})
}

func TestSQSPartialFailuresAndRedrive(t *testing.T) {
	s, w := startTestStack(t)
	ctx := context.Background()
	c := sqs.NewFromConfig(s.AWS())
	q, _ := s.Resources().Get("WorkQueue")
	dlq, _ := s.Resources().Get("WorkDLQ")
	for _, body := range []string{"ok-1", "ok-2", "fail-1"} {
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl:          aws.String(q.URL),
			MessageBody:       aws.String(body),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("test")}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// maxReceiveCount is 2 and the visibility timeout 1 s: fail-1 is
	// delivered twice, then the queue moves it to the DLQ.
	var moved []string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && len(moved) == 0 {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq.URL), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			moved = append(moved, aws.ToString(m.Body))
		}
	}
	if len(moved) != 1 || moved[0] != "fail-1" {
		t.Fatalf("DLQ got %v, want [fail-1]", moved)
	}
	if n := w.deliveries("fail-1"); n != 2 {
		t.Errorf("fail-1 delivered %d times, want maxReceiveCount = 2", n)
	}
	for _, b := range []string{"ok-1", "ok-2"} {
		if n := w.deliveries(b); n != 1 {
			t.Errorf("%s delivered %d times, want once (succeeded items are deleted)", b, n)
		}
	}
	w.mu.Lock()
	r := w.recs[0]
	w.mu.Unlock()
	if r.EventSource != "aws:sqs" || r.EventSourceARN != q.ARN || r.AWSRegion != devstack.Region || r.Md5OfBody == "" ||
		r.Attributes["ApproximateReceiveCount"] == "" || r.Attributes["SentTimestamp"] == "" ||
		r.MessageAttributes["kind"].DataType != "String" || aws.ToString(r.MessageAttributes["kind"].StringValue) != "test" {
		t.Errorf("record %+v", r)
	}
}

// The repository's template must be runnable by the local stack: every
// function has a registry entry whose handler fits its events.
func TestRepoTemplateIsRunnable(t *testing.T) {
	s := testenv.NewStack(t)
	r := do(t, "GET", s.URL()+"/no/such/route", "", nil)
	if r.status != 404 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if code, _ := errorOf(t, r); code != "not_found" {
		t.Errorf("code %q", code)
	}
	docs, _ := r.json["error"].(map[string]any)["docs"].(string)
	if !strings.HasSuffix(docs, "#not_found") {
		t.Errorf("docs %q", docs)
	}
}

func TestMissingRegistryEntryFailsLoudly(t *testing.T) {
	ctx := context.Background()
	_, err := devstack.New(ctx, devstack.Config{
		TemplatePath: "testdata/template.yaml",
		Addr:         "127.0.0.1:0",
		Endpoint:     testenv.Endpoint(t),
		Prefix:       testenv.UniquePrefix(t),
		Logger:       testenv.Logger(t),
		Registry: map[string]lambdas.Function{
			"authz": {Authorizer: func(context.Context, lambdas.Deps) (lambdas.AuthorizerFunc, error) { return fakeAuthorizer, nil }},
			// echo has Api events but its entry has only an SQS constructor
			"echo": {SQS: func(context.Context, lambdas.Deps) (lambdas.SQSFunc, error) { return nil, nil }},
		},
		DestroyOnClose: true,
	})
	if err == nil || !strings.Contains(err.Error(), "EchoFunction") {
		t.Errorf("err = %v, want it to name EchoFunction", err)
	}
	_, err = devstack.New(ctx, devstack.Config{
		TemplatePath:   "testdata/template.yaml",
		Addr:           "127.0.0.1:0",
		Endpoint:       testenv.Endpoint(t),
		Prefix:         testenv.UniquePrefix(t),
		Logger:         testenv.Logger(t),
		Registry:       map[string]lambdas.Function{},
		DestroyOnClose: true,
	})
	if err == nil || !strings.Contains(err.Error(), `AuthzFunction`) || !strings.Contains(err.Error(), `"authz"`) {
		t.Errorf("err = %v, want it to name AuthzFunction and the registry key", err)
	}
}
