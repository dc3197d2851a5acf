package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Received is one request a Receiver got.
type Received struct {
	Header http.Header
	Body   []byte
}

// Receiver is a loopback webhook endpoint that answers with a fixed status
// and records what arrives, for tests of deliveries.
type Receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []Received
	ch  chan Received
}

// NewReceiver starts a Receiver answering status, closed when the test ends.
func NewReceiver(t testing.TB, status int) *Receiver {
	h := &Receiver{ch: make(chan Received, 50)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := Received{Header: r.Header.Clone(), Body: b}
		h.mu.Lock()
		h.got = append(h.got, rec)
		h.mu.Unlock()
		w.WriteHeader(status)
		select { // Wait sees the first ones; All sees everything
		case h.ch <- rec:
		default:
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// Count is how many requests arrived so far.
func (h *Receiver) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

// All is every request that arrived so far.
func (h *Receiver) All() []Received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Received(nil), h.got...)
}

// Wait returns the next request, failing the test after 15 s without one.
func (h *Receiver) Wait(t testing.TB) Received {
	t.Helper()
	return h.WaitFor(t, 15*time.Second)
}

// WaitFor returns the next request, failing the test after timeout
// without one.
func (h *Receiver) WaitFor(t testing.TB, timeout time.Duration) Received {
	t.Helper()
	select {
	case r := <-h.ch:
		return r
	case <-time.After(timeout):
		t.Fatalf("no webhook arrived within %s", timeout)
	}
	return Received{}
}
