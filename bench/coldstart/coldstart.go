package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/framegate/framegate/bench/awsstub"
)

const (
	helloPkg   = "github.com/framegate/framegate/bench/coldstart/hello"
	nextPath   = "/2018-06-01/runtime/invocation/next"
	initErrURL = "/2018-06-01/runtime/init/error"

	targetUpdateItem = "DynamoDB_20120810.UpdateItem"
	targetGetSecret  = "secretsmanager.GetSecretValue"

	// Targets from issue 3.
	maxRatio     = 1.5
	maxSizeBytes = 15_000_000 // 15 MB, decimal: the stricter reading
)

// Config is one measurement.
type Config struct {
	Fn       string        // package of the function to measure, as go build takes it
	Baseline string        // package of the baseline; empty means the hello-world function
	Floor    string        // package linking what Fn links with no init work; empty for none
	N        int           // measured runs of each binary
	Warmup   int           // discarded runs of each binary before measuring
	Timeout  time.Duration // per run, from exec to the first poll
	Arm64    bool          // also cross-compile for linux/arm64 to report the deployed size
	Env      []string      // extra KEY=VALUE for both binaries
	Log      io.Writer     // progress; nil for none
	// InitTrace runs each binary once more with GODEBUG=inittrace=1 to show
	// where package initialisation time goes.
	InitTrace bool
}

// Report is what Run measured. Durations are in milliseconds.
type Report struct {
	Host        string  `json:"host"`   // GOOS/GOARCH the binaries ran on
	Deploy      string  `json:"deploy"` // what Lambda runs
	N           int     `json:"n"`
	Warmup      int     `json:"warmup"`
	Baseline    Binary  `json:"baseline"`
	Function    Binary  `json:"function"`
	RatioMedian float64 `json:"ratioMedian"` // function median / baseline median
	// Floor, when measured, links the function's packages and does no init
	// work; FloorRatio is its median over the baseline's.
	Floor      *Binary  `json:"floor,omitempty"`
	FloorRatio float64  `json:"floorRatio,omitempty"`
	MaxRatio   float64  `json:"maxRatio"`
	MaxSize    int64    `json:"maxSizeBytes"`
	Notes      []string `json:"notes,omitempty"`
}

// Binary is one side of the comparison.
type Binary struct {
	Package   string    `json:"package"`
	SizeHost  int64     `json:"sizeHostBytes"`
	SizeArm64 int64     `json:"sizeArm64Bytes,omitempty"`
	MedianMS  float64   `json:"medianMs"`
	P90MS     float64   `json:"p90Ms"`
	MinMS     float64   `json:"minMs"`
	SamplesMS []float64 `json:"samplesMs"`
	// PrimedRuns counts runs in which a DynamoDB UpdateItem reached the stub
	// before the first poll.
	PrimedRuns int `json:"primedRuns"`
	// CallsBeforePoll are the AWS calls made before the first poll, in the
	// first measured run.
	CallsBeforePoll map[string]int64 `json:"callsBeforePoll"`
	// InitMS is the package initialisation time GODEBUG=inittrace reports,
	// summed, and TopInits its largest entries.
	InitMS   float64   `json:"initMs,omitempty"`
	TopInits []PkgInit `json:"topInits,omitempty"`
}

// PkgInit is one package's init cost from GODEBUG=inittrace=1.
type PkgInit struct {
	Package string  `json:"package"`
	MS      float64 `json:"ms"`
	Allocs  int64   `json:"allocs"`
}

// RatioOK and SizeOK judge the report against issue 3's targets.
func (r *Report) RatioOK() bool { return r.RatioMedian <= r.MaxRatio }

// SizeOK is judged on the deployed (arm64) size when it was built.
func (r *Report) SizeOK() bool {
	size := r.Function.SizeArm64
	if size == 0 {
		size = r.Function.SizeHost
	}
	return size <= r.MaxSize
}

// Run builds both binaries and measures them alternately.
func Run(ctx context.Context, c Config) (*Report, error) {
	if c.Fn == "" {
		return nil, errors.New("no function package")
	}
	if c.Baseline == "" {
		c.Baseline = helloPkg
	}
	if c.N < 1 {
		c.N = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	logf := func(format string, args ...any) {
		if c.Log != nil {
			fmt.Fprintf(c.Log, format+"\n", args...)
		}
	}

	dir, err := os.MkdirTemp("", "coldstart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	r := &Report{
		Host: runtime.GOOS + "/" + runtime.GOARCH, Deploy: "linux/arm64",
		N: c.N, Warmup: c.Warmup, MaxRatio: maxRatio, MaxSize: maxSizeBytes,
		Baseline: Binary{Package: c.Baseline}, Function: Binary{Package: c.Fn},
	}
	sides := []*Binary{&r.Baseline, &r.Function}
	if c.Floor != "" {
		r.Floor = &Binary{Package: c.Floor}
		sides = append(sides, r.Floor)
	}
	bins := make([]string, len(sides))
	for i, b := range sides {
		logf("building %s", b.Package)
		bins[i] = filepath.Join(dir, fmt.Sprintf("bin%d-%s", i, runtime.GOARCH))
		if b.SizeHost, err = build(ctx, b.Package, bins[i], runtime.GOOS, runtime.GOARCH); err != nil {
			return nil, err
		}
		if c.Arm64 {
			if b.SizeArm64, err = build(ctx, b.Package, filepath.Join(dir, fmt.Sprintf("bin%d-arm64", i)), "linux", "arm64"); err != nil {
				return nil, err
			}
		}
	}

	h, err := newHarness(c)
	if err != nil {
		return nil, err
	}
	defer h.close()

	// Alternate the binaries so that machine noise hits all alike.
	for run := range c.Warmup + c.N {
		for i, b := range sides {
			d, calls, err := h.once(ctx, bins[i])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Package, err)
			}
			if run < c.Warmup {
				continue
			}
			b.SamplesMS = append(b.SamplesMS, ms(d))
			if calls[targetUpdateItem] > 0 {
				b.PrimedRuns++
			}
			if b.CallsBeforePoll == nil {
				b.CallsBeforePoll = calls
			}
		}
		if run >= c.Warmup {
			logf("run %d/%d: baseline %.2f ms, function %.2f ms", run-c.Warmup+1, c.N,
				r.Baseline.SamplesMS[len(r.Baseline.SamplesMS)-1], r.Function.SamplesMS[len(r.Function.SamplesMS)-1])
		}
	}
	for i, b := range sides {
		b.MedianMS, b.P90MS, b.MinMS = stats(b.SamplesMS)
		if c.InitTrace {
			if b.InitMS, b.TopInits, err = h.initTrace(ctx, bins[i]); err != nil {
				return nil, fmt.Errorf("%s: inittrace: %w", b.Package, err)
			}
		}
	}
	r.RatioMedian = r.Function.MedianMS / r.Baseline.MedianMS
	if r.Floor != nil {
		r.FloorRatio = r.Floor.MedianMS / r.Baseline.MedianMS
	}
	if r.Host != r.Deploy {
		r.Notes = append(r.Notes, fmt.Sprintf("timed on %s; Lambda runs %s (size cross-compiled only)", r.Host, r.Deploy))
	}
	r.Notes = append(r.Notes, "AWS calls go to a plain-HTTP loopback stub: no TLS handshake or network round trip is included, so this is init CPU cost, not what a real cold start pays to reach DynamoDB")
	return r, nil
}

// build compiles pkg the way make build and sam build do, stripped, and
// returns the binary's size.
func build(ctx context.Context, pkg, out, goos, goarch string) (int64, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build %s (%s/%s): %w\n%s", pkg, goos, goarch, err, msg)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// harness is the fake Lambda Runtime API and the AWS stub the binaries talk to.
type harness struct {
	timeout time.Duration
	env     []string
	stub    *awsstub.Stub
	srv     *http.Server

	polls   chan poll
	initErr chan string
}

type poll struct {
	at    time.Time
	calls map[string]int64
}

func newHarness(c Config) (*harness, error) {
	stub, err := awsstub.Start()
	if err != nil {
		return nil, err
	}
	stub.Handle(targetGetSecret, awsstub.Static(awsstub.JSON(map[string]any{
		"ARN":           "arn:aws:secretsmanager:us-east-1:000000000000:secret:pepper",
		"Name":          "pepper",
		"SecretString":  alnum(64),
		"VersionId":     "00000000-0000-4000-8000-000000000001",
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   1.7e9,
	})))
	// The authorizer primes its connection with a conditional write on a key
	// that does not exist; DynamoDB answers that with this error.
	stub.Handle(targetUpdateItem, awsstub.Static(awsstub.DynamoDBError("ConditionalCheckFailedException", "The conditional request failed")))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stub.Close()
		return nil, err
	}
	h := &harness{timeout: c.Timeout, stub: stub, polls: make(chan poll, 1), initErr: make(chan string, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+nextPath, func(w http.ResponseWriter, r *http.Request) {
		// Timestamp first: this is the end of the measured interval.
		p := poll{at: time.Now(), calls: stub.CallCounts()}
		select {
		case h.polls <- p:
		default:
		}
		<-r.Context().Done() // no invocation ever comes; the process is killed
	})
	mux.HandleFunc("POST "+initErrURL, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		select {
		case h.initErr <- string(b):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	})
	h.srv = &http.Server{Handler: mux}
	go func() { _ = h.srv.Serve(ln) }()

	name := "framegate-coldstart"
	h.env = append([]string{
		// What Lambda's provided.al2023 runtime sets.
		"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]00000000000000000000000000000000",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_SESSION_TOKEN=test",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=/var/task",
		"LAMBDA_RUNTIME_DIR=/var/runtime",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		// What template.yaml gives the authorizer, pointed at the stub.
		"AWS_ENDPOINT_URL=" + stub.URL(),
		"KEYS_TABLE=keys",
		"PEPPER_SECRET_ARN=arn:aws:secretsmanager:us-east-1:000000000000:secret:pepper",
	}, c.Env...)
	return h, nil
}

func (h *harness) close() {
	_ = h.srv.Close()
	h.stub.Close()
}

// once starts bin and returns the time from exec to its first poll, and the
// AWS calls it had made by then. The process is killed either way.
func (h *harness) once(ctx context.Context, bin string) (time.Duration, map[string]int64, error) {
	d, calls, _, err := h.start(ctx, bin)
	return d, calls, err
}

// run starts bin, waits for its first poll and returns what it printed.
func (h *harness) run(ctx context.Context, bin string) (string, error) {
	_, _, out, err := h.start(ctx, bin)
	return out, err
}

func (h *harness) start(ctx context.Context, bin string) (time.Duration, map[string]int64, string, error) {
	h.stub.ResetCalls()
	drain(h.polls)
	drain(h.initErr)

	cmd := exec.Command(bin)
	cmd.Env = h.env
	out := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := func() { _ = cmd.Process.Kill(); <-exited }

	timer := time.NewTimer(h.timeout)
	defer timer.Stop()
	select {
	case p := <-h.polls:
		kill()
		return p.at.Sub(start), p.calls, out.String(), nil
	case msg := <-h.initErr:
		kill()
		return 0, nil, "", fmt.Errorf("reported an init error to the runtime API: %s\n--- output ---\n%s", msg, out)
	case err := <-exited:
		return 0, nil, "", fmt.Errorf("exited before polling the runtime API (%v)\n--- output ---\n%s", err, out)
	case <-timer.C:
		kill()
		return 0, nil, "", fmt.Errorf("never polled the runtime API within %s\n--- output ---\n%s", h.timeout, out)
	case <-ctx.Done():
		kill()
		return 0, nil, "", ctx.Err()
	}
}

// initTrace runs bin once with GODEBUG=inittrace=1 and sums what it reports.
func (h *harness) initTrace(ctx context.Context, bin string) (float64, []PkgInit, error) {
	saved := h.env
	h.env = append(slices.Clip(saved), "GODEBUG=inittrace=1")
	defer func() { h.env = saved }()
	out, err := h.run(ctx, bin)
	if err != nil {
		return 0, nil, err
	}
	var total float64
	var inits []PkgInit
	for line := range strings.Lines(out) {
		var p PkgInit
		var at float64
		var nbytes int64
		if _, err := fmt.Sscanf(line, "init %s @%f ms, %f ms clock, %d bytes, %d allocs", &p.Package, &at, &p.MS, &nbytes, &p.Allocs); err != nil {
			continue
		}
		total += p.MS
		inits = append(inits, p)
	}
	if len(inits) == 0 {
		return 0, nil, errors.New("no inittrace lines in the output")
	}
	slices.SortFunc(inits, func(a, b PkgInit) int { return cmp.Compare(b.MS, a.MS) })
	return total, inits[:min(len(inits), 8)], nil
}

func drain[T any](c chan T) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// stats returns the median, the nearest-rank 90th percentile and the minimum.
func stats(xs []float64) (median, p90, lowest float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	return median, s[int(math.Ceil(0.9*float64(n)))-1], s[0]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func alnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// tailBuffer keeps the last max bytes written to it: enough to show why a
// binary failed without holding everything a chatty one prints.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.b, []byte("?"))))
}
