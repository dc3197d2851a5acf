package templates

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/movie"
	"github.com/framegate/framegate/pkg/render"
)

// templateCall is the {templateId, variables} body of POST /v1/videos.
type templateCall struct {
	TemplateID string         `json:"templateId"`
	Variables  map[string]any `json:"variables"`
}

// TestExamples parses and validates every file in examples/, the way the
// API would: a movie spec, or a template call when it has a templateId.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("only %d examples", len(files))
	}
	kinds := map[string]int{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// The sandbox limits: every example must be runnable with a test key.
			lim := movie.DefaultLimits(movie.SandboxMaxSeconds, true)
			var spec movie.Spec
			if strings.Contains(string(body), `"templateId"`) {
				kinds["template"]++
				var call templateCall
				if err := apierr.DecodeJSON(body, &call); err != nil {
					t.Fatal(err)
				}
				tpl, ok := Find(call.TemplateID)
				if !ok {
					t.Fatalf("no built-in template %q", call.TemplateID)
				}
				if spec, err = tpl.Instantiate(call.Variables, lim); err != nil {
					t.Fatal(err)
				}
			} else {
				kinds["spec"]++
				if spec, err = movie.Parse(body, lim); err != nil {
					t.Fatal(err)
				}
			}
			if spec.Duration() <= 0 {
				t.Fatalf("duration %v", spec.Duration())
			}
			if strings.Contains(string(body), `"templateId"`) {
				return // the built-ins are rendered by TestBuiltInsRender
			}
			renderExample(t, spec)
		})
	}
	if kinds["template"] == 0 || kinds["spec"] == 0 {
		t.Fatalf("examples should show both specs and template calls: %v", kinds)
	}
}

// renderExample renders a spec example with real ffmpeg, every remote asset
// answered locally (an image for images, a tone for audio), and checks the
// file: the docs point users at these files, so they must render.
func renderExample(t *testing.T, spec movie.Spec) {
	t.Helper()
	ffmpeg, ffprobe, err := render.FindFFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	img, tone := pngBytes(t), wavBytes(3)
	fetch := func(_ context.Context, url string, w io.Writer) error {
		if spec.Audio != nil && url == spec.Audio.URL {
			_, err := w.Write(tone)
			return err
		}
		_, err := w.Write(img)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "out.mp4")
	if _, err := render.Render(ctx, spec, out, render.Options{FFmpeg: ffmpeg, WorkDir: t.TempDir(), Fetch: fetch}); err != nil {
		t.Fatal(err)
	}
	p, err := render.ProbeFile(ctx, ffprobe, out)
	if err != nil {
		t.Fatal(err)
	}
	w, h := spec.Size()
	if p.Video.Codec != "h264" || p.Video.Width != w || p.Video.Height != h || math.Abs(p.Duration-spec.Duration()) > 0.05 {
		t.Fatalf("probe %+v %.3fs, want h264 %dx%d %.3fs", p.Video, p.Duration, w, h, spec.Duration())
	}
}

// wavBytes is a mono 16-bit 44.1 kHz sine tone of secs seconds.
func wavBytes(secs int) []byte {
	const rate = 44100
	n := rate * secs
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, struct {
		Size                    uint32
		Format, Channels        uint16
		Rate, ByteRate          uint32
		BlockAlign, BitsPerSamp uint16
	}{16, 1, 1, rate, 2 * rate, 2, 16})
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(2*n))
	for i := 0; i < n; i++ {
		binary.Write(&b, binary.LittleEndian, int16(8000*math.Sin(2*math.Pi*440*float64(i)/rate)))
	}
	return b.Bytes()
}
