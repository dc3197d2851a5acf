package render

import (
	"context"
	"errors"
	"image/color"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/movie"
)

// Asset ids of the tests' in-memory assets.
const (
	idgreen = "ast_01m8ac11f4ff2mqjt2am7xmc4a"
	idred   = "ast_01m8ac11f4ff2mqjt2am7xmc4b"
	idimg   = "ast_01m8ac11f4ff2mqjt2am7xmc4c"
	idtone  = "ast_01m8ac11f4ff2mqjt2am7xmc4d"
	idpng   = "ast_01m8ac11f4ff2mqjt2am7xmc4e"
)

// clipFile makes a clip with ffmpeg: seconds of a solid color, with a tone
// when sound is set.
func clipFile(t testing.TB, seconds string, c string, sound bool) []byte {
	t.Helper()
	ffmpeg, _ := tools(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", "color=c=" + c + ":size=320x240:rate=30:duration=" + seconds}
	if sound {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:duration="+seconds, "-c:a", "aac", "-shortest")
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", out)
	if b, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testsrcClip is a clip of testsrc2 at size, encoded with B-frames and six
// reference frames (what a camera's clip makes the decoder hold), with a
// tone.
func testsrcClip(t testing.TB, size, seconds string) []byte {
	t.Helper()
	ffmpeg, _ := tools(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	if b, err := exec.Command(ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30:duration="+seconds,
		"-f", "lavfi", "-i", "sine=frequency=440:duration="+seconds, "-c:a", "aac", "-shortest",
		"-c:v", "libx264", "-preset", "ultrafast", "-x264-params", "ref=6:bframes=3:b-pyramid=normal", "-pix_fmt", "yuv420p", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClipsAndSceneAudio renders a movie whose media are uploaded assets: a
// clip with sound, trimmed, scaled into a box and carried across a
// transition; a muted looping clip; an image; and a scene's own audio. The
// result has the spec's length, an audio track (the clip's sound mixed in,
// with no movie audio at all), and the clips' frames where they belong.
func TestClipsAndSceneAudio(t *testing.T) {
	a := assets{
		idgreen: clipFile(t, "2", "0x00ff00", true),
		idred:   clipFile(t, "0.5", "0xff0000", false),
		idimg:   pngImage(t, 64, 64, color.NRGBA{255, 255, 0, 255}),
		idtone:  wavTone(3),
	}
	muted := 0.0
	spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{
		{Duration: 1.5, Background: movie.Background{Color: "#0000ff"}, Elements: []movie.Element{
			{Type: "video", Asset: idgreen, TrimStart: 0.5, Width: 320, Height: 240, Position: "top-left"},
			{Type: "image", Asset: idimg, Width: 100, Height: 100, Position: "bottom-right"},
		}, Transition: &movie.Transition{Type: "fade", Duration: 0.5}},
		{Duration: 1.5, Background: movie.Background{Color: "#000000"}, Elements: []movie.Element{
			{Type: "video", Asset: idred, Loop: true, Volume: &muted, Fit: "fill"},
		}, Audio: &movie.Audio{Asset: idtone}},
	}}
	r := renderSpec(t, spec, Options{FetchAsset: a.fetchAsset})
	checkMP4(t, r, 2.5, 640, 360)
	if r.probe.Audio == nil || r.probe.Audio.Codec != "aac" {
		t.Fatalf("audio %+v: the clip's sound and the scene audio must be mixed in", r.probe.Audio)
	}
	for _, c := range []struct {
		name string
		at   float64
		x, y int
		want uint32
	}{
		{"the clip in its box", 0.3, 100, 100, 0x00ff00},
		{"beside the clip: background", 0.3, 480, 60, 0x0000ff},
		{"the image", 0.3, 600, 320, 0xffff00},
		{"the looping clip fills scene two, past its own length", 2.3, 320, 180, 0xff0000},
	} {
		got := regionColor(frameRGB(t, r.path, c.at, 640, 360), 640, c.x, c.y, 20)
		if !near(got, c.want, 40) {
			t.Errorf("%s: %v, want #%06x", c.name, got, c.want)
		}
	}
}

// TestClipErrors: a clip that is not a video never reaches the graph.
func TestClipErrors(t *testing.T) {
	a := assets{idpng: pngImage(t, 8, 8, color.NRGBA{0, 0, 0, 255})}
	spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{{Duration: 1, Background: movie.Background{Color: "#000000"},
		Elements: []movie.Element{{Type: "video", Asset: idpng}}}}}
	ffmpeg, _ := tools(t)
	_, err := Render(context.Background(), spec, filepath.Join(t.TempDir(), "o.mp4"), Options{FFmpeg: ffmpeg, WorkDir: t.TempDir(), FetchAsset: a.fetchAsset})
	var ae *AssetError
	if !errors.As(err, &ae) || ae.Field != "/scenes/0/elements/0/asset" || !strings.Contains(ae.Error(), "unsupported video format") {
		t.Fatalf("err %v", err)
	}
	// Frames over 3840×2160 (the clip the render budget counts on) are
	// refused, naming the element.
	a[idgreen] = testsrcClip(t, "4000x2200", "0.1")
	spec.Scenes[0].Elements[0].Asset = idgreen
	_, err = Render(context.Background(), spec, filepath.Join(t.TempDir(), "o.mp4"), Options{FFmpeg: ffmpeg, WorkDir: t.TempDir(), FetchAsset: a.fetchAsset})
	if !errors.As(err, &ae) || ae.Field != "/scenes/0/elements/0/asset" || !strings.Contains(ae.Error(), "4000×2200") {
		t.Fatalf("a clip over 3840×2160: %v", err)
	}
	// Clips are probed while the later media are fetched: a later
	// element's error does not hide the earlier clip's, and no probe is
	// left running in the job directory.
	spec.Scenes[0].Elements = append(spec.Scenes[0].Elements, movie.Element{Type: "image", URL: "https://a.test/page.html"})
	work := t.TempDir()
	_, err = Render(context.Background(), spec, filepath.Join(t.TempDir(), "o.mp4"), Options{FFmpeg: ffmpeg, WorkDir: work, FetchAsset: a.fetchAsset,
		Fetch: assets{"https://a.test/page.html": []byte("<html></html>")}.fetch})
	if !errors.As(err, &ae) || ae.Field != "/scenes/0/elements/0/asset" || !strings.Contains(ae.Error(), "4000×2200") {
		t.Fatalf("a clip over 3840×2160, then a page for an image: %v", err)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("work dir not cleaned: %v", left)
	}
	spec.Scenes[0].Elements = spec.Scenes[0].Elements[:1]
	spec.Scenes[0].Elements[0].Asset = idpng
	// Without an asset reader, an asset is an error naming it.
	_, err = Render(context.Background(), spec, filepath.Join(t.TempDir(), "o.mp4"), Options{FFmpeg: ffmpeg, WorkDir: t.TempDir(),
		Fetch: func(context.Context, string, io.Writer) error { return nil }})
	if !errors.As(err, &ae) || ae.URL != idpng {
		t.Fatalf("err %v", err)
	}
}

// TestStoredClipProbe: what an upload stored about a clip is taken
// instead of probing it again (here no ffprobe can run at all), and is
// held to the same limits as a probe.
func TestStoredClipProbe(t *testing.T) {
	ffmpeg, _ := tools(t)
	a := assets{idgreen: testsrcClip(t, "320x240", "1")}
	spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{{Duration: 1, Background: movie.Background{Color: "#000000"},
		Elements: []movie.Element{{Type: "video", Asset: idgreen}}}}}
	render := func(stored Stored) error {
		_, err := Render(context.Background(), spec, filepath.Join(t.TempDir(), "o.mp4"), Options{FFmpeg: ffmpeg, FFprobe: "/nonexistent/ffprobe",
			WorkDir: t.TempDir(), FetchAsset: func(ctx context.Context, id string, dst io.Writer) (Stored, error) {
				return stored, a.fetch(ctx, id, dst)
			}})
		return err
	}
	if err := render(Stored{Duration: 1, Width: 320, Height: 240}); err != nil {
		t.Fatalf("with what the upload stored: %v", err)
	}
	var ae *AssetError
	if err := render(Stored{}); !errors.As(err, &ae) || !strings.Contains(err.Error(), "not a readable video") {
		t.Fatalf("nothing stored, so probed (and ffprobe is missing): %v", err)
	}
	if err := render(Stored{Duration: 1, Width: 4000, Height: 2200}); !errors.As(err, &ae) || ae.Field != "/scenes/0/elements/0/asset" || !strings.Contains(err.Error(), "4000×2200") {
		t.Fatalf("stored frames over 3840×2160: %v", err)
	}
}
