package movie

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/apierr"
)

// valid is a spec exercising every feature; each case breaks one thing.
func valid() Spec {
	return Spec{
		Resolution: "sd",
		Scenes: []Scene{
			{
				Duration:   3,
				Background: Background{Color: "#112233"},
				Elements: []Element{
					{Type: "text", Text: "Hello", Start: 0.5, End: 2},
					{Type: "image", URL: "https://cdn.example.com/a.png", Width: 320, Height: 180, Position: "top-left"},
				},
				Transition: &Transition{Type: "fade"},
			},
			{
				Duration:   2,
				Background: Background{Gradient: &Gradient{From: "#000000", To: "#FFFFFF"}},
				Elements:   []Element{{Type: "text", Text: "Bye", FontSize: 32, Color: "#ff0000", Position: "bottom"}},
			},
		},
		Audio: &Audio{URL: "https://cdn.example.com/a.mp3", Volume: 0.5},
	}
}

const testAsset = "ast_01m8ac11f4ff2mqjt2am7xmc4z"

// clip is a valid video element.
func clip() Element {
	return Element{Type: "video", Asset: testAsset, TrimStart: 1, TrimEnd: 2.5, Fit: "cover"}
}

func TestAssetRefs(t *testing.T) {
	s := valid()
	s.Scenes[0].Elements[1].URL, s.Scenes[0].Elements[1].Asset = "", "ast_a"
	s.Scenes[1].Elements = append(s.Scenes[1].Elements, Element{Type: "video", Asset: "ast_b"})
	s.Scenes[1].Audio = &Audio{Asset: "ast_c"}
	s.Audio = &Audio{Asset: "ast_d"}
	got := s.AssetRefs()
	want := []AssetRef{
		{"/scenes/0/elements/1/asset", "ast_a", "image"}, {"/scenes/1/elements/1/asset", "ast_b", "video"},
		{"/scenes/1/audio/asset", "ast_c", "audio"}, {"/audio/asset", "ast_d", "audio"},
	}
	if len(got) != len(want) {
		t.Fatalf("refs %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ref %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestValidate(t *testing.T) {
	lim := DefaultLimits(600, false)
	cases := []struct {
		name  string
		edit  func(s *Spec)
		lim   *Limits
		field string // "" = valid
		code  apierr.Code
	}{
		{name: "valid", edit: func(s *Spec) {}},
		{name: "unknown resolution", edit: func(s *Spec) { s.Resolution = "4k" }, field: "/resolution"},
		{name: "empty resolution", edit: func(s *Spec) { s.Resolution = "" }, field: "/resolution"},
		{name: "every resolution", edit: func(s *Spec) { s.Resolution = "vertical" }},
		{name: "fps 0 after normalize is 25", edit: func(s *Spec) { s.FPS = 0 }},
		{name: "fps 61", edit: func(s *Spec) { s.FPS = 61 }, field: "/fps"},
		{name: "fps negative", edit: func(s *Spec) { s.FPS = -1 }, field: "/fps"},
		{name: "fps 60", edit: func(s *Spec) { s.FPS = 60 }},
		{name: "fps 1", edit: func(s *Spec) { s.FPS = 1; s.Scenes[0].Transition.Duration = 1 }},
		{name: "transition below one frame", edit: func(s *Spec) { s.FPS = 1 }, field: "/scenes/0/transition/duration"},
		{name: "scene below one frame", edit: func(s *Spec) { s.Scenes[1].Duration = 0.039 }, field: "/scenes/1/duration"},
		{name: "scene of one frame", edit: func(s *Spec) { s.Scenes[1].Duration = 0.04; s.Scenes[0].Transition = nil }},
		{name: "scene under DynamoDB's smallest number", edit: func(s *Spec) { s.Scenes[1].Duration = 1e-300 }, field: "/scenes/1/duration"},
		{name: "element shown under one frame", edit: func(s *Spec) { s.Scenes[0].Elements[0].End = 0.53 }, field: "/scenes/0/elements/0/end"},
		{name: "no scenes", edit: func(s *Spec) { s.Scenes = nil }, field: "/scenes"},
		{name: "too many scenes", edit: func(s *Spec) {
			s.Scenes[0].Transition = nil
			for len(s.Scenes) <= lim.MaxScenes {
				s.Scenes = append(s.Scenes, Scene{Duration: 0.1, Background: Background{Color: "#000000"}})
			}
		}, field: "/scenes"},
		{name: "zero duration", edit: func(s *Spec) { s.Scenes[1].Duration = 0 }, field: "/scenes/1/duration"},
		{name: "negative duration", edit: func(s *Spec) { s.Scenes[1].Duration = -1 }, field: "/scenes/1/duration"},
		{name: "NaN duration", edit: func(s *Spec) { s.Scenes[1].Duration = math.NaN() }, field: "/scenes/1/duration"},
		{name: "infinite duration", edit: func(s *Spec) { s.Scenes[1].Duration = math.Inf(1) }, field: "/scenes/1/duration"},
		{name: "total over plan", edit: func(s *Spec) { s.Scenes[1].Duration = 10 }, lim: &Limits{MaxSeconds: 12}, field: "/scenes"},
		{name: "total at plan limit", edit: func(s *Spec) { s.Scenes[1].Duration = 10 }, lim: &Limits{MaxSeconds: 12.5}},
		{name: "sandbox over 30 s", edit: func(s *Spec) { s.Scenes[1].Duration = 28 }, lim: &Limits{MaxSeconds: 600, Sandbox: true}, field: "/scenes", code: apierr.SandboxDurationExceeded},
		{name: "sandbox exactly 30 s", edit: func(s *Spec) { s.Scenes[1].Duration = 27.5 }, lim: &Limits{MaxSeconds: 600, Sandbox: true}},
		{name: "zero limits are not unlimited", edit: func(s *Spec) { s.Scenes[1].Duration = 40 }, lim: &Limits{}, field: "/scenes"},
		{name: "background both", edit: func(s *Spec) { s.Scenes[1].Background.Color = "#000000" }, field: "/scenes/1/background"},
		{name: "background none", edit: func(s *Spec) { s.Scenes[0].Background = Background{} }, field: "/scenes/0/background"},
		{name: "background color short", edit: func(s *Spec) { s.Scenes[0].Background.Color = "#fff" }, field: "/scenes/0/background/color"},
		{name: "background color name", edit: func(s *Spec) { s.Scenes[0].Background.Color = "red" }, field: "/scenes/0/background/color"},
		{name: "background color not hex", edit: func(s *Spec) { s.Scenes[0].Background.Color = "#12345g" }, field: "/scenes/0/background/color"},
		{name: "background color injection", edit: func(s *Spec) { s.Scenes[0].Background.Color = "#fff:s=1" }, field: "/scenes/0/background/color"},
		{name: "gradient from", edit: func(s *Spec) { s.Scenes[1].Background.Gradient.From = "black" }, field: "/scenes/1/background/gradient/from"},
		{name: "gradient to", edit: func(s *Spec) { s.Scenes[1].Background.Gradient.To = "" }, field: "/scenes/1/background/gradient/to"},
		{name: "gradient direction", edit: func(s *Spec) { s.Scenes[1].Background.Gradient.Direction = "radial" }, field: "/scenes/1/background/gradient/direction"},
		{name: "gradient diagonal", edit: func(s *Spec) { s.Scenes[1].Background.Gradient.Direction = "diagonal" }},
		{name: "too many elements", edit: func(s *Spec) {
			for len(s.Scenes[1].Elements) <= lim.MaxElements {
				s.Scenes[1].Elements = append(s.Scenes[1].Elements, Element{Type: "text", Text: "x"})
			}
		}, field: "/scenes/1/elements"},
		{name: "element type", edit: func(s *Spec) { s.Scenes[1].Elements[0].Type = "audio" }, field: "/scenes/1/elements/0/type"},
		{name: "image by asset", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL, s.Scenes[0].Elements[1].Asset = "", testAsset }},
		{name: "image by url and asset", edit: func(s *Spec) { s.Scenes[0].Elements[1].Asset = testAsset }, field: "/scenes/0/elements/1/asset"},
		{name: "image by neither", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "" }, field: "/scenes/0/elements/1/url"},
		{name: "asset not an id", edit: func(s *Spec) {
			s.Scenes[0].Elements[1].URL, s.Scenes[0].Elements[1].Asset = "", "vid_01m8ac11f4ff2mqjt2am7xmc4z"
		}, field: "/scenes/0/elements/1/asset"},
		{name: "image with volume", edit: func(s *Spec) { v := 0.5; s.Scenes[0].Elements[1].Volume = &v }, field: "/scenes/0/elements/1/volume"},
		{name: "text with asset", edit: func(s *Spec) { s.Scenes[1].Elements[0].Asset = testAsset }, field: "/scenes/1/elements/0/asset"},
		{name: "video clip", edit: func(s *Spec) { s.Scenes[1].Elements = append(s.Scenes[1].Elements, clip()) }},
		{name: "video looping", edit: func(s *Spec) {
			c := clip()
			c.TrimStart, c.TrimEnd, c.Loop = 0, 0, true
			s.Scenes[1].Elements = []Element{c}
		}},
		{name: "video loop with trims", edit: func(s *Spec) { c := clip(); c.Loop = true; s.Scenes[1].Elements = []Element{c} }, field: "/scenes/1/elements/0/loop"},
		{name: "video trimEnd before trimStart", edit: func(s *Spec) { c := clip(); c.TrimEnd = 0.5; s.Scenes[1].Elements = []Element{c} }, field: "/scenes/1/elements/0/trimEnd"},
		{name: "video negative trimStart", edit: func(s *Spec) { c := clip(); c.TrimStart = -1; s.Scenes[1].Elements = []Element{c} }, field: "/scenes/1/elements/0/trimStart"},
		{name: "video volume 2", edit: func(s *Spec) { c := clip(); v := 2.0; c.Volume = &v; s.Scenes[1].Elements = []Element{c} }, field: "/scenes/1/elements/0/volume"},
		{name: "video muted", edit: func(s *Spec) { c := clip(); v := 0.0; c.Volume = &v; s.Scenes[1].Elements = []Element{c} }},
		{name: "video with text", edit: func(s *Spec) { c := clip(); c.Text = "x"; s.Scenes[1].Elements = []Element{c} }, field: "/scenes/1/elements/0/text"},
		{name: "scene audio", edit: func(s *Spec) { s.Scenes[0].Audio = &Audio{Asset: testAsset} }},
		{name: "scene audio without source", edit: func(s *Spec) { s.Scenes[0].Audio = &Audio{} }, field: "/scenes/0/audio/url"},
		{name: "scene audio volume", edit: func(s *Spec) { s.Scenes[0].Audio = &Audio{Asset: testAsset, Volume: -1} }, field: "/scenes/0/audio/volume"},
		{name: "movie audio by asset", edit: func(s *Spec) { s.Audio = &Audio{Asset: testAsset} }},
		{name: "movie audio by both", edit: func(s *Spec) { s.Audio.Asset = testAsset }, field: "/audio/asset"},
		{name: "text empty", edit: func(s *Spec) { s.Scenes[1].Elements[0].Text = "" }, field: "/scenes/1/elements/0/text"},
		{name: "text blank", edit: func(s *Spec) { s.Scenes[1].Elements[0].Text = " \n\t" }, field: "/scenes/1/elements/0/text"},
		{name: "text too long", edit: func(s *Spec) { s.Scenes[1].Elements[0].Text = strings.Repeat("é", lim.MaxTextLen+1) }, field: "/scenes/1/elements/0/text"},
		{name: "text at limit in runes", edit: func(s *Spec) { s.Scenes[1].Elements[0].Text = strings.Repeat("é", lim.MaxTextLen) }},
		{name: "text invalid UTF-8", edit: func(s *Spec) { s.Scenes[1].Elements[0].Text = "a\xffb" }, field: "/scenes/1/elements/0/text"},
		{name: "text control char", edit: func(s *Spec) { s.Scenes[1].Elements[0].Text = "a\x00b" }, field: "/scenes/1/elements/0/text"},
		{name: "text escape char", edit: func(s *Spec) { s.Scenes[1].Elements[0].Text = "a\x1b[2Jb" }, field: "/scenes/1/elements/0/text"},
		{name: "text newline and filter syntax ok", edit: func(s *Spec) { s.Scenes[1].Elements[0].Text = "it's: 100%{pts}\\n;[x]\nline 2" }},
		{name: "fontSize small", edit: func(s *Spec) { s.Scenes[1].Elements[0].FontSize = 7 }, field: "/scenes/1/elements/0/fontSize"},
		{name: "fontSize big", edit: func(s *Spec) { s.Scenes[1].Elements[0].FontSize = 401 }, field: "/scenes/1/elements/0/fontSize"},
		{name: "fontSize bounds", edit: func(s *Spec) { s.Scenes[1].Elements[0].FontSize = 400; s.Scenes[0].Elements[0].FontSize = 8 }},
		{name: "text color", edit: func(s *Spec) { s.Scenes[1].Elements[0].Color = "#ff00000" }, field: "/scenes/1/elements/0/color"},
		{name: "start negative", edit: func(s *Spec) { s.Scenes[0].Elements[0].Start = -0.1 }, field: "/scenes/0/elements/0/start"},
		{name: "end past scene", edit: func(s *Spec) { s.Scenes[0].Elements[0].End = 3.01 }, field: "/scenes/0/elements/0/end"},
		{name: "start after end", edit: func(s *Spec) { s.Scenes[0].Elements[0].Start = 2.5 }, field: "/scenes/0/elements/0/start"},
		{name: "start equals end", edit: func(s *Spec) { s.Scenes[0].Elements[0].Start = 2 }, field: "/scenes/0/elements/0/start"},
		{name: "start at scene end with default end", edit: func(s *Spec) { s.Scenes[1].Elements[0].Start = 2 }, field: "/scenes/1/elements/0/start"},
		{name: "position", edit: func(s *Spec) { s.Scenes[0].Elements[0].Position = "middle" }, field: "/scenes/0/elements/0/position"},
		{name: "text with url", edit: func(s *Spec) { s.Scenes[0].Elements[0].URL = "https://x.example/a.png" }, field: "/scenes/0/elements/0/url"},
		{name: "text with width", edit: func(s *Spec) { s.Scenes[0].Elements[0].Width = 5 }, field: "/scenes/0/elements/0/width"},
		{name: "image with text", edit: func(s *Spec) { s.Scenes[0].Elements[1].Text = "x" }, field: "/scenes/0/elements/1/text"},
		{name: "image with fontSize", edit: func(s *Spec) { s.Scenes[0].Elements[1].FontSize = 10 }, field: "/scenes/0/elements/1/fontSize"},
		{name: "image url missing", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "" }, field: "/scenes/0/elements/1/url"},
		{name: "image url http", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "http://cdn.example.com/a.png" }, field: "/scenes/0/elements/1/url"},
		{name: "image url file", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "file:///etc/passwd" }, field: "/scenes/0/elements/1/url"},
		{name: "image url relative", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "/a.png" }, field: "/scenes/0/elements/1/url"},
		{name: "image url no host", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "https:///a.png" }, field: "/scenes/0/elements/1/url"},
		{name: "image url opaque", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "https:a.png" }, field: "/scenes/0/elements/1/url"},
		{name: "image url credentials", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "https://u:p@cdn.example.com/a.png" }, field: "/scenes/0/elements/1/url"},
		{name: "image url too long", edit: func(s *Spec) { s.Scenes[0].Elements[1].URL = "https://a.example/" + strings.Repeat("a", MaxURLLen) }, field: "/scenes/0/elements/1/url"},
		{name: "image fit", edit: func(s *Spec) { s.Scenes[0].Elements[1].Fit = "stretch" }, field: "/scenes/0/elements/1/fit"},
		{name: "image fit cover", edit: func(s *Spec) { s.Scenes[0].Elements[1].Fit = "cover" }},
		{name: "image width negative", edit: func(s *Spec) { s.Scenes[0].Elements[1].Width = -1 }, field: "/scenes/0/elements/1/width"},
		{name: "image width over frame", edit: func(s *Spec) { s.Scenes[0].Elements[1].Width = 641 }, field: "/scenes/0/elements/1/width"},
		{name: "image height over frame", edit: func(s *Spec) { s.Scenes[0].Elements[1].Height = 361 }, field: "/scenes/0/elements/1/height"},
		{name: "image full frame", edit: func(s *Spec) { s.Scenes[0].Elements[1].Width, s.Scenes[0].Elements[1].Height = 640, 360 }},
		{name: "transition unknown", edit: func(s *Spec) { s.Scenes[0].Transition.Type = "custom" }, field: "/scenes/0/transition/type"},
		{name: "transition injection", edit: func(s *Spec) { s.Scenes[0].Transition.Type = "fade:expr=1" }, field: "/scenes/0/transition/type"},
		{name: "transition longer than next scene", edit: func(s *Spec) { s.Scenes[0].Transition.Duration = 2 }, field: "/scenes/0/transition/duration"},
		{name: "transition longer than this scene", edit: func(s *Spec) {
			s.Scenes[0].Duration = 1
			s.Scenes[0].Elements = nil
			s.Scenes[0].Transition.Duration = 1
		}, field: "/scenes/0/transition/duration"},
		{name: "transition negative", edit: func(s *Spec) { s.Scenes[0].Transition.Duration = -0.5 }, field: "/scenes/0/transition/duration"},
		{name: "transition on last scene", edit: func(s *Spec) { s.Scenes[1].Transition = &Transition{Type: "fade"} }, field: "/scenes/1/transition"},
		{name: "transitions in and out overlap", edit: func(s *Spec) {
			s.Scenes[1].Transition = &Transition{Type: "fade", Duration: 1.6}
			s.Scenes[0].Transition.Duration = 0.5
			s.Scenes = append(s.Scenes, Scene{Duration: 5, Background: Background{Color: "#000000"}})
		}, field: "/scenes/1/transition/duration"},
		{name: "audio url", edit: func(s *Spec) { s.Audio.URL = "ftp://x.example/a.mp3" }, field: "/audio/url"},
		{name: "audio volume", edit: func(s *Spec) { s.Audio.Volume = 1.5 }, field: "/audio/volume"},
		{name: "audio volume negative", edit: func(s *Spec) { s.Audio.Volume = -0.5 }, field: "/audio/volume"},
		{name: "no audio", edit: func(s *Spec) { s.Audio = nil }},
		{name: "every format", edit: func(s *Spec) { s.Format = FormatWebM }},
		{name: "format unknown", edit: func(s *Spec) { s.Format = "mov" }, field: "/format"},
		{name: "format upper case", edit: func(s *Spec) { s.Format = "MP4" }, field: "/format"},
		{name: "gif at its limit", edit: func(s *Spec) { s.Format = FormatGIF; s.Scenes[1].Duration = 12.5 }},
		{name: "gif over its limit", edit: func(s *Spec) { s.Format = FormatGIF; s.Scenes[1].Duration = 12.51 }, field: "/format"},
		{name: "long mp4 is fine", edit: func(s *Spec) { s.Scenes[1].Duration = 60 }},
		{name: "gif over the sandbox cap is the sandbox's error", edit: func(s *Spec) { s.Format = FormatGIF; s.Scenes[1].Duration = 28 },
			lim: &Limits{MaxSeconds: 600, Sandbox: true}, field: "/scenes", code: apierr.SandboxDurationExceeded},
		{name: "every quality", edit: func(s *Spec) { s.Quality = QualityDraft }},
		{name: "quality unknown", edit: func(s *Spec) { s.Quality = "ultra" }, field: "/quality"},
		{name: "thumbnail time", edit: func(s *Spec) { s.Thumbnail = &Thumbnail{Time: ptr(4.49)} }},
		{name: "thumbnail at 0", edit: func(s *Spec) { s.Thumbnail = &Thumbnail{Time: ptr(0)} }},
		{name: "thumbnail without time", edit: func(s *Spec) { s.Thumbnail = &Thumbnail{} }},
		{name: "thumbnail at the end", edit: func(s *Spec) { s.Thumbnail = &Thumbnail{Time: ptr(4.5)} }, field: "/thumbnail/time"},
		{name: "thumbnail negative", edit: func(s *Spec) { s.Thumbnail = &Thumbnail{Time: ptr(-1)} }, field: "/thumbnail/time"},
		{name: "thumbnail NaN", edit: func(s *Spec) { s.Thumbnail = &Thumbnail{Time: ptr(math.NaN())} }, field: "/thumbnail/time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := valid()
			c.edit(&s)
			s.Normalize()
			l := lim
			if c.lim != nil {
				l = *c.lim
			}
			err := s.Validate(l)
			if c.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) {
				t.Fatalf("want *apierr.Error at %s, got %v", c.field, err)
			}
			want := c.code
			if want == "" {
				want = apierr.InvalidRequest
			}
			if ae.Code != want || ae.Field != c.field {
				t.Fatalf("got %s at %q (%s), want %s at %q", ae.Code, ae.Field, ae.Message, want, c.field)
			}
		})
	}
}

func ptr(f float64) *float64 { return &f }

func TestNormalize(t *testing.T) {
	s := Spec{Resolution: "hd", Scenes: []Scene{
		{Duration: 4, Background: Background{Gradient: &Gradient{From: "#AABBCC", To: "#000000"}},
			Elements:   []Element{{Type: "text", Text: "x", Color: "#ABCDEF"}, {Type: "image", URL: "https://a.example/i.png", Start: 1}},
			Transition: &Transition{Type: "fade"}},
		{Duration: 2, Background: Background{Color: "#FFFFFF"}},
	}, Audio: &Audio{URL: "https://a.example/a.mp3"}}
	s.Normalize()
	checks := []struct {
		name      string
		got, want any
	}{
		{"fps", s.FPS, 25},
		{"fontSize", s.Scenes[0].Elements[0].FontSize, 64},
		{"text color lowercased", s.Scenes[0].Elements[0].Color, "#abcdef"},
		{"text position", s.Scenes[0].Elements[0].Position, "center"},
		{"text end = scene end", s.Scenes[0].Elements[0].End, 4.0},
		{"image fit", s.Scenes[0].Elements[1].Fit, "contain"},
		{"image position", s.Scenes[0].Elements[1].Position, "center"},
		{"image color stays empty", s.Scenes[0].Elements[1].Color, ""},
		{"image fontSize stays 0", s.Scenes[0].Elements[1].FontSize, 0},
		{"transition duration", s.Scenes[0].Transition.Duration, 0.5},
		{"gradient direction", s.Scenes[0].Background.Gradient.Direction, "vertical"},
		{"gradient from lowercased", s.Scenes[0].Background.Gradient.From, "#aabbcc"},
		{"background lowercased", s.Scenes[1].Background.Color, "#ffffff"},
		{"volume", s.Audio.Volume, 1.0},
		{"format", s.Format, "mp4"},
		{"quality", s.Quality, "standard"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// Idempotent: a normalized spec survives a second pass unchanged.
	again := s
	again.Normalize()
	if again.FPS != s.FPS || again.Scenes[0].Elements[0].End != 4 {
		t.Fatal("Normalize is not idempotent")
	}
	if err := s.Validate(DefaultLimits(60, false)); err != nil {
		t.Fatal(err)
	}
}

func TestDurationAndSize(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		want float64
		w, h int
	}{
		{"cuts", Spec{Resolution: "hd", Scenes: []Scene{{Duration: 2}, {Duration: 3}}}, 5, 1280, 720},
		{"default transition", Spec{Resolution: "vertical", Scenes: []Scene{{Duration: 2, Transition: &Transition{Type: "fade"}}, {Duration: 3}}}, 4.5, 1080, 1920},
		{"explicit transitions", Spec{Resolution: "square", Scenes: []Scene{
			{Duration: 2, Transition: &Transition{Type: "fade", Duration: 1}},
			{Duration: 3, Transition: &Transition{Type: "wipeleft", Duration: 0.25}},
			{Duration: 1}}}, 4.75, 1080, 1080},
		{"unknown resolution", Spec{Resolution: "8k", Scenes: []Scene{{Duration: 1}}}, 1, 0, 0},
	}
	for _, c := range cases {
		if got := c.spec.Duration(); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: duration %v, want %v", c.name, got, c.want)
		}
		if w, h := c.spec.Size(); w != c.w || h != c.h {
			t.Errorf("%s: size %dx%d, want %dx%d", c.name, w, h, c.w, c.h)
		}
	}
}

func TestParse(t *testing.T) {
	lim := DefaultLimits(60, false)
	cases := []struct {
		name  string
		body  string
		field string // "" = valid; "?" = invalid, any field
	}{
		{"minimal", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}}]}`, ""},
		{"unknown top-level field", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}}],"bitrate":1}`, "/bitrate"},
		{"unknown nested field", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}},{"duration":1,"background":{"color":"#000000"},"elements":[{"type":"text","text":"x","colour":"#fff"}]}]}`, "/scenes/1/elements/0/colour"},
		{"unknown gradient field", `{"resolution":"sd","scenes":[{"duration":1,"background":{"gradient":{"from":"#000000","to":"#ffffff","angle":45}}}]}`, "/scenes/0/background/gradient/angle"},
		{"unknown field with slash", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}}],"audio":{"url":"https://a.example/a","a/b":1}}`, "/audio/a~1b"},
		{"wrong type", `{"resolution":"sd","fps":"25","scenes":[]}`, "/fps"},
		{"wrong type nested", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}},{"duration":1,"background":{"color":"#000000"},"elements":[{"type":"text","text":"x","fontSize":"40"}]}]}`, "/scenes/1/elements/0/fontSize"},
		{"fraction for integer", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"},"elements":[{"type":"text","text":"x","fontSize":40.5}]}]}`, "/scenes/0/elements/0/fontSize"},
		{"object for array", `{"resolution":"sd","scenes":{}}`, "/scenes"},
		{"number for object", `{"resolution":"sd","scenes":[{"duration":1,"background":7}]}`, "/scenes/0/background"},
		{"not JSON", `{"resolution":`, "?"},
		{"array", `[]`, "?"},
		{"null", `null`, "/resolution"},
		{"trailing data", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}}]} {}`, "?"},
		{"validation runs", `{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#00000"}}]}`, "/scenes/0/background/color"},
		{"huge number", `{"resolution":"sd","scenes":[{"duration":1e400,"background":{"color":"#000000"}}]}`, "?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse([]byte(c.body), lim)
			if c.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if s.FPS != 25 {
					t.Fatalf("not normalized: %+v", s)
				}
				return
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Code != apierr.InvalidRequest {
				t.Fatalf("want invalid_request, got %v", err)
			}
			if c.field != "?" && ae.Field != c.field {
				t.Fatalf("field %q (%s), want %q", ae.Field, ae.Message, c.field)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"resolution":"sd","scenes":[{"duration":1,"background":{"color":"#000000"}}]}`,
		`{"resolution":"hd","fps":30,"scenes":[{"duration":2,"background":{"gradient":{"from":"#000000","to":"#ffffff","direction":"diagonal"}},"elements":[{"type":"text","text":"a","start":0.5,"end":1}],"transition":{"type":"fade","duration":0.5}},{"duration":1,"background":{"color":"#ffffff"},"elements":[{"type":"image","url":"https://a.example/i.png","fit":"cover","position":"top-left","width":10,"height":10}]}],"audio":{"url":"https://a.example/a.mp3","volume":0.3}}`,
		`{"resolution":"sd","scenes":[{"duration":40,"background":{"color":"#000000"}}]}`,
		`{"scenes":[{"elements":[{"x":1}]}]}`,
		`{"resolution":"sd","scenes":[{"duration":1e308,"background":{"color":"#000000"}},{"duration":1e308,"background":{"color":"#000000"}}]}`,
		`[1,2]`, `null`, ``, `{"fps":-1e99}`,
		`{"resolution":"sd","format":"gif","quality":"high","thumbnail":{"time":0.5},"scenes":[{"duration":16,"background":{"color":"#000000"}}]}`,
		`{"resolution":"sd","format":"webm","quality":"draft","thumbnail":{"time":1e309},"scenes":[{"duration":1,"background":{"color":"#000000"}}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, sandbox bool) {
		s, err := Parse(body, DefaultLimits(600, sandbox))
		if err == nil {
			// What Parse accepts must be renderable: within limits.
			if d := s.Duration(); d <= 0 || d > 600 || (sandbox && d > SandboxMaxSeconds) || (s.Format == FormatGIF && d > MaxGIFSeconds) {
				t.Fatalf("accepted duration %v of a %s", d, s.Format)
			}
			if th := s.Thumbnail; th != nil && th.Time != nil && (*th.Time < 0 || *th.Time >= s.Duration()) {
				t.Fatalf("accepted thumbnail time %v of %v s", *th.Time, s.Duration())
			}
			// Every duration is a frame or more: in DynamoDB's number
			// range, and something ffmpeg can draw.
			for i, sc := range s.Scenes {
				if sc.Duration < 1/float64(s.FPS) {
					t.Fatalf("scene %d of %v s at %d fps accepted", i, sc.Duration, s.FPS)
				}
			}
			if c := s.RenderCost(); c.MemoryBytes > WorkerBudget().MemoryBytes || c.PixelFrames > WorkerBudget().PixelFrames {
				t.Fatalf("accepted beyond the budget: %+v", c)
			}
			return
		}
		var ae *apierr.Error
		if !errors.As(err, &ae) {
			t.Fatalf("not an *apierr.Error: %T %v", err, err)
		}
		if ae.Code != apierr.InvalidRequest && ae.Code != apierr.SandboxDurationExceeded {
			t.Fatalf("code %s", ae.Code)
		}
	})
}
