package render

import (
	"context"
	"image/color"
	"path/filepath"
	"testing"
	"time"

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
