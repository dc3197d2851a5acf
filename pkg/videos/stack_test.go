package videos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/render"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

// stackAPI calls the local stack's API with a workspace's keys, never
// following redirects.
type stackAPI struct {
	s    *testenv.Stack
	keys map[apikey.Env]string
	http *http.Client
}

func newStackAPI(s *testenv.Stack, keys map[apikey.Env]string) *stackAPI {
	return &stackAPI{s: s, keys: keys, http: &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (a *stackAPI) call(t *testing.T, method, path string, env apikey.Env, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, a.s.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.keys[env])
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header, m
}

// render creates a video from body and waits until it succeeded.
func (a *stackAPI) render(t *testing.T, env apikey.Env, body []byte) map[string]any {
	t.Helper()
	status, _, v := a.call(t, "POST", "/videos", env, body)
	if status != 202 || v["status"] != "queued" {
		t.Fatalf("POST /v1/videos: %d %v", status, v)
	}
	id := v["id"].(string)
	deadline := time.Now().Add(90 * time.Second)
	for {
		status, _, v = a.call(t, "GET", "/videos/"+id+"/status", env, nil)
		if status != 200 {
			t.Fatalf("GET: %d %v", status, v)
		}
		if v["status"] == "succeeded" {
			return v
		}
		if v["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("video %v", v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fetch follows the presigned link a 302 answer of path points to and
// saves what it gets in dir; it returns the file and the Location.
func (a *stackAPI) fetch(t *testing.T, path string, env apikey.Env, dir string) (string, *url.URL) {
	t.Helper()
	status, h, body := a.call(t, "GET", path, env, nil)
	loc, err := url.Parse(h.Get("Location"))
	if status != http.StatusFound || err != nil || body["url"] != h.Get("Location") {
		t.Fatalf("GET %s: %d Location %q body %v", path, status, h.Get("Location"), body)
	}
	resp, err := http.Get(loc.String()) // no key: the link is the authorization
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", loc, resp.StatusCode)
	}
	f, err := os.CreateTemp(dir, "fetched-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	return f.Name(), loc
}

// TestStackRendersEndToEnd runs the whole local stack: POST /v1/videos with
// a two-scene spec through the gateway and the authorizer, the SQS loop
// feeding the real worker and renderer, then GET until it succeeded,
// download, and ffprobe of the file in S3.
func TestStackRendersEndToEnd(t *testing.T) {
	s := testenv.NewStack(t)
	ws, keys := s.Workspace("E2E", ratelimit.Plan{})
	api := newStackAPI(s, keys)
	body := api.render(t, apikey.Live, specBody(2))
	id := body["id"].(string)
	if d, _ := body["durationSeconds"].(float64); d < 1.95 || d > 2.05 {
		t.Errorf("durationSeconds %v", body["durationSeconds"])
	}
	status, h, dl := api.call(t, "GET", "/videos/"+id+"/download", apikey.Live, nil)
	bucket := s.Getenv("RenderWorkerFunction")("RENDERS_BUCKET")
	prefix := videos.FilesPrefix(apikey.Live, ws.ID, id)
	loc, err := url.Parse(h.Get("Location"))
	key := strings.TrimPrefix(loc.Path, "/"+bucket+"/")
	if status != http.StatusFound || err != nil || !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, ".mp4") || dl["url"] != h.Get("Location") {
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
	if status, _, body := api.call(t, "POST", "/videos", apikey.Test, specBody(31)); status != 400 ||
		!strings.Contains(body["error"].(map[string]any)["code"].(string), "sandbox_duration_exceeded") {
		t.Errorf("31 s sandbox video: %d %v", status, body)
	}
	// Another workspace's key, or the sandbox key, cannot see the video.
	if status, _, _ := api.call(t, "GET", "/videos/"+id, apikey.Test, nil); status != 404 {
		t.Errorf("sandbox key read a live video: %d", status)
	}
}

// TestStackOutputs is what issue 17 asks of `make dev`, on the same local
// stack: the default MP4 of examples/two-scenes.json is at most 1.25× the
// bytes of a veryfast CRF 23 re-encode of its own frames; its thumbnail
// route answers with a JPEG of the movie's size; a spec with
// "format": "webm" renders VP9, one with "gif" a GIF; a GIF longer than
// the limit is a 400 naming /spec/format.
func TestStackOutputs(t *testing.T) {
	s := testenv.NewStack(t)
	_, keys := s.Workspace("Outputs", ratelimit.Plan{})
	api := newStackAPI(s, keys)
	dir := t.TempDir()
	ffmpeg, ffprobe, err := render.FindFFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	example, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "examples", "two-scenes.json"))
	if err != nil {
		t.Fatal(err)
	}
	v := api.render(t, apikey.Live, []byte(`{"spec":`+string(example)+`}`))
	id := v["id"].(string)
	file, loc := api.fetch(t, "/videos/"+id+"/download", apikey.Live, dir)
	if q := loc.Query(); q.Get("response-content-type") != "video/mp4" || !strings.Contains(q.Get("response-content-disposition"), id+`.mp4"`) {
		t.Errorf("download link %s", loc)
	}
	p, err := render.ProbeFile(ctx, ffprobe, file)
	if err != nil || p.Video.Codec != "h264" || p.Video.Width != 1280 || p.Video.Height != 720 {
		t.Fatalf("default render: %+v %v", p, err)
	}
	ratio, err := render.ReencodeRatio(ctx, ffmpeg, ffprobe, file, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("examples/two-scenes.json: %.3f× the bytes of a veryfast CRF 23 re-encode of its frames", ratio)
	if ratio > 1.25 {
		t.Errorf("default MP4 is %.2f× veryfast's bytes, want ≤ 1.25", ratio)
	}

	thumb, loc := api.fetch(t, "/videos/"+id+"/thumbnail", apikey.Live, dir)
	// redirect=false: the same kind of link, in a 200 body.
	status, h, body := api.call(t, "GET", "/videos/"+id+"/thumbnail?redirect=false", apikey.Live, nil)
	if u, _ := body["url"].(string); status != 200 || h.Get("Location") != "" || !strings.Contains(u, "response-content-type=image%2Fjpeg") {
		t.Errorf("thumbnail?redirect=false: %d %v", status, body)
	}
	if loc.Query().Get("response-content-type") != "image/jpeg" {
		t.Errorf("thumbnail link %s", loc)
	}
	tf, err := os.Open(thumb)
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	img, err := jpeg.Decode(tf)
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 720 {
		t.Errorf("thumbnail %v, want the movie's 1280x720", b)
	}

	for _, c := range []struct{ format, codec string }{{"webm", "vp9"}, {"gif", "gif"}} {
		body := fmt.Appendf(nil, `{"spec":{"resolution":"sd","format":%q,"scenes":[
			{"duration":1,"background":{"color":"#1d3557"},"elements":[{"type":"text","text":"Hello"}],"transition":{"type":"fade","duration":0.4}},
			{"duration":1,"background":{"gradient":{"from":"#e63946","to":"#f1faee"}}}]}}`, c.format)
		v := api.render(t, apikey.Test, body)
		file, _ := api.fetch(t, "/videos/"+v["id"].(string)+"/download", apikey.Test, dir)
		p, err := render.ProbeFile(ctx, ffprobe, file)
		if err != nil || p.Video.Codec != c.codec || p.Video.Width != 640 || p.Duration < 1.55 || p.Duration > 1.65 {
			t.Errorf("%s: %+v %v", c.format, p, err)
		}
	}

	long := `{"spec":{"resolution":"sd","format":"gif","scenes":[{"duration":16,"background":{"color":"#000000"}}]}}`
	status, _, body = api.call(t, "POST", "/videos", apikey.Live, []byte(long))
	if e, _ := body["error"].(map[string]any); status != 400 || e["code"] != "invalid_request" || e["field"] != "/spec/format" {
		t.Errorf("16 s GIF: %d %v", status, body)
	}
}
