package movie

import (
	"fmt"
	"math"
	"unicode"

	"github.com/framegate/framegate/pkg/apierr"
)

// The render budget: what a spec will ask of the render worker, computed
// from the spec alone when it is accepted, so a spec the worker cannot
// render is a 400 at creation instead of a render killed for memory (and
// retried, holding a slot) or for time.
//
// The model follows the renderer (pkg/render) and was fitted to ffmpeg's
// measured peak RSS (BenchmarkWorstAcceptedSpecs, `make bench`, prints it
// for specs at the budget's edge): every distinct image is fitted outside
// the movie's run (by the worker itself, or a separate ffmpeg run) and held
// once, as a yuva420p frame of its box; every
// distinct background is one frame; each scene is drawn once, and a scene
// with elements keeps a few of its frames to the end (more when it has an
// image or a clip and a transition); a transition costs its xfade and
// conversions; a video element costs a decoder of the largest clip allowed;
// the output's encoder (format and quality) and the thumbnail's JPEG
// encoder hold frames of their own.
// Each element kind has its cost function in elementCosts: a new kind adds
// one entry, and a kind with media says how its media are deduplicated.

// Cost is what rendering a spec asks of the worker.
type Cost struct {
	// MemoryBytes is ffmpeg's peak resident memory.
	MemoryBytes float64
	// Inputs are ffmpeg's inputs: distinct stills and the soundtrack.
	Inputs int
	// Filters counts the filter graph's filters.
	Filters int
	// PixelFrames is the pixel work per render: output pixels × frames,
	// plus every overlay's box × the frames it shows. It bounds the time.
	PixelFrames float64
}

// WorkerBudget is what one render may cost on the render worker. Memory:
// ffmpeg must stay under 1 GiB (the worker's MemorySize leaves room for the
// worker itself); the model is held to 900 MiB so its error stays inside
// that. Time: the worker has 840 s (900 s minus the upload reserve) and
// encodes about 110 million pixels a second with x264 at ultrafast's
// analysis on two cores; the budget counts on half that, and charges the
// slower encoders (high, webm, gif) their factor (encoderCosts).
func WorkerBudget() Cost {
	return Cost{MemoryBytes: 900 << 20, Inputs: 200, Filters: 20000, PixelFrames: 840 * 55e6}
}

// Memory the model charges, in bytes; F is the frame's pixel count.
const (
	costBase         = 50 << 20 // ffmpeg, x264 and the muxer …
	costBasePerPixel = 25       // … plus x264's frames, × F
	costWatermark    = 2 << 20
	costAudio        = 16 << 20
	// A scene with elements keeps about two of its frames (× F) to the
	// end; one with an image and a transition about five.
	costDrawnScene   = 3.0
	costBlendedScene = 7.5
	// A transition: the xfade, its conversions and their frame pools (× F),
	// fitted when every transition was xfade on 4:4:4 frames; the masks
	// and slides that replaced most of them hold less.
	costTransition     = 8.6
	costTransitionBase = 512 << 10
	// A distinct background: its source's frame pool and its conversion's
	// (× F); a gradient is drawn in RGBA.
	costBackground    = 1.5
	costGradient      = 4.5
	costStillPerPixel = 2.5       // yuva420p, × the box
	costStill         = 512 << 10 // its input and decoder
	costOverlay       = 160 << 10 // each overlay and its loop
	costText          = 384 << 10 // each drawtext: its FreeType face
	costGlyph         = 18 << 10  // each distinct glyph it caches …
	costGlyphPerPixel = 0.6       // … plus its bitmap, × fontSize²
	// A video element: its own input and decoder, whose frame pool lives
	// to the end of the run, counted at the largest frame a clip may have
	// (MaxClipPixels) with a full reference buffer and B-frames; its sound
	// (one more input); and its scaled frames (× the box), more
	// across a transition.
	costClip            = 4 << 20
	costClipPerPixel    = 17
	costClipBoxPerPixel = 16
)

// encoderCost is what the output's encoder adds to ffmpeg's memory, over
// the x264 ultrafast that costBase was fitted with, and how much slower it
// encodes. Measured at 2 threads on testsrc2 (1920×1080 and 640×360, peak
// RSS over ultrafast's): x264 standard (mbtree with a 10-frame lookahead,
// 3 B-frames; the 8-frame lookahead used since holds less) +115 MB at
// full-hd, high (veryfast) +150 MB, libvpx-vp9
// realtime +245 MB (+55 MB at sd: a fixed part), the GIF's paletteuse run
// +50 MB; the times from BenchmarkRenderQuality (docs/renders.md).
type encoderCost struct {
	base, perPixel float64 // bytes, and bytes × F
	time           float64 // × the output's pixel-frames
}

var encoderCosts = map[string]map[string]encoderCost{
	FormatMP4: {
		QualityDraft:    {4 << 20, 4, 1},
		QualityStandard: {8 << 20, 58, 1},
		QualityHigh:     {12 << 20, 76, 2.5},
	},
	FormatWebM: {
		QualityDraft:    {40 << 20, 112, 1.5},
		QualityStandard: {40 << 20, 112, 1.5},
		QualityHigh:     {40 << 20, 112, 1.5},
	},
	FormatGIF: {
		QualityDraft:    {8 << 20, 26, 3},
		QualityStandard: {8 << 20, 26, 3},
		QualityHigh:     {8 << 20, 26, 3},
	},
}

// The thumbnail: its frame, converted to full-range and JPEG-encoded in
// the movie's run (+27 MB at full-hd).
const (
	costThumbnail         = 4 << 20
	costThumbnailPerPixel = 14
)

// encoder is the cost of s's format and quality; unknown ones (a spec not
// validated yet) cost the dearest.
func (s *Spec) encoder() encoderCost {
	if e, ok := encoderCosts[s.Format][s.Quality]; ok {
		return e
	}
	return encoderCosts[FormatWebM][QualityHigh]
}

// MaxClipPixels is the largest frame a video element's clip may have
// (3840×2160, in either orientation): the renderer refuses a larger clip,
// and the budget counts every clip at this size, since a clip given by URL
// is only seen when it renders.
const MaxClipPixels = 3840 * 2160

// costing accumulates a spec's cost in spec order, so the first field that
// crosses the budget is the one an error names.
type costing struct {
	s      *Spec
	w, h   int
	f      float64 // frame pixels
	frames float64 // output frames
	cost   Cost
	stills map[stillKey]bool
	bgs    map[Background]bool
}

type stillKey struct {
	media string
	fit   string
	w, h  int
}

// elementCosts charges one element, by kind (Element.Type), to c.
var elementCosts = map[string]func(c *costing, e Element){
	"text": func(c *costing, e Element) {
		c.cost.Filters++
		c.cost.MemoryBytes += costText + float64(distinctGlyphs(e.Text))*(costGlyph+costGlyphPerPixel*float64(e.FontSize*e.FontSize))
	},
	"image": func(c *costing, e Element) {
		bw, bh := ImageBox(e, c.w, c.h)
		c.overlay(stillKey{media: e.Media(), fit: e.Fit, w: bw, h: bh}, e)
	},
	// Each video element reads its stretch of the clip through an input
	// of its own (nothing shared, nothing buffered between scenes).
	"video": func(c *costing, e Element) {
		bw, bh := ImageBox(e, c.w, c.h)
		box := float64(bw * bh)
		c.cost.Inputs += 2
		c.cost.Filters += 9
		c.cost.MemoryBytes += costClip + costClipPerPixel*MaxClipPixels + costClipBoxPerPixel*box
		c.cost.PixelFrames += (MaxClipPixels + box) * (e.End - e.Start) * float64(c.s.FPS)
	},
}

// overlay charges an element drawing media fitted to a box: the still
// once, and the overlay.
func (c *costing) overlay(k stillKey, e Element) {
	box := float64(k.w * k.h)
	if !c.stills[k] {
		c.stills[k] = true
		c.cost.Inputs++
		c.cost.Filters++
		c.cost.MemoryBytes += costStill + costStillPerPixel*box
	}
	c.cost.Filters += 2
	c.cost.MemoryBytes += costOverlay
	c.cost.PixelFrames += box * (e.End - e.Start) * float64(c.s.FPS)
}

// RenderCost is the cost of rendering a normalized, otherwise valid spec.
func (s *Spec) RenderCost() Cost {
	c := s.costing()
	for i := range s.Scenes {
		c.scene(i)
		for _, e := range s.Scenes[i].Elements {
			c.element(e)
		}
	}
	return c.cost
}

func (s *Spec) costing() *costing {
	w, h := s.Size()
	c := &costing{s: s, w: w, h: h, f: float64(w * h), frames: math.Ceil(s.Duration() * float64(s.FPS)),
		stills: map[stillKey]bool{}, bgs: map[Background]bool{}}
	c.cost.MemoryBytes = costBase + costBasePerPixel*c.f + costWatermark
	c.cost.Filters = 8
	c.cost.PixelFrames = c.f * c.frames
	if s.Audio != nil {
		c.cost.Inputs++
		c.cost.Filters += 6
		c.cost.MemoryBytes += costAudio
	}
	c.encode()
	return c
}

// encode charges the output's encoder and the thumbnail's.
func (c *costing) encode() {
	e := c.s.encoder()
	c.cost.MemoryBytes += e.base + e.perPixel*c.f + costThumbnail + costThumbnailPerPixel*c.f
	c.cost.Filters += 4
	c.cost.PixelFrames *= e.time
}

// scene charges a scene's stream and parts, its background, its
// transition, and what drawing its elements keeps.
func (c *costing) scene(i int) {
	sc := c.s.Scenes[i]
	c.cost.Filters += 8
	key := backgroundKey(sc.Background)
	if !c.bgs[key] {
		c.bgs[key] = true
		c.cost.Filters += 3
		c.cost.MemoryBytes += costBackground * c.f
		if sc.Background.Gradient != nil {
			c.cost.MemoryBytes += costGradient * c.f
		}
	}
	if sc.Audio != nil {
		c.cost.Inputs++
		c.cost.Filters += 3
		c.cost.MemoryBytes += costAudio
	}
	transitions := sc.Transition != nil || i > 0 && c.s.Scenes[i-1].Transition != nil
	if sc.Transition != nil {
		c.cost.Filters += 4
		c.cost.MemoryBytes += costTransitionBase + costTransition*c.f
	}
	kept := 0.0
	for _, e := range sc.Elements {
		if (e.Type == "image" || e.Type == "video") && transitions {
			kept = costBlendedScene
			break
		}
		kept = costDrawnScene
	}
	c.cost.MemoryBytes += kept * c.f
}

// backgroundKey is a comparable form of a background.
func backgroundKey(b Background) Background {
	if b.Gradient == nil {
		return Background{Color: b.Color}
	}
	return Background{Color: "gradient:" + b.Gradient.From + b.Gradient.To + b.Gradient.Direction}
}

func (c *costing) element(e Element) {
	if f, ok := elementCosts[e.Type]; ok {
		f(c, e)
	}
}

// distinctGlyphs counts the different characters a text draws.
func distinctGlyphs(text string) int {
	seen := map[rune]bool{}
	for _, r := range text {
		if !unicode.IsSpace(r) {
			seen[r] = true
		}
	}
	return len(seen)
}

// over reports which part of the budget c exceeds, "" when none.
func (c Cost) over(b Cost) string {
	switch {
	case c.MemoryBytes > b.MemoryBytes:
		return "memory"
	case c.PixelFrames > b.PixelFrames:
		return "time"
	case c.Inputs > b.Inputs:
		return "inputs"
	case c.Filters > b.Filters:
		return "filters"
	}
	return ""
}

// checkBudget fails with render_budget_exceeded naming the first scene or
// element at which the spec's cost crosses the budget.
func (s *Spec) checkBudget(budget Cost) error {
	if budget == (Cost{}) {
		budget = WorkerBudget()
	}
	c := s.costing()
	bare := *s
	bare.Format, bare.Quality = FormatMP4, QualityDraft
	fail := func(field, what string) error {
		e := apierr.New(apierr.RenderBudgetExceeded, "%s", budgetMessage(c.cost, budget, what, s.Resolution))
		e.Field = field
		return e
	}
	if what := c.cost.over(budget); what != "" {
		// The frame size alone, or its encoder: the field is the one the
		// client can change.
		if bare.costing().cost.over(budget) == "" {
			return fail("/format", what)
		}
		return fail("/resolution", what)
	}
	for i := range s.Scenes {
		c.scene(i)
		if what := c.cost.over(budget); what != "" {
			return fail(fmt.Sprintf("/scenes/%d", i), what)
		}
		for j, e := range s.Scenes[i].Elements {
			c.element(e)
			if what := c.cost.over(budget); what != "" {
				return fail(fmt.Sprintf("/scenes/%d/elements/%d", i, j), what)
			}
		}
	}
	return nil
}

func budgetMessage(c, budget Cost, what, resolution string) string {
	switch what {
	case "memory":
		return fmt.Sprintf("This spec needs more memory than a render has (about %d MB up to here, over the %d MB a render may use at %s): "+
			"use fewer distinct or smaller images, fewer video elements, fewer scenes with transitions or images, shorter or smaller text, a lower resolution, or mp4 at standard or draft quality.",
			int64(c.MemoryBytes)>>20, int64(budget.MemoryBytes)>>20, resolution)
	case "time":
		return fmt.Sprintf("This spec would take longer to render than a render may (%.0f million pixel-frames up to here, over the %.0f million a render may draw at %s): "+
			"make it shorter, use a lower resolution or frame rate, fewer and smaller images, or mp4 at standard or draft quality.",
			c.PixelFrames/1e6, budget.PixelFrames/1e6, resolution)
	}
	return fmt.Sprintf("This spec has more distinct media or drawing steps than a render can take (%d inputs and %d filters up to here; at most %d and %d).",
		c.Inputs, c.Filters, budget.Inputs, budget.Filters)
}
