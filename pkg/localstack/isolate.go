package localstack

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// transactionIsolator is a loopback proxy in front of moto that runs each
// DynamoDB write (transactions included) alone, as DynamoDB's per-item
// atomicity and transaction isolation would.
//
// moto_server serves requests on threads with no lock, and cancels a
// transaction by putting back a deep copy of every table it touches, taken
// when the transaction started (moto 5.2, dynamodb/models transact_write_items):
// every write another request made to those tables meanwhile is silently
// undone. Under concurrent key creation that loses the active-key count of
// transactions that succeeded, and even records of keys already returned
// with 201. DynamoDB isolates transactions; with this proxy the emulator does
// too, so the local stack and the tests exercise our code, not moto's
// rollback. Other calls still run concurrently with each other.
type transactionIsolator struct {
	srv *http.Server
	ln  net.Listener
	URL string
}

func startIsolator(target string) (*transactionIsolator, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("isolator target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("isolator listen: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	// A client that gives up (a long poll at shutdown) is not worth a log line.
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	var mu sync.RWMutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		switch {
		case strings.HasPrefix(op, "DynamoDB_") && isWrite(op[strings.IndexByte(op, '.')+1:]):
			mu.Lock()
			defer mu.Unlock()
		case strings.HasPrefix(op, "DynamoDB_"):
			mu.RLock()
			defer mu.RUnlock()
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	return &transactionIsolator{srv: srv, ln: ln, URL: "http://" + ln.Addr().String()}, nil
}

// isWrite reports the DynamoDB operations that change items. moto checks a
// write's condition and applies it without a lock, so two concurrent
// conditional writes (or ADDs) to one item can both pass or lose an update;
// DynamoDB makes each atomic, so the proxy runs them one at a time.
func isWrite(op string) bool {
	switch op {
	case "TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem":
		return true
	}
	return false
}

func (t *transactionIsolator) Close() { _ = t.srv.Close() }
