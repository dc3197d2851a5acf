package movie

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/ids"
)

// Defaults applied by Normalize.
const (
	DefaultFPS                = 25
	DefaultFontSize           = 64
	DefaultColor              = "#ffffff"
	DefaultPosition           = "center"
	DefaultFit                = "contain"
	DefaultTransitionDuration = 0.5
	DefaultVolume             = 1.0
	DefaultGradientDirection  = "vertical"

	DefaultFormat  = FormatMP4
	DefaultQuality = QualityStandard

	// SandboxMaxSeconds caps fg_test_ renders whatever the plan says.
	SandboxMaxSeconds = 30
	// MaxGIFSeconds caps GIFs: a GIF holds every frame as a palette image
	// with no inter-frame compression worth the name, so a long one is
	// many megabytes that mp4 or webm would hold in a few hundred kB.
	MaxGIFSeconds = 15
	// MaxURLLen keeps URLs well under what S3 keys, logs and ffmpeg accept.
	MaxURLLen = 2048
)

// Enumerations. They are closed lists because every value ends up in an
// ffmpeg filter graph: anything not listed here never reaches ffmpeg.
var (
	Formats   = []string{FormatMP4, FormatWebM, FormatGIF}
	Qualities = []string{QualityDraft, QualityStandard, QualityHigh}
	Positions = []string{"center", "top", "bottom", "left", "right", "top-left", "top-right", "bottom-left", "bottom-right"}
	Fits      = []string{"contain", "cover", "fill"}
	// Directions of a gradient background.
	Directions = []string{"vertical", "horizontal", "diagonal"}
	// Transitions are the xfade transition names of ffmpeg 5.1 (the oldest
	// ffmpeg we support), minus "custom", which takes user expressions.
	Transitions = []string{
		"fade", "fadeblack", "fadewhite", "fadegrays", "dissolve", "pixelize", "distance", "hblur",
		"wipeleft", "wiperight", "wipeup", "wipedown", "wipetl", "wipetr", "wipebl", "wipebr",
		"slideleft", "slideright", "slideup", "slidedown",
		"smoothleft", "smoothright", "smoothup", "smoothdown",
		"circlecrop", "rectcrop", "circleopen", "circleclose", "radial",
		"vertopen", "vertclose", "horzopen", "horzclose",
		"diagtl", "diagtr", "diagbl", "diagbr",
		"hlslice", "hrslice", "vuslice", "vdslice",
		"squeezeh", "squeezev", "zoomin",
	}
)

// DefaultLimits are the limits of a plan allowing maxVideoSeconds of video.
// The structural caps bound the size of the ffmpeg graph a request can
// build: 50 scenes × 20 elements is about a thousand filters, which ffmpeg
// still parses in milliseconds.
func DefaultLimits(maxVideoSeconds int, sandbox bool) Limits {
	return Limits{
		MaxSeconds:  float64(maxVideoSeconds),
		MaxScenes:   50,
		MaxElements: 20,
		MaxTextLen:  500,
		Sandbox:     sandbox,
	}
}

// withDefaults fills zero limits so a forgotten field can never mean
// "unlimited"; a zero MaxSeconds means the sandbox cap, the smallest one.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits(SandboxMaxSeconds, l.Sandbox)
	if l.MaxSeconds <= 0 {
		l.MaxSeconds = d.MaxSeconds
	}
	if l.MaxScenes <= 0 {
		l.MaxScenes = d.MaxScenes
	}
	if l.MaxElements <= 0 {
		l.MaxElements = d.MaxElements
	}
	if l.MaxTextLen <= 0 {
		l.MaxTextLen = d.MaxTextLen
	}
	return l
}

// Size is the frame size of the spec's resolution (0×0 when unknown).
func (s Spec) Size() (w, h int) {
	r := Resolutions[s.Resolution]
	return r[0], r[1]
}

// Duration is the length of the rendered movie: the scenes' durations minus
// the overlap of each transition (xfade plays both scenes at once).
func (s Spec) Duration() float64 {
	var total float64
	for i, sc := range s.Scenes {
		total += sc.Duration
		if i < len(s.Scenes)-1 {
			total -= sc.TransitionDuration()
		}
	}
	return total
}

// TransitionDuration is the overlap of the scene with the next one: 0
// without a transition, the default when the spec left it out.
func (sc Scene) TransitionDuration() float64 {
	switch {
	case sc.Transition == nil:
		return 0
	case sc.Transition.Duration == 0:
		return DefaultTransitionDuration
	}
	return sc.Transition.Duration
}

// Normalize fills defaults in place. It never fails: Validate judges the
// result, so the two can be called in sequence on any decoded spec.
func (s *Spec) Normalize() {
	if s.FPS == 0 {
		s.FPS = DefaultFPS
	}
	if s.Format == "" {
		s.Format = DefaultFormat
	}
	if s.Quality == "" {
		s.Quality = DefaultQuality
	}
	for i := range s.Scenes {
		sc := &s.Scenes[i]
		sc.Background.Color = strings.ToLower(sc.Background.Color)
		if g := sc.Background.Gradient; g != nil {
			g.From, g.To = strings.ToLower(g.From), strings.ToLower(g.To)
			if g.Direction == "" {
				g.Direction = DefaultGradientDirection
			}
		}
		for j := range sc.Elements {
			e := &sc.Elements[j]
			if e.End == 0 {
				e.End = sc.Duration
			}
			if e.Position == "" {
				e.Position = DefaultPosition
			}
			switch e.Type {
			case "text":
				if e.FontSize == 0 {
					e.FontSize = DefaultFontSize
				}
				if e.Color == "" {
					e.Color = DefaultColor
				}
				e.Color = strings.ToLower(e.Color)
			case "image", "video":
				if e.Fit == "" {
					e.Fit = DefaultFit
				}
				if e.Type == "video" && e.Volume == nil {
					v := DefaultVolume
					e.Volume = &v
				}
			}
		}
		if t := sc.Transition; t != nil && t.Duration == 0 {
			t.Duration = DefaultTransitionDuration
		}
		if sc.Audio != nil && sc.Audio.Volume == 0 {
			sc.Audio.Volume = DefaultVolume
		}
	}
	if s.Audio != nil && s.Audio.Volume == 0 {
		s.Audio.Volume = DefaultVolume
	}
}

// Validate checks a normalized spec against limits. The first problem is
// returned as an *apierr.Error naming the field by JSON pointer:
// invalid_request, or sandbox_duration_exceeded when a sandbox movie is
// longer than 30 s.
func (s *Spec) Validate(l Limits) error {
	l = l.withDefaults()
	w, h := s.Size()
	if w == 0 {
		return apierr.Invalid("/resolution", "resolution must be one of sd, hd, full-hd, square, vertical.")
	}
	if s.FPS < 1 || s.FPS > 60 {
		return apierr.Invalid("/fps", "fps must be an integer from 1 to 60.")
	}
	if len(s.Scenes) == 0 {
		return apierr.Invalid("/scenes", "At least one scene is required.")
	}
	if len(s.Scenes) > l.MaxScenes {
		return apierr.Invalid("/scenes", "At most %d scenes are allowed.", l.MaxScenes)
	}
	// Durations first: a transition is judged against both scenes it joins,
	// and a bad duration is the error to report, not its consequence.
	frame := 1 / float64(s.FPS)
	for i, sc := range s.Scenes {
		// The upper bound keeps float arithmetic exact enough and rejects
		// nonsense before the total-length check does.
		if !finite(sc.Duration) || sc.Duration <= 0 || sc.Duration > 86400 {
			return apierr.Invalid(fmt.Sprintf("/scenes/%d/duration", i), "duration must be a number of seconds greater than 0.")
		}
		if sc.Duration < frame {
			return apierr.Invalid(fmt.Sprintf("/scenes/%d/duration", i), "duration must be at least one frame (%s s at %d fps).", frameSeconds(frame), s.FPS)
		}
	}
	var incoming float64 // overlap taken from the start of the current scene
	for i := range s.Scenes {
		if err := s.validateScene(i, w, h, incoming, l); err != nil {
			return err
		}
		incoming = s.Scenes[i].TransitionDuration()
	}
	total := s.Duration()
	if l.Sandbox && total > SandboxMaxSeconds {
		e := apierr.New(apierr.SandboxDurationExceeded, "Sandbox videos are at most %d seconds; this one is %s s. Use a live key for longer videos.", SandboxMaxSeconds, seconds(total))
		e.Field = "/scenes"
		return e
	}
	if total > l.MaxSeconds {
		return apierr.Invalid("/scenes", "The video is %s s long; your plan allows at most %s s.", seconds(total), seconds(l.MaxSeconds))
	}
	if err := s.validateOutput(total); err != nil {
		return err
	}
	if a := s.Audio; a != nil {
		if err := checkAudio("/audio", a); err != nil {
			return err
		}
	}
	return s.checkBudget(l.Budget)
}

// frameSeconds writes a frame's length with the digits it needs.
func frameSeconds(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }

func checkAudio(p string, a *Audio) error {
	if err := checkSource(p, a.URL, a.Asset); err != nil {
		return err
	}
	if !finite(a.Volume) || a.Volume < 0 || a.Volume > 1 {
		return apierr.Invalid(p+"/volume", "volume must be from 0 to 1.")
	}
	return nil
}

// validateOutput checks the format, the quality and the thumbnail time
// of a movie total seconds long.
func (s *Spec) validateOutput(total float64) error {
	if !oneOf(s.Format, Formats) {
		return apierr.Invalid("/format", "format must be one of %s.", strings.Join(Formats, ", "))
	}
	if s.Format == FormatGIF && total > MaxGIFSeconds {
		return apierr.Invalid("/format", "A GIF is at most %d s; this video is %s s. Use mp4 or webm for longer videos.", MaxGIFSeconds, seconds(total))
	}
	if !oneOf(s.Quality, Qualities) {
		return apierr.Invalid("/quality", "quality must be one of %s.", strings.Join(Qualities, ", "))
	}
	if th := s.Thumbnail; th != nil && th.Time != nil {
		if t := *th.Time; !finite(t) || t < 0 || t >= total {
			return apierr.Invalid("/thumbnail/time", "time must be from 0 to less than the video's length (%s s).", seconds(total))
		}
	}
	return nil
}

// checkSource checks that media is named once: an https URL or an asset id.
func checkSource(p, url, asset string) error {
	switch {
	case url != "" && asset != "":
		return apierr.Invalid(p+"/asset", "Set either url or asset, not both.")
	case asset != "":
		if !ids.Valid("ast", asset) {
			return apierr.Invalid(p+"/asset", "asset must be an asset id (ast_…) from POST /v1/assets.")
		}
		return nil
	case url == "":
		return apierr.Invalid(p+"/url", "url (an https URL) or asset (an uploaded asset's id) is required.")
	}
	return checkURL(p+"/url", url)
}

func (s *Spec) validateScene(i, w, h int, incoming float64, l Limits) error {
	sc := &s.Scenes[i]
	p := fmt.Sprintf("/scenes/%d", i)
	bg := sc.Background
	switch {
	case bg.Color != "" && bg.Gradient != nil:
		return apierr.Invalid(p+"/background", "Set either color or gradient, not both.")
	case bg.Color != "":
		if !isColor(bg.Color) {
			return apierr.Invalid(p+"/background/color", "color must be #rrggbb.")
		}
	case bg.Gradient != nil:
		g := bg.Gradient
		if !isColor(g.From) {
			return apierr.Invalid(p+"/background/gradient/from", "from must be #rrggbb.")
		}
		if !isColor(g.To) {
			return apierr.Invalid(p+"/background/gradient/to", "to must be #rrggbb.")
		}
		if !oneOf(g.Direction, Directions) {
			return apierr.Invalid(p+"/background/gradient/direction", "direction must be one of %s.", strings.Join(Directions, ", "))
		}
	default:
		return apierr.Invalid(p+"/background", "A background color or gradient is required.")
	}
	if len(sc.Elements) > l.MaxElements {
		return apierr.Invalid(p+"/elements", "At most %d elements per scene are allowed.", l.MaxElements)
	}
	frame := 1 / float64(s.FPS)
	for j := range sc.Elements {
		if err := validateElement(&sc.Elements[j], fmt.Sprintf("%s/elements/%d", p, j), sc.Duration, frame, w, h, l); err != nil {
			return err
		}
	}
	if sc.Audio != nil {
		if err := checkAudio(p+"/audio", sc.Audio); err != nil {
			return err
		}
	}
	if t := sc.Transition; t != nil {
		tp := p + "/transition"
		if i == len(s.Scenes)-1 {
			return apierr.Invalid(tp, "The last scene cannot have a transition: it blends into the next scene.")
		}
		if !oneOf(t.Type, Transitions) {
			return apierr.Invalid(tp+"/type", "type must be an xfade transition such as fade, wipeleft, slideup, circleopen or dissolve.")
		}
		next := s.Scenes[i+1].Duration
		if !finite(t.Duration) || t.Duration <= 0 || t.Duration >= sc.Duration || t.Duration >= next {
			return apierr.Invalid(tp+"/duration", "duration must be greater than 0 and shorter than both scenes it joins.")
		}
		if t.Duration < frame {
			return apierr.Invalid(tp+"/duration", "duration must be at least one frame (%s s at %d fps).", frameSeconds(frame), s.FPS)
		}
		// Both this scene's transitions overlap it: together they must fit,
		// or the next blend would start before the previous one ends.
		if incoming+t.Duration > sc.Duration {
			return apierr.Invalid(tp+"/duration", "The transitions into and out of scene %d are longer than the scene.", i)
		}
	}
	return nil
}

func validateElement(e *Element, p string, sceneDur, frame float64, w, h int, l Limits) error {
	if !finite(e.Start) || e.Start < 0 {
		return apierr.Invalid(p+"/start", "start must be 0 or more seconds.")
	}
	if !finite(e.End) || e.End > sceneDur {
		return apierr.Invalid(p+"/end", "end must be within the scene (at most %s s).", seconds(sceneDur))
	}
	if e.Start >= e.End {
		return apierr.Invalid(p+"/start", "start must be before end.")
	}
	if e.End-e.Start < frame {
		return apierr.Invalid(p+"/end", "An element must show for at least one frame (%s s); end is too close to start.", frameSeconds(frame))
	}
	if !oneOf(e.Position, Positions) {
		return apierr.Invalid(p+"/position", "position must be one of %s.", strings.Join(Positions, ", "))
	}
	switch e.Type {
	case "text":
		if err := checkText(p+"/text", e.Text, l.MaxTextLen); err != nil {
			return err
		}
		if e.FontSize < 8 || e.FontSize > 400 {
			return apierr.Invalid(p+"/fontSize", "fontSize must be from 8 to 400.")
		}
		if !isColor(e.Color) {
			return apierr.Invalid(p+"/color", "color must be #rrggbb.")
		}
		return onlyFor(p, "text", map[string]bool{"url": e.URL != "", "asset": e.Asset != "", "fit": e.Fit != "", "width": e.Width != 0, "height": e.Height != 0,
			"trimStart": e.TrimStart != 0, "trimEnd": e.TrimEnd != 0, "volume": e.Volume != nil, "loop": e.Loop})
	case "image", "video":
		if err := checkSource(p, e.URL, e.Asset); err != nil {
			return err
		}
		if !oneOf(e.Fit, Fits) {
			return apierr.Invalid(p+"/fit", "fit must be one of %s.", strings.Join(Fits, ", "))
		}
		if e.Width < 0 || e.Width > w {
			return apierr.Invalid(p+"/width", "width must be from 0 to the frame width %d.", w)
		}
		if e.Height < 0 || e.Height > h {
			return apierr.Invalid(p+"/height", "height must be from 0 to the frame height %d.", h)
		}
		if err := onlyFor(p, e.Type, map[string]bool{"text": e.Text != "", "fontSize": e.FontSize != 0, "color": e.Color != ""}); err != nil {
			return err
		}
		if e.Type == "image" {
			return onlyFor(p, "image", map[string]bool{"trimStart": e.TrimStart != 0, "trimEnd": e.TrimEnd != 0, "volume": e.Volume != nil, "loop": e.Loop})
		}
		return checkClip(p, e)
	}
	return apierr.Invalid(p+"/type", "type must be text, image or video.")
}

// onlyFor refuses the fields set that an element of type typ does not take.
func onlyFor(p, typ string, set map[string]bool) error {
	names := make([]string, 0, len(set))
	for n, ok := range set {
		if ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return apierr.Invalid(p+"/"+names[0], "%s does not apply to %s elements.", names[0], typ)
}

// checkClip checks a video element's timing and sound.
func checkClip(p string, e *Element) error {
	if !finite(e.TrimStart) || e.TrimStart < 0 || e.TrimStart > 86400 {
		return apierr.Invalid(p+"/trimStart", "trimStart must be 0 or more seconds into the clip.")
	}
	if !finite(e.TrimEnd) || e.TrimEnd < 0 || (e.TrimEnd != 0 && e.TrimEnd <= e.TrimStart) || e.TrimEnd > 86400 {
		return apierr.Invalid(p+"/trimEnd", "trimEnd must be after trimStart (0: the clip's end).")
	}
	if e.Loop && (e.TrimStart != 0 || e.TrimEnd != 0) {
		return apierr.Invalid(p+"/loop", "A looping clip repeats whole: leave trimStart and trimEnd out.")
	}
	if v := e.Volume; v != nil && (!finite(*v) || *v < 0 || *v > 1) {
		return apierr.Invalid(p+"/volume", "volume must be from 0 to 1.")
	}
	return nil
}

func checkText(p, s string, maxLen int) error {
	if !utf8.ValidString(s) {
		return apierr.Invalid(p, "text must be valid UTF-8.")
	}
	if strings.TrimSpace(s) == "" {
		return apierr.Invalid(p, "text must not be empty.")
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return apierr.Invalid(p, "text is %d characters; at most %d are allowed.", n, maxLen)
	}
	for _, r := range s {
		// Newlines and tabs lay out; other control characters draw as tofu
		// boxes at best and are never what the client meant.
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == utf8.RuneError) {
			return apierr.Invalid(p, "text must not contain control characters other than newline and tab.")
		}
	}
	return nil
}

// checkURL is the syntactic half of the egress policy; the egress guard
// checks the addresses when the renderer fetches.
func checkURL(p, raw string) error {
	if raw == "" {
		return apierr.Invalid(p, "url is required.")
	}
	if len(raw) > MaxURLLen || !utf8.ValidString(raw) {
		return apierr.Invalid(p, "url must be at most %d bytes of UTF-8.", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.Opaque != "" {
		return apierr.Invalid(p, "url must be an absolute https URL.")
	}
	if u.User != nil {
		return apierr.Invalid(p, "url must not carry credentials.")
	}
	return nil
}

func isColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func oneOf(s string, list []string) bool {
	for _, v := range list {
		if s == v {
			return true
		}
	}
	return false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func seconds(f float64) string { return fmt.Sprintf("%.2f", f) }

// Parse decodes a JSON movie spec strictly, fills defaults and validates
// it. Every error is an *apierr.Error.
func Parse(body []byte, l Limits) (Spec, error) {
	var s Spec
	if err := apierr.DecodeJSON(body, &s); err != nil {
		return Spec{}, withFullPointer(err, body, reflect.TypeOf(s))
	}
	s.Normalize()
	if err := s.Validate(l); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// withFullPointer replaces the error encoding/json gives for an unknown
// field or a wrong type, whose path is only the top-level name ("/colour")
// or leaves out array indexes ("/scenes/elements/fontSize"), by one naming
// the exact JSON pointer ("/scenes/1/elements/0/fontSize").
func withFullPointer(err error, body []byte, t reflect.Type) error {
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		return err
	}
	if p, name, ok := UnknownField(body, t); ok {
		return apierr.Invalid(p, "Unknown field %q at %s.", name, p)
	}
	if p, want, ok := TypeMismatch(body, t); ok && p != "" {
		return apierr.Invalid(p, "%s must be %s.", p, want)
	}
	return err
}
