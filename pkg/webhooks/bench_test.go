package webhooks_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/framegate/framegate/pkg/webhooks"
)

// sqsCounter counts SQS requests by action (X-Amz-Target AmazonSQS.<Action>).
type sqsCounter struct {
	next aws.HTTPClient
	mu   sync.Mutex
	n    map[string]int
}

func (c *sqsCounter) Do(r *http.Request) (*http.Response, error) {
	if a, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS."); ok {
		c.mu.Lock()
		c.n[a]++
		c.mu.Unlock()
	}
	return c.next.Do(r)
}

func (c *sqsCounter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}

// BenchmarkWebhookLatency measures, on the emulator, the time from an
// event being published (event.Publisher, as the render worker does when a
// render finishes) to its webhook arriving at a loopback receiver, driven
// by the same SQS loop as the local stack (long poll, batches of 10), and
// the SQS requests spent per delivered webhook: the publisher's two sends,
// the event source's receives (idle long polls included) and deletes.
// Events go one at a time so each latency is unqueued. Run with
// -benchtime 1x: every iteration sends 50 events.
func BenchmarkWebhookLatency(b *testing.B) {
	const events = 50
	counter := &sqsCounter{n: map[string]int{}}
	h := newHarness(b, config{allowLoopback: true, wrap: func(c aws.HTTPClient) aws.HTTPClient { counter.next = c; return counter }})
	rcv := newReceiver(b)
	h.endpoint(rcv.URL, webhooks.RenderSucceeded)
	h.run(nil)
	// Warm up: connections, the first receive, the worker's first store calls.
	h.publish(webhooks.RenderSucceeded, map[string]any{"videoId": "warmup"}, webhooks.Route{})
	rcv.wait(b, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	counter.reset()

	b.ResetTimer()
	var lat []time.Duration
	for range b.N {
		for i := range events {
			start := time.Now()
			h.publish(webhooks.RenderSucceeded, map[string]any{"videoId": "vid", "n": i}, webhooks.Route{})
			got := rcv.wait(b, 10*time.Second)
			lat = append(lat, got.at.Sub(start))
		}
	}
	b.StopTimer()
	time.Sleep(300 * time.Millisecond) // the last batch's delete
	calls := counter.reset()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	total := 0
	for _, n := range calls {
		total += n
	}
	delivered := float64(len(lat))
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(total)/delivered, "sqs-req/webhook")
	b.ReportMetric(float64(calls["SendMessage"])/delivered, "sqs-send/webhook")
	b.ReportMetric(float64(calls["ReceiveMessage"])/delivered, "sqs-receive/webhook")
	b.ReportMetric(float64(calls["DeleteMessageBatch"])/delivered, "sqs-delete/webhook")
	b.ReportMetric(0, "ns/op")
}
