// Package awsstub is a loopback stand-in for AWS JSON-protocol services
// (DynamoDB, Secrets Manager, …) for benchmarks and cold-start measurements.
//
// It exists because benchmarks of our own CPU cost must not measure the
// emulator: moto answers a few hundred operations a second, so its latency
// would swamp what we are trying to see. The stub answers canned responses
// registered per operation, counts calls exactly, and keeps its own cost low
// (no logging, no per-request JSON work, response headers computed once per
// distinct body) because it runs in the measured loop of benchmarks in the
// same process. It is not an emulator: it does not look at request bodies
// unless a handler does. Product code and integration tests use the emulator.
package awsstub

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// HandlerFunc answers one request to an operation. body is the request body;
// it is only valid during the call. The returned body is sent as is and must
// not be modified afterwards: the stub caches its checksum headers by the
// slice's identity, so returning the same slice every time (as Static does)
// costs nothing per request.
type HandlerFunc func(body []byte) (status int, respBody []byte)

// Stub is an HTTP server on 127.0.0.1 speaking the AWS JSON 1.0/1.1 protocol
// well enough for aws-sdk-go-v2 clients pointed at URL(). Operations are keyed
// by the X-Amz-Target header, e.g. "DynamoDB_20120810.UpdateItem" or
// "secretsmanager.GetSecretValue". It is safe for concurrent use.
type Stub struct {
	srv *http.Server
	url string

	mu     sync.Mutex                        // serialises writers of routes
	routes atomic.Pointer[map[string]*route] // copy on write: readers never lock
	bufs   sync.Pool
}

type route struct {
	target string
	dynamo bool // DynamoDB responses carry X-Amz-Crc32, which the SDK validates
	fn     atomic.Pointer[HandlerFunc]
	calls  atomic.Int64
	last   atomic.Pointer[encoded]
}

// encoded holds the header values derived from one response body.
type encoded struct {
	status int
	body   []byte // identity of the body these headers belong to
	length []string
	crc    []string
}

// Header values shared by every response; net/http only reads them.
var (
	ctJSON10  = []string{"application/x-amz-json-1.0"}
	ctJSON11  = []string{"application/x-amz-json-1.1"}
	requestID = []string{"00000000-0000-4000-8000-000000000000"}
)

// Start listens on 127.0.0.1:0 and serves until Close.
func Start() (*Stub, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Stub{url: "http://" + ln.Addr().String()}
	s.routes.Store(&map[string]*route{})
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the base endpoint to give the SDK (config.WithBaseEndpoint or
// AWS_ENDPOINT_URL), e.g. "http://127.0.0.1:41234".
func (s *Stub) URL() string { return s.url }

// Close stops the server and closes its connections.
func (s *Stub) Close() { _ = s.srv.Close() }

// Handle registers the answer for an operation, replacing any earlier one.
// The call counter of the target is kept.
func (s *Stub) Handle(target string, h HandlerFunc) {
	if h == nil {
		panic("awsstub: nil handler for " + target)
	}
	s.route(target).fn.Store(&h)
}

// Calls reports how many requests reached target since the last ResetCalls,
// whether or not a handler was registered for it.
func (s *Stub) Calls(target string) int64 {
	if r, ok := (*s.routes.Load())[target]; ok {
		return r.calls.Load()
	}
	return 0
}

// CallCounts returns every target called since the last ResetCalls, with its
// count; handy for reporting unexpected operations.
func (s *Stub) CallCounts() map[string]int64 {
	out := make(map[string]int64)
	for t, r := range *s.routes.Load() {
		if n := r.calls.Load(); n > 0 {
			out[t] = n
		}
	}
	return out
}

// ResetCalls sets every counter to zero.
func (s *Stub) ResetCalls() {
	for _, r := range *s.routes.Load() {
		r.calls.Store(0)
	}
}

// route returns the route for target, creating it (with the unknown-operation
// answer) on first use.
func (s *Stub) route(target string) *route {
	if r, ok := (*s.routes.Load())[target]; ok {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.routes.Load()
	if r, ok := old[target]; ok {
		return r
	}
	r := &route{target: target, dynamo: strings.HasPrefix(target, "DynamoDB_")}
	unknown := Static(Error("UnknownOperationException", "awsstub: no handler for operation "+strconv.Quote(target)))
	r.fn.Store(&unknown)
	m := make(map[string]*route, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[target] = r
	s.routes.Store(&m)
	return r
}

// dispatch counts the call and runs the handler. The returned encoded is
// shared and read-only.
func (s *Stub) dispatch(target string, reqBody io.Reader) *encoded {
	r := s.route(target)
	r.calls.Add(1)
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	if reqBody != nil {
		_, _ = buf.ReadFrom(reqBody)
	}
	status, body := (*r.fn.Load())(buf.Bytes())
	s.bufs.Put(buf)
	return r.encode(status, body)
}

func (r *route) encode(status int, body []byte) *encoded {
	if e := r.last.Load(); e != nil && e.status == status && sameSlice(e.body, body) {
		return e
	}
	e := &encoded{status: status, body: body, length: []string{strconv.Itoa(len(body))}}
	if r.dynamo {
		e.crc = []string{strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)}
	}
	r.last.Store(e)
	return e
}

func sameSlice(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

func (s *Stub) serveHTTP(w http.ResponseWriter, req *http.Request) {
	e := s.dispatch(req.Header.Get("X-Amz-Target"), req.Body)
	e.writeHeader(w.Header(), req.Header.Get("Content-Type"))
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}

func (e *encoded) writeHeader(h http.Header, reqContentType string) {
	// Answer in the protocol version the client spoke: DynamoDB is JSON 1.0,
	// most other JSON services 1.1.
	if reqContentType == ctJSON10[0] {
		h["Content-Type"] = ctJSON10
	} else {
		h["Content-Type"] = ctJSON11
	}
	h["Content-Length"] = e.length
	h["X-Amzn-Requestid"] = requestID
	if e.crc != nil {
		h["X-Amz-Crc32"] = e.crc
	}
}

// Transport returns an http.RoundTripper that answers from this stub in
// process, without sockets. Set it on the SDK's HTTP client
// (cfg.HTTPClient = &http.Client{Transport: s.Transport()}) when a benchmark
// must see only SDK and application CPU cost: over loopback, the kernel and
// net/http server work is paid by every call, which narrows ratios between
// a bare SDK call and our code around it. Calls are counted the same way.
func (s *Stub) Transport() http.RoundTripper { return transport{s} }

type transport struct{ s *Stub }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	e := t.s.dispatch(req.Header.Get("X-Amz-Target"), req.Body)
	h := make(http.Header, 4)
	e.writeHeader(h, req.Header.Get("Content-Type"))
	return &http.Response{
		Status:        strconv.Itoa(e.status) + " " + http.StatusText(e.status),
		StatusCode:    e.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(e.body)),
		ContentLength: int64(len(e.body)),
		Request:       req,
	}, nil
}

// Static returns a handler that always gives the same answer; it composes
// with the helpers: s.Handle(t, awsstub.Static(awsstub.JSON(v))).
func Static(status int, body []byte) HandlerFunc {
	return func([]byte) (int, []byte) { return status, body }
}

// JSON is a 200 answer with v encoded as JSON. It panics if v cannot be
// encoded: that is a mistake in the test, not a condition to handle.
func JSON(v any) (int, []byte) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("awsstub: JSON: " + err.Error())
	}
	return http.StatusOK, b
}

// Error is an AWS JSON-protocol error answer, {"__type": typ, "message": msg}.
// The status is 500 for InternalServerError and ServiceUnavailable (which the
// SDK retries as transient) and 400 otherwise.
func Error(typ, msg string) (int, []byte) {
	return errorBody(typ, typ, msg, nil)
}

// DynamoDBError is a DynamoDB error answer the SDK decodes into the matching
// typed error (typ "ConditionalCheckFailedException" gives a
// *types.ConditionalCheckFailedException). The optional item is the one
// DynamoDB returns with ReturnValuesOnConditionCheckFailure: ALL_OLD.
// ProvisionedThroughputExceededException and ThrottlingException are retried
// by the SDK's standard retryer, so each attempt counts as a call.
func DynamoDBError(typ, msg string, item ...map[string]any) (int, []byte) {
	var it map[string]any
	if len(item) > 0 {
		it = item[0]
	}
	return errorBody(typ, "com.amazonaws.dynamodb.v20120810#"+typ, msg, it)
}

func errorBody(typ, wireType, msg string, item map[string]any) (int, []byte) {
	status := http.StatusBadRequest
	switch typ {
	case "InternalServerError", "InternalFailure", "ServiceUnavailable":
		status = http.StatusInternalServerError
	}
	v := struct {
		Type    string         `json:"__type"`
		Message string         `json:"message"`
		Item    map[string]any `json:"Item,omitempty"`
	}{wireType, msg, item}
	_, b := JSON(v)
	return status, b
}

// Attribute values in DynamoDB's wire JSON, for canned Attributes and Item
// maps: awsstub.JSON(map[string]any{"Attributes": map[string]any{
// "pk": awsstub.S("k1"), "count": awsstub.N(3)}}).
type (
	// AttrS is a string attribute.
	AttrS struct {
		S string `json:"S"`
	}
	// AttrN is a number attribute.
	AttrN struct {
		N string `json:"N"`
	}
	// AttrBOOL is a boolean attribute.
	AttrBOOL struct {
		BOOL bool `json:"BOOL"`
	}
	// AttrSS is a string set attribute.
	AttrSS struct {
		SS []string `json:"SS"`
	}
	// AttrM is a map attribute.
	AttrM struct {
		M map[string]any `json:"M"`
	}
	// AttrL is a list attribute.
	AttrL struct {
		L []any `json:"L"`
	}
)

// S is a string attribute value.
func S(v string) AttrS { return AttrS{v} }

// N is a number attribute value.
func N[T int | int64 | uint64 | float64](v T) AttrN {
	switch x := any(v).(type) {
	case int:
		return AttrN{strconv.Itoa(x)}
	case int64:
		return AttrN{strconv.FormatInt(x, 10)}
	case uint64:
		return AttrN{strconv.FormatUint(x, 10)}
	default:
		return AttrN{strconv.FormatFloat(any(v).(float64), 'f', -1, 64)}
	}
}

// BOOL is a boolean attribute value.
func BOOL(v bool) AttrBOOL { return AttrBOOL{v} }

// SS is a string set attribute value.
func SS(v ...string) AttrSS { return AttrSS{v} }

// M is a map attribute value.
func M(v map[string]any) AttrM { return AttrM{v} }

// L is a list attribute value.
func L(v ...any) AttrL { return AttrL{v} }
