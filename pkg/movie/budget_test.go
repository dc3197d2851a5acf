package movie

import (
	"errors"
	"fmt"
	"testing"

	"github.com/framegate/framegate/pkg/apierr"
)

func scenesOf(res string, fps, n int, transition bool) Spec {
	s := Spec{Resolution: res, FPS: fps}
	for i := range n {
		sc := Scene{Duration: 1, Background: Background{Gradient: &Gradient{From: "#000000", To: fmt.Sprintf("#00%02x00", i)}}}
		if transition && i < n-1 {
			sc.Transition = &Transition{Type: "fade"}
		}
		s.Scenes = append(s.Scenes, sc)
	}
	return s
}

func budgetError(t *testing.T, s Spec, l Limits) *apierr.Error {
	t.Helper()
	s.Normalize()
	err := s.Validate(l)
	if err == nil {
		return nil
	}
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != apierr.RenderBudgetExceeded {
		t.Fatalf("want render_budget_exceeded or nothing, got %v", err)
	}
	return ae
}

func TestBudget(t *testing.T) {
	lim := DefaultLimits(3600, false)

	// One image everywhere at the structural limits is cheap: fetched,
	// fitted and held once.
	s := scenesOf("hd", 25, 50, false)
	for i := range s.Scenes {
		for range lim.MaxElements {
			s.Scenes[i].Elements = append(s.Scenes[i].Elements, Element{Type: "image", URL: "https://cdn.example/logo.png", Width: 300, Height: 300})
		}
	}
	if e := budgetError(t, s, lim); e != nil {
		t.Fatalf("one shared image in 1000 elements: %v", e)
	}

	// Distinct full-frame images at full-hd: accepted up to the budget,
	// then refused naming the first element over it.
	s = scenesOf("full-hd", 25, 10, true)
	added := 0
	var over *apierr.Error
	for k := 0; over == nil && k < 200; k++ {
		i := k % len(s.Scenes)
		s.Scenes[i].Elements = append(s.Scenes[i].Elements, Element{Type: "image", URL: fmt.Sprintf("https://cdn.example/%d.png", k)})
		if over = budgetError(t, s, lim); over == nil {
			added++
		}
	}
	if over == nil || added < 20 {
		t.Fatalf("distinct full-frame images: %d accepted, then %v", added, over)
	}
	// The field is the element at which the cost, in document order,
	// crosses the budget: everything before it fits, with it it does not.
	var si, ei int
	if _, err := fmt.Sscanf(over.Field, "/scenes/%d/elements/%d", &si, &ei); err != nil {
		t.Fatalf("field %q", over.Field)
	}
	// upTo keeps the elements before the n-th of scene si, in document
	// order, and every scene.
	upTo := func(n int) Spec {
		c := scenesOf("full-hd", 25, 10, true)
		for i := range si {
			c.Scenes[i].Elements = append([]Element(nil), s.Scenes[i].Elements...)
		}
		c.Scenes[si].Elements = append([]Element(nil), s.Scenes[si].Elements[:n]...)
		return c
	}
	if e := budgetError(t, upTo(ei+1), lim); e == nil || e.Field != over.Field {
		t.Errorf("the spec up to %s: %v", over.Field, e)
	}
	if e := budgetError(t, upTo(ei), lim); e != nil {
		var later int
		if _, err := fmt.Sscanf(e.Field, "/scenes/%d", &later); err != nil || later <= si {
			t.Errorf("the spec before %s crosses the budget already: %v", over.Field, e)
		}
	}

	// The same image in another box is another still.
	one := scenesOf("full-hd", 25, 1, false)
	one.Scenes[0].Elements = []Element{{Type: "image", URL: "https://cdn.example/a.png"}}
	two := scenesOf("full-hd", 25, 1, false)
	two.Scenes[0].Elements = []Element{{Type: "image", URL: "https://cdn.example/a.png"}, {Type: "image", URL: "https://cdn.example/a.png", Width: 1920, Height: 1000}}
	three := scenesOf("full-hd", 25, 1, false)
	three.Scenes[0].Elements = append(two.Scenes[0].Elements, Element{Type: "image", URL: "https://cdn.example/a.png"})
	for _, x := range []*Spec{&one, &two, &three} {
		x.Normalize()
	}
	c1, c2, c3 := one.RenderCost(), two.RenderCost(), three.RenderCost()
	if c2.Inputs != c1.Inputs+1 || c3.Inputs != c2.Inputs || c3.MemoryBytes-c2.MemoryBytes > 1<<20 {
		t.Errorf("stills: %+v %+v %+v", c1, c2, c3)
	}

	// Time: an hour of full-hd at 60 fps cannot render in a worker's time.
	long := scenesOf("full-hd", 60, 4, false)
	for i := range long.Scenes {
		long.Scenes[i].Duration = 900
	}
	if e := budgetError(t, long, lim); e == nil || e.Field != "/resolution" {
		t.Errorf("an hour of full-hd at 60 fps: %v", e)
	}
	long.Resolution, long.FPS = "sd", 25
	if e := budgetError(t, long, lim); e != nil {
		t.Errorf("an hour of sd at 25 fps: %v", e)
	}

	// Large text with many glyphs costs by size and glyph count.
	small := Element{Type: "text", Text: "Hello", FontSize: 32}
	big := Element{Type: "text", Text: "The quick brown fox jumps over the lazy dog 0123456789", FontSize: 400}
	a, b := scenesOf("hd", 25, 1, false), scenesOf("hd", 25, 1, false)
	a.Scenes[0].Elements, b.Scenes[0].Elements = []Element{small}, []Element{big}
	a.Normalize()
	b.Normalize()
	if da, db := a.RenderCost().MemoryBytes, b.RenderCost().MemoryBytes; db-da < 3<<20 {
		t.Errorf("400 px text with 40 glyphs costs %.0f more than 32 px hello", db-da)
	}

	// An explicit budget applies instead of the worker's.
	tiny := scenesOf("sd", 25, 1, false)
	if e := budgetError(t, tiny, Limits{MaxSeconds: 60, Budget: Cost{MemoryBytes: 1 << 20, Inputs: 1, Filters: 1, PixelFrames: 1}}); e == nil || e.Field != "/resolution" {
		t.Errorf("tiny budget: %v", e)
	}
}

// TestClipBudget: every video element is a decoder of its own, counted at
// the largest clip a render accepts, so a handful fit at full-hd and the
// element that crosses the budget is named; scene audio costs an input.
func TestClipBudget(t *testing.T) {
	lim := DefaultLimits(3600, false)
	s := scenesOf("full-hd", 25, 10, true)
	// At draft quality: x264 ultrafast's own frames (TestEncoderBudget has
	// what the other encoders take from the elements).
	s.Quality = QualityDraft
	accepted := 0
	var over *apierr.Error
	for k := 0; over == nil && k < 10; k++ {
		s.Scenes[k].Elements = []Element{{Type: "video", URL: "https://cdn.example/clip.mp4"}}
		if over = budgetError(t, s, lim); over == nil {
			accepted++
		}
	}
	// The element that tips it is in scene `accepted`; what crosses may be
	// a later scene's background or transition, never an earlier part.
	var at int
	if accepted < 2 || accepted > 6 || over == nil {
		t.Fatalf("%d video elements accepted at full-hd, then %v", accepted, over)
	}
	if _, err := fmt.Sscanf(over.Field, "/scenes/%d", &at); err != nil || at < accepted {
		t.Fatalf("%d video elements accepted at full-hd, then %v at %s", accepted, over, over.Field)
	}
	// A clip in a small box at sd still costs its decoder.
	small := scenesOf("sd", 25, 1, false)
	small.Normalize()
	base := small.RenderCost()
	small.Scenes[0].Elements = []Element{{Type: "video", URL: "https://cdn.example/clip.mp4", Width: 64, Height: 64, End: 1}}
	c := small.RenderCost()
	if d := c.MemoryBytes - base.MemoryBytes; d < costClipPerPixel*MaxClipPixels || c.Inputs != base.Inputs+2 {
		t.Errorf("a 64 px clip at sd: +%.0f MB, %d → %d inputs", d/(1<<20), base.Inputs, c.Inputs)
	}
	small.Scenes[0].Audio = &Audio{URL: "https://cdn.example/a.mp3", Volume: 1}
	if a := small.RenderCost(); a.Inputs != c.Inputs+1 || a.MemoryBytes <= c.MemoryBytes {
		t.Errorf("scene audio: %+v → %+v", c, a)
	}
}

// TestCostGrowsWithEveryElement: no element is free, so a spec refused for
// its cost cannot become acceptable by adding to it.
func TestCostGrowsWithEveryElement(t *testing.T) {
	s := valid()
	s.Normalize()
	prev := s.RenderCost()
	for k := range 30 {
		s.Scenes[k%2].Elements = append(s.Scenes[k%2].Elements,
			Element{Type: "text", Text: "x", FontSize: 64, Color: "#ffffff", Position: "center", End: 1},
			Element{Type: "image", URL: "https://cdn.example/a.png", Fit: "contain", Position: "center", End: 1},
			Element{Type: "video", URL: "https://cdn.example/a.mp4", Fit: "contain", Position: "center", End: 1, Width: 16, Height: 16})
		c := s.RenderCost()
		if c.MemoryBytes <= prev.MemoryBytes || c.Filters <= prev.Filters || c.PixelFrames <= prev.PixelFrames {
			t.Fatalf("cost did not grow: %+v → %+v", prev, c)
		}
		prev = c
	}
}

// TestEncoderBudget: the output's encoder is charged, so the same spec fits
// fewer elements the more its encoder holds (draft < standard < high <
// webm), and a frame size whose encoder alone is over the budget is
// refused naming /format, which the client can change.
func TestEncoderBudget(t *testing.T) {
	lim := DefaultLimits(3600, false)
	fits := func(format, quality string) int {
		s := scenesOf("full-hd", 25, 20, false)
		s.Format, s.Quality = format, quality
		n := 0
		for k := 0; k < 400; k++ {
			var text []rune
			for r := range 40 {
				text = append(text, rune(0x4e00+k*40+r))
			}
			s.Scenes[k%20].Elements = append(s.Scenes[k%20].Elements, Element{Type: "text", Text: string(text), FontSize: 400})
			if budgetError(t, s, lim) != nil {
				break
			}
			n++
		}
		return n
	}
	draft, std, high, webm := fits(FormatMP4, QualityDraft), fits(FormatMP4, QualityStandard), fits(FormatMP4, QualityHigh), fits(FormatWebM, QualityStandard)
	if !(draft > std && std > high && high > webm && webm > 0) {
		t.Errorf("texts that fit: draft %d, standard %d, high %d, webm %d", draft, std, high, webm)
	}
	s := scenesOf("full-hd", 25, 1, false)
	s.Format = FormatWebM
	if e := budgetError(t, s, Limits{MaxSeconds: 60, Budget: Cost{MemoryBytes: 200 << 20, Inputs: 10, Filters: 100, PixelFrames: 1e12}}); e == nil || e.Field != "/format" {
		t.Errorf("webm over a budget mp4 fits: %v", e)
	}
	s.Format, s.Quality = FormatMP4, QualityDraft
	if e := budgetError(t, s, Limits{MaxSeconds: 60, Budget: Cost{MemoryBytes: 200 << 20, Inputs: 10, Filters: 100, PixelFrames: 1e12}}); e != nil {
		t.Errorf("draft mp4 in 200 MB: %v", e)
	}
}
