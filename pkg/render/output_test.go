package render

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"image/jpeg"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/movie"
)

// outputSpec has what every format must carry: two scenes with text, an
// image, a gradient and a transition, and a soundtrack.
func outputSpec(t testing.TB) (movie.Spec, assets) {
	a := assets{
		"https://a.test/red.png":  pngImage(t, 60, 60, color.NRGBA{255, 0, 0, 255}),
		"https://a.test/tone.wav": wavTone(3),
	}
	spec := twoScenes()
	spec.Scenes[0].Elements = append(spec.Scenes[0].Elements,
		movie.Element{Type: "image", URL: "https://a.test/red.png", Width: 120, Height: 120, Position: "top-left", Start: 0.3})
	spec.Scenes[0].Transition = &movie.Transition{Type: "slideleft", Duration: 0.4}
	spec.Audio = &movie.Audio{URL: "https://a.test/tone.wav"}
	return spec, a
}

// TestFormats renders the same sandbox movie as mp4, webm and gif with a
// thumbnail, and checks with ffprobe that each is what the format
// promises, at the movie's size and length, watermarked, with a JPEG
// poster of the movie's size.
func TestFormats(t *testing.T) {
	cases := []struct {
		format, container, video, audio string
		fps                             string
	}{
		{movie.FormatMP4, "mp4", "h264", "aac", "25/1"},
		{movie.FormatWebM, "webm", "vp9", "opus", "25/1"},
		{movie.FormatGIF, "gif", "gif", "", "25/1"},
	}
	for _, c := range cases {
		t.Run(c.format, func(t *testing.T) {
			spec, a := outputSpec(t)
			spec.Format = c.format
			thumb := filepath.Join(t.TempDir(), "thumb.jpg")
			var seen []int
			r := renderSpec(t, spec, Options{Fetch: a.fetch, Watermark: true, Thumbnail: thumb, Progress: func(p int) { seen = append(seen, p) }})
			p := r.probe
			if !strings.Contains(p.FormatName, c.container) || p.Video.Codec != c.video || p.Video.Width != 640 || p.Video.Height != 360 || p.Video.FrameRate != c.fps {
				t.Errorf("probe %s %+v, want %s %s 640x360 at %s", p.FormatName, p.Video, c.container, c.video, c.fps)
			}
			if c.audio == "" && p.Audio != nil || c.audio != "" && (p.Audio == nil || p.Audio.Codec != c.audio) {
				t.Errorf("audio %+v, want %q", p.Audio, c.audio)
			}
			// 1.8 s: 1 s and 1.2 s joined by a 0.4 s slide. WebM's Opus
			// track may end a packet later than the video.
			if math.Abs(p.Duration-1.8) > 0.041 {
				t.Errorf("duration %.3f, want 1.8", p.Duration)
			}
			if len(seen) == 0 || seen[len(seen)-1] != 100 {
				t.Errorf("progress %v does not end at 100", seen)
			}
			for i := 1; i < len(seen); i++ {
				if seen[i] <= seen[i-1] {
					t.Errorf("progress not increasing: %v", seen)
				}
			}
			// The watermark's marker, on the file and on the poster.
			mx, my, size := MarkerBox(640, 360)
			if got := regionColor(frameRGB(t, r.path, 1.5, 640, 360), 640, mx+4, my+4, size-8); !near(got, MarkerColor, 32) {
				t.Errorf("marker at 1.5 s: %v", got)
			}
			f, err := os.Open(thumb)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := jpeg.Decode(f)
			if err != nil {
				t.Fatalf("thumbnail is not a JPEG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 360 {
				t.Fatalf("thumbnail %v, want 640x360", b)
			}
			r0, g0, b0, _ := img.At(mx+size/2, my+size/2).RGBA()
			if !near([3]int{int(r0 >> 8), int(g0 >> 8), int(b0 >> 8)}, MarkerColor, 32) {
				t.Errorf("thumbnail lacks the watermark marker")
			}
		})
	}
}

// TestThumbnailShowsTheChosenFrame: the default poster is the title card
// once everything on it is in (here the image from 0.3 s), and a
// thumbnail time picks that frame instead.
func TestThumbnailShowsTheChosenFrame(t *testing.T) {
	spec, a := outputSpec(t)
	spec.Audio = nil
	redAt := func(thumb string) bool {
		b, err := os.ReadFile(thumb)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r, g, bl, _ := img.At(60, 60).RGBA() // inside the top-left image box
		return near([3]int{int(r >> 8), int(g >> 8), int(bl >> 8)}, 0xff0000, 40)
	}
	dir := t.TempDir()
	def := filepath.Join(dir, "default.jpg")
	renderSpec(t, spec, Options{Fetch: a.fetch, Thumbnail: def})
	if !redAt(def) {
		t.Error("the default poster does not show the image that is in from 0.3 s")
	}
	at := 0.1 // before the image
	spec.Thumbnail = &movie.Thumbnail{Time: &at}
	early := filepath.Join(dir, "early.jpg")
	renderSpec(t, spec, Options{Fetch: a.fetch, Thumbnail: early})
	if redAt(early) {
		t.Error("thumbnail.time 0.1 shows the image that only appears at 0.3 s")
	}
}

func TestPosterFrame(t *testing.T) {
	at := func(f float64) *movie.Thumbnail { return &movie.Thumbnail{Time: &f} }
	text := func(start float64) movie.Element { return movie.Element{Type: "text", Text: "x", Start: start} }
	bg := movie.Background{Color: "#000000"}
	cases := []struct {
		name string
		spec movie.Spec
		want int
	}{
		{"title, then subtitle: once both are in", movie.Spec{Scenes: []movie.Scene{
			{Duration: 3, Background: bg, Elements: []movie.Element{text(0.3), text(1)}}}}, 25},
		{"content from the start", movie.Spec{Scenes: []movie.Scene{
			{Duration: 3, Background: bg, Elements: []movie.Element{text(0)}}}}, 0},
		{"no elements at all", movie.Spec{Scenes: []movie.Scene{{Duration: 2, Background: bg}}}, 0},
		{"first scene is bare: the second scene's, after the transition", movie.Spec{Scenes: []movie.Scene{
			{Duration: 2, Background: bg, Transition: &movie.Transition{Type: "fade", Duration: 0.4}},
			{Duration: 2, Background: bg, Elements: []movie.Element{text(0)}}}}, 50},
		{"an element that leaves: the moment the most show", movie.Spec{Scenes: []movie.Scene{
			{Duration: 4, Background: bg, Elements: []movie.Element{{Type: "text", Text: "a", End: 1}, text(0.5), text(2)}}}}, 13},
		{"the spec's time", movie.Spec{Thumbnail: at(2.01), Scenes: []movie.Scene{
			{Duration: 3, Background: bg, Elements: []movie.Element{text(0.3)}}}}, 50},
		{"the spec's time, last frame", movie.Spec{Thumbnail: at(2.999), Scenes: []movie.Scene{{Duration: 3, Background: bg}}}, 74},
	}
	for _, c := range cases {
		c.spec.Resolution = "sd"
		c.spec.Normalize()
		if err := c.spec.Validate(movie.DefaultLimits(60, false)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := posterFrame(c.spec, newTimeline(c.spec)); got != c.want {
			t.Errorf("%s: frame %d, want %d", c.name, got, c.want)
		}
	}
}

// TestDrawnOnceMatchesEveryFrame: drawing each still stretch once and
// repeating it gives the very frames drawing every frame gives, texts and
// images coming and going, gradients, a transition and the watermark
// included; only the filter graph's work differs.
func TestDrawnOnceMatchesEveryFrame(t *testing.T) {
	ffmpeg, _ := tools(t)
	spec, a := outputSpec(t)
	spec.Audio = nil
	spec.Scenes[0].Transition.Type = "fade" // slides read a stray row on their first frame (ffmpeg 5.1)
	spec.Scenes[1].Elements = append(spec.Scenes[1].Elements, movie.Element{Type: "text", Text: "brief", Start: 0.5, End: 0.7, Position: "top"})
	spec.Normalize()
	frames := func(everyFrame bool) (string, string) {
		job, inputs, graph := graphJob(t, spec, Options{Fetch: a.fetch, Watermark: true}, func(p *graphParams) { p.everyFrame = everyFrame }, "")
		args := ffmpegArgs(inputs, "graph.txt", 2, "-map", "[video]", "-f", "framemd5", "-y", "frames.md5")
		if _, err := run(context.Background(), ffmpeg, job, args, 0, nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(job, "frames.md5"))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n"), graph
	}
	once, onceGraph := frames(false)
	every, everyGraph := frames(true)
	if n := strings.Count(once, "\n") + 1; n != 45 { // 1.8 s at 25 fps
		t.Fatalf("%d frames, want 45", n)
	}
	if once != every {
		t.Fatalf("frames differ:\ndrawn once:\n%s\nevery frame:\n%s", once, every)
	}
	// Drawn once: each still scene is one drawing per run of frames
	// showing the same elements, repeated by fps (scene 0: before and
	// after the image comes in at frame 8), on its one background frame
	// looped; every frame: no repeats.
	if !strings.Contains(onceGraph, "loop=loop=-1:size=1,trim=end_frame=2,setpts=N/(25*TB)[sc0e0]") ||
		!strings.Contains(onceGraph, "setpts='(8*gte(N,1)+17*gte(N,2))/(FR*TB)',fps=25,trim=end_frame=25[sc0]") ||
		strings.Contains(everyGraph, "fps=") {
		t.Errorf("graphs:\n%s\n\n%s", onceGraph, everyGraph)
	}
}

// TestMovingClipsAreDrawnEveryFrame: a clip moves, so a scene that shows
// one is drawn on every frame; an image is a still (a GIF gives its first
// frame, fitted once), so a scene of images is drawn once and repeated.
func TestMovingClipsAreDrawnEveryFrame(t *testing.T) {
	spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{
		{Duration: 1, Background: movie.Background{Color: "#000000"}, Elements: []movie.Element{{Type: "video", URL: "https://a.test/a.mp4"}}},
		{Duration: 1, Background: movie.Background{Color: "#000000"}, Elements: []movie.Element{{Type: "image", URL: "https://a.test/a.gif"}}},
	}}
	spec.Normalize()
	p := graphParams{font: "font.ttf", clips: map[[2]int]media{{0, 0}: {file: "asset0", format: "mov", duration: 2}},
		still: map[[2]int]int{{1, 0}: 0}, stills: []still{{media: "https://a.test/a.gif", fit: "contain", w: 640, h: 360, file: "still0.nut"}}}
	_, graph := buildGraph(spec, newTimeline(spec), p)
	if !strings.Contains(graph, "[bg0_0]loop=loop=-1:size=1,trim=end_frame=25,") || // 25 frames drawn
		!strings.Contains(graph, "[bg0_1]loop=loop=-1:size=1,trim=end_frame=1,") || // 1 drawn, repeated
		strings.Count(graph, "fps=25,trim=end_frame=25") != 1 {
		t.Fatalf("graph:\n%s", graph)
	}
}

// TestDefaultMP4IsSmall is the check on examples/two-scenes.json:
// the default render is at most 1.25× the bytes of a bare x264 veryfast
// CRF 23 encode of its own frames (it was 4.91× with ultrafast).
func TestDefaultMP4IsSmall(t *testing.T) {
	body, err := os.ReadFile("../../examples/two-scenes.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := movie.Parse(body, movie.DefaultLimits(600, false))
	if err != nil {
		t.Fatal(err)
	}
	r := renderSpec(t, spec, Options{})
	ffmpeg, ffprobe := tools(t)
	ratio, err := ReencodeRatio(context.Background(), ffmpeg, ffprobe, r.path, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("default mp4 %d bytes, %.3f× a veryfast CRF 23 re-encode of its frames", r.result.SizeBytes, ratio)
	if ratio > 1.25 {
		t.Fatalf("default mp4 is %.2f× veryfast's bytes, want ≤ 1.25", ratio)
	}
}

func TestGIFRate(t *testing.T) {
	for fps, want := range map[int]int{1: 1, 10: 10, 12: 10, 24: 20, 25: 25, 30: 25, 50: 50, 60: 50} {
		if got := gifRate(fps); got != want {
			t.Errorf("gifRate(%d) = %d, want %d", fps, got, want)
		}
	}
}

func TestPlan(t *testing.T) {
	spec, _ := outputSpec(t)
	cases := []struct {
		format string
		runs   int
		want   []string
	}{
		{movie.FormatMP4, 1, []string{"-c:v libx264 -preset ultrafast -crf 23", "mbtree=1", "keyint=250:min-keyint=25", "-c:a aac", "-movflags +faststart -f mp4 -y /o/v", "-map [thumb] -frames:v 1 -c:v mjpeg"}},
		{movie.FormatWebM, 1, []string{"-c:v libvpx-vp9 -b:v 0 -crf 34", "-deadline realtime", "-g 250", "-c:a libopus", "-f webm -y /o/v"}},
		{movie.FormatGIF, 2, []string{"-f png_pipe -max_pixels 40000000 -i palette.png", "-c:v gif -f gif -y /o/v"}},
	}
	for _, c := range cases {
		s := spec
		s.Format = c.format
		s.Normalize()
		if c.format == movie.FormatGIF {
			s.Audio = nil
		}
		p := graphParams{font: "font.ttf", textFile: map[[2]int]string{{0, 0}: "t0", {1, 0}: "t1"},
			still: map[[2]int]int{{0, 1}: 0}, stills: []still{{media: "https://a.test/red.png", fit: "contain", w: 120, h: 120, file: "still0.nut"}}}
		if s.Audio != nil {
			p.audioFile, p.audioFmt = "asset1", "wav"
		}
		tl := newTimeline(s)
		inputs, graph := buildGraph(s, tl, p)
		runs := plan(s, tl, inputs, graph, "/o/v", Options{Thumbnail: "/o/t.jpg", Threads: 2}, posterFrame(s, tl))
		if len(runs) != c.runs {
			t.Fatalf("%s: %d runs", c.format, len(runs))
		}
		last := strings.Join(runs[len(runs)-1].args, " ")
		for _, w := range c.want {
			if !strings.Contains(last, w) {
				t.Errorf("%s: args lack %q:\n%s", c.format, w, last)
			}
		}
		if c.format == movie.FormatGIF {
			first := strings.Join(runs[0].args, " ")
			if !strings.Contains(runs[0].graph, "palettegen=max_colors=128") || !strings.Contains(first, "-c:v png -f image2 -update 1 -y palette.png") ||
				strings.Contains(first, "thumb") || !strings.Contains(runs[1].graph, "paletteuse=") || strings.Contains(last, "-map [aout]") {
				t.Errorf("gif runs:\n%s\n%s\n%s", runs[0].graph, first, last)
			}
		}
	}
}

// TestMaskTransitionsLookLikeXfade: every transition drawn as a mask
// (weights xfade draws at half size, blended in yuv420p) or as a slide (a
// window across the two scenes stacked) shows what xfade draws on the
// 4:4:4 frames, frame by frame, compared in 8×8 blocks (the softened edges
// differ pixel by pixel, not in what each part of the frame shows).
func TestMaskTransitionsLookLikeXfade(t *testing.T) {
	ffmpeg, _ := tools(t)
	names := slices.Sorted(maps.Keys(maskTransitions))
	names = append(names, slices.Sorted(maps.Keys(slides))...)
	spec := movie.Spec{Resolution: "sd", FPS: 10}
	for i, name := range names {
		sc := movie.Scene{Duration: 1, Transition: &movie.Transition{Type: name, Duration: 0.6},
			Elements: []movie.Element{{Type: "text", Text: fmt.Sprintf("Scene %d", i), FontSize: 96}}}
		if i%2 == 0 {
			sc.Background.Gradient = &movie.Gradient{From: "#0b132b", To: "#f7f7f7", Direction: movie.Directions[i%3]}
		} else {
			sc.Background.Color = "#e07a1f"
		}
		spec.Scenes = append(spec.Scenes, sc)
	}
	spec.Scenes = append(spec.Scenes, movie.Scene{Duration: 1, Background: movie.Background{Color: "#000000"}})
	spec.Normalize()
	const bw, bh = 80, 45 // 8×8 blocks of sd
	frames := func(xfadeAll bool) []byte {
		job, inputs, _ := graphJob(t, spec, Options{}, func(p *graphParams) { p.xfadeAll = xfadeAll },
			fmt.Sprintf(";\n[video]scale=%d:%d:flags=area,format=gray[small]", bw, bh))
		args := ffmpegArgs(inputs, "graph.txt", 2, "-map", "[small]", "-f", "rawvideo", "-y", "frames.gray")
		if _, err := run(context.Background(), ffmpeg, job, args, 0, nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(job, "frames.gray"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	masked, xfaded := frames(false), frames(true)
	tl := newTimeline(spec)
	if len(masked) != tl.total*bw*bh || len(xfaded) != len(masked) {
		t.Fatalf("%d and %d bytes, want %d frames of %d", len(masked), len(xfaded), tl.total, bw*bh)
	}
	// Frame by frame, the mean and the largest difference of a block.
	// Dissolve's grain is random per pixel, and the mask's grain is
	// twice as coarse: there, how much of each scene shows is compared.
	for f := 0; f < tl.total; f++ {
		var sum, diff, worst int
		for k := f * bw * bh; k < (f+1)*bw*bh; k++ {
			d := int(masked[k]) - int(xfaded[k])
			diff += d
			d = max(d, -d)
			sum += d
			worst = max(worst, d)
		}
		mean, shift := float64(sum)/(bw*bh), math.Abs(float64(diff))/(bw*bh)
		if tr := transitionAt(spec, tl, f); tr == "dissolve" {
			if shift > 1.5 {
				t.Errorf("frame %d (dissolve): %.2f brighter or darker", f, shift)
			}
		} else if mean > 1.5 || worst > 40 {
			t.Errorf("frame %d (%s): blocks differ by %.2f on average, %d at most", f, tr, mean, worst)
		}
	}
}

// transitionAt names the transition frame f of the video is in, if any.
func transitionAt(s movie.Spec, tl timeline, f int) string {
	at := 0
	for _, sg := range tl.segments(s) {
		if f < at+sg.to-sg.from {
			return sg.xfade
		}
		at += sg.to - sg.from
	}
	return ""
}

// TestFramesStayYUV420: frames are drawn, joined and encoded in yuv420p;
// only a transition xfade draws converts its own frames to 4:4:4 and back
// (here the pixelize: its two inputs up, its output down), and a mask
// transition, a slide and a cut convert nothing. Left free, ffmpeg
// negotiates whole scenes in 4:4:4 and converts every frame of the movie.
func TestFramesStayYUV420(t *testing.T) {
	ffmpeg, _ := tools(t)
	spec := movie.Spec{Resolution: "sd", FPS: 10}
	for i, tr := range []string{"pixelize", "circleopen", "slideup", ""} {
		sc := movie.Scene{Duration: 1, Background: movie.Background{Color: "#203040"},
			Elements: []movie.Element{{Type: "text", Text: fmt.Sprintf("Scene %d", i), Start: 0.3}}}
		if tr != "" {
			sc.Transition = &movie.Transition{Type: tr, Duration: 0.4}
		}
		spec.Scenes = append(spec.Scenes, sc, movie.Scene{Duration: 1, Background: movie.Background{Color: "#402030"}})
	}
	spec.Scenes = spec.Scenes[:len(spec.Scenes)-1]
	spec.Normalize()
	job, inputs, _ := graphJob(t, spec, Options{Watermark: true}, nil, "")
	args := ffmpegArgs(inputs, "graph.txt", 2, "-map", "[video]", "-f", "null", "-")
	args[slices.Index(args, "-loglevel")+1] = "debug"
	cmd := exec.Command(ffmpeg, args...)
	cmd.Dir = job
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Each scaler ffmpeg inserts logs its conversion (maybe more than once).
	conv := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if i := strings.Index(l, "[auto_scale_"); i >= 0 && strings.Contains(l, "->") {
			name := l[i : i+strings.Index(l[i:], " ")]
			from, to, _ := strings.Cut(l[strings.Index(l, "fmt:"):], "->")
			conv[name] = strings.Fields(from)[0] + " -> " + strings.Fields(to)[2]
		}
	}
	var up, down, other int
	for _, c := range conv {
		switch c {
		case "fmt:yuv420p -> fmt:yuv444p":
			up++
		case "fmt:yuv444p -> fmt:yuv420p":
			down++
		default:
			other++
		}
	}
	if up != 2 || down != 1 || other != 0 {
		t.Fatalf("conversions %v: want the pixelize's 2 up and 1 down", conv)
	}
}
