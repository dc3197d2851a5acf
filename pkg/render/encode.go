package render

import (
	"fmt"
	"strconv"

	"github.com/framegate/framegate/pkg/movie"
)

// How each format and quality is encoded. The choices were measured with
// BenchmarkRenderEncoding (make bench), which renders every example and a
// worst case and compares each file with a bare x264 veryfast CRF 23
// encode of the very same frames; docs/renders.md has the figures.
//
// Movies are mostly still: title cards that hold for seconds, cut or
// blended into the next. What makes such a file small is spending bits on
// a picture once and then referencing it: macroblock-tree rate control
// (mbtree, which needs a short lookahead) gives the first frame of a still
// shot the quality the shot keeps, B-frames and weighted prediction make
// fades cost a fraction of a P-frame, CABAC and the 8×8 transform code
// sharp text edges cheaply. What makes x264 slow — motion search, subpixel
// refinement, partition and mode decisions — buys nothing on pictures
// that do not move, so it stays at ultrafast's level. Scenecut is off:
// with mbtree a cut costs no more as a P-frame, and keyframes come at a
// fixed interval instead.

// x264 settings per quality: ultrafast's analysis plus the tools above.
var x264Settings = map[string]struct {
	preset, params string
	crf            int
	audioKbps      int
}{
	// draft: the fastest render that is still a fair preview.
	movie.QualityDraft: {"ultrafast", "cabac=1:deblock=1:8x8dct=1:partitions=i8x8,i4x4:aq-mode=1:weightp=1", 28, 96},
	// standard: the default, within 1.25× of veryfast's bytes at CRF 23.
	// An 8-frame lookahead costs about 15% less encoding time than 10 and
	// keeps the bytes (within 2% either way on every benchmark spec); at 6
	// they jump by up to 1.8×: mbtree no longer sees past a B-frame group.
	movie.QualityStandard: {"ultrafast", "cabac=1:deblock=1:8x8dct=1:partitions=i8x8,i4x4:aq-mode=1:weightp=1:mbtree=1:rc-lookahead=8:bframes=3:b-adapt=0:weightb=1", 23, 128},
	// high: veryfast's analysis at a lower CRF, for footage and gradients
	// that must not band.
	movie.QualityHigh: {"veryfast", "", 19, 192},
}

// vp9Settings per quality: libvpx's realtime mode (its good-quality mode
// takes five times as long), tuned for screen-like content.
var vp9Settings = map[string]struct {
	cpuUsed, crf, audioKbps int
}{
	movie.QualityDraft:    {8, 40, 64},
	movie.QualityStandard: {8, 34, 96},
	movie.QualityHigh:     {6, 28, 128},
}

// gifColors per quality: the size of the one palette the whole GIF uses.
var gifColors = map[string]int{
	movie.QualityDraft:    64,
	movie.QualityStandard: 128,
	movie.QualityHigh:     256,
}

// keyframeSeconds is the longest stretch without a keyframe: a player
// seeking into a still shot decodes at most this much.
const keyframeSeconds = 10

// codecArgs are the output options for the video (and audio) of spec.
func codecArgs(spec movie.Spec, threads int, audio bool) []string {
	gop := strconv.Itoa(keyframeSeconds * spec.FPS)
	th := strconv.Itoa(threads)
	switch spec.Format {
	case movie.FormatWebM:
		v := vp9Settings[spec.Quality]
		args := []string{"-c:v", "libvpx-vp9", "-b:v", "0", "-crf", strconv.Itoa(v.crf),
			"-deadline", "realtime", "-cpu-used", strconv.Itoa(v.cpuUsed), "-tune-content", "screen",
			"-row-mt", "1", "-g", gop, "-pix_fmt", "yuv420p", "-threads", th}
		if audio {
			args = append(args, "-c:a", "libopus", "-b:a", fmt.Sprintf("%dk", v.audioKbps))
		}
		return append(args, "-f", "webm")
	case movie.FormatGIF:
		return []string{"-c:v", "gif", "-f", "gif"}
	}
	x := x264Settings[spec.Quality]
	params := fmt.Sprintf("keyint=%s:min-keyint=%d:scenecut=0", gop, spec.FPS)
	if x.params != "" {
		params = x.params + ":" + params
	}
	args := []string{"-c:v", "libx264", "-preset", x.preset, "-crf", strconv.Itoa(x.crf), "-x264-params", params,
		"-pix_fmt", "yuv420p", "-threads", th}
	if audio {
		args = append(args, "-c:a", "aac", "-b:a", fmt.Sprintf("%dk", x.audioKbps))
	}
	return append(args, "-movflags", "+faststart", "-f", "mp4")
}

// gifRate is the frame rate a GIF plays at: GIF frame delays are whole
// hundredths of a second, so the rate is the largest that divides 100 and
// does not exceed fps (30 fps becomes 25, 60 becomes 50), and the GIF
// keeps the movie's speed.
func gifRate(fps int) int {
	for r := min(fps, 50); r > 1; r-- {
		if 100%r == 0 {
			return r
		}
	}
	return 1
}

// GIFs take two ffmpeg runs: a GIF has one palette, which depends on every
// frame, and computing it in the same run would hold every frame in
// memory until the end (650 MB for 5 s of hd). The first run writes the
// palette, the second maps every frame to it.
const paletteFile = "palette.png"

// paletteChain turns [in] into the palette of the GIF, one frame.
func paletteChain(spec movie.Spec, in string) string {
	return fmt.Sprintf("[%s]fps=%d,palettegen=max_colors=%d:stats_mode=full[vout]", in, gifRate(spec.FPS), gifColors[spec.Quality])
}

// gifChain maps [in] to the palette from input pal. Ordered dithering
// keeps still frames identical, so the encoder stores only what changed.
func gifChain(spec movie.Spec, in string, pal int) string {
	return fmt.Sprintf("[%s]fps=%d[gifv];[gifv][%d:v]paletteuse=dither=bayer:bayer_scale=3:diff_mode=rectangle[vout]", in, gifRate(spec.FPS), pal)
}

// thumbnailArgs write the poster frame, full size, as a JPEG.
func thumbnailArgs(path string) []string {
	return []string{"-map", "[thumb]", "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1", "-y", path}
}
