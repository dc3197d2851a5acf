package devstack

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
)

// FaultProxy is a loopback proxy in front of the emulator that fails a
// share of DynamoDB, SQS and S3 calls the ways AWS does: throttled (the
// request never ran), a server error (it never ran either), or a lost
// answer (it ran, and the caller was told it failed, as when a connection
// drops). The SDK retries the first two, so most surface as latency and
// some, after its last attempt, as errors; a lost answer on a
// non-idempotent call turns into a duplicate (a message sent twice) or a
// conditional write failing on its own earlier success. `make chaos` runs
// the local stack behind one (pkg/videos, TestChaos).
//
// ReceiveMessage never loses its answer here: the messages it took would
// stay invisible for the queue's whole visibility timeout, which would
// only make the run longer (on AWS that is what happens).
type FaultProxy struct {
	URL string

	srv  *http.Server
	mu   sync.Mutex
	on   bool
	cfg  FaultConfig
	rng  *rand.Rand
	hits map[string]int // "service fault" → count
	seen map[string]int // service → calls while on
}

// FaultRates are the shares of one service's calls that fail, each way.
type FaultRates struct {
	Throttle, ServerError, LostAnswer float64
}

// FaultConfig sets the rates per service and the seed.
type FaultConfig struct {
	DynamoDB, SQS, S3 FaultRates
	Seed              uint64
}

// StartFaultProxy listens on a free loopback port and forwards to target;
// it injects nothing until Enable.
func StartFaultProxy(target string, cfg FaultConfig) (*FaultProxy, error) {
	ln, proxy, err := loopbackProxy("fault proxy", target)
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{URL: "http://" + ln.Addr().String(), cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		hits: map[string]int{}, seen: map[string]int{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service, op := classify(r)
		switch p.decide(service, op) {
		case "throttle":
			writeFault(w, service, true)
		case "error":
			writeFault(w, service, false)
		case "lost":
			proxy.ServeHTTP(discard{}, r) // it runs; the answer is lost
			writeFault(w, service, false)
		default:
			proxy.ServeHTTP(w, r)
		}
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Enable turns injection on or off.
func (p *FaultProxy) Enable(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on = on
}

// Stats returns the calls seen while enabled per service, and the faults
// injected, keyed "service fault".
func (p *FaultProxy) Stats() (calls, faults map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	calls, faults = map[string]int{}, map[string]int{}
	for k, v := range p.seen {
		calls[k] = v
	}
	for k, v := range p.hits {
		faults[k] = v
	}
	return calls, faults
}

// Close stops the proxy.
func (p *FaultProxy) Close() { _ = p.srv.Close() }

func (p *FaultProxy) decide(service, op string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.on || service == "" {
		return ""
	}
	var r FaultRates
	switch service {
	case "dynamodb":
		r = p.cfg.DynamoDB
	case "sqs":
		r = p.cfg.SQS
	case "s3":
		r = p.cfg.S3
	}
	p.seen[service]++
	x := p.rng.Float64()
	fault := ""
	switch {
	case x < r.Throttle:
		fault = "throttle"
	case x < r.Throttle+r.ServerError:
		fault = "error"
	case x < r.Throttle+r.ServerError+r.LostAnswer && op != "ReceiveMessage":
		fault = "lost"
	}
	if fault != "" {
		p.hits[service+" "+fault]++
	}
	return fault
}

// classify names the service and operation of a request to the emulator:
// DynamoDB and SQS (JSON protocol) by X-Amz-Target, S3 by elimination.
// Secrets Manager and the emulator's own API are never faulted.
func classify(r *http.Request) (service, op string) {
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "DynamoDB_"):
		_, op, _ = strings.Cut(target, ".")
		return "dynamodb", op
	case strings.HasPrefix(target, "AmazonSQS."):
		return "sqs", strings.TrimPrefix(target, "AmazonSQS.")
	case target != "" || strings.HasPrefix(r.URL.Path, "/moto-api"):
		return "", ""
	}
	return "s3", r.Method
}

// writeFault answers as the service does when it throttles or fails.
func writeFault(w http.ResponseWriter, service string, throttle bool) {
	switch service {
	case "s3":
		code, status := "InternalError", http.StatusInternalServerError
		if throttle {
			code, status = "SlowDown", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, code)
	default:
		typ, status := "InternalServerError", http.StatusInternalServerError
		ns := "com.amazonaws.dynamodb.v20120810#"
		if service == "sqs" {
			ns, typ = "com.amazonaws.sqs#", "InternalError"
		}
		if throttle {
			typ, status = "ThrottlingException", http.StatusBadRequest
			if service == "sqs" {
				typ = "RequestThrottled"
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if service == "sqs" {
			w.Header().Set("x-amzn-query-error", typ+";Sender")
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":"%s%s","message":"injected"}`, ns, typ)
	}
}

// discard is a ResponseWriter that drops the answer.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
