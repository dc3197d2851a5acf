package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Meter is a loopback proxy between the local stack's functions and the
// emulator that records every DynamoDB call by the gateway request that
// made it, and can hold each one for a fixed delay, the way a table far
// away would. It is how the round trips of a route are counted: the
// gateway tags the context of every request it serves, the functions'
// HTTP clients copy the tag into a header (Traced), and the meter files the
// call under it. Calls without a tag (workers, provisioning) pass through,
// delayed alike but not filed.
type Meter struct {
	URL   string
	delay time.Duration
	srv   *http.Server

	mu    sync.Mutex
	calls map[string][]Call
	order []string // request ids, oldest first, to bound memory
}

// Call is one DynamoDB call as the meter saw it: an SDK operation, from
// its first attempt's start to its last attempt's end (a retried call is
// still one round trip in the code's sequence, only a slower one).
type Call struct {
	Op         string // "UpdateItem", "Query", …
	Table      string // the table named at the top of the request, if any
	Index      string // the index a Query or Scan reads, if any
	Start, End time.Time
	Attempts   int
	invocation string // the SDK's amz-sdk-invocation-id, shared by the attempts
}

// RequestHeader carries the gateway's request id on every AWS call a
// function makes while serving that request (local stack only).
const RequestHeader = "X-Framegate-Request-Id"

// meterKeep bounds how many requests' calls the meter remembers.
const meterKeep = 4096

// StartMeter proxies target (the emulator's URL), holding every DynamoDB
// call for delay before forwarding it.
func StartMeter(target string, delay time.Duration) (*Meter, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("meter target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("meter listen: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	m := &Meter{URL: "http://" + ln.Addr().String(), delay: delay, calls: map[string][]Call{}}
	m.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, isDynamo := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_")
		if !isDynamo {
			proxy.ServeHTTP(w, r)
			return
		}
		_, op, _ = strings.Cut(op, ".")
		start := time.Now()
		var target struct{ TableName, IndexName string }
		if body, err := io.ReadAll(r.Body); err == nil {
			_ = json.Unmarshal(body, &target)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if m.delay > 0 {
			select {
			case <-time.After(m.delay):
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
		if id := r.Header.Get(RequestHeader); id != "" {
			m.record(id, Call{Op: op, Table: target.TableName, Index: target.IndexName, Start: start, End: time.Now(),
				Attempts: 1, invocation: r.Header.Get("Amz-Sdk-Invocation-Id")})
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

func (m *Meter) record(id string, c Call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	calls, seen := m.calls[id]
	if !seen {
		m.order = append(m.order, id)
		if len(m.order) > meterKeep {
			delete(m.calls, m.order[0])
			m.order = m.order[1:]
		}
	}
	for i, prev := range calls {
		if c.invocation != "" && prev.invocation == c.invocation { // a retry
			calls[i].End, calls[i].Attempts = c.End, prev.Attempts+1
			return
		}
	}
	m.calls[id] = append(calls, c)
}

// Calls are the DynamoDB calls made while serving the gateway request id
// (the X-Amzn-Requestid of its response), in the order they ended.
func (m *Meter) Calls(id string) []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls[id])
}

// Delay is how long the meter holds each DynamoDB call.
func (m *Meter) Delay() time.Duration { return m.delay }

// Close stops the proxy.
func (m *Meter) Close() { _ = m.srv.Close() }

// AuthorizerCalls, appended to a request id, files the calls of the
// request's authorizer apart from its handler's.
const AuthorizerCalls = "/authorizer"

// Usage is what one gateway request cost in DynamoDB calls.
type Usage struct {
	Authorizer, Handler []Call
}

// Usage returns the calls of gateway request id (the X-Amzn-Requestid of
// its response), the authorizer's and the handler's.
func (m *Meter) Usage(id string) Usage {
	return Usage{Authorizer: m.Calls(id + AuthorizerCalls), Handler: m.Calls(id)}
}

// Calls counts every call of the request.
func (u Usage) Calls() int { return len(u.Authorizer) + len(u.Handler) }

// RoundTrips counts the request's sequential round trips: the authorizer
// runs before the handler, so theirs add up.
func (u Usage) RoundTrips() int { return RoundTrips(u.Authorizer) + RoundTrips(u.Handler) }

// Writes counts the calls of calls that write.
func Writes(calls []Call) int {
	n := 0
	for _, c := range calls {
		switch c.Op {
		case "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem":
			n++
		}
	}
	return n
}

// RoundTrips is how many of calls ran one after another: the longest chain
// of calls each of which started after the one before it had ended. Calls
// made in parallel overlap, so they count once.
func RoundTrips(calls []Call) int {
	cs := slices.Clone(calls)
	slices.SortFunc(cs, func(a, b Call) int { return a.Start.Compare(b.Start) })
	chain := make([]int, len(cs))
	best := 0
	for i, c := range cs {
		chain[i] = 1
		for j := range i {
			if !cs[j].End.After(c.Start) && chain[j]+1 > chain[i] {
				chain[i] = chain[j] + 1
			}
		}
		best = max(best, chain[i])
	}
	return best
}

type requestKey struct{}

// WithRequest tags ctx with the gateway request it serves.
func WithRequest(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestKey{}, id)
}

// Traced wraps an AWS HTTP client so that every call made under a tagged
// context carries the tag to the meter.
func Traced(c aws.HTTPClient) aws.HTTPClient { return tracedClient{c} }

type tracedClient struct{ next aws.HTTPClient }

func (c tracedClient) Do(r *http.Request) (*http.Response, error) {
	if id, ok := r.Context().Value(requestKey{}).(string); ok {
		r.Header.Set(RequestHeader, id)
	}
	return c.next.Do(r)
}
