package devstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/samtemplate"
)

// MaxRequestBody is API Gateway's payload limit.
const MaxRequestBody = 10 << 20

// GatewayConfig is what a Gateway serves.
type GatewayConfig struct {
	Template *samtemplate.Template
	// APIID, Region and AccountID go into method ARNs and request contexts.
	APIID, Region, AccountID string
	// Authorizer runs for every route that does not opt out with
	// Auth: {Authorizer: NONE}. Required when the template declares one.
	Authorizer lambdas.AuthorizerFunc
	// Handlers by function logical ID; every routed function needs one.
	Handlers map[string]lambdas.HTTPFunc
	Logger   *slog.Logger
	Now      func() time.Time
	// ValidateResponse, when set, judges every response before it is sent
	// (path is the request path with the stage, e.g. /v1/keys/key_1). A
	// response it rejects is replaced by a 500 whose body names the
	// mismatch, and reported to ResponseInvalid.
	ValidateResponse func(method, path string, status int, header http.Header, body []byte) error
	// ResponseInvalid hears of every rejected response (tests fail on it).
	ResponseInvalid func(method, path string, err error)
	// Meter, when set, counts each request's DynamoDB calls: the gateway
	// tags the context it hands the authorizer and the handler, and logs
	// the count with the request.
	Meter *Meter
}

// Gateway is an http.Handler that behaves like the template's API Gateway
// REST API: routing, the Lambda REQUEST authorizer, gateway responses and
// the Lambda proxy integration.
type Gateway struct {
	cfg        GatewayConfig
	stage      string
	root       *routeNode
	authzTO    time.Duration
	timeouts   map[string]time.Duration // by function logical ID
	log        *slog.Logger
	now        func() time.Time
	responses  map[string]samtemplate.GatewayResponse
	authorizer lambdas.AuthorizerFunc
}

// resource is one path of the API and its methods.
type resource struct {
	path    string // "/keys/{id}"
	methods map[string]route
}

type route struct {
	function   string
	authorized bool
	handler    lambdas.HTTPFunc
}

// routeNode is one path segment in API Gateway's resource tree.
type routeNode struct {
	static map[string]*routeNode
	param  *routeNode // {name}
	greedy *routeNode // {name+}
	name   string     // parameter name for param and greedy nodes
	res    *resource
}

// NewGateway checks that every route has a handler and builds the resource tree.
func NewGateway(c GatewayConfig) (*Gateway, error) {
	tpl := c.Template
	if tpl == nil || tpl.Api.StageName == "" {
		return nil, errors.New("gateway: template has no AWS::Serverless::Api with a StageName")
	}
	g := &Gateway{
		cfg:        c,
		stage:      tpl.Api.StageName,
		root:       &routeNode{},
		timeouts:   map[string]time.Duration{},
		log:        c.Logger,
		now:        c.Now,
		responses:  tpl.Api.GatewayResponses,
		authorizer: c.Authorizer,
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	for _, f := range tpl.Functions {
		g.timeouts[f.LogicalID] = time.Duration(f.Timeout) * time.Second
	}
	if id := tpl.Api.AuthorizerFunction; id != "" {
		if c.Authorizer == nil {
			return nil, fmt.Errorf("gateway: no handler for authorizer function %s", id)
		}
		g.authzTO = g.timeouts[id]
	}
	for _, f := range tpl.Functions {
		for _, r := range f.Routes {
			h := c.Handlers[f.LogicalID]
			if h == nil {
				return nil, fmt.Errorf("gateway: no HTTP handler for function %s (route %s %s)", f.LogicalID, r.Method, r.Path)
			}
			if err := g.add(r.Path, r.Method, route{function: f.LogicalID, authorized: r.Authorized, handler: h}); err != nil {
				return nil, fmt.Errorf("gateway: function %s: %w", f.LogicalID, err)
			}
		}
	}
	return g, nil
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func (g *Gateway) add(path, method string, r route) error {
	n := g.root
	segs := splitPath(path)
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}"):
			if i != len(segs)-1 {
				return fmt.Errorf("path %s: a greedy {param+} must be the last segment", path)
			}
			if n.greedy == nil {
				n.greedy = &routeNode{name: s[1 : len(s)-2]}
			}
			n = n.greedy
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			if n.param == nil {
				n.param = &routeNode{name: name}
			} else if n.param.name != name {
				// API Gateway allows one variable per position.
				return fmt.Errorf("path %s: {%s} conflicts with {%s} at the same position", path, name, n.param.name)
			}
			n = n.param
		default:
			if n.static == nil {
				n.static = map[string]*routeNode{}
			}
			if n.static[s] == nil {
				n.static[s] = &routeNode{}
			}
			n = n.static[s]
		}
	}
	if n.res == nil {
		n.res = &resource{path: "/" + strings.Join(segs, "/"), methods: map[string]route{}}
	}
	if _, dup := n.res.methods[method]; dup {
		return fmt.Errorf("route %s %s declared twice", method, path)
	}
	n.res.methods[method] = r
	return nil
}

// match finds the resource for a path: at each segment a static name beats
// a {param}, which beats a greedy {param+}, with backtracking, as API
// Gateway selects resources.
func (n *routeNode) match(segs []string, params map[string]string) *resource {
	if len(segs) == 0 {
		return n.res
	}
	if c := n.static[segs[0]]; c != nil {
		if r := c.match(segs[1:], params); r != nil {
			return r
		}
	}
	if n.param != nil {
		if r := n.param.match(segs[1:], params); r != nil {
			params[n.param.name] = segs[0]
			return r
		}
	}
	if n.greedy != nil && n.greedy.res != nil {
		params[n.greedy.name] = strings.Join(segs, "/")
		return n.greedy.res
	}
	return nil
}

// reqState is what one request accumulates for logging and substitution.
type reqState struct {
	id        string
	start     time.Time
	r         *http.Request
	resource  string
	authz     map[string]string // $context.authorizer.*
	errMsg    string            // $context.error.message
	errType   string
	sourceIP  string
	userAgent string
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{id: newUUID(), start: g.now(), r: r, userAgent: r.UserAgent()}
	st.sourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	if g.cfg.Meter != nil {
		r = r.WithContext(WithRequest(r.Context(), st.id))
	}
	var status int
	if g.cfg.ValidateResponse == nil {
		status = g.serve(w, r, st)
	} else {
		status = g.serveValidated(w, r, st)
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("latency_ms", g.now().Sub(st.start).Milliseconds()),
		slog.String("request_id", st.id),
	}
	if g.cfg.Meter != nil {
		u := g.cfg.Meter.Usage(st.id)
		attrs = append(attrs, slog.Int("dynamodb_calls", u.Calls()), slog.Int("dynamodb_round_trips", u.RoundTrips()))
	}
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// serveValidated buffers the response, has it judged, and sends it or a
// 500 naming what is wrong with it.
func (g *Gateway) serveValidated(w http.ResponseWriter, r *http.Request, st *reqState) int {
	rec := &recorder{header: http.Header{}}
	status := g.serve(rec, r, st)
	body := rec.body.Bytes()
	err := g.cfg.ValidateResponse(r.Method, r.URL.Path, status, rec.header, body)
	if err == nil {
		for k, vs := range rec.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return status
	}
	g.log.Error("response does not match the API contract", "method", r.Method, "path", r.URL.Path, "status", status, "request_id", st.id, "err", err)
	if g.cfg.ResponseInvalid != nil {
		g.cfg.ResponseInvalid(r.Method, r.URL.Path, err)
	}
	out, _ := json.Marshal(map[string]any{"error": map[string]string{
		"code":      "internal_error",
		"message":   fmt.Sprintf("The local gateway rejected a %d response that does not match openapi.yaml: %v", status, err),
		"requestId": st.id,
	}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Requestid", st.id)
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(out)
	return http.StatusInternalServerError
}

// recorder holds a response until it has been validated.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

// serve handles one request and returns the status it wrote.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, st *reqState) int {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
	if err != nil {
		return g.gatewayResponse(w, st, "DEFAULT_4XX", "Could not read the request body")
	}
	if len(body) > MaxRequestBody {
		return g.gatewayResponse(w, st, "REQUEST_TOO_LARGE", "Request Too Long")
	}
	segs := splitPath(r.URL.Path)
	if len(segs) == 0 || segs[0] != g.stage {
		return g.gatewayResponse(w, st, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
	}
	params := map[string]string{}
	res := g.root.match(segs[1:], params)
	if res == nil {
		return g.gatewayResponse(w, st, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
	}
	rt, ok := res.methods[r.Method]
	if !ok {
		rt, ok = res.methods["ANY"]
	}
	if !ok {
		// REST answers a known path with an unknown method exactly like
		// an unknown path.
		return g.gatewayResponse(w, st, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
	}
	st.resource = res.path
	if len(params) == 0 {
		params = nil // AWS sends null, not {}
	}
	path := "/" + strings.Join(segs[1:], "/")
	headers, mvHeaders := headerMaps(r.Header)
	query, mvQuery := queryMaps(r)

	principal := ""
	if rt.authorized && g.authorizer != nil {
		areq := events.APIGatewayCustomAuthorizerRequestTypeRequest{
			Type:                            "REQUEST",
			MethodArn:                       g.methodARN(r.Method, path),
			Resource:                        res.path,
			Path:                            "/" + g.stage + path,
			HTTPMethod:                      r.Method,
			Headers:                         headers,
			MultiValueHeaders:               mvHeaders,
			QueryStringParameters:           query,
			MultiValueQueryStringParameters: mvQuery,
			PathParameters:                  params,
			RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
				Path:         "/" + g.stage + path,
				AccountID:    g.cfg.AccountID,
				ResourceID:   resourceID(res.path),
				Stage:        g.stage,
				RequestID:    st.id,
				Identity:     events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: st.sourceIP},
				ResourcePath: res.path,
				HTTPMethod:   r.Method,
				APIID:        g.cfg.APIID,
			},
		}
		actx := r.Context()
		if g.cfg.Meter != nil {
			actx = WithRequest(actx, st.id+AuthorizerCalls)
		}
		verdict, p, typ, msg := g.authorize(actx, areq, st)
		if !verdict {
			return g.gatewayResponse(w, st, typ, msg)
		}
		principal = p
	}

	// API Gateway tells the integration how the client connected; this
	// gateway is plain HTTP.
	if headers == nil {
		headers, mvHeaders = map[string]string{}, map[string][]string{}
	}
	headers["X-Forwarded-Proto"], mvHeaders["X-Forwarded-Proto"] = "http", []string{"http"}
	preq := events.APIGatewayProxyRequest{
		Resource:                        res.path,
		Path:                            path,
		HTTPMethod:                      r.Method,
		Headers:                         headers,
		MultiValueHeaders:               mvHeaders,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: mvQuery,
		PathParameters:                  params,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:        g.cfg.AccountID,
			ResourceID:       resourceID(res.path),
			Stage:            g.stage,
			DomainName:       r.Host,
			RequestID:        st.id,
			Protocol:         r.Proto,
			Identity:         events.APIGatewayRequestIdentity{SourceIP: st.sourceIP, UserAgent: st.userAgent},
			ResourcePath:     res.path,
			Path:             "/" + g.stage + path,
			HTTPMethod:       r.Method,
			RequestTime:      st.start.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: st.start.UnixMilli(),
			APIID:            g.cfg.APIID,
		},
	}
	if st.authz != nil || principal != "" {
		a := make(map[string]any, len(st.authz)+1)
		for k, v := range st.authz {
			a[k] = v
		}
		a["principalId"] = principal
		preq.RequestContext.Authorizer = a
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type"), body) {
			preq.Body = string(body)
		} else {
			preq.Body = base64.StdEncoding.EncodeToString(body)
			preq.IsBase64Encoded = true
		}
	}
	resp, err := callHTTP(r.Context(), g.timeouts[rt.function], rt.handler, preq)
	if err != nil {
		g.log.Error("handler failed", "function", rt.function, "request_id", st.id, "err", err)
		if errors.Is(err, context.DeadlineExceeded) {
			return g.gatewayResponse(w, st, "INTEGRATION_TIMEOUT", "Endpoint request timed out")
		}
		return g.gatewayResponseStatus(w, st, "DEFAULT_5XX", http.StatusBadGateway, "Internal server error")
	}
	return g.writeProxyResponse(w, st, rt.function, resp)
}

func (g *Gateway) methodARN(method, path string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s/%s", g.cfg.Region, g.cfg.AccountID, g.cfg.APIID, g.stage, method, strings.TrimPrefix(path, "/"))
}

// resourceID is a stable stand-in for API Gateway's resource id.
func resourceID(path string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(path); i++ {
		h = (h ^ uint32(path[i])) * 16777619
	}
	return strconv.FormatUint(uint64(h), 36)
}

// authorize runs the authorizer and evaluates its policy as API Gateway
// does. It returns whether to proceed, the principal, or the gateway
// response type and message to answer with.
func (g *Gateway) authorize(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest, st *reqState) (bool, string, string, string) {
	resp, err := callAuthorizer(ctx, g.authzTO, g.authorizer, req)
	if err != nil {
		g.log.Error("authorizer failed", "request_id", st.id, "err", err)
		return false, "", "AUTHORIZER_FAILURE", "Internal server error"
	}
	// API Gateway sees the JSON the Lambda returned, not Go values: read the
	// response back from JSON so number and boolean context values and
	// string-or-list policy fields are judged the same way.
	raw, err := json.Marshal(resp)
	if err != nil {
		g.log.Error("authorizer response does not marshal", "request_id", st.id, "err", err)
		return false, "", "AUTHORIZER_CONFIGURATION_ERROR", "Internal server error"
	}
	var out struct {
		PrincipalID    string          `json:"principalId"`
		PolicyDocument json.RawMessage `json:"policyDocument"`
		Context        map[string]any  `json:"context"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.PrincipalID == "" {
		g.log.Error("authorizer response has no principalId", "request_id", st.id)
		return false, "", "AUTHORIZER_CONFIGURATION_ERROR", "Internal server error"
	}
	ctxVals := make(map[string]string, len(out.Context))
	for k, v := range out.Context {
		switch x := v.(type) {
		case string:
			ctxVals[k] = x
		case float64, bool:
			ctxVals[k] = fmt.Sprint(x)
		case nil:
			ctxVals[k] = ""
		default:
			// Objects and arrays are rejected by API Gateway.
			g.log.Error("authorizer context value is not a string, number or boolean", "request_id", st.id, "key", k)
			return false, "", "AUTHORIZER_CONFIGURATION_ERROR", "Internal server error"
		}
	}
	st.authz = ctxVals
	allowed, explicitDeny, err := evaluatePolicy(out.PolicyDocument, req.MethodArn)
	if err != nil {
		g.log.Error("authorizer policy is malformed", "request_id", st.id, "err", err)
		st.authz = nil
		return false, "", "AUTHORIZER_CONFIGURATION_ERROR", "Internal server error"
	}
	if explicitDeny {
		return false, "", "ACCESS_DENIED", "User is not authorized to access this resource with an explicit deny"
	}
	if !allowed {
		return false, "", "ACCESS_DENIED", "User is not authorized to access this resource"
	}
	return true, out.PrincipalID, "", ""
}

// evaluatePolicy applies an IAM policy document to a method ARN: an
// explicit Deny wins, then any Allow; Action and Resource may be a string
// or a list and may use * and ? wildcards.
func evaluatePolicy(doc json.RawMessage, methodARN string) (allowed, denied bool, err error) {
	var p struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		return false, false, fmt.Errorf("policyDocument: %w", err)
	}
	if p.Version == "" {
		return false, false, errors.New("policyDocument: no Version")
	}
	var stmts []map[string]json.RawMessage
	if err := json.Unmarshal(p.Statement, &stmts); err != nil {
		var one map[string]json.RawMessage
		if err2 := json.Unmarshal(p.Statement, &one); err2 != nil {
			return false, false, errors.New("policyDocument: Statement is not an object or a list")
		}
		stmts = []map[string]json.RawMessage{one}
	}
	if len(stmts) == 0 {
		return false, false, errors.New("policyDocument: no Statement")
	}
	for i, s := range stmts {
		var effect string
		if err := json.Unmarshal(s["Effect"], &effect); err != nil || (effect != "Allow" && effect != "Deny") {
			return false, false, fmt.Errorf("statement %d: Effect must be Allow or Deny", i)
		}
		actions, err := stringOrList(s["Action"])
		if err != nil {
			return false, false, fmt.Errorf("statement %d: Action: %w", i, err)
		}
		resources, err := stringOrList(s["Resource"])
		if err != nil {
			return false, false, fmt.Errorf("statement %d: Resource: %w", i, err)
		}
		if !anyMatch(actions, "execute-api:Invoke", true) || !anyMatch(resources, methodARN, false) {
			continue
		}
		if effect == "Deny" {
			denied = true
		} else {
			allowed = true
		}
	}
	return allowed && !denied, denied, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("want a string or a list of strings")
	}
	return list, nil
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p, s = strings.ToLower(p), strings.ToLower(s)
		}
		if wildcard(p, s) {
			return true
		}
	}
	return false
}

// wildcard matches IAM-style patterns: * is any run of characters
// (slashes included), ? is one character.
func wildcard(p, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			starS++
			px, sx = starP+1, starS
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// callAuthorizer and callHTTP run a function like Lambda would: within its
// timeout, and a panic is a function error, never a crash of the gateway.
func callAuthorizer(ctx context.Context, to time.Duration, f lambdas.AuthorizerFunc, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (resp events.APIGatewayCustomAuthorizerResponse, err error) {
	ctx, cancel := withTimeout(ctx, to)
	defer cancel()
	defer recoverInto(&err)
	return f(ctx, req)
}

func callHTTP(ctx context.Context, to time.Duration, f lambdas.HTTPFunc, req events.APIGatewayProxyRequest) (resp events.APIGatewayProxyResponse, err error) {
	ctx, cancel := withTimeout(ctx, to)
	defer cancel()
	defer recoverInto(&err)
	resp, err = f(ctx, req)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return resp, err
}

func withTimeout(ctx context.Context, to time.Duration) (context.Context, context.CancelFunc) {
	if to <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, to)
}

func recoverInto(err *error) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("panic: %v", v)
	}
}

func (g *Gateway) writeProxyResponse(w http.ResponseWriter, st *reqState, function string, resp events.APIGatewayProxyResponse) int {
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		g.log.Error("malformed Lambda proxy response", "function", function, "request_id", st.id, "status", resp.StatusCode)
		return g.gatewayResponseStatus(w, st, "DEFAULT_5XX", http.StatusBadGateway, "Internal server error")
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			g.log.Error("malformed base64 body", "function", function, "request_id", st.id)
			return g.gatewayResponseStatus(w, st, "DEFAULT_5XX", http.StatusBadGateway, "Internal server error")
		}
		body = b
	}
	h := w.Header()
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	// Like API Gateway, a single-value header overrides multi-value ones.
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("X-Amzn-Requestid", st.id)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return resp.StatusCode
}

// Default statuses of API Gateway's response types.
var defaultStatus = map[string]int{
	"ACCESS_DENIED":                  403,
	"API_CONFIGURATION_ERROR":        500,
	"AUTHORIZER_CONFIGURATION_ERROR": 500,
	"AUTHORIZER_FAILURE":             500,
	"BAD_REQUEST_BODY":               400,
	"BAD_REQUEST_PARAMETERS":         400,
	"EXPIRED_TOKEN":                  403,
	"INTEGRATION_FAILURE":            504,
	"INTEGRATION_TIMEOUT":            504,
	"INVALID_API_KEY":                403,
	"MISSING_AUTHENTICATION_TOKEN":   403,
	"QUOTA_EXCEEDED":                 429,
	"REQUEST_TOO_LARGE":              413,
	"RESOURCE_NOT_FOUND":             404,
	"THROTTLED":                      429,
	"UNAUTHORIZED":                   401,
	"UNSUPPORTED_MEDIA_TYPE":         415,
	"DEFAULT_4XX":                    400,
	"DEFAULT_5XX":                    500,
}

func (g *Gateway) gatewayResponse(w http.ResponseWriter, st *reqState, typ, msg string) int {
	return g.gatewayResponseStatus(w, st, typ, 0, msg)
}

// gatewayResponseStatus renders a gateway response of a type from the
// template: its own status, headers and template, falling back to
// DEFAULT_4XX/5XX for what it leaves out, as API Gateway does. status, when
// not 0, is the status of the underlying failure (e.g. 502).
func (g *Gateway) gatewayResponseStatus(w http.ResponseWriter, st *reqState, typ string, status int, msg string) int {
	st.errMsg, st.errType = msg, typ
	if status == 0 {
		status = defaultStatus[typ]
	}
	gr, ok := g.responses[typ]
	if ok && gr.StatusCode != 0 {
		status = gr.StatusCode
	}
	fallback := "DEFAULT_4XX"
	if status >= 500 {
		fallback = "DEFAULT_5XX"
	}
	def := g.responses[fallback]
	if !ok {
		gr = def
	}
	h := w.Header()
	headers := gr.Headers
	if len(headers) == 0 {
		headers = def.Headers
	}
	for k, v := range headers {
		h.Set(k, g.mapHeader(v, st))
	}
	tmpl, ctype := pickTemplate(gr.Templates)
	if tmpl == "" {
		tmpl, ctype = pickTemplate(def.Templates)
	}
	if tmpl == "" {
		tmpl, ctype = `{"message":$context.error.messageString}`, "application/json"
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", ctype)
	}
	body := g.substitute(tmpl, st)
	h.Set("X-Amzn-Requestid", st.id)
	h.Set("X-Amzn-Errortype", typ)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
	return status
}

func pickTemplate(ts map[string]string) (string, string) {
	if t, ok := ts["application/json"]; ok {
		return t, "application/json"
	}
	keys := make([]string, 0, len(ts))
	for k := range ts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		return ts[keys[0]], keys[0]
	}
	return "", ""
}

var contextVar = regexp.MustCompile(`\$(context|stageVariables)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)`)

// substitute replaces $context.* variables the way gateway responses do:
// textually, with no escaping (hence JSON-safe authorizer strings).
func (g *Gateway) substitute(tmpl string, st *reqState) string {
	return contextVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		sub := contextVar.FindStringSubmatch(m)
		if sub[1] == "stageVariables" {
			return ""
		}
		return g.contextValue(strings.TrimPrefix(sub[2], "."), st)
	})
}

func (g *Gateway) contextValue(name string, st *reqState) string {
	if k, ok := strings.CutPrefix(name, "authorizer."); ok {
		return st.authz[k]
	}
	switch name {
	case "requestId", "extendedRequestId":
		return st.id
	case "stage":
		return g.stage
	case "apiId":
		return g.cfg.APIID
	case "accountId":
		return g.cfg.AccountID
	case "httpMethod":
		return st.r.Method
	case "resourcePath":
		return st.resource
	case "path":
		return st.r.URL.Path
	case "domainName":
		return st.r.Host
	case "identity.sourceIp":
		return st.sourceIP
	case "identity.userAgent":
		return st.userAgent
	case "error.message":
		return st.errMsg
	case "error.messageString":
		b, _ := json.Marshal(st.errMsg)
		return string(b)
	case "error.responseType":
		return st.errType
	case "requestTimeEpoch":
		return strconv.FormatInt(st.start.UnixMilli(), 10)
	}
	return ""
}

// mapHeader evaluates a gateway response header mapping: 'literal',
// method.request.header.X, context.X.
func (g *Gateway) mapHeader(expr string, st *reqState) string {
	if len(expr) >= 2 && expr[0] == '\'' && expr[len(expr)-1] == '\'' {
		return expr[1 : len(expr)-1]
	}
	if h, ok := strings.CutPrefix(expr, "method.request.header."); ok {
		return st.r.Header.Get(h)
	}
	if q, ok := strings.CutPrefix(expr, "method.request.querystring."); ok {
		return st.r.URL.Query().Get(q)
	}
	if c, ok := strings.CutPrefix(expr, "context."); ok {
		return g.contextValue(c, st)
	}
	return ""
}

// headerMaps builds API Gateway's two header views: the single-value map
// keeps the last value, as AWS does; both are null when empty.
func headerMaps(h http.Header) (map[string]string, map[string][]string) {
	if len(h) == 0 {
		return nil, nil
	}
	single := make(map[string]string, len(h))
	multi := make(map[string][]string, len(h))
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		single[k] = vs[len(vs)-1]
		multi[k] = append([]string(nil), vs...)
	}
	return single, multi
}

func queryMaps(r *http.Request) (map[string]string, map[string][]string) {
	q := r.URL.Query()
	if len(q) == 0 {
		return nil, nil
	}
	single := make(map[string]string, len(q))
	multi := make(map[string][]string, len(q))
	for k, vs := range q {
		single[k] = vs[len(vs)-1]
		multi[k] = vs
	}
	return single, multi
}

// isText decides whether a body reaches the handler as a string or, like
// API Gateway with binary media types, base64-encoded.
func isText(contentType string, body []byte) bool {
	ct := strings.ToLower(contentType)
	switch {
	case ct == "", strings.HasPrefix(ct, "text/"), strings.Contains(ct, "json"),
		strings.Contains(ct, "xml"), strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		return utf8.Valid(body)
	}
	return false
}

// newUUID returns a random (version 4) UUID, the shape of API Gateway's
// request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var buf bytes.Buffer
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf.WriteByte('-')
		}
		fmt.Fprintf(&buf, "%02x", c)
	}
	return buf.String()
}
