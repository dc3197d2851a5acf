package videos_test

// The chaos harness (`make chaos`): the local stack behind a proxy that
// throttles, fails and loses the answers of a share of DynamoDB, SQS and S3
// calls (devstack.FaultProxy), while ffmpeg is killed mid-render, render
// workers are frozen dead between their upload and their Succeed, every
// fifth invocation hands its message to two workers at once, and render
// messages are sent again at random. It queues renders through the API as
// a client would (retrying 5xx with an Idempotency-Key) and checks what a
// customer is owed: every accepted render ends, every succeeded one has its
// file, each endpoint gets one terminal event per video, and no slot or
// queue place is left held.
//
// make test runs a small version (TestChaos, 8 renders); make chaos runs
// FRAMEGATE_CHAOS_RENDERS (60) and prints the figures.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

// chaosKnobs are the harness's fault rates.
type chaosKnobs struct {
	renders       int
	aws           devstack.FaultConfig
	killFFmpeg    float64 // chance per tick (every 500 ms) of killing one rendering ffmpeg
	killWorker    float64 // chance a worker dies right after its upload
	twoConsumers  float64 // chance an invocation's message goes to two workers at once
	resend        float64 // chance per tick of sending a video's render message again
	leaseSeconds  int
	settleTimeout time.Duration
	// webhookWait is how long to wait for the last webhooks once every
	// render ended: a webhook message the worker failed on returns after
	// the webhook queue's visibility timeout (360 s), so a short wait may
	// leave some pending, which then count as pending, not missing.
	webhookWait time.Duration
}

// invocation marks the AWS calls of one worker invocation, so a worker
// "killed" after its upload can be made to never call AWS again.
type invocation struct{ dead atomic.Bool }

type invocationKey struct{}

// freezer blocks every AWS call of a dead invocation until the harness
// ends, as if its process were gone, then fails it.
type freezer struct {
	next    aws.HTTPClient
	release <-chan struct{}
}

func (f freezer) Do(r *http.Request) (*http.Response, error) {
	if inv, _ := r.Context().Value(invocationKey{}).(*invocation); inv != nil && inv.dead.Load() {
		<-f.release
		return nil, errors.New("the worker is dead")
	}
	return f.next.Do(r)
}

// dyingUploads kills the invocation right after a successful upload, with
// probability p: between the upload and the Succeed.
type dyingUploads struct {
	videos.WorkerObjects
	p       float64
	rng     func() float64
	killed  *atomic.Int64
	release <-chan struct{}
}

func (d dyingUploads) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := d.WorkerObjects.PutObject(ctx, in, o...)
	// The first upload always dies, so every run takes this path.
	if inv, _ := ctx.Value(invocationKey{}).(*invocation); err == nil && inv != nil && (d.killed.Load() == 0 || d.rng() < d.p) {
		inv.dead.Store(true)
		d.killed.Add(1)
		<-d.release
		return nil, errors.New("the worker is dead")
	}
	return out, err
}

// chaosFigures is what a run shows.
type chaosFigures struct {
	accepted, terminal, succeeded, downloadable, failed, cancelled int
	duplicateEvents, missingEvents, pendingEvents, redelivered     int
	leakedSlots, queuePlacesHeld, lostFiles, strays, abandonedKeys int
	unqueued                                                       int
	ffmpegKilled, workersKilled, twoConsumers, resent              int64
	calls, faults                                                  map[string]int
	took                                                           time.Duration
}

func (c chaosFigures) String() string {
	return fmt.Sprintf("chaos: %d renders accepted, %d terminal (%d succeeded with a downloadable file of %d succeeded, %d failed, %d cancelled); "+
		"%d duplicate events, %d missing events (%d pending, %d webhooks redelivered under the same id), %d leaked slots, %d queue places held, %d lost files, "+
		"%d stray videos (%d failed as unqueued after a 5xx, %d idempotency keys given up on); "+
		"injected: %d ffmpeg killed, %d workers killed between upload and Succeed, %d messages given to two workers at once, %d messages sent again, "+
		"AWS calls %v faults %v; %s",
		c.accepted, c.terminal, c.downloadable, c.succeeded, c.failed, c.cancelled,
		c.duplicateEvents, c.missingEvents, c.pendingEvents, c.redelivered, c.leakedSlots, c.queuePlacesHeld, c.lostFiles, c.strays, c.unqueued, c.abandonedKeys,
		c.ffmpegKilled, c.workersKilled, c.twoConsumers, c.resent, c.calls, c.faults, c.took.Round(time.Second))
}

// TestChaos runs the harness: FRAMEGATE_CHAOS_RENDERS renders (8 unless
// set; make chaos sets 60).
func TestChaos(t *testing.T) {
	n, webhookWait := 8, 20*time.Second
	if v := os.Getenv("FRAMEGATE_CHAOS_RENDERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("FRAMEGATE_CHAOS_RENDERS=%q", v)
		}
		webhookWait = 7 * time.Minute
	}
	rates := devstack.FaultRates{Throttle: 0.05, ServerError: 0.05, LostAnswer: 0.03}
	k := chaosKnobs{
		renders: n, aws: devstack.FaultConfig{DynamoDB: rates, SQS: rates, S3: rates, Seed: uint64(time.Now().UnixNano())},
		killFFmpeg: 0.08, killWorker: 0.1, twoConsumers: 0.2, resend: 0.3, leaseSeconds: 4,
		settleTimeout: 2*time.Minute + time.Duration(n)*5*time.Second, webhookWait: webhookWait,
	}
	fig := runChaos(t, k)
	fmt.Println(fig)
	t.Log(fig)
	if fig.terminal != fig.accepted || fig.downloadable != fig.succeeded || fig.lostFiles != 0 || fig.duplicateEvents != 0 ||
		fig.missingEvents != 0 || fig.leakedSlots != 0 || fig.queuePlacesHeld != 0 || fig.strays != 0 {
		t.Errorf("invariants broken: %s", fig)
	}
	if fig.accepted != n {
		t.Errorf("%d of %d renders accepted", fig.accepted, n)
	}
}

func runChaos(t *testing.T, k chaosKnobs) chaosFigures {
	started := time.Now()
	var fig chaosFigures
	proxy, err := devstack.StartFaultProxy(testenv.Endpoint(t), k.aws)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	release := make(chan struct{})
	var once sync.Once
	thaw := func() { once.Do(func() { close(release) }) }

	var rngMu sync.Mutex
	rng := rand.New(rand.NewPCG(k.aws.Seed, 7))
	chance := func() float64 {
		rngMu.Lock()
		defer rngMu.Unlock()
		return rng.Float64()
	}
	var workersKilled, twoConsumers atomic.Int64
	reg := devstack.Registry()
	reg["render-worker"] = lambdas.Function{Env: reg["render-worker"].Env, SQS: func(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
		d.AWS.HTTPClient = freezer{next: d.AWS.HTTPClient, release: release}
		r, err := videos.FFmpegRenderer()
		if err != nil {
			return nil, err
		}
		w, err := videos.OpenWorker(ctx, d, r)
		if err != nil {
			return nil, err
		}
		w.Objects = dyingUploads{WorkerObjects: w.Objects, p: k.killWorker, rng: chance, killed: &workersKilled, release: release}
		return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			consumers := 1
			if chance() < k.twoConsumers {
				consumers = 2
				twoConsumers.Add(1)
			}
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				resp events.SQSEventResponse
			)
			for range consumers {
				wg.Go(func() {
					r, _ := w.Handle(context.WithValue(ctx, invocationKey{}, &invocation{}), ev)
					mu.Lock()
					defer mu.Unlock()
					for _, f := range r.BatchItemFailures {
						if !slices.Contains(resp.BatchItemFailures, f) {
							resp.BatchItemFailures = append(resp.BatchItemFailures, f)
						}
					}
				})
			}
			wg.Wait()
			return resp, nil
		}, nil
	}}
	s := testenv.NewStack(t, testenv.WithRegistry(reg), func(c *devstack.Config) {
		c.Endpoint = proxy.URL
		c.Parameters = map[string]string{"RenderLeaseSeconds": strconv.Itoa(k.leaseSeconds),
			"WebhookAllowLoopback": "true", "WebhookRetrySchedule": "0s,1s,2s,4s"}
	})
	t.Cleanup(thaw) // before the stack closes: it waits for the frozen workers
	const unlimited = 1_000_000
	ws, keys := s.Workspace("Chaos", ratelimit.Plan{KeyRequestsPerMinute: unlimited, WorkspaceRequestsPerMinute: unlimited, QueuedRenders: 1000})
	key := keys[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	receivers := []*testenv.Receiver{testenv.NewReceiver(t, http.StatusNoContent), testenv.NewReceiver(t, http.StatusNoContent)}
	for _, rcv := range receivers {
		c.Expect(c.Do("POST", "/webhooks", key, map[string]any{"url": rcv.URL, "events": []string{"render.succeeded", "render.failed"}}), 201)
	}
	// The harness reads and checks through the emulator directly, never
	// through the faults.
	clean := testenv.AWSConfig(t)
	getenv := s.Getenv("RenderWorkerFunction")
	store, err := videos.NewStore(dynamodb.NewFromConfig(clean), getenv("DATA_TABLE"), getenv("KEYS_TABLE"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	sqsc, objects, bucket, queue := sqs.NewFromConfig(clean), videos.S3Client(clean), getenv("RENDERS_BUCKET"), getenv("RENDER_QUEUE_URL")

	proxy.Enable(true)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var ffmpegKilled, resent atomic.Int64
	var acceptedMu sync.Mutex
	var accepted []string
	bg.Go(func() { // kill ffmpeg now and then
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			// The first ffmpeg seen is always killed, so every run takes
			// this path; later ones at random.
			if pids := ffmpegChildren(t); len(pids) > 0 && (ffmpegKilled.Load() == 0 || chance() < k.killFFmpeg) {
				if syscall.Kill(pids[int(chance()*float64(len(pids)))], syscall.SIGKILL) == nil {
					ffmpegKilled.Add(1)
				}
			}
		}
	})
	bg.Go(func() { // send render messages again, at random
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			acceptedMu.Lock()
			var id string
			if len(accepted) > 0 && chance() < k.resend {
				id = accepted[int(chance()*float64(len(accepted)))]
			}
			acceptedMu.Unlock()
			if id == "" {
				continue
			}
			body, _ := json.Marshal(videos.Message{VideoID: id, Workspace: ws.ID, Environment: string(apikey.Live)})
			if _, err := sqsc.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &queue, MessageBody: aws.String(string(body))}); err == nil {
				resent.Add(1)
			}
		}
	})

	// Queue the renders as a careful client does: retry a 5xx with the
	// same Idempotency-Key, and a 409 "still being processed" for a while,
	// then give up on the key and send again under a new one.
	for i := range k.renders {
		body := gradientSpec("sd", 2, 0.5+float64(i%3)*0.25)
		idem, since := fmt.Sprintf("chaos-%d", i), time.Now()
		for try := 0; ; try++ {
			r := c.DoWith("POST", "/videos", key, body, map[string]string{"Idempotency-Key": idem})
			switch {
			case r.Status == 202:
				acceptedMu.Lock()
				accepted = append(accepted, r.Str("id"))
				acceptedMu.Unlock()
			case r.Status == 409 && r.Str("error", "code") == "conflict" && time.Since(since) > 20*time.Second:
				fig.abandonedKeys++
				idem, since = fmt.Sprintf("chaos-%d-%d", i, try), time.Now()
				continue
			case r.Status >= 500 || r.Status == 409 && r.Str("error", "code") == "conflict":
				if try == 100 {
					t.Fatalf("render %d: %d %s", i, r.Status, r.Raw)
				}
				time.Sleep(200 * time.Millisecond)
				continue
			default:
				t.Fatalf("render %d: %d %s", i, r.Status, r.Raw)
			}
			break
		}
	}
	fig.accepted = len(accepted)

	// Wait for every accepted render to end.
	deadline := time.Now().Add(k.settleTimeout)
	final := map[string]videos.Video{}
	for len(final) < len(accepted) && time.Now().Before(deadline) {
		for _, id := range accepted {
			if _, ok := final[id]; ok {
				continue
			}
			if v, err := store.Get(context.Background(), ws.ID, apikey.Live, id); err == nil && videos.Terminal(v.Status) {
				final[id] = v
			}
		}
		time.Sleep(time.Second)
	}
	close(stop)
	bg.Wait()
	proxy.Enable(false)
	fig.calls, fig.faults = proxy.Stats()
	fig.ffmpegKilled, fig.workersKilled, fig.twoConsumers, fig.resent = ffmpegKilled.Load(), workersKilled.Load(), twoConsumers.Load(), resent.Load()
	fig.terminal = len(final)

	// Dead workers' leases run out; their events and the webhooks settle.
	time.Sleep(time.Duration(k.leaseSeconds+2) * time.Second)
	thaw()
	want := 0
	for _, v := range final {
		if v.Status != videos.Cancelled {
			want++
		}
	}
	settle := time.Now().Add(k.webhookWait)
	for time.Now().Before(settle) {
		done := true
		for _, rcv := range receivers {
			if len(deliveredEvents(t, rcv)) < want {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // stragglers: redeliveries, late duplicates

	for _, id := range accepted {
		v, ok := final[id]
		switch {
		case !ok:
			continue
		case v.Status == videos.Succeeded:
			fig.succeeded++
			obj, err := objects.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &v.S3Key})
			if err != nil || aws.ToInt64(obj.ContentLength) != v.SizeBytes || v.SizeBytes == 0 {
				fig.lostFiles++
				t.Errorf("video %s succeeded without its file %s: %v", id, v.S3Key, err)
				continue
			}
			d := c.Do("GET", "/videos/"+id+"/download", key, nil) // follows the 302 to the file
			if d.Status == 200 && int64(len(d.Raw)) == v.SizeBytes {
				fig.downloadable++
			} else {
				t.Errorf("video %s: download %d, %d of %d bytes", id, d.Status, len(d.Raw), v.SizeBytes)
			}
		case v.Status == videos.Failed:
			fig.failed++
			t.Logf("video %s failed: %+v (attempts %d)", id, v.Error, v.Attempts)
		default:
			fig.cancelled++
		}
	}
	for n, rcv := range receivers {
		byVideo := deliveredEvents(t, rcv)
		for _, id := range accepted {
			v := final[id]
			ids := byVideo[id]
			switch {
			case len(ids) > 1:
				fig.duplicateEvents += len(ids) - 1
				t.Errorf("endpoint %d got %d different events for %s: %v", n, len(ids), id, ids)
			case len(ids) == 0 && (v.Status == videos.Succeeded || v.Status == videos.Failed) && k.webhookWait >= 6*time.Minute:
				fig.missingEvents++
				t.Errorf("endpoint %d got no event for %s (%s) in %v", n, id, v.Status, k.webhookWait)
			case len(ids) == 0 && (v.Status == videos.Succeeded || v.Status == videos.Failed):
				fig.pendingEvents++
				t.Logf("endpoint %d: the event of %s (%s) is still pending after %v", n, id, v.Status, k.webhookWait)
			}
		}
		fig.redelivered += len(rcv.All()) - countEvents(byVideo)
	}
	held, err := store.Holders(context.Background(), ws.ID, apikey.Live)
	if err != nil {
		t.Fatal(err)
	}
	fig.leakedSlots = len(held)
	if fig.queuePlacesHeld, err = store.QueuedCount(context.Background(), ws.ID, apikey.Live); err != nil {
		t.Fatal(err)
	}
	all, _, err := store.List(context.Background(), ws.ID, apikey.Live, videos.Filter{}, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		switch {
		case slices.Contains(accepted, v.ID):
		case v.Status == videos.Failed && v.Error != nil && v.Error.Code == videos.ErrQueueUnavailable:
			// A create answered 5xx whose video could not be queued is
			// kept, failed, as the API documents.
			fig.unqueued++
		default:
			fig.strays++
			t.Errorf("a video nobody was told about: %s %s %+v", v.ID, v.Status, v.Error)
		}
	}
	fig.took = time.Since(started)
	return fig
}

// deliveredEvents maps each video to the distinct event ids an endpoint got.
func deliveredEvents(t *testing.T, rcv *testenv.Receiver) map[string][]string {
	out := map[string][]string{}
	for _, rec := range rcv.All() {
		var ev struct {
			ID   string
			Data struct{ VideoID string }
		}
		if err := json.Unmarshal(rec.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(out[ev.Data.VideoID], ev.ID) {
			out[ev.Data.VideoID] = append(out[ev.Data.VideoID], ev.ID)
		}
	}
	return out
}

func countEvents(m map[string][]string) int {
	n := 0
	for _, ids := range m {
		n += len(ids)
	}
	return n
}
