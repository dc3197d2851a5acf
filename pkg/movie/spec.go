// Package movie is the JSON movie spec a client posts: resolution, scenes,
// backgrounds, text, image and video elements, transitions and audio for
// the movie and per scene, the output format and quality and the
// thumbnail's time, and its validation against a plan's limits, every
// error naming the field by JSON pointer. Media is an https URL or an
// uploaded asset ("asset": "ast_…"), which pkg/videos resolves.
package movie

import "fmt"

// Resolutions and their pixel sizes.
var Resolutions = map[string][2]int{
	"sd":       {640, 360},
	"hd":       {1280, 720},
	"full-hd":  {1920, 1080},
	"square":   {1080, 1080},
	"vertical": {1080, 1920},
}

// Spec is a whole movie.
type Spec struct {
	Resolution string  `json:"resolution"`
	FPS        int     `json:"fps,omitempty"` // default 25; 1..60
	Scenes     []Scene `json:"scenes"`
	Audio      *Audio  `json:"audio,omitempty"`
	// Format of the file: "mp4" (default), "webm" or "gif".
	Format string `json:"format,omitempty"`
	// Quality trades render speed for size: "draft", "standard"
	// (default) or "high".
	Quality   string     `json:"quality,omitempty"`
	Thumbnail *Thumbnail `json:"thumbnail,omitempty"`
}

// Output formats.
const (
	FormatMP4  = "mp4"  // H.264 and AAC
	FormatWebM = "webm" // VP9 and Opus
	FormatGIF  = "gif"  // no sound; short clips only (MaxGIFSeconds)
)

// ContentType is the media type of a file in format.
func ContentType(format string) string {
	switch format {
	case FormatWebM:
		return "video/webm"
	case FormatGIF:
		return "image/gif"
	}
	return "video/mp4"
}

// Qualities.
const (
	QualityDraft    = "draft"
	QualityStandard = "standard"
	QualityHigh     = "high"
)

// Thumbnail chooses the poster image's frame.
type Thumbnail struct {
	// Time in seconds into the video; absent = the first moment the
	// movie shows the most of its opening content (PosterTime).
	Time *float64 `json:"time,omitempty"`
}

// Scene is one shot.
type Scene struct {
	Duration   float64     `json:"duration"` // seconds, > 0
	Background Background  `json:"background"`
	Elements   []Element   `json:"elements,omitempty"`
	Transition *Transition `json:"transition,omitempty"` // into the next scene
	// Audio plays from the scene's start for at most its duration, mixed
	// with the movie's audio and its clips' sound.
	Audio *Audio `json:"audio,omitempty"`
}

// Background is a solid color or a linear gradient.
type Background struct {
	Color    string    `json:"color,omitempty"` // "#rrggbb"
	Gradient *Gradient `json:"gradient,omitempty"`
}

// Gradient is a two-color linear gradient.
type Gradient struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Direction string `json:"direction,omitempty"` // "vertical" (default) | "horizontal" | "diagonal"
}

// Element is a text, an image or a video clip placed on a scene for
// [Start, End) seconds of it (End 0 = to the scene's end).
type Element struct {
	Type  string  `json:"type"` // "text" | "image" | "video"
	Start float64 `json:"start,omitempty"`
	End   float64 `json:"end,omitempty"`

	// text
	Text     string `json:"text,omitempty"`
	FontSize int    `json:"fontSize,omitempty"` // px, default 64
	Color    string `json:"color,omitempty"`    // "#rrggbb", default white

	// image and video: the media is a URL or an asset, exactly one
	URL   string `json:"url,omitempty"`   // https only, fetched through the egress guard
	Asset string `json:"asset,omitempty"` // "ast_…", of the same workspace and environment
	Fit   string `json:"fit,omitempty"`   // "contain" (default) | "cover" | "fill"
	// Width and Height bound the image box in px; default the whole frame.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`

	// video: the clip plays from TrimStart to TrimEnd (0: its end) once,
	// then holds its last frame; with Loop the whole clip repeats. Its
	// sound is mixed into the movie at Volume (0..1, default 1).
	TrimStart float64  `json:"trimStart,omitempty"`
	TrimEnd   float64  `json:"trimEnd,omitempty"`
	Volume    *float64 `json:"volume,omitempty"`
	Loop      bool     `json:"loop,omitempty"`

	// Position of the element: "center" (default), "top", "bottom", "left",
	// "right", "top-left", "top-right", "bottom-left", "bottom-right".
	Position string `json:"position,omitempty"`
}

// Transition blends a scene into the next.
type Transition struct {
	Type     string  `json:"type"`               // "fade" | "wipeleft" | "slideup" | ... (xfade names)
	Duration float64 `json:"duration,omitempty"` // seconds, default 0.5, < both scenes
}

// Audio is a soundtrack: a URL or an asset, exactly one.
type Audio struct {
	URL    string  `json:"url,omitempty"`    // https
	Asset  string  `json:"asset,omitempty"`  // "ast_…"
	Volume float64 `json:"volume,omitempty"` // 0..1, default 1
}

// AssetRef is one use of an asset in a spec: where, and the kind of media
// that place needs.
type AssetRef struct {
	Field string // JSON pointer of the "asset" member
	ID    string
	Kind  string // "image", "video" or "audio"
}

// AssetRefs lists every asset the spec uses, in document order.
func (s Spec) AssetRefs() []AssetRef {
	var out []AssetRef
	for i, sc := range s.Scenes {
		for j, e := range sc.Elements {
			if e.Asset != "" {
				out = append(out, AssetRef{fmt.Sprintf("/scenes/%d/elements/%d/asset", i, j), e.Asset, e.Type})
			}
		}
		if sc.Audio != nil && sc.Audio.Asset != "" {
			out = append(out, AssetRef{fmt.Sprintf("/scenes/%d/audio/asset", i), sc.Audio.Asset, "audio"})
		}
	}
	if s.Audio != nil && s.Audio.Asset != "" {
		out = append(out, AssetRef{"/audio/asset", s.Audio.Asset, "audio"})
	}
	return out
}

// Limits bound a spec; they come from the workspace's plan and environment.
type Limits struct {
	MaxSeconds  float64 // total length
	MaxScenes   int
	MaxElements int // per scene
	MaxTextLen  int // runes per text element
	// Sandbox is true for fg_test_ keys: at most 30 s (sandbox_duration_exceeded beyond).
	Sandbox bool
	// Budget is what one render may cost (render_budget_exceeded beyond);
	// the zero value means the render worker's, WorkerBudget.
	Budget Cost
}

// Media identifies an element's media, whichever way it is named: two
// elements with the same Media show the same file.
func (e Element) Media() string {
	if e.Asset != "" {
		return "asset:" + e.Asset
	}
	return e.URL
}

// ImageBox is the box an image element is fitted into in a w×h frame: its
// width and height, the frame's where they are 0.
func ImageBox(e Element, w, h int) (bw, bh int) {
	bw, bh = e.Width, e.Height
	if bw == 0 {
		bw = w
	}
	if bh == 0 {
		bh = h
	}
	return bw, bh
}
