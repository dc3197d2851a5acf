package videos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/render"
	"github.com/framegate/framegate/pkg/testenv"
)

// uploadReady uploads path and waits for it to be ready; it returns the
// asset and the URL it was uploaded to.
func uploadReady(t *testing.T, c *client.Client, path string) (*client.Asset, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := c.UploadAsset(ctx, path, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := a.Upload.URL
	if a, err = c.WaitAsset(ctx, a.ID, 100*time.Millisecond); err != nil || a.Status != "ready" {
		t.Fatalf("asset %+v %v", a, err)
	}
	return a, url
}

func waitVideo(t *testing.T, c *client.Client, v *client.Video) *client.Video {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var err error
	for !v.Terminal() {
		time.Sleep(200 * time.Millisecond)
		if v, err = c.VideoStatus(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// TestMovieOfAssets renders a movie whose clip and image are uploaded
// assets, through the whole local stack: the clip's sound is the movie's
// audio, and the file lasts the 2 s the spec says. References that cannot
// be used are refused at creation, each naming its field, and create
// nothing.
func TestMovieOfAssets(t *testing.T) {
	s := testenv.NewStack(t)
	_, keys := s.Workspace("Movie of assets", ratelimit.Plan{})
	_, otherKeys := s.Workspace("Someone else", ratelimit.Plan{})
	c := client.New(s.URL(), keys[apikey.Test])
	ffmpeg, ffprobe, err := render.FindFFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gen := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		if b, err := exec.Command(ffmpeg, append(append([]string{"-v", "error", "-y"}, args...), p)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v %s", err, b)
		}
		return p
	}
	clipPath := gen("clip.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
	pngPath := gen("logo.png", "-f", "lavfi", "-i", "color=c=yellow:size=200x100", "-frames:v", "1")
	clip, clipURL := uploadReady(t, c, clipPath)
	img, _ := uploadReady(t, c, pngPath)

	spec := func(clipID, imgID string, trimStart float64) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"resolution": "sd", "scenes": []any{map[string]any{
			"duration": 2, "background": map[string]any{"color": "#000000"},
			"elements": []any{
				map[string]any{"type": "video", "asset": clipID, "fit": "cover", "trimStart": trimStart},
				map[string]any{"type": "image", "asset": imgID, "width": 160, "height": 80, "position": "top-right"},
			},
		}}})
		return b
	}
	ctx := context.Background()
	v, err := c.CreateVideo(ctx, client.CreateVideoRequest{Spec: spec(clip.ID, img.ID, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if v = waitVideo(t, c, v); v.Status != "succeeded" {
		t.Fatalf("video %+v %+v", v, v.Error)
	}
	out := filepath.Join(dir, "out.mp4")
	f, _ := os.Create(out)
	if _, err := c.DownloadVideo(ctx, v.ID, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p, err := render.ProbeFile(ctx, ffprobe, out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Audio == nil || p.Audio.Codec != "aac" || math.Abs(p.Duration-2) > 0.05 || p.Video.Width != 640 {
		t.Fatalf("probe %+v audio %+v", p, p.Audio)
	}

	// Unusable references: refused at creation, naming the field.
	other := client.New(s.URL(), otherKeys[apikey.Test])
	theirs, _ := uploadReady(t, other, pngPath)
	pending, err := c.CreateAsset(ctx, client.CreateAssetRequest{Filename: "later.mp4", ContentType: "video/mp4", SizeBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	live := client.New(s.URL(), keys[apikey.Live])
	for _, tc := range []struct {
		name    string
		c       *client.Client
		body    json.RawMessage
		code    string
		field   string
		wantErr bool
	}{
		{"another workspace's image", c, spec(clip.ID, theirs.ID, 0), "not_found", "/spec/scenes/0/elements/1/asset", true},
		{"the sandbox's clip from a live key", live, spec(clip.ID, img.ID, 0), "not_found", "/spec/scenes/0/elements/0/asset", true},
		{"a pending clip", c, spec(pending.ID, img.ID, 0), "invalid_request", "/spec/scenes/0/elements/0/asset", true},
		{"an image as the clip", c, spec(img.ID, img.ID, 0), "invalid_request", "/spec/scenes/0/elements/0/asset", true},
		{"trimmed past the clip's end", c, spec(clip.ID, img.ID, 5), "invalid_request", "/spec/scenes/0/elements/0/trimStart", true},
	} {
		_, err := tc.c.CreateVideo(ctx, client.CreateVideoRequest{Spec: tc.body})
		var e *client.Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Field != tc.field {
			t.Errorf("%s: %v, want %s at %s", tc.name, err, tc.code, tc.field)
		}
	}
	list, err := c.ListVideos(ctx, client.ListVideosParams{})
	if err != nil || len(list.Data) != 1 {
		t.Errorf("refused renders were created: %d videos, %v", len(list.Data), err)
	}

	// The upload URL still works after probing: a file swapped in later is
	// never rendered (renders read only the ETag probing recorded).
	png, _ := os.ReadFile(pngPath)
	req, _ := http.NewRequest(http.MethodPut, clipURL, bytes.NewReader(png))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("swap: %v %v", resp, err)
	}
	v, err = c.CreateVideo(ctx, client.CreateVideoRequest{Spec: spec(clip.ID, img.ID, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if v = waitVideo(t, c, v); v.Status != "failed" || v.Error == nil || !strings.Contains(v.Error.Message, "replaced") {
		t.Errorf("render of a swapped clip: %+v %+v", v, v.Error)
	}
}
