package render

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/framegate/framegate/pkg/movie"
)

// The filter graph is built only from numbers the renderer computes, enum
// values movie.Validate checked against closed lists, "#rrggbb" colors
// turned into 0xrrggbb, and file names the renderer chose. User text never
// appears in it: it goes into files read by drawtext's textfile= with
// expansion=none, so no quote, colon, backslash, %{} or newline in it can
// change the graph.

// timeline is the spec in frames. Rounding every duration to whole frames
// once, here, keeps xfade offsets, trims and the total exactly consistent.
type timeline struct {
	fps    int
	frames []int // per scene
	out    []int // transition frames into the next scene (0 = cut)
	total  int
}

func newTimeline(s movie.Spec) timeline {
	n := len(s.Scenes)
	tl := timeline{fps: s.FPS, frames: make([]int, n), out: make([]int, n)}
	fps := float64(s.FPS)
	// Scene boundaries are rounded on the output clock, not scene by scene,
	// so rounding never accumulates: the total stays within half a frame of
	// Spec.Duration however many scenes and transitions there are.
	var start float64 // output time at which scene i starts
	startF := 0
	for i, sc := range s.Scenes {
		endF := int(math.Round((start + sc.Duration) * fps))
		tl.frames[i] = max(1, endF-startF)
		if i < n-1 && sc.Transition != nil {
			start += sc.Duration - sc.TransitionDuration()
		} else {
			start += sc.Duration
		}
		nextF := int(math.Round(start * fps))
		if i < n-1 {
			tl.out[i] = max(0, startF+tl.frames[i]-nextF)
		}
		startF = nextF
	}
	// Validation bounds transitions in seconds; after rounding a transition
	// may still overrun a very short scene by a frame, so clamp.
	in := 0
	for i := range s.Scenes {
		if i < n-1 {
			tl.out[i] = max(0, min(tl.out[i], tl.frames[i]-in, tl.frames[i+1]))
		}
		in = tl.out[i]
		tl.total += tl.frames[i] - tl.out[i]
	}
	return tl
}

func (tl timeline) seconds(frames int) float64 { return float64(frames) / float64(tl.fps) }

// sceneStart is when scene i starts in the output, seconds.
func (tl timeline) sceneStart(i int) float64 {
	f := 0
	for j := 0; j < i; j++ {
		f += tl.frames[j] - tl.out[j]
	}
	return tl.seconds(f)
}

// Duration of the rendered video.
func (tl timeline) Duration() float64 { return tl.seconds(tl.total) }

// segment is a run of output frames: a scene's body shown alone, or a
// transition blending the end of scene a with the start of scene a+1.
type segment struct {
	scene    int
	from, to int // frames of scene, [from, to)
	xfade    string
}

func (tl timeline) segments(s movie.Spec) []segment {
	var segs []segment
	in := 0
	for i := range s.Scenes {
		if body := (segment{scene: i, from: in, to: tl.frames[i] - tl.out[i]}); body.to > body.from {
			segs = append(segs, body)
		}
		if tl.out[i] > 0 {
			segs = append(segs, segment{scene: i, from: tl.frames[i] - tl.out[i], to: tl.frames[i], xfade: s.Scenes[i].Transition.Type})
		}
		in = tl.out[i]
	}
	return segs
}

// input is one -i of the command: a fetched file and the demuxer its
// content was sniffed as.
type input struct {
	file    string   // relative to the job directory
	format  string   // ffmpeg demuxer, never guessed by ffmpeg from content
	pre     []string // input options: -ss, -t, -stream_loop
	isAudio bool
}

// graphParams are the renderer's choices the graph depends on.
type graphParams struct {
	font       string            // font file, relative to the job directory
	textFile   map[[2]int]string // (scene, element) → text file
	still      map[[2]int]int    // (scene, element) → index into stills
	stills     []still
	audioFile  string
	audioFmt   string
	clips      map[[2]int]media // (scene, element) → fetched clip
	sceneAudio map[int]media    // scene → fetched audio
	watermark  bool
	wmFile     string
	fitRSS     int64 // peak RSS of the runs that fitted the stills
	// fits are the pictures being fitted in this process, by still.
	fits map[int]*pictureFit
	// everyFrame draws every frame even of still stretches: the slow
	// reference that tests compare the drawn-once frames with.
	everyFrame bool
	// xfadeAll draws every transition with xfade on 4:4:4 frames: the
	// reference tests compare the mask transitions and slides with.
	xfadeAll bool
}

// buildGraph returns the -i inputs and the filter_complex, whose outputs
// are [video], the movie's frames, and, with sound, [aout].
func buildGraph(s movie.Spec, tl timeline, p graphParams) ([]input, string) {
	w, h := s.Size()
	var inputs []input
	var chains []string
	segs := tl.segments(s)

	// Each still is one input, split to every overlay that shows it, and
	// each distinct background one frame, split to every scene that has
	// it: split hands every use a reference to the same frame, never a
	// copy. The labels are handed out while the scenes are drawn.
	imgUses := map[int][]string{}
	takeImg := func(key [2]int) string {
		k := p.still[key]
		l := fmt.Sprintf("im%d_%d", k, len(imgUses[k]))
		imgUses[k] = append(imgUses[k], l)
		return l
	}
	var bgs []movie.Background
	bgUses := map[int][]string{}
	takeBg := func(scene int) string {
		bg := s.Scenes[scene].Background
		k := slices.IndexFunc(bgs, func(b movie.Background) bool { return sameBackground(b, bg) })
		if k < 0 {
			k = len(bgs)
			bgs = append(bgs, bg)
		}
		l := fmt.Sprintf("bg%d_%d", k, len(bgUses[k]))
		bgUses[k] = append(bgUses[k], l)
		return l
	}
	// Each clip element reads its stretch of the file through an input of
	// its own that seeks there: nothing is buffered between scenes,
	// whatever the clip's size.
	var clipChains []string
	takeClip := func(i, j, from, to int) string {
		e, c := s.Scenes[i].Elements[j], p.clips[[2]int{i, j}]
		t0 := tl.seconds(from)
		vs, ve := math.Max(e.Start, t0), math.Min(e.End, tl.seconds(to))
		at, length := e.TrimStart+(vs-e.Start), ve-vs
		var pre []string
		if e.Loop {
			at = math.Mod(at, c.duration)
			pre = []string{"-stream_loop", "-1"}
		} else {
			// Played once, then its last frame holds (overlay repeats it).
			frame := 1 / float64(tl.fps)
			end := clipEnd(e, c)
			at = math.Min(at, math.Max(0, end-frame))
			length = math.Max(math.Min(length, end-at), frame)
		}
		k := len(inputs)
		// One decoder thread: frame threads each hold their own frames,
		// and a clip's decoder keeps its pool to the end of the run
		// (movie's budget counts it so).
		pre = append(pre, "-threads", "1", "-ss", num(at), "-t", num(length))
		inputs = append(inputs, input{file: c.file, format: c.format, pre: pre})
		label := fmt.Sprintf("cl%d_%d_%d", i, j, from)
		// trim: never a frame past the scene, or overlay would extend the
		// scene's main stream to match it. The scale writes the format
		// overlay blends, yuva420p, in the same pass.
		clipChains = append(clipChains, fmt.Sprintf("[%d:v]setpts=PTS-STARTPTS,fps=%d,trim=end=%s,%s,setsar=1,format=yuva420p,setpts=PTS+%s/TB[%s]",
			k, tl.fps, num(ve-vs), fitScale(e, w, h), num(vs-t0), label))
		return label
	}

	// How a transition is drawn: a mask, a slide, or else xfade.
	masked := func(t *movie.Transition) bool { return t != nil && maskTransitions[t.Type] && !p.xfadeAll }
	slid := func(t *movie.Transition) bool { return t != nil && slides[t.Type].stack != "" && !p.xfadeAll }

	// Each scene is drawn once, all its frames, and cut into the parts the
	// segments show: its head blends with the previous scene, its body
	// plays alone, its tail blends with the next. Drawing a scene's
	// elements once, not once per part, keeps one filter per element.
	head, body, tail := map[int]string{}, map[int]string{}, map[int]string{}
	for i := range s.Scenes {
		in := 0
		if i > 0 {
			in = tl.out[i-1]
		}
		n, out, sc := tl.frames[i], tl.out[i], s.Scenes[i]
		chains = append(chains, sceneStream(s, tl, p, i, fmt.Sprintf("sc%d", i), takeBg, takeImg, takeClip)...)
		type part struct {
			from, to int
			to444    bool
			labels   map[int]string
		}
		// Only a transition xfade draws itself needs the 4:4:4 frames.
		inXfade := i > 0 && !masked(s.Scenes[i-1].Transition) && !slid(s.Scenes[i-1].Transition)
		outXfade := i < len(s.Scenes)-1 && !masked(sc.Transition) && !slid(sc.Transition)
		var parts []part
		for _, pt := range []part{{0, in, inXfade, head}, {in, n - out, false, body}, {n - out, n, outXfade, tail}} {
			if pt.to > pt.from {
				parts = append(parts, pt)
			}
		}
		var names []string
		for k := range parts {
			names = append(names, fmt.Sprintf("sc%dp%d", i, k))
		}
		// format pins the scene to yuv420p up to where its transition
		// parts convert: left free, ffmpeg may negotiate the whole scene,
		// its body and the concat in yuv444p, converting every frame of the
		// movie twice.
		chains = append(chains, fmt.Sprintf("[sc%d]format=yuv420p,split=%d[%s]", i, len(parts), strings.Join(names, "][")))
		for k, pt := range parts {
			// xfade blends in 4:4:4 only: just the transition frames
			// are converted.
			conv := ""
			if pt.to444 {
				conv = ",format=yuv444p"
			}
			l := names[k] + "t"
			chains = append(chains, fmt.Sprintf("[%s]trim=start_frame=%d:end_frame=%d,setpts=PTS-STARTPTS%s[%s]", names[k], pt.from, pt.to, conv, l))
			pt.labels[i] = l
		}
	}
	var segLabels []string
	for n, sg := range segs {
		if sg.xfade == "" {
			segLabels = append(segLabels, body[sg.scene])
			continue
		}
		label := fmt.Sprintf("seg%d", n)
		// setpts: xfade may stamp its last frame one frame late when its
		// inputs' EOFs arrive unevenly (clips), which concat would turn
		// into a gap; the segment is exactly its frames, renumbered.
		// The sandbox watermark is drawn on every drawing of a scene
		// (sceneStream), before it is repeated, so it costs nothing per
		// frame. A transition blends two watermarked pictures (the text
		// stays, or slides along with a slide); its marker block is drawn
		// again on every frame, so it is where the docs say on every frame
		// of the video.
		marker := ""
		if p.watermark {
			marker = "," + markerFilter(w, h)
		}
		frames := sg.to - sg.from
		if masked(s.Scenes[sg.scene].Transition) {
			m := label + "m"
			chains = append(chains, maskChain(sg.xfade, w, h, tl.fps, frames, m),
				fmt.Sprintf("[%s][%s][%s]maskedmerge,setpts=N/(%d*TB)%s[%s]", head[sg.scene+1], tail[sg.scene], m, tl.fps, marker, label))
		} else if sl := slides[sg.xfade]; slid(s.Scenes[sg.scene].Transition) {
			// A slide moves both scenes as one strip: the two pictures side
			// by side (or stacked), and a frame-sized window crossing it.
			first, second := tail[sg.scene], head[sg.scene+1]
			if sl.reverse {
				first, second = second, first
			}
			chains = append(chains, fmt.Sprintf("[%s][%s]%s=inputs=2,crop=w=%d:h=%d:%s,setpts=N/(%d*TB)%s[%s]",
				first, second, sl.stack, w, h, sl.window(w, h, frames), tl.fps, marker, label))
		} else {
			chains = append(chains, fmt.Sprintf("[%s][%s]xfade=transition=%s:duration=%s:offset=0,format=yuv420p,setpts=N/(%d*TB)%s[%s]",
				tail[sg.scene], head[sg.scene+1], sg.xfade, num(tl.seconds(frames)), tl.fps, marker, label))
		}
		segLabels = append(segLabels, label)
	}

	for i, bg := range bgs {
		chains = append(chains, fmt.Sprintf("%ssplit=%d[%s]", backgroundSource(bg, w, h, tl.fps), len(bgUses[i]), strings.Join(bgUses[i], "][")))
	}

	video := segLabels[0]
	if len(segLabels) > 1 {
		chains = append(chains, "["+strings.Join(segLabels, "][")+fmt.Sprintf("]concat=n=%d:v=1:a=0[cat]", len(segLabels)))
		video = "cat"
	}
	chains = append(chains, "["+video+"]format=yuv420p,setsar=1[video]")

	chains = append(chains, clipChains...)
	audio, ach := audioSources(s, tl, p, &inputs)
	chains = append(chains, ach...)
	// The stills are the last inputs: ffmpeg opens its inputs in order, and
	// the ones this process fits are still being fitted while it opens the
	// others.
	for i, st := range p.stills {
		if len(imgUses[i]) == 0 {
			continue
		}
		k := len(inputs)
		inputs = append(inputs, st.input())
		chains = append(chains, fmt.Sprintf("[%d:v]split=%d[%s]", k, len(imgUses[i]), strings.Join(imgUses[i], "][")))
	}
	if len(audio) > 0 {
		d := tl.Duration()
		fade := math.Min(0.5, d/4)
		mix := "[" + audio[0] + "]"
		if len(audio) > 1 {
			// normalize=0: each source keeps the volume the spec gave it.
			mix = "[" + strings.Join(audio, "][") + fmt.Sprintf("]amix=inputs=%d:duration=longest:normalize=0,", len(audio))
		}
		chains = append(chains, fmt.Sprintf("%sapad=whole_dur=%s,atrim=end=%s,afade=t=out:st=%s:d=%s,asetpts=PTS-STARTPTS[aout]",
			mix, num(d), num(d), num(d-fade), num(fade)))
	}
	return inputs, strings.Join(chains, ";\n")
}

// maskTransitions are the xfade transitions whose every pixel is a mix of
// the two scenes' pixels at that place, by a weight that depends on the
// place and the progress alone: the weights are a picture xfade draws
// blending white into black.
var maskTransitions = map[string]bool{
	"fade": true, "dissolve": true,
	"wipeleft": true, "wiperight": true, "wipeup": true, "wipedown": true,
	"wipetl": true, "wipetr": true, "wipebl": true, "wipebr": true,
	"smoothleft": true, "smoothright": true, "smoothup": true, "smoothdown": true,
	"circleopen": true, "circleclose": true, "radial": true,
	"vertopen": true, "vertclose": true, "horzopen": true, "horzclose": true,
	"diagtl": true, "diagtr": true, "diagbl": true, "diagbr": true,
	"hlslice": true, "hrslice": true, "vuslice": true, "vdslice": true,
}

// slides are xfade's slides, drawn in yuv420p as a window moving across
// the two scenes stacked: slideleft shows the outgoing scene and then the
// incoming one to its right, the window moving right; slideright stacks
// them the other way round and moves the window left; up and down likewise
// on a vertical stack. At frame n of N the window has moved n/N of the way,
// as xfade's progress does.
var slides = map[string]slide{
	"slideleft":  {"hstack", false},
	"slideright": {"hstack", true},
	"slideup":    {"vstack", false},
	"slidedown":  {"vstack", true},
}

type slide struct {
	stack   string // hstack or vstack
	reverse bool   // the incoming scene first
}

// window is crop's position of the slide's window on frame n of frames.
func (sl slide) window(w, h, frames int) string {
	size, axis := w, "x"
	if sl.stack == "vstack" {
		size, axis = h, "y"
	}
	at := fmt.Sprintf("ceil(n*%d/%d)", size, frames)
	if sl.reverse {
		at = fmt.Sprintf("%d-%s", size, at)
	}
	return fmt.Sprintf("%s='%s'", axis, at)
}

// maskChain draws the weights of a mask transition into [label], a
// yuv420p picture per frame whose every plane holds, per pixel, how much
// of the outgoing scene shows (255: all of it). xfade draws them at half
// the frame's size in one gray plane, which is the chroma planes' size,
// and the luma plane is that scaled up: a twelfth of the pixels xfade would
// compute on the 4:4:4 frames, and no conversion of the frames themselves.
// maskedmerge then blends the two scenes in yuv420p with SIMD. The
// transitions look as xfade draws them, their edges softened by a pixel.
func maskChain(transition string, w, h, fps, frames int, label string) string {
	// A gray color source is limited range (16 to 235): lut sets the
	// full weights.
	src := func(y int) string {
		return fmt.Sprintf("color=s=%dx%d:r=%d:d=%s,format=gray,lut=c0=%d", w/2, h/2, fps, num((float64(frames)-0.5)/float64(fps)), y)
	}
	return fmt.Sprintf("%s[%sw];\n%s[%sk];\n[%sw][%sk]xfade=transition=%s:duration=%s:offset=0,setpts=N/(%d*TB),split=2[%sh][%sc];\n"+
		"[%sh]scale=%d:%d:flags=bilinear[%sy];\n[%sy][%sc]mergeplanes=0x001010:yuv420p[%s]",
		src(255), label, src(0), label, label, label, transition, num(float64(frames)/float64(fps)), fps, label, label,
		label, w, h, label, label, label, label)
}

// audioSources adds an input and a chain per sound of the movie: its
// audio, each scene's (from the scene's start, for its duration) and each
// clip's (from the element's start, while it plays). It returns the chains'
// labels, each in the same format and placed on the output clock.
func audioSources(s movie.Spec, tl timeline, p graphParams, inputs *[]input) (labels, chains []string) {
	add := func(file, format string, pre []string, volume, at float64) {
		k := len(*inputs)
		*inputs = append(*inputs, input{file: file, format: format, pre: pre, isAudio: true})
		label := fmt.Sprintf("snd%d", len(labels))
		chains = append(chains, fmt.Sprintf("[%d:a]aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,volume=%s,adelay=delays=%d:all=1[%s]",
			k, num(volume), int(math.Round(at*1000)), label))
		labels = append(labels, label)
	}
	if p.audioFile != "" {
		add(p.audioFile, p.audioFmt, []string{"-t", num(tl.Duration())}, s.Audio.Volume, 0)
	}
	for i, sc := range s.Scenes {
		if a, ok := p.sceneAudio[i]; ok && sc.Audio.Volume > 0 {
			add(a.file, a.format, []string{"-t", num(sc.Duration)}, sc.Audio.Volume, tl.sceneStart(i))
		}
		for j, e := range sc.Elements {
			c, ok := p.clips[[2]int{i, j}]
			if e.Type != "video" || !ok || !c.hasAudio || e.Volume == nil || *e.Volume <= 0 {
				continue
			}
			length := e.End - e.Start
			pre := []string{"-stream_loop", "-1", "-t", num(length)}
			if !e.Loop {
				length = math.Min(length, clipEnd(e, c)-e.TrimStart)
				if length <= 0 {
					continue
				}
				pre = []string{"-ss", num(e.TrimStart), "-t", num(length)}
			}
			add(c.file, c.format, pre, *e.Volume, tl.sceneStart(i)+e.Start)
		}
	}
	return labels, chains
}

// clipEnd is where a clip element stops playing, in the clip's time.
func clipEnd(e movie.Element, c media) float64 {
	if e.TrimEnd > 0 && e.TrimEnd < c.duration {
		return e.TrimEnd
	}
	return c.duration
}

// fitScale scales an image or a clip into its element's box.
func fitScale(e movie.Element, w, h int) string {
	bw, bh := e.Width, e.Height
	if bw == 0 {
		bw = w
	}
	if bh == 0 {
		bh = h
	}
	switch e.Fit {
	case "cover":
		return fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d", bw, bh, bw, bh)
	case "fill":
		return fmt.Sprintf("scale=%d:%d", bw, bh)
	}
	return fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease", bw, bh) // contain
}

// posterFrame is the frame of the video the thumbnail shows: the spec's
// thumbnail time, or else the first frame on which the first scene with
// elements shows the most of them outside its transitions (a title card
// once its subtitle is in), or the first frame of a movie without any.
func posterFrame(s movie.Spec, tl timeline) int {
	if th := s.Thumbnail; th != nil && th.Time != nil {
		return max(0, min(tl.total-1, int(*th.Time*float64(tl.fps))))
	}
	start, in := 0, 0 // frame of the video where scene i's frame 0 is; its incoming transition
	for i, sc := range s.Scenes {
		from, to := in, tl.frames[i]-tl.out[i]
		if to <= from { // all transition: any frame of it
			from, to = 0, tl.frames[i]
		}
		best, at := 0, 0
		for _, f := range runs(s, tl, i, from, to) {
			n := 0
			for _, e := range sc.Elements {
				if visible(tl, e, f, f+1) {
					n++
				}
			}
			if n > best {
				best, at = n, f
			}
		}
		if best > 0 {
			return start + at
		}
		start += tl.frames[i] - tl.out[i]
		in = tl.out[i]
	}
	return 0
}

// frameAt is the first frame of a scene at or after sec seconds into it.
// Element times are judged on frames, so an element shows on whole frames
// and the renderer knows exactly which ones.
func (tl timeline) frameAt(sec float64) int {
	return int(math.Ceil(sec*float64(tl.fps) - 1e-9))
}

// shownOn is the frames [a, b) of its scene on which element e shows.
func (tl timeline) shownOn(e movie.Element) (a, b int) { return tl.frameAt(e.Start), tl.frameAt(e.End) }

// visible reports whether element e shows on any of frames [from, to) of
// its scene.
func visible(tl timeline, e movie.Element, from, to int) bool {
	a, b := tl.shownOn(e)
	return a < b && a < to && b > from
}

// isStill reports whether element j of scene i looks the same on every
// frame it shows on: text, and images, which are stills (a GIF or WebP
// gives its first frame, see still). Anything else — video clips, element
// types this function does not know — is drawn on every frame.
func isStill(s movie.Spec, i, j int) bool {
	switch s.Scenes[i].Elements[j].Type {
	case "text", "image":
		return true
	}
	return false
}

// runs splits frames [from, to) of scene i into runs of frames that show
// the same elements; it returns the first frame of each run.
func runs(s movie.Spec, tl timeline, i, from, to int) []int {
	cut := map[int]bool{from: true}
	for _, e := range s.Scenes[i].Elements {
		a, b := tl.shownOn(e)
		for _, f := range []int{a, b} {
			if f > from && f < to {
				cut[f] = true
			}
		}
	}
	starts := make([]int, 0, len(cut))
	for f := range cut {
		starts = append(starts, f)
	}
	sort.Ints(starts)
	return starts
}

// backgroundSource is a chain drawing one frame of bg, in yuv420p, ending
// in a comma so a filter can follow.
func backgroundSource(bg movie.Background, w, h, fps int) string {
	one := num(0.5 / float64(fps)) // a source emits frames while t < d
	g := bg.Gradient
	if g == nil {
		return fmt.Sprintf("color=c=%s:s=%dx%d:r=%d:d=%s,format=yuv420p,", hex(bg.Color), w, h, fps, one)
	}
	x1, y1 := 0, h // vertical: top to bottom
	switch g.Direction {
	case "horizontal":
		x1, y1 = w, 0
	case "diagonal":
		x1, y1 = w, h
	}
	return fmt.Sprintf("gradients=s=%dx%d:r=%d:d=%s:c0=%s:c1=%s:nb_colors=2:x0=0:y0=0:x1=%d:y1=%d:speed=0.00001:seed=1,format=yuv420p,",
		w, h, fps, one, hex(g.From), hex(g.To), x1, y1)
}

func sameBackground(a, b movie.Background) bool {
	if a.Gradient == nil || b.Gradient == nil {
		return a.Gradient == b.Gradient && a.Color == b.Color
	}
	return *a.Gradient == *b.Gradient
}

// sceneStream draws all frames of scene i into [label], in yuv420p, with
// the sandbox watermark on top when the render has one.
//
// When every element the scene shows is still, the scene is drawn once
// per run of frames showing the same elements (a title card whose title
// appears at 0.3 s and subtitle at 1 s is three drawings, however long it
// lasts), and each drawing is repeated to fill its run: setpts places
// drawing k at its run's first frame and fps repeats it up to the next
// one. Repeats are references to one picture, so text, images and
// gradients cost nothing per frame, and the encoder gets the very frames
// drawing every frame would give. Otherwise every frame is drawn, as
// moving media need.
func sceneStream(s movie.Spec, tl timeline, p graphParams, i int, label string, takeBg func(int) string, takeImg func([2]int) string,
	takeClip func(i, j, from, to int) string) []string {
	w, h := s.Size()
	sc := s.Scenes[i]
	n := tl.frames[i]
	fps := tl.fps
	once := !p.everyFrame
	for j, e := range sc.Elements {
		if visible(tl, e, 0, n) && !isStill(s, i, j) {
			once = false
		}
	}
	// drawn[k] is the first frame of the scene drawing k stands for.
	var drawn []int
	if once {
		drawn = runs(s, tl, i, 0, n)
	} else {
		for k := 0; k < n; k++ {
			drawn = append(drawn, k)
		}
	}
	// index is the drawing that shows frame f.
	index := func(f int) int { return sort.SearchInts(drawn, f+1) - 1 }
	src := fmt.Sprintf("%se0", label)
	// The background is one frame, looped for the scene's drawings: a
	// source per scene would keep its own frame for the whole run (every
	// color source caches the one it draws), and a gradient costs a
	// per-pixel pass per frame (30× a color source at 720p).
	chains := []string{fmt.Sprintf("[%s]loop=loop=-1:size=1,trim=end_frame=%d,setpts=N/(%d*TB)[%s]",
		takeBg(i), len(drawn), fps, src)}
	cur := src
	for j, e := range sc.Elements {
		if !visible(tl, e, 0, n) {
			continue
		}
		next := fmt.Sprintf("%se%d", label, j+1)
		enable := ""
		a, b := tl.shownOn(e)
		if first, last := index(max(a, 0)), index(min(b, n)-1); first > 0 || last < len(drawn)-1 {
			enable = fmt.Sprintf(":enable='between(n,%d,%d)'", first, last)
		}
		key := [2]int{i, j}
		switch e.Type {
		case "text":
			x, y := textPosition(e.Position, margin(w, h))
			chains = append(chains, fmt.Sprintf(
				"[%s]drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=%d:fontcolor=%s:line_spacing=%d:x=%s:y=%s%s[%s]",
				cur, p.font, p.textFile[key], e.FontSize, hex(e.Color), e.FontSize/5, x, y, enable, next))
		case "image":
			// The still is looped rather than left to overlay's
			// eof_action=repeat: an overlay whose second input has ended
			// copies every main frame and keeps the last copy until the
			// graph closes, a whole frame per image element (3 MB at
			// full-hd, 3 GB for a thousand). A looped still is references
			// to one frame, made only as the overlay asks for them.
			x, y := imagePosition(e.Position)
			img := takeImg(key)
			chains = append(chains, fmt.Sprintf("[%s]loop=loop=-1:size=1[%sl]", img, img),
				fmt.Sprintf("[%s][%sl]overlay=x=%s:y=%s:format=yuv420:eof_action=pass%s[%s]",
					cur, img, x, y, enable, next))
		case "video":
			// A clip that ended holds its last frame: here overlay's
			// eof_action=repeat is what the spec asks for.
			x, y := imagePosition(e.Position)
			chains = append(chains, fmt.Sprintf("[%s][%s]overlay=x=%s:y=%s:format=yuv420:eof_action=repeat%s[%s]",
				cur, takeClip(i, j, 0, n), x, y, enable, next))
		default:
			continue
		}
		cur = next
	}
	if p.watermark {
		chains = append(chains, fmt.Sprintf("[%s]%s[%sm]", cur, watermarkFilters(w, h, p), label))
		cur = label + "m"
	}
	repeat := "null"
	if len(drawn) < n {
		// A copy of the last drawing is placed at frame n to mark where the
		// last run ends; trim drops it.
		at := make([]string, 0, len(drawn))
		for k := 1; k <= len(drawn); k++ {
			end := n
			if k < len(drawn) {
				end = drawn[k]
			}
			at = append(at, fmt.Sprintf("%d*gte(N,%d)", end-drawn[k-1], k))
		}
		repeat = fmt.Sprintf("tpad=stop=1:stop_mode=clone,setpts='(%s)/(FR*TB)',fps=%d,trim=end_frame=%d", strings.Join(at, "+"), fps, n)
	}
	chains = append(chains, fmt.Sprintf("[%s]%s[%s]", cur, repeat, label))
	return chains
}

// margin keeps text off the frame's edge, like a title-safe area.
func margin(w, h int) int { return min(w, h) / 20 }

func textPosition(pos string, m int) (x, y string) {
	x, y = "(w-text_w)/2", "(h-text_h)/2"
	if strings.Contains(pos, "left") {
		x = strconv.Itoa(m)
	}
	if strings.Contains(pos, "right") {
		x = fmt.Sprintf("w-text_w-%d", m)
	}
	if strings.HasPrefix(pos, "top") {
		y = strconv.Itoa(m)
	}
	if strings.HasPrefix(pos, "bottom") {
		y = fmt.Sprintf("h-text_h-%d", m)
	}
	return x, y
}

// imagePosition places the image box flush with the edges it names: the
// client sizes the box, so it controls the spacing.
func imagePosition(pos string) (x, y string) {
	x, y = "(W-w)/2", "(H-h)/2"
	if strings.Contains(pos, "left") {
		x = "0"
	}
	if strings.Contains(pos, "right") {
		x = "W-w"
	}
	if strings.HasPrefix(pos, "top") {
		y = "0"
	}
	if strings.HasPrefix(pos, "bottom") {
		y = "H-h"
	}
	return x, y
}

// Watermark is what sandbox renders carry: translucent text across the
// frame, and a solid marker block in the bottom-right corner whose color
// tests (and support) can check on any frame.
const (
	WatermarkText = "framegate sandbox"
	// MarkerColor is the marker block's RGB color.
	MarkerColor = 0xff00ff
)

// MarkerBox is the marker block for a frame size: x, y, size in pixels.
// Aligned to 8 so 4:2:0 chroma subsampling keeps its color exact.
func MarkerBox(w, h int) (x, y, size int) {
	size = max(16, min(w, h)/16/8*8)
	m := max(8, min(w, h)/40/8*8)
	return w - size - m, h - size - m, size
}

func watermarkFilters(w, h int, p graphParams) string {
	fs := max(16, min(w, h)/9)
	return fmt.Sprintf(
		"drawtext=fontfile=%s:textfile=%s:expansion=none:fontsize=%d:fontcolor=white@0.4:borderw=%d:bordercolor=black@0.4:line_spacing=%d:x=(w-text_w)/2:y=(h-text_h)/2,%s",
		p.font, p.wmFile, fs, max(1, fs/24), h/6, markerFilter(w, h))
}

func markerFilter(w, h int) string {
	x, y, size := MarkerBox(w, h)
	return fmt.Sprintf("drawbox=x=%d:y=%d:w=%d:h=%d:color=0x%06x@1:t=fill", x, y, size, size, MarkerColor)
}

// watermarkText is the watermark's text file: the mark three times, so it
// spans the frame and cannot be cropped away with the top or bottom.
func watermarkText() string {
	return WatermarkText + "\n" + WatermarkText + "\n" + WatermarkText
}

func hex(color string) string { return "0x" + strings.TrimPrefix(color, "#") }

// num formats a number for the graph: plain decimal, never an exponent.
func num(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

// wrapText breaks text into lines that fit width px at fontSize px, with
// estimated glyph widths (DejaVu Sans averages about 0.6 em; capitals and
// digits are wider, spaces narrower, CJK full width). drawtext does not
// wrap, and an unwrapped 500-character line would run off the frame.
func wrapText(text string, width, fontSize int) string {
	limit := float64(width) / float64(fontSize)
	var out []string
	for _, para := range strings.Split(strings.ReplaceAll(text, "\t", "    "), "\n") {
		var line []rune
		var lineW float64
		lastSpace := -1
		for _, r := range para {
			rw := runeWidth(r)
			if lineW+rw > limit && len(line) > 0 {
				if r == ' ' { // break at this space, dropping it
					out = append(out, string(line))
					line, lineW, lastSpace = nil, 0, -1
					continue
				}
				if lastSpace > 0 { // break at the last space
					out = append(out, string(line[:lastSpace]))
					line = append([]rune(nil), line[lastSpace+1:]...)
				} else { // one long word: break inside it
					out = append(out, string(line))
					line = nil
				}
				lineW, lastSpace = 0, -1
				for k, c := range line {
					lineW += runeWidth(c)
					if c == ' ' {
						lastSpace = k
					}
				}
			}
			if r == ' ' {
				lastSpace = len(line)
			}
			line = append(line, r)
			lineW += rw
		}
		out = append(out, string(line))
	}
	return strings.Join(out, "\n")
}

func runeWidth(r rune) float64 {
	switch {
	case r == ' ':
		return 0.32
	case unicode.Is(unicode.Han, r), unicode.Is(unicode.Hiragana, r), unicode.Is(unicode.Katakana, r), unicode.Is(unicode.Hangul, r):
		return 1.0
	case unicode.IsUpper(r), r == 'm', r == 'w':
		return 0.75
	case unicode.IsDigit(r):
		return 0.64
	}
	return 0.6
}
