package videos_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

// TestStackRendersEndToEnd runs the whole local stack: POST /v1/videos with
// a two-scene spec through the gateway and the authorizer, the SQS loop
// feeding the real worker and renderer, then GET until it succeeded,
// download, and ffprobe of the file in S3.
func TestStackRendersEndToEnd(t *testing.T) {
	s := testenv.NewStack(t)
	ws, keys := s.Workspace("E2E", ratelimit.Plan{})
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	call := func(method, path string, env apikey.Env, body []byte) (int, http.Header, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, s.URL()+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+keys[env])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, resp.Header, m
	}
	status, _, body := call("POST", "/videos", apikey.Live, specBody(2))
	if status != 202 || body["status"] != "queued" {
		t.Fatalf("POST /v1/videos: %d %v", status, body)
	}
	id := body["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, _, body = call("GET", "/videos/"+id+"/status", apikey.Live, nil)
		if status != 200 {
			t.Fatalf("GET: %d %v", status, body)
		}
		if body["status"] == "succeeded" {
			break
		}
		if body["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("video %v", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if d, _ := body["durationSeconds"].(float64); d < 1.95 || d > 2.05 {
		t.Errorf("durationSeconds %v", body["durationSeconds"])
	}
	status, h, dl := call("GET", "/videos/"+id+"/download", apikey.Live, nil)
	bucket := s.Getenv("RenderWorkerFunction")("RENDERS_BUCKET")
	prefix := videos.FilesPrefix(apikey.Live, ws.ID, id)
	loc, err := url.Parse(h.Get("Location"))
	key := strings.TrimPrefix(loc.Path, "/"+bucket+"/")
	if status != http.StatusFound || err != nil || !strings.HasPrefix(key, prefix) || dl["url"] != h.Get("Location") {
		t.Fatalf("download: %d Location %q body %v", status, h.Get("Location"), dl)
	}
	if q := loc.Query(); q.Get("X-Amz-Expires") != "900" || q.Get("X-Amz-Signature") == "" {
		t.Errorf("presigned query %v", q)
	}
	f := &workerFixture{s3: videos.S3Client(s.AWS()), bucket: bucket}
	p := f.ffprobe(t, key)
	if st := p.Streams[0]; st.CodecName != "h264" || st.PixFmt != "yuv420p" || st.Width != 640 || st.Height != 360 {
		t.Errorf("stream %+v", st)
	}
	if d := duration(t, p); d < 1.9 || d > 2.1 {
		t.Errorf("ffprobe duration %.3f, want 2", d)
	}
	// The sandbox: a 31 s movie is refused, a short one is watermarked.
	if status, _, body := call("POST", "/videos", apikey.Test, specBody(31)); status != 400 ||
		!strings.Contains(body["error"].(map[string]any)["code"].(string), "sandbox_duration_exceeded") {
		t.Errorf("31 s sandbox video: %d %v", status, body)
	}
	// Another workspace's key, or the sandbox key, cannot see the video.
	if status, _, _ := call("GET", "/videos/"+id, apikey.Test, nil); status != 404 {
		t.Errorf("sandbox key read a live video: %d", status)
	}
}
