package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/framegate/framegate/pkg/testenv"
)

// isolateTransactions points this test's stack at a loopback proxy in front
// of the emulator that runs each DynamoDB TransactWriteItems alone.
//
// moto_server serves requests on threads with no lock, and cancels a
// transaction by putting back a deep copy of every table it touches, taken
// when the transaction started: every write another request made to those
// tables in the meantime is silently undone. Under concurrent POST /v1/keys
// this loses the active-key count of transactions that succeeded (the cap is
// overshot) and even the records of keys already returned with 201. DynamoDB
// isolates transactions; with this proxy the emulator does too, so the tests
// check our code, not moto's rollback. Other DynamoDB calls still run
// concurrently with each other.
func isolateTransactions(t *testing.T) {
	t.Helper()
	target := testenv.Endpoint(t)
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var mu sync.RWMutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		switch {
		case strings.HasPrefix(op, "DynamoDB_") && strings.HasSuffix(op, ".TransactWriteItems"):
			mu.Lock()
			defer mu.Unlock()
		case strings.HasPrefix(op, "DynamoDB_"):
			mu.RLock()
			defer mu.RUnlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv(testenv.EndpointEnv, srv.URL)
}
