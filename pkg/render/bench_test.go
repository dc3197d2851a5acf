package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"

	"github.com/framegate/framegate/pkg/movie"
	"github.com/framegate/framegate/pkg/templates"
)

// The encoding benchmarks compare every render with a bare ffmpeg x264
// veryfast CRF 23 encode of the very same frames, measured in the same
// run: the frames are rendered losslessly once (raw YUV, so reading them
// costs the baseline nothing), then each iteration times our render and
// the bare encode one after the other, alternating which goes first, and
// the medians are reported. Wall time is what a customer waits; CPU time
// (user + system of the ffmpeg processes) is reported too because it
// barely moves when other work shares the machine. Bytes are the video
// stream's, so a soundtrack does not count against the comparison.
//
//	go test -run '^$' -bench 'RenderEncoding|RenderQuality' -benchtime 3x ./pkg/render

// benchCase is a spec to render and the media it fetches.
type benchCase struct {
	name      string
	spec      movie.Spec
	watermark bool
	assets    assets
}

// benchCases are every file in examples/ (template calls instantiated) and
// worstCase at hd and at vertical.
func benchCases(b *testing.B) []benchCase {
	b.Helper()
	files, err := filepath.Glob("../../examples/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("examples: %v", err)
	}
	lim := movie.DefaultLimits(600, false)
	var cases []benchCase
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		// "@FILENAME" names a sample upload (framegate dev uploads them):
		// here an asset id each, answered by mediaFor.
		names := map[string]string{}
		body = sampleName.ReplaceAllFunc(body, func(n []byte) []byte {
			if _, ok := names[string(n)]; !ok {
				names[string(n)] = fmt.Sprintf(`"ast_%026d"`, len(names))
			}
			return []byte(names[string(n)])
		})
		var call struct {
			TemplateID string         `json:"templateId"`
			Variables  map[string]any `json:"variables"`
		}
		var spec movie.Spec
		if json.Unmarshal(body, &call) == nil && call.TemplateID != "" {
			tpl, ok := templates.Find(call.TemplateID)
			if !ok {
				b.Fatalf("%s: no template %s", f, call.TemplateID)
			}
			spec, err = tpl.Instantiate(call.Variables, lim)
		} else {
			spec, err = movie.Parse(body, lim)
		}
		if err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, benchCase{name: strings.TrimSuffix(filepath.Base(f), ".json"), spec: spec, assets: mediaFor(b, spec)})
	}
	for _, res := range []string{"hd", "vertical"} {
		w := worstCase(res)
		name := "worst-case"
		if res != "hd" {
			name += "-" + res
		}
		cases = append(cases, benchCase{name: name, spec: w, watermark: true, assets: mediaFor(b, w)})
	}
	return cases
}

// worstCase is the heaviest spec validation accepts at the default frame
// rate: a transition every 1.5 s, among them the per-pixel work of
// radial, circleopen, dissolve and pixelize (ffmpeg draws those at 60 to
// 75 ms a frame at 1080×1920), a full-frame photo, four texts entering one
// after another on every scene, gradients, a soundtrack and the sandbox
// watermark, at resolution res. The cost of a render grows with frames ×
// pixels: vertical (or full-hd) has 2.25 times the pixels of hd, 60 fps
// 2.4 times the frames of 25.
func worstCase(res string) movie.Spec {
	transitions := []string{"fade", "slideleft", "circleopen", "dissolve", "pixelize", "wipeup", "radial"}
	s := movie.Spec{Resolution: res, FPS: 25, Audio: &movie.Audio{URL: "https://media.test/track.wav", Volume: 0.8}}
	for i := 0; i < 8; i++ {
		sc := movie.Scene{Duration: 2}
		if i%2 == 0 {
			sc.Background.Gradient = &movie.Gradient{From: "#0b132b", To: "#f72585", Direction: movie.Directions[i/2%3]}
		} else {
			sc.Background.Color = "#1c2541"
		}
		if i%3 == 1 {
			sc.Elements = append(sc.Elements, movie.Element{Type: "image", URL: "https://media.test/photo.png", Fit: "cover"})
		}
		for k, pos := range []string{"top", "center", "bottom", "left"} {
			sc.Elements = append(sc.Elements, movie.Element{Type: "text", Text: fmt.Sprintf("Scene %d · line %d", i+1, k+1),
				FontSize: 48 + 16*k, Position: pos, Start: 0.2 * float64(k)})
		}
		if i < 7 {
			sc.Transition = &movie.Transition{Type: transitions[i%len(transitions)], Duration: 0.5}
		}
		s.Scenes = append(s.Scenes, sc)
	}
	s.Normalize()
	return s
}

var sampleName = regexp.MustCompile(`"@[\w.-]+\.\w+"`)

// mediaFor answers every medium of spec, by URL or asset id: images with
// a photo-like picture, clips with a 2 s test pattern and tone (like
// framegate dev's sample clip), sound with a tone.
func mediaFor(b *testing.B, spec movie.Spec) assets {
	a := assets{}
	src := func(url, asset string) string { return url + asset }
	for _, sc := range spec.Scenes {
		for _, e := range sc.Elements {
			switch e.Type {
			case "image":
				a[src(e.URL, e.Asset)] = photoOnce()
			case "video":
				a[src(e.URL, e.Asset)] = clip(b)
			}
		}
		if sc.Audio != nil {
			a[src(sc.Audio.URL, sc.Audio.Asset)] = wavTone(sc.Duration + 1)
		}
	}
	if spec.Audio != nil {
		a[src(spec.Audio.URL, spec.Audio.Asset)] = wavTone(spec.Duration() + 1)
	}
	return a
}

var clipOnce struct {
	sync.Once
	b      []byte
	stored Stored // what an upload's probe stores about it
}

// fetchAsset serves c's media by asset id as the worker does: with what
// the upload's probe stored about the clip.
func (c benchCase) fetchAsset(ctx context.Context, id string, dst io.Writer) (Stored, error) {
	var s Stored
	if b, ok := c.assets[id]; ok && bytes.Equal(b, clipOnce.b) {
		s = clipOnce.stored
	}
	return s, c.assets.fetch(ctx, id, dst)
}

func clip(b *testing.B) []byte {
	clipOnce.Do(func() {
		ffmpeg, ffprobe := tools(b)
		out := filepath.Join(b.TempDir(), "clip.mp4")
		if o, err := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
			"-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart", "-y", out).CombinedOutput(); err != nil {
			b.Fatalf("sample clip: %v: %s", err, o)
		}
		var err error
		if clipOnce.b, err = os.ReadFile(out); err != nil {
			b.Fatal(err)
		}
		pr, err := ProbeMedia(context.Background(), ffprobe, out, "mov", "file")
		if err != nil || len(pr.Video) == 0 {
			b.Fatalf("probe the sample clip: %v", err)
		}
		clipOnce.stored = pr.stored()
	})
	return clipOnce.b
}

var photoOnce = sync.OnceValue(func() []byte {
	// Smooth light and color with grain, as in a photograph: harder to
	// code than the flat pictures the examples otherwise are.
	const w, h = 1200, 800
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g := func(base int) uint8 { return uint8(min(255, max(0, base+rng.IntN(25)-12))) }
			img.SetNRGBA(x, y, color.NRGBA{g(40 + 180*x/w), g(60 + 120*y/h), g(200 - 150*x/w), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

// measurement is one timed ffmpeg job.
type measurement struct {
	wall, cpu float64 // seconds
	bytes     int64   // of the video stream
}

// childCPU is the user + system time of this process's finished children.
func childCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func timed(b *testing.B, fn func() string) measurement {
	b.Helper()
	cpu0, t0 := childCPU(), time.Now()
	out := fn()
	m := measurement{wall: time.Since(t0).Seconds(), cpu: childCPU() - cpu0}
	m.bytes = videoBytes(b, out)
	return m
}

// videoBytes is VideoBytes or a failed benchmark.
func videoBytes(b *testing.B, path string) int64 {
	b.Helper()
	_, ffprobe := tools(b)
	n, err := VideoBytes(context.Background(), ffprobe, path)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// rawFrames renders the frames of c, watermark included, to a raw YUV
// file in dir: exactly what the encoder of a render receives.
func rawFrames(b *testing.B, c benchCase, dir string) string {
	b.Helper()
	ffmpeg, _ := tools(b)
	job, inputs := framesJob(b, c, c.spec)
	out := filepath.Join(dir, "frames.yuv")
	args := ffmpegArgs(inputs, "graph.txt", runtime.NumCPU(), "-map", "[video]", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-y", out)
	if _, err := run(context.Background(), ffmpeg, job, args, 0, nil); err != nil {
		b.Fatal(err)
	}
	return out
}

// framesJob is graphJob for the frames of spec (c's media and watermark,
// no sound).
func framesJob(b *testing.B, c benchCase, spec movie.Spec) (job string, inputs []input) {
	b.Helper()
	spec, err := normalizedCopy(spec)
	if err != nil {
		b.Fatal(err)
	}
	silence(&spec)
	job, inputs, _ = graphJob(b, spec, Options{Fetch: c.assets.fetch, FetchAsset: c.fetchAsset, Watermark: c.watermark}, nil, "")
	return job, inputs
}

// veryfast is the baseline: Veryfast of the raw frames.
func veryfast(b *testing.B, spec movie.Spec, frames, out string) string {
	b.Helper()
	ffmpeg, _ := tools(b)
	w, h := spec.Size()
	if err := Veryfast(context.Background(), ffmpeg, frames, out,
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", w, h), "-r", strconv.Itoa(spec.FPS)); err != nil {
		b.Fatal(err)
	}
	return out
}

// floorParts are the two parts of a render that no arrangement of it can
// avoid, each timed alone: drawing the frames (our filter graph into
// ffmpeg's null muxer) and encoding them (x264 with spec's settings,
// reading the raw frames). Their CPU seconds over the machine's cores are
// the least wall time a render can take here, however its work overlaps.
type floorParts struct{ draw, encode func() measurement }

func newFloorParts(b *testing.B, c benchCase, spec movie.Spec, frames, dir string) floorParts {
	ffmpeg, _ := tools(b)
	job, inputs := framesJob(b, c, spec)
	cpu := func(args []string) measurement {
		cpu0 := childCPU()
		if _, err := run(context.Background(), ffmpeg, job, args, 0, nil); err != nil {
			b.Fatal(err)
		}
		return measurement{cpu: childCPU() - cpu0}
	}
	w, h := spec.Size()
	encode := append([]string{"-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", w, h),
		"-r", strconv.Itoa(spec.FPS), "-i", frames}, codecArgs(spec, DefaultThreads, false)...)
	encode = append(encode, "-y", filepath.Join(dir, "encode-only."+spec.Format))
	return floorParts{
		draw: func() measurement {
			return cpu(ffmpegArgs(inputs, "graph.txt", DefaultThreads, "-map", "[video]", "-f", "null", "-"))
		},
		encode: func() measurement { return cpu(encode) },
	}
}

// compare alternates n renders of spec with n veryfast encodes of the same
// frames and reports the medians; with floor, also the medians of the
// floor's parts and the floor they make.
func compare(b *testing.B, c benchCase, spec movie.Spec, frames string, floor bool) {
	ffmpeg, _ := tools(b)
	dir := b.TempDir()
	var ours, base []measurement
	var peak int64
	ourRender := func() string {
		out := filepath.Join(dir, "out."+spec.Format)
		res, err := Render(context.Background(), spec, out, Options{
			FFmpeg: ffmpeg, WorkDir: dir, Fetch: c.assets.fetch, FetchAsset: c.fetchAsset, Watermark: c.watermark, Thumbnail: filepath.Join(dir, "thumb.jpg"),
		})
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, res.PeakWorkBytes)
		return out
	}
	bare := func() string { return veryfast(b, spec, frames, filepath.Join(dir, "veryfast.mp4")) }
	var parts floorParts
	var draws, encodes []measurement
	if floor {
		parts = newFloorParts(b, c, spec, frames, dir)
	}
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			ours = append(ours, timed(b, ourRender))
			base = append(base, timed(b, bare))
		} else {
			base = append(base, timed(b, bare))
			ours = append(ours, timed(b, ourRender))
		}
		if floor {
			draws, encodes = append(draws, parts.draw()), append(encodes, parts.encode())
		}
	}
	secs := newTimeline(spec).Duration()
	o, v := medians(ours), medians(base)
	if floor {
		d, e := medians(draws).cpu/secs, medians(encodes).cpu/secs
		b.ReportMetric(d, "draw-cpu-s/video-s")
		b.ReportMetric(e, "encode-cpu-s/video-s")
		b.ReportMetric((d+e)/float64(runtime.NumCPU()), "floor-s/video-s")
	}
	b.ReportMetric(o.wall/secs, "render-s/video-s")
	b.ReportMetric(v.wall/secs, "veryfast-s/video-s")
	b.ReportMetric(o.cpu/secs, "render-cpu-s/video-s")
	b.ReportMetric(v.cpu/secs, "veryfast-cpu-s/video-s")
	b.ReportMetric(float64(o.bytes)/float64(v.bytes), "bytes-ratio")
	b.ReportMetric(float64(o.bytes), "video-bytes")
	b.ReportMetric(float64(v.bytes), "veryfast-bytes")
	b.ReportMetric(float64(peak), "peak-work-bytes")
	b.ReportMetric(0, "ns/op") // the per-iteration time mixes both encodes
}

func medians(ms []measurement) measurement {
	med := func(f func(measurement) float64) float64 {
		v := make([]float64, len(ms))
		for i, m := range ms {
			v[i] = f(m)
		}
		slices.Sort(v)
		if n := len(v); n%2 == 0 {
			return (v[n/2-1] + v[n/2]) / 2
		}
		return v[len(v)/2]
	}
	return measurement{
		wall:  med(func(m measurement) float64 { return m.wall }),
		cpu:   med(func(m measurement) float64 { return m.cpu }),
		bytes: int64(med(func(m measurement) float64 { return float64(m.bytes) })),
	}
}

// rawCache keeps each case's lossless frames across the b.N=1 probe run
// and the measured run of a sub-benchmark.
var rawCache sync.Map

func cachedFrames(b *testing.B, c benchCase) string {
	if f, ok := rawCache.Load(c.name); ok {
		return f.(string)
	}
	dir, err := os.MkdirTemp("", "bench-frames-")
	if err != nil {
		b.Fatal(err)
	}
	f := rawFrames(b, c, dir)
	rawCache.Store(c.name, f)
	return f
}

// BenchmarkRenderEncoding renders every example and the worst case with
// the defaults (mp4, standard) and reports render seconds per video second
// (target ≤ 0.25 on 2 cores) and the video's bytes as a ratio to veryfast's
// (target ≤ 1.25), and the floor under the first (floorParts).
func BenchmarkRenderEncoding(b *testing.B) {
	defer cleanFrames()
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			compare(b, c, c.spec, cachedFrames(b, c), true)
		})
	}
}

// worstSpecs are specs at the edge of the render budget: for each way of
// spending memory (distinct images across transitions, shared images in
// every window, large many-glyph text, many short texts, a mix at the
// tallest resolution and the highest frame rate, and a 40-megapixel image
// to fit, one 4K clip in as many video elements as fit), elements are added until the next one would be refused with
// render_budget_exceeded or the spec is at its structural limits. Rendering
// them is what shows the budget holds: each must stay under 1 GiB. The
// specs are built for the given output format and quality, whose encoder
// the budget charges (a GIF is also held to its 15 s).
func worstSpecs(t testing.TB, format, quality string) (map[string]movie.Spec, assets) {
	lim := movie.DefaultLimits(3600, false)
	a := assets{}
	small := pngImage(t, 64, 64, color.NRGBA{200, 40, 40, 255})
	a["https://assets.test/4k.mp4"] = testsrcClip(t, "3840x2160", "1")
	url := func(k int) string {
		u := fmt.Sprintf("https://assets.test/%d.png", k)
		a[u] = small
		return u
	}
	scenes := func(res string, fps, n int, grad, trans bool) movie.Spec {
		s := movie.Spec{Resolution: res, FPS: fps, Format: format, Quality: quality}
		for i := range n {
			sc := movie.Scene{Duration: 0.3, Background: movie.Background{Color: fmt.Sprintf("#10%02x30", i)}}
			if grad {
				sc.Background = movie.Background{Gradient: &movie.Gradient{From: "#000000", To: fmt.Sprintf("#ff%02x00", i), Direction: "diagonal"}}
			}
			if trans && i < n-1 {
				sc.Transition = &movie.Transition{Type: "fade", Duration: 0.1}
			}
			s.Scenes = append(s.Scenes, sc)
		}
		return s
	}
	cjk := func(k int) string {
		var b strings.Builder
		for r := range 500 {
			b.WriteRune(rune(0x4e00 + (k*500+r)%20000))
		}
		return b.String()
	}
	families := map[string]struct {
		base func(n int) movie.Spec
		elem func(k int) movie.Element
	}{
		"distinct full-frame images, gradients, transitions, full-hd 60 fps": {
			func(n int) movie.Spec { return scenes("full-hd", 60, n, true, true) },
			func(k int) movie.Element { return movie.Element{Type: "image", URL: url(k), Fit: "cover"} },
		},
		"one image in every window, transitions, full-hd": {
			func(n int) movie.Spec { return scenes("full-hd", 25, n, false, true) },
			func(k int) movie.Element { return movie.Element{Type: "image", URL: url(0)} },
		},
		"500 distinct glyphs at 400 px": {
			func(n int) movie.Spec { return scenes("full-hd", 25, n, false, false) },
			func(k int) movie.Element { return movie.Element{Type: "text", Text: cjk(k), FontSize: 400} },
		},
		"short texts, gradients, transitions": {
			func(n int) movie.Spec { return scenes("full-hd", 25, n, true, true) },
			func(k int) movie.Element { return movie.Element{Type: "text", Text: fmt.Sprintf("Line %d", k)} },
		},
		"everything at the structural limits, sd 60 fps": {
			func(n int) movie.Spec {
				s := scenes("sd", 60, n, true, true)
				s.Audio = &movie.Audio{URL: "https://assets.test/tone.wav"}
				a[s.Audio.URL] = wavTone(1)
				return s
			},
			func(k int) movie.Element {
				if k%2 == 0 {
					return movie.Element{Type: "image", URL: url(k), Fit: "cover"}
				}
				return movie.Element{Type: "text", Text: cjk(k), FontSize: 120}
			},
		},
		"video elements: 4K clips with B-frames, gradients, transitions, full-hd": {
			func(n int) movie.Spec { return scenes("full-hd", 25, n, true, true) },
			func(k int) movie.Element {
				return movie.Element{Type: "video", URL: "https://assets.test/4k.mp4", Fit: "cover", Loop: true}
			},
		},
		"video elements: 4K clips with B-frames, 5 scenes of cuts, full-hd": {
			func(int) movie.Spec { return scenes("full-hd", 25, 5, false, false) },
			func(k int) movie.Element {
				return movie.Element{Type: "video", URL: "https://assets.test/4k.mp4", Fit: "cover", Loop: true}
			},
		},
		"images and text, vertical 60 fps": {
			func(n int) movie.Spec { return scenes("vertical", 60, n, true, true) },
			func(k int) movie.Element {
				if k%2 == 0 {
					return movie.Element{Type: "image", URL: url(k), Width: 1080, Height: 1080}
				}
				return movie.Element{Type: "text", Text: cjk(k)[:60], FontSize: 200}
			},
		},
	}
	out := map[string]movie.Spec{}
	for name, f := range families {
		// As many scenes as take at most 60% of the budget, the rest for
		// elements.
		n := lim.MaxScenes
		for ; n > 1; n-- {
			s := f.base(n)
			if s.Normalize(); s.RenderCost().MemoryBytes <= 0.6*movie.WorkerBudget().MemoryBytes && s.Validate(lim) == nil {
				break
			}
		}
		s := f.base(n)
		for k := 0; ; k++ {
			i := k % len(s.Scenes)
			if len(s.Scenes[i].Elements) >= lim.MaxElements {
				break
			}
			cand, err := normalizedCopy(s)
			if err != nil {
				t.Fatal(err)
			}
			cand.Scenes[i].Elements = append(cand.Scenes[i].Elements, f.elem(k))
			cand.Normalize()
			if err := cand.Validate(lim); err != nil {
				var ae *apierr.Error
				if errors.As(err, &ae) && ae.Code == apierr.RenderBudgetExceeded {
					break
				}
				t.Fatalf("%s: %v", name, err)
			}
			s = cand
		}
		out[name] = s
	}
	// The largest image ffmpeg will decode, 16 bits per channel: fitting it
	// is a run of its own.
	big := "https://assets.test/40mp.png"
	a[big] = png64(t, 6000, 6600)
	out["one 40-megapixel 16-bit image"] = movie.Spec{Resolution: "full-hd", FPS: 25, Format: format, Quality: quality, Scenes: []movie.Scene{{Duration: 0.5,
		Background: movie.Background{Color: "#000000"}, Elements: []movie.Element{{Type: "image", URL: big, Fit: "cover"}}}}}
	return out, a
}

// png64 is a w×h 16-bit RGBA PNG.
func png64(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 10), uint16(y * 10), 0x8000, 0xffff})
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// worstOutputs are the formats and qualities the worst specs are rendered
// in: each encoder holds frames of its own (x264's lookahead and B-frames
// at standard, veryfast's at high, libvpx-vp9's, the GIF's palette run).
var worstOutputs = []struct{ format, quality string }{
	{movie.FormatMP4, movie.QualityStandard},
	{movie.FormatMP4, movie.QualityHigh},
	{movie.FormatWebM, movie.QualityStandard},
	{movie.FormatWebM, movie.QualityHigh},
	{movie.FormatGIF, movie.QualityHigh},
}

// BenchmarkWorstAcceptedSpecs renders worstSpecs in every worstOutputs
// format and reports each one's peak RSS (the largest ffmpeg run's maxrss)
// and the worst of them per format, against the 1 GiB every accepted spec
// must stay under.
//
//	go test -run '^$' -bench WorstAcceptedSpecs -benchtime 1x -v ./pkg/render
func BenchmarkWorstAcceptedSpecs(b *testing.B) {
	ffmpeg, _ := tools(b)
	for _, o := range worstOutputs {
		b.Run(o.format+"-"+o.quality, func(b *testing.B) {
			specs, a := worstSpecs(b, o.format, o.quality)
			names := slices.Sorted(maps.Keys(specs))
			var worst int64
			for _, name := range names {
				spec := specs[name]
				var peak int64
				for i := 0; i < b.N; i++ {
					dir := b.TempDir()
					res, err := Render(context.Background(), spec, filepath.Join(dir, "out."+o.format),
						Options{FFmpeg: ffmpeg, WorkDir: dir, Fetch: a.fetch, Thumbnail: filepath.Join(dir, "thumb.jpg")})
					if err != nil {
						b.Fatalf("%s: %v", name, err)
					}
					peak = max(peak, res.PeakRSSBytes)
				}
				spec.Normalize()
				cost := spec.RenderCost()
				b.Logf("peak RSS %5d MiB (model %4d MiB) %s %s %s: %s, %d fps, %d scenes, %d elements", peak>>20, int64(cost.MemoryBytes)>>20,
					o.format, o.quality, name, spec.Resolution, spec.FPS, len(spec.Scenes), elements(spec))
				worst = max(worst, peak)
			}
			b.ReportMetric(float64(worst)/(1<<20), "worst-peak-rss-MiB")
			// A child process started by Go shares its parent's memory map
			// until it execs, and the kernel counts the parent's high-water
			// mark into the child's maxrss: a peak at or below this
			// process's own is this process's, not ffmpeg's.
			b.ReportMetric(float64(selfHWM(b))/(1<<20), "bench-process-peak-MiB")
		})
	}
}

// selfHWM is this process's peak resident memory (VmHWM), in bytes.
func selfHWM(b *testing.B) int64 {
	hwm, ok := vmHWM("/proc/self/status")
	if !ok {
		b.Fatal("no VmHWM in /proc/self/status")
	}
	return hwm
}

func elements(s movie.Spec) int {
	n := 0
	for _, sc := range s.Scenes {
		n += len(sc.Elements)
	}
	return n
}

// BenchmarkRenderQuality renders the 10 s promo in every format and
// quality against the same veryfast baseline: the figures of
// docs/renders.md.
func BenchmarkRenderQuality(b *testing.B) {
	defer cleanFrames()
	var promo benchCase
	for _, c := range benchCases(b) {
		if c.name == "promo-template" {
			promo = c
		}
	}
	if promo.name == "" {
		b.Fatal("no promo-template example")
	}
	frames := cachedFrames(b, promo)
	for _, f := range movie.Formats {
		for _, q := range movie.Qualities {
			spec := promo.spec
			spec.Format, spec.Quality = f, q
			b.Run(f+"-"+q, func(b *testing.B) { compare(b, promo, spec, frames, false) })
		}
	}
}

func cleanFrames() {
	rawCache.Range(func(k, v any) bool {
		os.RemoveAll(filepath.Dir(v.(string)))
		rawCache.Delete(k)
		return true
	})
}
