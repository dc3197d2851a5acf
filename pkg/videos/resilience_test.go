package videos_test

// What make dev does when renders are killed, duplicated or run side by
// side: these tests run the local stack (testenv.NewStack runs what
// `make dev` runs: gateway, authorizer, handlers, the SQS loops with the
// template's concurrency, the real renderer), with the template's lease
// parameter shortened.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

// gradientSpec is a body of n scenes of secs seconds each, gradients and
// text at res: real work for ffmpeg.
func gradientSpec(res string, n int, secs float64) map[string]any {
	var scenes []map[string]any
	for i := range n {
		scenes = append(scenes, map[string]any{
			"duration":   secs,
			"background": map[string]any{"gradient": map[string]any{"from": "#102030", "to": fmt.Sprintf("#%02x8040", 40*i), "direction": "diagonal"}},
			"elements":   []map[string]any{{"type": "text", "text": fmt.Sprintf("Scene %d", i+1)}},
		})
	}
	return map[string]any{"spec": map[string]any{"resolution": res, "scenes": scenes}}
}

// waitUntil polls GET /videos/{id}/status until done says stop or the deadline.
func waitUntil(t *testing.T, c *testenv.APIClient, key, id string, within time.Duration, done func(testenv.Reply) bool) testenv.Reply {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := c.Expect(c.Do("GET", "/videos/"+id+"/status", key, nil), 200)
		if done(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %s after %v: %s", id, within, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// download fetches a succeeded video's file through its presigned link,
// without the key, and returns the path it wrote.
func download(t *testing.T, c *testenv.APIClient, key, id string) string {
	t.Helper()
	r := c.Do("GET", "/videos/"+id+"/download", key, nil) // follows the 302
	if r.Status != 200 {
		t.Fatalf("download %s: %d", id, r.Status)
	}
	path := filepath.Join(t.TempDir(), id+".mp4")
	if err := os.WriteFile(path, []byte(r.Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func probeDuration(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ffmpegChildren lists the pids of this process's ffmpeg children that
// render a movie (their arguments name the progress pipe).
func ffmpegChildren(t *testing.T) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(ffmpeg") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
		if cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(st), "cmdline")); strings.Contains(string(cmd), "pipe:1") {
			out = append(out, pid)
		}
	}
	return out
}

// TestStackFFmpegKilledMidRender: ffmpeg killed in the middle of a render
// on the local stack: the attempt fails, the video is queued again and
// succeeds on its second attempt well within 150 s of the kill, and the
// file downloads whole.
func TestStackFFmpegKilledMidRender(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatal("this test finds ffmpeg through /proc: Linux only")
	}
	s := testenv.NewStack(t, func(c *devstack.Config) { c.Parameters = map[string]string{"RenderLeaseSeconds": "6"} })
	_, keys := s.Workspace("Kill", ratelimit.Plan{})
	key := keys[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	id := c.Expect(c.Do("POST", "/videos", key, gradientSpec("hd", 3, 8)), 202).Str("id")
	waitUntil(t, c, key, id, 60*time.Second, func(r testenv.Reply) bool {
		p, _ := r.Get("progress").(float64)
		return r.Str("status") == "rendering" && p >= 10
	})
	pids := ffmpegChildren(t)
	if len(pids) != 1 {
		t.Fatalf("want the one ffmpeg rendering, found %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	r := waitUntil(t, c, key, id, 150*time.Second, func(r testenv.Reply) bool {
		if st := r.Str("status"); st == "failed" || st == "cancelled" {
			t.Fatalf("after the kill: %s", r.Raw)
		}
		return r.Str("status") == "succeeded"
	})
	t.Logf("succeeded %.1f s after ffmpeg was killed", time.Since(killed).Seconds())
	if r.Get("attempts") != 2.0 {
		t.Errorf("attempts %v, want 2 (the killed one and the retry)", r.Get("attempts"))
	}
	if d := probeDuration(t, download(t, c, key, id)); d < 23.9 || d > 24.1 {
		t.Errorf("downloaded file lasts %.2f s, want 24", d)
	}
}

// TestStackBusinessRendersSideBySide: four renders queued at once with a
// business key (5 concurrent renders) render side by side on the local
// stack, as the template's MaximumConcurrency lets the worker scale.
func TestStackBusinessRendersSideBySide(t *testing.T) {
	s := testenv.NewStack(t)
	_, keys := s.Workspace("Busy", ratelimit.Plan{}) // the default plan is business
	key := keys[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	var ids []string
	for range 4 {
		ids = append(ids, c.Expect(c.Do("POST", "/videos", key, gradientSpec("sd", 2, 3)), 202).Str("id"))
	}
	most := 0
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := c.Expect(c.Do("GET", "/videos?status=rendering", key, nil), 200)
		n := len(r.Get("data").([]any))
		most = max(most, n)
		done := c.Expect(c.Do("GET", "/videos?status=succeeded", key, nil), 200)
		if len(done.Get("data").([]any)) == len(ids) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if most < 2 {
		t.Errorf("at most %d renders were seen rendering together, want at least 2", most)
	}
	t.Logf("up to %d of 4 rendering at once", most)
	for _, id := range ids {
		if st := c.Expect(c.Do("GET", "/videos/"+id, key, nil), 200).Str("status"); st != "succeeded" {
			t.Errorf("video %s %s", id, st)
		}
	}
}

// TestStackTwoConsumersOfEveryMessage: every render message is handed to
// two workers at once; each video renders once, its file is there, and
// each webhook endpoint gets exactly one render.succeeded per video.
func TestStackTwoConsumersOfEveryMessage(t *testing.T) {
	var renders atomic.Int64
	reg := devstack.Registry()
	reg["render-worker"] = lambdas.Function{Env: reg["render-worker"].Env, SQS: func(ctx context.Context, d lambdas.Deps) (lambdas.SQSFunc, error) {
		r, err := videos.FFmpegRenderer()
		if err != nil {
			return nil, err
		}
		w, err := videos.OpenWorker(ctx, d, func(ctx context.Context, j videos.Job) (videos.Output, error) {
			renders.Add(1)
			return r(ctx, j)
		})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				resp events.SQSEventResponse
			)
			for range 2 {
				wg.Go(func() {
					r, err := w.Handle(ctx, ev)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						t.Errorf("consumer: %v", err)
					}
					resp.BatchItemFailures = append(resp.BatchItemFailures, r.BatchItemFailures...)
				})
			}
			wg.Wait()
			return resp, nil
		}, nil
	}}
	s := testenv.NewStack(t, testenv.WithRegistry(reg), func(c *devstack.Config) {
		c.Parameters = map[string]string{"RenderLeaseSeconds": "3", "WebhookAllowLoopback": "true", "WebhookRetrySchedule": "0s,1s"}
	})
	_, keys := s.Workspace("Dup", ratelimit.Plan{})
	key := keys[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	receivers := []*testenv.Receiver{testenv.NewReceiver(t, http.StatusNoContent), testenv.NewReceiver(t, http.StatusNoContent)}
	for _, rcv := range receivers {
		c.Expect(c.Do("POST", "/webhooks", key, map[string]any{"url": rcv.URL, "events": []string{"render.succeeded", "render.failed"}}), 201)
	}
	var ids []string
	for range 3 {
		ids = append(ids, c.Expect(c.Do("POST", "/videos", key, gradientSpec("sd", 1, 1)), 202).Str("id"))
	}
	for _, id := range ids {
		waitUntil(t, c, key, id, 60*time.Second, func(r testenv.Reply) bool { return r.Str("status") == "succeeded" })
		path := download(t, c, key, id)
		if d := probeDuration(t, path); d < 0.9 || d > 1.1 {
			t.Errorf("%s lasts %.2f s", id, d)
		}
	}
	// The watching copies come back after a lease and must change nothing.
	time.Sleep(6 * time.Second)
	if renders.Load() != int64(len(ids)) {
		t.Errorf("%d ffmpeg renders for %d videos", renders.Load(), len(ids))
	}
	for n, rcv := range receivers {
		got := map[string]int{}
		for _, rec := range rcv.All() {
			var ev struct {
				Type string
				Data struct{ VideoID string }
			}
			if err := json.Unmarshal(rec.Body, &ev); err != nil {
				t.Fatal(err)
			}
			got[ev.Type+" "+ev.Data.VideoID]++
		}
		for _, id := range ids {
			if got["render.succeeded "+id] != 1 {
				t.Errorf("endpoint %d got %d render.succeeded for %s", n, got["render.succeeded "+id], id)
			}
		}
		if len(got) != len(ids) {
			t.Errorf("endpoint %d got %v", n, got)
		}
	}
}
