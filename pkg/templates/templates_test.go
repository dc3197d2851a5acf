package templates

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
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/movie"
	"github.com/framegate/framegate/pkg/render"
)

var live = movie.DefaultLimits(600, false)

// requiredSamples are the values the tests give required variables.
func requiredSamples(t Template) map[string]any {
	vars := map[string]any{}
	for _, v := range t.Variables {
		if !v.Required {
			continue
		}
		switch v.Type {
		case TypeURL:
			vars[v.Name] = "https://assets.test/product.png"
		case TypeNumber:
			vars[v.Name] = 3.0
		case TypeColor:
			vars[v.Name] = "#336699"
		default:
			vars[v.Name] = "Sample " + v.Name
		}
	}
	return vars
}

func TestBuiltInsAreValidTemplates(t *testing.T) {
	want := []string{"tpl_title_card", "tpl_product_promo", "tpl_quote", "tpl_countdown", "tpl_vertical_story"}
	all := BuiltIn()
	seen := map[string]bool{}
	for _, tpl := range all {
		if seen[tpl.ID] || !strings.HasPrefix(tpl.ID, "tpl_") {
			t.Errorf("id %q duplicated or unprefixed", tpl.ID)
		}
		seen[tpl.ID] = true
		if err := tpl.Validate(); err != nil {
			t.Errorf("%s: %v", tpl.ID, err)
		}
		if _, ok := Find(tpl.ID); !ok {
			t.Errorf("Find(%s) fails", tpl.ID)
		}
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("missing built-in %s", id)
		}
	}
	// BuiltIn hands out copies: editing one does not change the next call.
	all[0].Name = "changed"
	if BuiltIn()[0].Name == "changed" {
		t.Fatal("BuiltIn shares state between callers")
	}
}

func pngBytes(t testing.TB) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 400, 300))
	for y := 0; y < 300; y++ {
		for x := 0; x < 400; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / 400), uint8(y * 255 / 300), 180, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBuiltInsRender renders every built-in at its native resolution and
// checks the file with ffprobe.
func TestBuiltInsRender(t *testing.T) {
	ffmpeg, ffprobe, err := render.FindFFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	img := pngBytes(t)
	fetch := func(_ context.Context, url string, w io.Writer) error {
		if url != "https://assets.test/product.png" {
			return fmt.Errorf("unexpected fetch %s", url)
		}
		_, err := w.Write(img)
		return err
	}
	wantDur := map[string]float64{"tpl_title_card": 5, "tpl_product_promo": 10, "tpl_quote": 6, "tpl_countdown": 5, "tpl_vertical_story": 8.5}
	for _, tpl := range BuiltIn() {
		t.Run(tpl.ID, func(t *testing.T) {
			spec, err := tpl.Instantiate(requiredSamples(tpl), live)
			if err != nil {
				t.Fatal(err)
			}
			if OrientationOf(spec.Resolution) != tpl.Orientation {
				t.Fatalf("orientation %s, resolution %s", tpl.Orientation, spec.Resolution)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out := filepath.Join(t.TempDir(), "out.mp4")
			started := time.Now()
			res, err := render.Render(ctx, spec, out, render.Options{FFmpeg: ffmpeg, WorkDir: t.TempDir(), Fetch: fetch})
			if err != nil {
				t.Fatal(err)
			}
			p, err := render.ProbeFile(ctx, ffprobe, out)
			if err != nil {
				t.Fatal(err)
			}
			w, h := spec.Size()
			if p.Video.Codec != "h264" || p.Video.PixFmt != "yuv420p" || p.Video.Width != w || p.Video.Height != h {
				t.Errorf("stream %+v, want h264 yuv420p %dx%d", p.Video, w, h)
			}
			if want := wantDur[tpl.ID]; math.Abs(p.Duration-want) > 0.041 || math.Abs(res.Duration-p.Duration) > 0.001 {
				t.Errorf("duration probe %.3f result %.3f, want %.3f", p.Duration, res.Duration, want)
			}
			t.Logf("%s %dx%d %.1fs rendered in %v, %d bytes", tpl.ID, w, h, p.Duration, time.Since(started).Round(time.Millisecond), res.SizeBytes)
		})
	}
}

func TestInstantiate(t *testing.T) {
	title, _ := Find("tpl_title_card")
	promo, _ := Find("tpl_product_promo")
	cases := []struct {
		name  string
		tpl   Template
		vars  map[string]any
		lim   *movie.Limits
		field string // "" = valid
		code  apierr.Code
		check func(t *testing.T, s movie.Spec)
	}{
		{name: "defaults", tpl: title, vars: map[string]any{"title": "Hello"}, check: func(t *testing.T, s movie.Spec) {
			if s.Scenes[0].Duration != 5 || s.Scenes[0].Elements[1].Text != "Made with framegate" || s.Scenes[0].Background.Gradient.From != "#0f2027" {
				t.Fatalf("%+v", s.Scenes[0])
			}
		}},
		{name: "number substituted as number", tpl: title, vars: map[string]any{"title": "x", "duration": 7.5}, check: func(t *testing.T, s movie.Spec) {
			if s.Scenes[0].Duration != 7.5 || s.Duration() != 7.5 {
				t.Fatalf("duration %v", s.Scenes[0].Duration)
			}
		}},
		{name: "json.Number accepted", tpl: title, vars: map[string]any{"title": "x", "duration": json.Number("2")}},
		{name: "control characters are blamed on the variable", tpl: title, vars: map[string]any{"title": "\"},\"x\":\"\x00"}, field: "/variables/title"},
		{name: "quotes, braces and placeholders are literal", tpl: title, vars: map[string]any{"title": `"},"fps":60,{{subtitle}} \ {{`, "subtitle": "{{title}}"},
			check: func(t *testing.T, s movie.Spec) {
				if got := s.Scenes[0].Elements[0].Text; got != `"},"fps":60,{{subtitle}} \ {{` {
					t.Fatalf("title became %q", got)
				}
				if s.Scenes[0].Elements[1].Text != "{{title}}" || s.FPS != 25 {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "unknown variable", tpl: title, vars: map[string]any{"title": "x", "colour": "#ffffff"}, field: "/variables/colour"},
		{name: "missing required", tpl: title, vars: map[string]any{}, field: "/variables/title"},
		{name: "null required", tpl: title, vars: map[string]any{"title": nil}, field: "/variables/title"},
		{name: "string for number", tpl: title, vars: map[string]any{"title": "x", "duration": "5"}, field: "/variables/duration"},
		{name: "number for string", tpl: title, vars: map[string]any{"title": 5.0}, field: "/variables/title"},
		{name: "bad color", tpl: title, vars: map[string]any{"title": "x", "textColor": "white"}, field: "/variables/textColor"},
		{name: "color injection", tpl: title, vars: map[string]any{"title": "x", "textColor": "#fff:x=1"}, field: "/variables/textColor"},
		{name: "url not https", tpl: promo, vars: map[string]any{"productName": "x", "imageUrl": "http://a.test/p.png"}, field: "/variables/imageUrl"},
		{name: "url type for string", tpl: promo, vars: map[string]any{"productName": "x", "imageUrl": 3.0}, field: "/variables/imageUrl"},
		{name: "value breaks the spec: blamed on the variable", tpl: title, vars: map[string]any{"title": "x", "duration": 0.0}, field: "/variables/duration"},
		{name: "empty text blamed on the variable", tpl: title, vars: map[string]any{"title": "   "}, field: "/variables/title"},
		{name: "text over the plan's limit", tpl: title, vars: map[string]any{"title": strings.Repeat("a", 501)}, field: "/variables/title"},
		{name: "plan length", tpl: title, vars: map[string]any{"title": "x", "duration": 100.0}, lim: &movie.Limits{MaxSeconds: 60}, field: "/variables/duration"},
		{name: "sandbox length keeps its code", tpl: title, vars: map[string]any{"title": "x", "duration": 31.0}, lim: &movie.Limits{MaxSeconds: 600, Sandbox: true},
			field: "/variables/duration", code: apierr.SandboxDurationExceeded},
		{name: "sandbox 30 s ok", tpl: title, vars: map[string]any{"title": "x", "duration": 30.0}, lim: &movie.Limits{MaxSeconds: 600, Sandbox: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := live
			if c.lim != nil {
				l = *c.lim
			}
			s, err := c.tpl.Instantiate(c.vars, l)
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.check != nil {
					c.check(t, s)
				}
				return
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) {
				t.Fatalf("want an *apierr.Error at %s, got %v", c.field, err)
			}
			code := c.code
			if code == "" {
				code = apierr.InvalidRequest
			}
			if ae.Field != c.field || ae.Code != code {
				t.Fatalf("got %s at %q (%s), want %s at %q", ae.Code, ae.Field, ae.Message, code, c.field)
			}
		})
	}
}

// custom is a small valid user template to break in TestValidate.
func custom() Template {
	return Template{
		Name: "Count", Category: "events", Orientation: Square,
		Variables: []Variable{
			{Name: "n", Type: TypeNumber, Default: 3.0},
			{Name: "label", Type: TypeString, Required: true},
			{Name: "size", Type: TypeNumber, Default: 48},
		},
		Spec: json.RawMessage(`{"resolution":"square","scenes":[{"duration":"{{n}}","background":{"color":"#000000"},
			"elements":[{"type":"text","text":"{{ n }} {{label}}","fontSize":"{{size}}"}]}]}`),
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(t *Template)
		field string // "" = valid
	}{
		{name: "valid", edit: func(t *Template) {}},
		{name: "number inside text is text", edit: func(t *Template) {
			t.Spec = json.RawMessage(`{"resolution":"square","scenes":[{"duration":2,"background":{"color":"#000000"},"elements":[{"type":"text","text":"{{n}}"}]}]}`)
		}},
		{name: "no name", edit: func(t *Template) { t.Name = " " }, field: "/name"},
		{name: "bad category", edit: func(t *Template) { t.Category = "Big Events!" }, field: "/category"},
		{name: "bad variable name", edit: func(t *Template) { t.Variables[0].Name = "1n" }, field: "/variables/0/name"},
		{name: "variable name with slash", edit: func(t *Template) { t.Variables[0].Name = "a/b" }, field: "/variables/0/name"},
		{name: "duplicate variable", edit: func(t *Template) { t.Variables[1].Name = "n" }, field: "/variables/1/name"},
		{name: "bad type", edit: func(t *Template) { t.Variables[0].Type = "boolean" }, field: "/variables/0/type"},
		{name: "default of wrong type", edit: func(t *Template) { t.Variables[0].Default = "3" }, field: "/variables/0/default"},
		{name: "bad color default", edit: func(t *Template) {
			t.Variables = append(t.Variables, Variable{Name: "c", Type: TypeColor, Default: "red"})
		}, field: "/variables/3/default"},
		{name: "neither default nor required", edit: func(t *Template) { t.Variables[0].Default = nil }, field: "/variables/0/default"},
		{name: "undeclared placeholder", edit: func(t *Template) {
			t.Spec = json.RawMessage(`{"resolution":"square","scenes":[{"duration":1,"background":{"color":"{{bg}}"}}]}`)
		}, field: "/spec/scenes/0/background/color"},
		{name: "malformed placeholder", edit: func(t *Template) {
			t.Spec = json.RawMessage(`{"resolution":"square","scenes":[{"duration":1,"background":{"color":"#000000"},"elements":[{"type":"text","text":"{{ label }"}]}]}`)
		}, field: "/spec/scenes/0/elements/0/text"},
		{name: "placeholder in a key", edit: func(t *Template) {
			t.Spec = json.RawMessage(`{"resolution":"square","{{label}}":1,"scenes":[]}`)
		}, field: "/spec/{{label}}"},
		{name: "spec not JSON", edit: func(t *Template) { t.Spec = json.RawMessage(`{"resolution":`) }, field: "/spec"},
		{name: "spec not an object", edit: func(t *Template) { t.Spec = json.RawMessage(`[1]`) }, field: "/spec"},
		{name: "spec missing", edit: func(t *Template) { t.Spec = nil }, field: "/spec"},
		{name: "unknown spec field", edit: func(t *Template) {
			t.Spec = json.RawMessage(`{"resolution":"square","scenes":[{"duration":1,"background":{"color":"#000000","image":"x"}}]}`)
		}, field: "/spec/scenes/0/background/image"},
		{name: "invalid movie", edit: func(t *Template) {
			t.Spec = json.RawMessage(`{"resolution":"square","scenes":[{"duration":1,"background":{"color":"#000000"},"elements":[{"type":"sticker"}]}]}`)
		}, field: "/spec/scenes/0/elements/0/type"},
		{name: "default makes the movie invalid", edit: func(t *Template) { t.Variables[0].Default = 0.0 }, field: "/variables/n"},
		{name: "fractional default for an integer field", edit: func(t *Template) { t.Variables[2].Default = 40.5 }, field: "/variables/size"},
		{name: "number mixed with text is text, not a number", edit: func(t *Template) {
			t.Spec = json.RawMessage(strings.Replace(string(t.Spec), `"fontSize":"{{size}}"`, `"fontSize":"{{size}}0"`, 1))
		}, field: "/variables/size"},
		{name: "orientation mismatch", edit: func(t *Template) { t.Orientation = Landscape }, field: "/orientation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl := custom()
			c.edit(&tpl)
			err := tpl.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Code != apierr.InvalidRequest || ae.Field != c.field {
				t.Fatalf("got %v (field %q), want invalid_request at %q", err, fieldOf(err), c.field)
			}
		})
	}
}

func fieldOf(err error) string {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae.Field
	}
	return ""
}

func TestCustomNumberPlaceholders(t *testing.T) {
	s, err := custom().Instantiate(map[string]any{"label": "apples", "n": 4.0}, live)
	if err != nil {
		t.Fatal(err)
	}
	e := s.Scenes[0].Elements[0]
	// "{{n}}" alone in a number field is the number; inside a string it
	// is text.
	if s.Scenes[0].Duration != 4 || e.Text != "4 apples" || e.FontSize != 48 {
		t.Fatalf("%+v", s.Scenes[0])
	}
}
