package webhooks_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/samtemplate"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/webhooks"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness is a worker on the emulator with its queues and a publisher.
type harness struct {
	t    testing.TB
	w    *webhooks.Worker
	st   *webhooks.Store
	pub  webhooks.Publisher
	sqs  *sqs.Client
	env  func(string) string
	ws   string
	tenv *testenv.Env
}

type config struct {
	schedule      string
	allowLoopback bool
	resolver      mapResolver
	// dial replaces the network behind the guard (egress.Guard.Dial).
	dial         func(ctx context.Context, network, addr string) (net.Conn, error)
	now          func() time.Time
	failingLimit time.Duration
	// wrap, if set, wraps every AWS call of the worker, the publisher and
	// the SQS loop (the benchmark counts SQS requests with it).
	wrap func(aws.HTTPClient) aws.HTTPClient
}

func newHarness(t testing.TB, c config) *harness {
	t.Helper()
	env := testenv.New(t)
	if c.wrap != nil {
		env.AWS.HTTPClient = c.wrap(env.AWS.HTTPClient)
	}
	d := env.Deps("WebhookWorkerFunction", c.now)
	base := d.Getenv
	d.Getenv = func(k string) string {
		switch k {
		case webhooks.EnvSchedule:
			return c.schedule
		case webhooks.EnvAllowLoopback:
			if c.allowLoopback {
				return "true"
			}
			return "false"
		}
		return base(k)
	}
	o := webhooks.Options{FailingLimit: c.failingLimit, Dial: c.dial}
	if c.resolver != nil {
		o.Resolver = c.resolver
	}
	w, err := webhooks.OpenWorker(context.Background(), d, o)
	if err != nil {
		t.Fatal(err)
	}
	client := sqs.NewFromConfig(env.AWS)
	return &harness{t: t, w: w, st: w.Store, sqs: client, env: d.Getenv, ws: "ws_" + env.Prefix, tenv: env,
		pub: webhooks.Publisher{SQS: client, EventsQueueURL: env.Resources.ByID["EventsQueue"].URL, WebhookQueueURL: d.Getenv(webhooks.EnvQueue),
			Links: w.Links}}
}

// run drives the worker from its queue like Lambda's event source mapping,
// until the test ends.
func (h *harness) run(handler lambdas.SQSFunc) {
	h.t.Helper()
	if handler == nil {
		handler = h.w.Handle
	}
	ctx, cancel := context.WithCancel(context.Background())
	loop := &devstack.SQSLoop{Function: "WebhookWorkerFunction", QueueURL: h.pub.WebhookQueueURL, Region: devstack.Region,
		Event:   samtemplate.SQSEvent{EventName: "Deliver", BatchSize: 10, ReportBatchItemFailures: true},
		Handler: handler, Timeout: time.Minute, SQS: h.sqs, Logger: testenv.Logger(h.t)}
	done := make(chan struct{})
	go func() { defer close(done); _ = loop.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

// receive takes the messages waiting on the webhook queue, as Lambda
// would hand them to the worker, without deleting them.
func (h *harness) receive() events.SQSEvent {
	h.t.Helper()
	out, err := h.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(h.pub.WebhookQueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
		MessageAttributeNames: []string{"All"}, VisibilityTimeout: 1,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	var ev events.SQSEvent
	for _, m := range out.Messages {
		ev.Records = append(ev.Records, devstack.Record(m, "", devstack.Region))
	}
	return ev
}

func (h *harness) publish(typ string, data any, route webhooks.Route) webhooks.Event {
	h.t.Helper()
	ev, err := webhooks.NewEvent(typ, data, time.Now(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publishEvent(ev, route)
	return ev
}

func (h *harness) publishEvent(ev webhooks.Event, route webhooks.Route) {
	h.t.Helper()
	if route.Workspace == "" {
		route.Workspace = h.ws
	}
	if route.Environment == "" {
		route.Environment = "live"
	}
	if err := h.pub.Publish(context.Background(), ev, route); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) endpoint(url string, events ...string) (webhooks.Endpoint, string) {
	h.t.Helper()
	if len(events) == 0 {
		events = []string{webhooks.Wildcard}
	}
	return h.create("live", webhooks.NewEndpoint{URL: url, Events: events})
}

// create stores an endpoint of env as the API would after validation.
func (h *harness) create(env string, ne webhooks.NewEndpoint) (webhooks.Endpoint, string) {
	h.t.Helper()
	if ne.Events == nil {
		ne.Events = []string{webhooks.Wildcard}
	}
	e, secret, err := h.st.CreateEndpoint(context.Background(), h.ws, env, ne, h.tenv.Operator(h.ws))
	if err != nil {
		h.t.Fatal(err)
	}
	return e, secret
}

// waitDelivery polls the log until the endpoint's only delivery satisfies ok.
func (h *harness) waitDelivery(ep string, timeout time.Duration, ok func(webhooks.Delivery) bool) webhooks.Delivery {
	h.t.Helper()
	ds := h.waitDeliveries("live", ep, 1, timeout, ok)
	return ds[0]
}

// waitDeliveries polls the log of an endpoint of env until it holds n
// deliveries, all satisfying ok, and returns them oldest first.
func (h *harness) waitDeliveries(env, ep string, n int, timeout time.Duration, ok func(webhooks.Delivery) bool) []webhooks.Delivery {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	var last []webhooks.Delivery
	for time.Now().Before(deadline) {
		ds, _, err := h.st.ListDeliveries(context.Background(), h.ws, env, ep, "", 50)
		if err != nil {
			h.t.Fatal(err)
		}
		last = ds
		if len(ds) == n && !slices.ContainsFunc(ds, func(d webhooks.Delivery) bool { return !ok(d) }) {
			slices.Reverse(ds)
			return ds
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("deliveries of %s not as expected within %s; log: %+v", ep, timeout, last)
	return nil
}

// recv takes the messages waiting on a queue (the worker's own queues, or
// a customer's through sqsc), deleting them.
func recv(t testing.TB, sqsc *sqs.Client, queueURL string, want int, timeout time.Duration) []sqstypes.Message {
	t.Helper()
	var out []sqstypes.Message
	deadline := time.Now().Add(timeout)
	for len(out) < want && time.Now().Before(deadline) {
		r, err := sqsc.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			out = append(out, m)
			_, _ = sqsc.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
	return out
}

// receiver is a loopback webhook receiver answering with a script of
// statuses (the last repeats).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	script  []response
	arrived chan received
	hits    atomic.Int32
}

type response struct {
	status  int
	headers map[string]string
	body    string
}

type received struct {
	at     time.Time
	path   string
	header http.Header
	body   []byte
}

func newReceiver(t testing.TB, script ...response) *receiver {
	t.Helper()
	if len(script) == 0 {
		script = []response{{status: 200, body: "ok"}}
	}
	r := &receiver{script: script, arrived: make(chan received, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rec := received{at: time.Now(), path: req.URL.Path, header: req.Header.Clone(), body: body}
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, rec)
		resp := r.script[min(n, len(r.script)-1)]
		r.mu.Unlock()
		r.hits.Add(1)
		for k, v := range resp.headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.status)
		_, _ = io.WriteString(w, resp.body)
		r.arrived <- rec
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) wait(t testing.TB, timeout time.Duration) received {
	t.Helper()
	select {
	case rec := <-r.arrived:
		return rec
	case <-time.After(timeout):
		t.Fatalf("no webhook within %s", timeout)
	}
	return received{}
}

// mapResolver is DNS for tests: no test ever asks real DNS.
type mapResolver map[string][]net.IPAddr

func (m mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func eventOf(r events.SQSMessage) events.SQSEvent {
	return events.SQSEvent{Records: []events.SQSMessage{r}}
}
