package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"

	"github.com/framegate/framegate/pkg/movie"
	"github.com/framegate/framegate/pkg/templates"
)

// BenchmarkRenderHD10s renders the 10 s hd product promo (gradients, text,
// a fetched product image, three transitions) and reports render seconds
// per video second (target ≤ 0.25 on 2 cores) and the peak bytes the work
// directory and output held, what the worker needs free in /tmp.
//
//	go test -run '^$' -bench RenderHD10s -benchtime 5x ./pkg/render
func BenchmarkRenderHD10s(b *testing.B) {
	ffmpeg, _ := tools(b)
	tpl, ok := templates.Find("tpl_product_promo")
	if !ok {
		b.Fatal("no tpl_product_promo")
	}
	spec, err := tpl.Instantiate(map[string]any{"productName": "Framegate Pro", "imageUrl": "https://assets.test/product.png"}, movie.DefaultLimits(600, false))
	if err != nil {
		b.Fatal(err)
	}
	if w, _ := spec.Size(); w != 1280 || spec.Duration() != 10 {
		b.Fatalf("template is not 10 s of hd: %dpx, %v s", w, spec.Duration())
	}
	a := assets{"https://assets.test/product.png": pngImage(b, 800, 800, color.NRGBA{220, 120, 40, 255})}
	for _, preset := range []string{"ultrafast", "superfast"} {
		b.Run(preset, func(b *testing.B) {
			var renderS, videoS float64
			var peak, size int64
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				start := time.Now()
				res, err := Render(context.Background(), spec, filepath.Join(dir, "out.mp4"), Options{
					FFmpeg: ffmpeg, WorkDir: dir, Fetch: a.fetch, Preset: preset,
				})
				if err != nil {
					b.Fatal(err)
				}
				renderS += time.Since(start).Seconds()
				videoS += res.Duration
				peak = max(peak, res.PeakWorkBytes)
				size = res.SizeBytes
			}
			b.ReportMetric(renderS/videoS, "render-s/video-s")
			b.ReportMetric(float64(peak), "peak-work-bytes")
			b.ReportMetric(float64(size), "mp4-bytes")
		})
	}
}

// worstSpecs are specs at the edge of the render budget: for each way of
// spending memory (distinct images across transitions, shared images in
// every window, large many-glyph text, many short texts, a mix at the
// tallest resolution and the highest frame rate, and a 40-megapixel image
// to fit, one 4K clip in as many video elements as fit), elements are added until the next one would be refused with
// render_budget_exceeded or the spec is at its structural limits. Rendering
// them is what shows the budget holds: each must stay under 1 GiB.
func worstSpecs(t testing.TB) (map[string]movie.Spec, assets) {
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
		s := movie.Spec{Resolution: res, FPS: fps}
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
			if s.Normalize(); s.RenderCost().MemoryBytes <= 0.6*movie.WorkerBudget().MemoryBytes {
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
	out["one 40-megapixel 16-bit image"] = movie.Spec{Resolution: "full-hd", FPS: 25, Scenes: []movie.Scene{{Duration: 0.5,
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

// BenchmarkWorstAcceptedSpecs renders worstSpecs and reports each one's
// peak RSS (the largest ffmpeg run's maxrss) and the worst of them, against
// the 1 GiB every accepted spec must stay under.
//
//	go test -run '^$' -bench WorstAcceptedSpecs -benchtime 1x ./pkg/render
func BenchmarkWorstAcceptedSpecs(b *testing.B) {
	ffmpeg, _ := tools(b)
	specs, a := worstSpecs(b)
	names := slices.Sorted(maps.Keys(specs))
	var worst int64
	for _, name := range names {
		spec := specs[name]
		var peak int64
		for i := 0; i < b.N; i++ {
			dir := b.TempDir()
			res, err := Render(context.Background(), spec, filepath.Join(dir, "out.mp4"), Options{FFmpeg: ffmpeg, WorkDir: dir, Fetch: a.fetch})
			if err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			peak = max(peak, res.PeakRSSBytes)
		}
		cost := spec.RenderCost()
		b.Logf("peak RSS %5d MiB (model %4d MiB) %s: %s, %d fps, %d scenes, %d elements", peak>>20, int64(cost.MemoryBytes)>>20,
			name, spec.Resolution, spec.FPS, len(spec.Scenes), elements(spec))
		worst = max(worst, peak)
	}
	b.ReportMetric(float64(worst)/(1<<20), "worst-peak-rss-MiB")
}

func elements(s movie.Spec) int {
	n := 0
	for _, sc := range s.Scenes {
		n += len(sc.Elements)
	}
	return n
}
