package render

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/movie"
)

// tools finds ffmpeg and ffprobe or fails: CI installs them, and a render
// test that skips silently would prove nothing.
func tools(t testing.TB) (ffmpeg, ffprobe string) {
	t.Helper()
	ffmpeg, ffprobe, err := FindFFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	return ffmpeg, ffprobe
}

// assets serves URLs from memory, standing in for the egress guard.
type assets map[string][]byte

func (a assets) fetch(_ context.Context, url string, dst io.Writer) error {
	b, ok := a[url]
	if !ok {
		return fmt.Errorf("404 %s", url)
	}
	_, err := dst.Write(b)
	return err
}

// fetchAsset serves ids like fetch, as uploads with nothing stored about
// them: the render probes their clips itself.
func (a assets) fetchAsset(ctx context.Context, id string, dst io.Writer) (Stored, error) {
	return Stored{}, a.fetch(ctx, id, dst)
}

func pngImage(t testing.TB, w, h int, c color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wavTone is seconds of a 440 Hz mono tone.
func wavTone(seconds float64) []byte {
	const rate = 48000
	n := int(seconds * rate)
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16)} {
		binary.Write(&b, le, v)
	}
	b.WriteString("data")
	binary.Write(&b, le, uint32(2*n))
	for i := 0; i < n; i++ {
		binary.Write(&b, le, int16(8000*math.Sin(2*math.Pi*440*float64(i)/rate)))
	}
	return b.Bytes()
}

// graphJob prepares spec's job directory (o gets the test's ffmpeg) and
// writes there, as graph.txt, the filter graph buildGraph makes with the
// params tweak adjusts, followed by extra chains; it returns the
// directory, the graph's inputs and the graph.
func graphJob(t testing.TB, spec movie.Spec, o Options, tweak func(*graphParams), extra string) (job string, inputs []input, graph string) {
	t.Helper()
	font, err := FindFont()
	if err != nil {
		t.Fatal(err)
	}
	o.FFmpeg, _ = tools(t)
	job = t.TempDir()
	p, err := prepare(context.Background(), spec, job, font, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.fits {
		if err := f.wait(); err != nil {
			t.Fatal(err)
		}
	}
	if tweak != nil {
		tweak(&p)
	}
	inputs, graph = buildGraph(spec, newTimeline(spec), p)
	if err := os.WriteFile(filepath.Join(job, "graph.txt"), []byte(graph+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return job, inputs, graph
}

type rendered struct {
	path   string
	result Result
	probe  Probe
}

func renderSpec(t testing.TB, spec movie.Spec, o Options) rendered {
	t.Helper()
	ffmpeg, ffprobe := tools(t)
	dir := t.TempDir()
	o.FFmpeg = ffmpeg
	if o.WorkDir == "" {
		o.WorkDir = dir
	}
	out := filepath.Join(dir, "out.mp4")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Render(ctx, spec, out, o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ProbeFile(ctx, ffprobe, out)
	if err != nil {
		t.Fatal(err)
	}
	return rendered{out, res, p}
}

// checkMP4 asserts what the issue asks ffprobe to confirm.
func checkMP4(t testing.TB, r rendered, dur float64, w, h int) {
	t.Helper()
	p := r.probe
	if p.Video.Codec != "h264" || p.Video.PixFmt != "yuv420p" || p.Video.Width != w || p.Video.Height != h {
		t.Errorf("video stream %+v, want h264 yuv420p %dx%d", p.Video, w, h)
	}
	if !strings.Contains(p.FormatName, "mp4") {
		t.Errorf("format %q", p.FormatName)
	}
	// One frame of slack: scene and transition boundaries are rounded to
	// frames (0.5 s at 25 fps is 12.5 frames).
	if math.Abs(p.Duration-dur) > 0.041 || math.Abs(r.result.Duration-p.Duration) > 0.001 {
		t.Errorf("duration %.3f, want %.3f", p.Duration, dur)
	}
	if r.result.Width != w || r.result.Height != h {
		t.Errorf("result %+v", r.result)
	}
	if fi, err := os.Stat(r.path); err != nil || fi.Size() != r.result.SizeBytes {
		t.Errorf("size %v %v", fi, err)
	}
}

func twoScenes() movie.Spec {
	return movie.Spec{Resolution: "sd", Scenes: []movie.Scene{
		{Duration: 1, Background: movie.Background{Color: "#1d3557"},
			Elements: []movie.Element{{Type: "text", Text: "Scene one", FontSize: 40}}},
		{Duration: 1.2, Background: movie.Background{Gradient: &movie.Gradient{From: "#e63946", To: "#f1faee", Direction: "diagonal"}},
			Elements: []movie.Element{{Type: "text", Text: "Scene two", Position: "bottom-right", Start: 0.2, End: 1}}},
	}}
}

func TestRenderTwoScenes(t *testing.T) {
	var mu sync.Mutex
	var seen []int
	r := renderSpec(t, twoScenes(), Options{Progress: func(p int) { mu.Lock(); seen = append(seen, p); mu.Unlock() }})
	checkMP4(t, r, 2.2, 640, 360)
	if r.probe.Audio != nil {
		t.Error("audio track without audio")
	}
	if r.probe.Video.FrameRate != "25/1" {
		t.Errorf("frame rate %s", r.probe.Video.FrameRate)
	}
	if len(seen) == 0 || seen[len(seen)-1] != 100 {
		t.Fatalf("progress %v does not end at 100", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("progress not increasing: %v", seen)
		}
	}
	if r.result.PeakWorkBytes < r.result.SizeBytes {
		t.Errorf("peak work bytes %d < output %d", r.result.PeakWorkBytes, r.result.SizeBytes)
	}
}

// frameRGB decodes the frame at t seconds to packed RGB.
func frameRGB(t testing.TB, path string, at float64, w, h int) []byte {
	t.Helper()
	ffmpeg, _ := tools(t)
	out, err := exec.Command(ffmpeg, "-v", "error", "-ss", fmt.Sprint(at), "-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("extract frame: %v", err)
	}
	if len(out) != w*h*3 {
		t.Fatalf("frame is %d bytes, want %d", len(out), w*h*3)
	}
	return out
}

// regionColor averages a square of the frame.
func regionColor(rgb []byte, w, x0, y0, size int) [3]int {
	var sum [3]int
	for y := y0; y < y0+size; y++ {
		for x := x0; x < x0+size; x++ {
			for c := 0; c < 3; c++ {
				sum[c] += int(rgb[(y*w+x)*3+c])
			}
		}
	}
	n := size * size
	return [3]int{sum[0] / n, sum[1] / n, sum[2] / n}
}

func near(got [3]int, want uint32, tol int) bool {
	w := [3]int{int(want >> 16 & 0xff), int(want >> 8 & 0xff), int(want & 0xff)}
	for c := range got {
		if got[c] < w[c]-tol || got[c] > w[c]+tol {
			return false
		}
	}
	return true
}

func TestRenderTransition(t *testing.T) {
	// Black fades to white over 1 s: mid-transition is gray, which a cut
	// (or a missing xfade) could never produce.
	spec := movie.Spec{Resolution: "sd", FPS: 20, Scenes: []movie.Scene{
		{Duration: 1.5, Background: movie.Background{Color: "#000000"}, Transition: &movie.Transition{Type: "fade", Duration: 1}},
		{Duration: 1.5, Background: movie.Background{Color: "#ffffff"}},
	}}
	r := renderSpec(t, spec, Options{})
	checkMP4(t, r, 2, 640, 360)
	cases := []struct {
		at   float64
		want uint32
	}{
		{0.2, 0x000000},  // scene one alone
		{1.0, 0x808080},  // halfway through the fade
		{1.85, 0xffffff}, // scene two alone
	}
	for _, c := range cases {
		got := regionColor(frameRGB(t, r.path, c.at, 640, 360), 640, 300, 160, 40)
		if !near(got, c.want, 40) {
			t.Errorf("t=%.2f: color %v, want #%06x", c.at, got, c.want)
		}
	}
}

func TestRenderHostileText(t *testing.T) {
	// Everything that means something to the filtergraph parser, drawtext's
	// option parser or its %{} expansion.
	hostile := []string{
		`it's: a "quote" \ back\slash`,
		`%{pts} %{eif:1/0:d} %{localtime} %%`,
		`x'[out];[0:v]drawtext=text=pwned:fontfile=/etc/passwd[`,
		"two\nlines\twith tab, and: colons; semicolons",
		`\'\\\:\,`,
		`ünïcödé — “typographic” ✓`,
	}
	var els []movie.Element
	for i, s := range hostile {
		els = append(els, movie.Element{Type: "text", Text: s, FontSize: 20, Start: float64(i) * 0.1})
	}
	spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{{Duration: 1, Background: movie.Background{Color: "#202020"}, Elements: els}}}
	r := renderSpec(t, spec, Options{})
	checkMP4(t, r, 1, 640, 360)
	// Text was drawn: the frame is no longer the plain background.
	rgb := frameRGB(t, r.path, 0.9, 640, 360)
	bright := 0
	for i := 0; i < len(rgb); i += 3 {
		if rgb[i] > 200 && rgb[i+1] > 200 && rgb[i+2] > 200 {
			bright++
		}
	}
	if bright < 500 {
		t.Fatalf("only %d text pixels: was the text drawn?", bright)
	}
}

func TestGraphNeverContainsText(t *testing.T) {
	spec := movie.Spec{Resolution: "hd", Scenes: []movie.Scene{
		{Duration: 2, Background: movie.Background{Color: "#000000"}, Transition: &movie.Transition{Type: "fade"},
			Elements: []movie.Element{{Type: "text", Text: "SECRET'[x];%{pts}"}, {Type: "image", URL: "https://a.test/SECRET.png"}}},
		{Duration: 2, Background: movie.Background{Gradient: &movie.Gradient{From: "#000000", To: "#ffffff"}},
			Elements: []movie.Element{{Type: "text", Text: "SECRET two"}}},
	}}
	spec.Normalize()
	p := graphParams{font: "font.ttf", textFile: map[[2]int]string{{0, 0}: "text0_0.txt", {1, 0}: "text1_0.txt"},
		still: map[[2]int]int{{0, 1}: 0}, stills: []still{{media: "https://a.test/SECRET.png", fit: "contain", w: 1280, h: 720, file: "still0.nut"}}, watermark: true, wmFile: "watermark.txt"}
	inputs, graph := buildGraph(spec, newTimeline(spec), p)
	if strings.Contains(graph, "SECRET") || strings.Contains(graph, "a.test") {
		t.Fatalf("user input in the graph:\n%s", graph)
	}
	for _, want := range []string{"textfile=text0_0.txt", "expansion=none", "xfade=transition=fade", "drawbox="} {
		if !strings.Contains(graph, want) {
			t.Errorf("graph lacks %q", want)
		}
	}
	if len(inputs) != 1 || inputs[0].file != "still0.nut" {
		t.Fatalf("inputs %+v", inputs)
	}
	runs := plan(spec, newTimeline(spec), inputs, graph, "/tmp/o.mp4", Options{}, -1)
	if len(runs) != 1 {
		t.Fatalf("%d runs for an mp4", len(runs))
	}
	joined := strings.Join(runs[0].args, " ")
	for _, want := range []string{"-protocol_whitelist file -threads 1 -an -sn -dn -f nut", "-pix_fmt yuv420p", "-movflags +faststart", "-c:v libx264"} {
		if !strings.Contains(joined, want) {
			t.Errorf("args lack %q: %s", want, joined)
		}
	}
	if strings.Contains(joined, "-c:a") {
		t.Error("audio codec without audio")
	}
}

func TestWatermark(t *testing.T) {
	const bg = 0x2a9d8f
	spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{{Duration: 1, Background: movie.Background{Color: "#2a9d8f"}}}}
	x, y, size := MarkerBox(640, 360)
	cases := []struct {
		name      string
		watermark bool
		want      uint32
	}{
		{"sandbox", true, MarkerColor},
		{"live", false, bg},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := renderSpec(t, spec, Options{Watermark: c.watermark})
			for _, at := range []float64{0, 0.5, 0.96} {
				rgb := frameRGB(t, r.path, at, 640, 360)
				// The block's inside, away from chroma-blurred edges.
				got := regionColor(rgb, 640, x+4, y+4, size-8)
				if !near(got, c.want, 24) {
					t.Fatalf("t=%.2f marker region %v, want #%06x", at, got, c.want)
				}
				// The text band crosses the center: it changes those pixels
				// only when watermarked.
				center := regionColor(rgb, 640, 290, 150, 60)
				if near(center, bg, 3) == c.watermark {
					t.Fatalf("t=%.2f center %v: watermark text present=%v, want %v", at, center, !c.watermark, c.watermark)
				}
			}
		})
	}
}

func TestImageOverlayAndAudio(t *testing.T) {
	a := assets{
		"https://a.test/red.png":  pngImage(t, 100, 50, color.NRGBA{255, 0, 0, 255}),
		"https://a.test/tone.wav": wavTone(0.5), // shorter than the video: padded
	}
	spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{{Duration: 1.2, Background: movie.Background{Color: "#0000ff"},
		Elements: []movie.Element{
			{Type: "image", URL: "https://a.test/red.png", Width: 200, Height: 100, Position: "top-left"},
			{Type: "image", URL: "https://a.test/red.png", Width: 160, Height: 160, Fit: "fill", Position: "bottom-right", Start: 0.6},
		}}},
		Audio: &movie.Audio{URL: "https://a.test/tone.wav", Volume: 0.5},
	}
	r := renderSpec(t, spec, Options{Fetch: a.fetch})
	checkMP4(t, r, 1.2, 640, 360)
	if r.probe.Audio == nil || r.probe.Audio.Codec != "aac" {
		t.Fatalf("audio %+v", r.probe.Audio)
	}
	cases := []struct {
		name   string
		at     float64
		x, y   int
		want   uint32
		inside bool
	}{
		{"contain: 100x50 scaled to 200x100 at top-left", 0.1, 20, 20, 0xff0000, true},
		{"right of the image is background", 0.1, 260, 20, 0x0000ff, false},
		{"bottom-right image not yet shown", 0.2, 560, 280, 0x0000ff, false},
		{"bottom-right image shown from 0.6 s", 0.9, 560, 280, 0xff0000, true},
	}
	for _, c := range cases {
		got := regionColor(frameRGB(t, r.path, c.at, 640, 360), 640, c.x, c.y, 20)
		if !near(got, c.want, 40) {
			t.Errorf("%s: %v, want #%06x", c.name, got, c.want)
		}
	}
}

func TestAssetErrors(t *testing.T) {
	guard := &egress.Guard{}
	cases := []struct {
		name  string
		url   string
		fetch func(context.Context, string, io.Writer) error
		field string
		check func(error) bool
	}{
		{"egress guard refuses a private address", "https://10.0.0.1/x.png",
			func(ctx context.Context, u string, w io.Writer) error { return guard.Fetch(ctx, u, 1<<20, w) },
			"/scenes/0/elements/0/url", func(err error) bool { var re *egress.RefusedError; return errors.As(err, &re) }},
		{"not an image", "https://a.test/page.html", assets{"https://a.test/page.html": []byte("<html>#EXTM3U</html>")}.fetch,
			"/scenes/0/elements/0/url", func(err error) bool { return strings.Contains(err.Error(), "unsupported image format") }},
		{"size cap enforced here too", "https://a.test/big.png", assets{"https://a.test/big.png": make([]byte, 2048)}.fetch,
			"/scenes/0/elements/0/url", func(err error) bool { return strings.Contains(err.Error(), "limit") }},
		{"no fetcher", "https://a.test/x.png", nil,
			"/scenes/0/elements/0/url", func(err error) bool { return strings.Contains(err.Error(), "not configured") }},
	}
	ffmpeg, _ := tools(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{{Duration: 1, Background: movie.Background{Color: "#000000"},
				Elements: []movie.Element{{Type: "image", URL: c.url}}}}}
			work := t.TempDir()
			_, err := Render(context.Background(), spec, filepath.Join(t.TempDir(), "o.mp4"), Options{FFmpeg: ffmpeg, WorkDir: work, Fetch: c.fetch, MaxAssetBytes: 1024})
			var ae *AssetError
			if !errors.As(err, &ae) || ae.Field != c.field || !c.check(err) {
				t.Fatalf("got %v", err)
			}
			if left, _ := os.ReadDir(work); len(left) != 0 {
				t.Fatalf("work dir not cleaned: %v", left)
			}
		})
	}
}

func TestCancelKillsFFmpeg(t *testing.T) {
	ffmpeg, _ := tools(t)
	// Long enough that it cannot finish before the cancel.
	spec := movie.Spec{Resolution: "full-hd", Scenes: []movie.Scene{{Duration: 120, Background: movie.Background{Gradient: &movie.Gradient{From: "#000000", To: "#ffffff"}},
		Elements: []movie.Element{{Type: "text", Text: "long"}}}}}
	work, out := t.TempDir(), filepath.Join(t.TempDir(), "o.mp4")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := Render(ctx, spec, out, Options{FFmpeg: ffmpeg, WorkDir: work, Progress: func(p int) { once.Do(func() { close(started) }) }})
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("render never started")
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	t0 := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Fatalf("took %v to stop", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("render did not stop after cancel")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("partial output left: %v", err)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("work dir not cleaned: %v", left)
	}
}

func TestFindTools(t *testing.T) {
	layer := t.TempDir()
	for _, n := range []string{"ffmpeg", "ffprobe"} {
		if err := os.WriteFile(filepath.Join(layer, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	onPath := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	missing := func(name string) (string, error) { return "", exec.ErrNotFound }
	cases := []struct {
		name       string
		dirs       []string
		look       func(string) (string, error)
		wantFFmpeg string
		wantErr    string
	}{
		{"layer first", []string{layer}, onPath, filepath.Join(layer, "ffmpeg"), ""},
		{"PATH when no layer", []string{t.TempDir()}, onPath, "/usr/bin/ffmpeg", ""},
		{"nowhere", []string{t.TempDir()}, missing, "", "install ffmpeg"},
	}
	for _, c := range cases {
		ff, fp, err := findTools(c.dirs, c.look)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err %v", c.name, err)
			}
			continue
		}
		if err != nil || ff != c.wantFFmpeg || filepath.Base(fp) != "ffprobe" {
			t.Errorf("%s: %s %s %v", c.name, ff, fp, err)
		}
	}
}

func TestTimeline(t *testing.T) {
	cases := []struct {
		name     string
		spec     movie.Spec
		frames   int
		segments []segment
	}{
		{"cuts", movie.Spec{FPS: 25, Scenes: []movie.Scene{{Duration: 1}, {Duration: 2}}}, 75,
			[]segment{{0, 0, 25, ""}, {1, 0, 50, ""}}},
		{"one transition", movie.Spec{FPS: 25, Scenes: []movie.Scene{{Duration: 1, Transition: &movie.Transition{Type: "fade", Duration: 0.4}}, {Duration: 2}}}, 65,
			[]segment{{0, 0, 15, ""}, {0, 15, 25, "fade"}, {1, 10, 50, ""}}},
		{"transitions use a whole scene", movie.Spec{FPS: 10, Scenes: []movie.Scene{
			{Duration: 1, Transition: &movie.Transition{Type: "fade", Duration: 0.5}},
			{Duration: 1, Transition: &movie.Transition{Type: "wipeleft", Duration: 0.5}},
			{Duration: 1}}}, 20,
			[]segment{{0, 0, 5, ""}, {0, 5, 10, "fade"}, {1, 5, 10, "wipeleft"}, {2, 5, 10, ""}}},
		{"rounding to frames", movie.Spec{FPS: 30, Scenes: []movie.Scene{{Duration: 0.333}, {Duration: 0.01}}}, 11,
			[]segment{{0, 0, 10, ""}, {1, 0, 1, ""}}},
	}
	for _, c := range cases {
		tl := newTimeline(c.spec)
		if tl.total != c.frames {
			t.Errorf("%s: %d frames, want %d", c.name, tl.total, c.frames)
		}
		if got := tl.segments(c.spec); fmt.Sprint(got) != fmt.Sprint(c.segments) {
			t.Errorf("%s: segments %v, want %v", c.name, got, c.segments)
		}
	}
}

func TestWrapText(t *testing.T) {
	cases := []struct {
		text      string
		width, fs int
		want      string
	}{
		{"short", 600, 60, "short"},
		{"one two three four", 300, 50, "one two\nthree four"},
		{"keep\nnewlines", 600, 60, "keep\nnewlines"},
		{"abcdefghijklmnop", 200, 50, "abcdef\nghijkl\nmnop"},
		{"", 100, 10, ""},
	}
	for _, c := range cases {
		if got := wrapText(c.text, c.width, c.fs); got != c.want {
			t.Errorf("wrap(%q, %d, %d) = %q, want %q", c.text, c.width, c.fs, got, c.want)
		}
	}
}

func TestSniff(t *testing.T) {
	cases := []struct {
		head         string
		image, audio string
	}{
		{"\x89PNG\r\n\x1a\n....", "png_pipe", ""},
		{"\xff\xd8\xff\xe0", "jpeg_pipe", ""},
		{"\xff\xfb\x90\x64", "", "mp3"}, // MPEG-1 layer III frame, no ID3 tag
		{"\xff\xf1\x50\x80", "", "aac"}, // ADTS
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp_pipe", ""},
		{"RIFF\x00\x00\x00\x00WAVEfmt ", "", "wav"},
		{"ID3\x04", "", "mp3"},
		{"\x00\x00\x00\x20ftypM4A ", "", "mov"},
		{"#EXTM3U\n#EXT-X-", "", ""},
		{"ffconcat version 1.0", "", ""},
		{"<svg xmlns=", "", ""},
	}
	for _, c := range cases {
		if got := sniffImage([]byte(c.head)); got != c.image {
			t.Errorf("image %q: %q, want %q", c.head, got, c.image)
		}
		if got := sniffAudio([]byte(c.head)); got != c.audio {
			t.Errorf("audio %q: %q, want %q", c.head, got, c.audio)
		}
	}
}

func TestTimelineDoesNotDrift(t *testing.T) {
	// 12.5-frame scenes and 2.5-frame transitions: rounding each one alone
	// would drift by up to a frame per scene.
	for _, fps := range []int{24, 25, 30} {
		var scenes []movie.Scene
		for i := 0; i < 40; i++ {
			scenes = append(scenes, movie.Scene{Duration: 0.5, Transition: &movie.Transition{Type: "fade", Duration: 0.1}})
		}
		scenes[len(scenes)-1].Transition = nil
		spec := movie.Spec{FPS: fps, Scenes: scenes}
		tl := newTimeline(spec)
		if d := math.Abs(float64(tl.total) - spec.Duration()*float64(fps)); d > 0.5+1e-9 {
			t.Errorf("fps %d: %d frames for %.3f s (off by %.2f frames)", fps, tl.total, spec.Duration(), d)
		}
		sum := 0
		for _, sg := range tl.segments(spec) {
			sum += sg.to - sg.from
		}
		if sum != tl.total {
			t.Errorf("fps %d: segments hold %d frames, timeline %d", fps, sum, tl.total)
		}
	}
}
