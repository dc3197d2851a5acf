package devstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// transactionIsolator is a loopback proxy in front of moto that gives
// DynamoDB writes the atomicity DynamoDB guarantees and moto lacks:
//
//   - moto checks a write's condition and applies it without a lock, so two
//     concurrent conditional writes (or ADDs) to one item can both pass or
//     lose an update. The proxy runs writes to the same item one at a time
//     (striped locks by table and key); writes to different items still run
//     concurrently.
//   - moto cancels a transaction by putting back a deep copy of every table
//     it touches, taken when the transaction started (moto 5.2), silently
//     undoing every write other requests made meanwhile. The proxy runs each
//     TransactWriteItems alone.
//
// With it the local stack and the tests exercise our code, not moto's races.
type transactionIsolator struct {
	srv *http.Server
	ln  net.Listener
	URL string
}

const stripes = 256

// loopbackProxy listens on a free loopback port for a proxy to target.
func loopbackProxy(what, target string) (net.Listener, *httputil.ReverseProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, nil, fmt.Errorf("%s target %q: %w", what, target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("%s listen: %w", what, err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	// A client that gives up (a long poll at shutdown) is not worth a log line.
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	return ln, proxy, nil
}

func startIsolator(target string) (*transactionIsolator, error) {
	ln, proxy, err := loopbackProxy("isolator", target)
	if err != nil {
		return nil, err
	}
	var tx sync.RWMutex
	var items [stripes]sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_")
		if ok {
			_, op, _ = strings.Cut(op, ".")
			switch op {
			case "TransactWriteItems", "BatchWriteItem":
				tx.Lock()
				defer tx.Unlock()
			case "UpdateItem", "PutItem", "DeleteItem":
				tx.RLock()
				defer tx.RUnlock()
				body, err := io.ReadAll(r.Body)
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				mu := &items[itemStripe(body)]
				mu.Lock()
				defer mu.Unlock()
			default:
				tx.RLock()
				defer tx.RUnlock()
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	return &transactionIsolator{srv: srv, ln: ln, URL: "http://" + ln.Addr().String()}, nil
}

// itemStripe hashes a single-item write's table and key. Put requests carry
// the whole item, not a key; they hash by table alone, which only costs
// concurrency.
func itemStripe(body []byte) int {
	var req struct {
		TableName string
		Key       map[string]map[string]any
	}
	_ = json.Unmarshal(body, &req)
	h := fnv.New32a()
	h.Write([]byte(req.TableName))
	if req.Key != nil {
		canonical, _ := json.Marshal(req.Key) // encoding/json sorts map keys
		h.Write(canonical)
	}
	return int(h.Sum32() % stripes)
}

func (t *transactionIsolator) Close() { _ = t.srv.Close() }
