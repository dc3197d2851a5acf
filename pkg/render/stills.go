package render

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/movie"
)

// A still is one picture the movie overlays: a fetched image decoded once
// and fitted to an element's box, written as one raw yuva420p frame (in a
// NUT file, which names its size and format) of at most the frame's size.
// Every image element that shows the same media (URL or asset) in the same
// box with the same fit shares one still, and the movie's ffmpeg run reads
// each still once and splits it to every overlay that shows it.
//
// Fitting happens outside the movie's run: in this process for a PNG or
// JPEG of at most inProcessMaxPixels (fit.go), while the movie's run
// starts, and in a separate ffmpeg run per distinct image, before the
// movie's run, for any other. ffmpeg decodes every input before it starts
// its filter graph, so a movie run reading the fetched images themselves
// would hold all of them decoded at once, each up to maxImagePixels; fitted
// first, the movie run holds only frame-sized stills, and what it needs is
// a function of the spec alone, which is what lets movie's render budget
// bound it. Raw frames in the format the overlays blend in cost the movie
// run nothing but the frame itself: a PNG would be decoded to RGBA and
// converted, twice the memory.
type still struct {
	media string // movie.Element.Media: the URL or the asset
	fit   string
	w, h  int    // the element's box
	file  string // NUT (or raw, see below), relative to the job directory
	// raw is the fitted picture's size when this process fits it (see
	// planFit): file is then the bare frame, and pipe, when set, the
	// named pipe the movie's run reads it from as soon as it is written.
	raw  [2]int
	pipe string
}

// input is the still's input to the movie's run. A still is one frame:
// decoder threads would only add per-thread copies of the context.
func (s still) input() input {
	if s.raw[0] == 0 {
		return input{file: s.file, format: "nut", pre: []string{"-threads", "1"}}
	}
	file := s.file
	if s.pipe != "" {
		file = s.pipe
	}
	return input{file: file, format: "rawvideo",
		pre: []string{"-threads", "1", "-pixel_format", "yuva420p", "-video_size", fmt.Sprintf("%dx%d", s.raw[0], s.raw[1])}}
}

// stillFor returns the index of the still of image element e of a w×h
// movie, adding it to stills when it is new.
func stillFor(stills *[]still, e movie.Element, w, h int) int {
	bw, bh := movie.ImageBox(e, w, h)
	for i, s := range *stills {
		if s.media == e.Media() && s.fit == e.Fit && s.w == bw && s.h == bh {
			return i
		}
	}
	*stills = append(*stills, still{media: e.Media(), fit: e.Fit, w: bw, h: bh, file: fmt.Sprintf("still%d.nut", len(*stills))})
	return len(*stills) - 1
}

// fitFilter scales a picture into a still's box: contain keeps all of it
// inside the box, cover crops it to the box's aspect ratio first (so no
// intermediate frame is ever larger than the source), fill stretches it.
func fitFilter(s still) string {
	var f string
	switch s.fit {
	case "cover":
		f = fmt.Sprintf("crop=w='min(iw,ih*%d/%d)':h='min(ih,iw*%d/%d)',scale=%d:%d", s.w, s.h, s.h, s.w, s.w, s.h)
	case "fill":
		f = fmt.Sprintf("scale=%d:%d", s.w, s.h)
	default: // contain
		f = fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease", s.w, s.h)
	}
	return f + ",setsar=1,format=yuva420p"
}

// fitArgs is the ffmpeg command that decodes the fetched image file (of
// demuxer format) once and writes every still of it. A multi-frame GIF or
// WebP gives its first frame.
func fitArgs(file, format string, stills []still) []string {
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error",
		"-protocol_whitelist", "file", "-f", format, "-max_pixels", strconv.Itoa(maxImagePixels), "-threads", "1", "-i", file}
	var graph strings.Builder
	if len(stills) > 1 {
		graph.WriteString(fmt.Sprintf("[0:v]split=%d", len(stills)))
		for i := range stills {
			fmt.Fprintf(&graph, "[f%d]", i)
		}
		graph.WriteString(";")
	}
	for i, s := range stills {
		in := fmt.Sprintf("[f%d]", i)
		if len(stills) == 1 {
			in = "[0:v]"
		}
		if i > 0 {
			graph.WriteString(";")
		}
		f := fitFilter(s)
		if s.raw[0] > 0 {
			// The size planFit promised (what contain makes of the
			// header's size), exactly.
			f += fmt.Sprintf(",scale=%d:%d", s.raw[0], s.raw[1])
		}
		fmt.Fprintf(&graph, "%s%s[s%d]", in, f, i)
	}
	args = append(args, "-filter_complex", graph.String())
	for i, s := range stills {
		args = append(args, "-map", fmt.Sprintf("[s%d]", i), "-frames:v", "1", "-c:v", "rawvideo")
		if s.raw[0] > 0 { // the bare frame planFit promised
			args = append(args, "-f", "rawvideo")
		} else {
			args = append(args, "-f", "nut")
		}
		args = append(args, "-y", s.file)
	}
	return args
}

// fitImage runs fitArgs in the job directory and returns ffmpeg's peak RSS.
// An image ffmpeg cannot decode (corrupt, not what its header says, over
// maxImagePixels) is an AssetError naming field; ffmpeg killed from outside
// is an ordinary error, which a retry may fix.
func fitImage(ctx context.Context, ffmpeg, job, field, file, format string, stills []still) (int64, error) {
	cmd := exec.CommandContext(ctx, ffmpeg, fitArgs(file, format, stills)...)
	cmd.Dir = job
	cmd.Env = ffmpegEnv(job)
	cmd.WaitDelay = 2 * time.Second
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	err := cmd.Start()
	if err != nil {
		return 0, fmt.Errorf("render: start ffmpeg: %w", err)
	}
	rss := watchRSS(cmd)
	err = cmd.Wait()
	peak := rss()
	switch {
	case ctx.Err() != nil:
		return 0, fmt.Errorf("render: ffmpeg stopped: %w", ctx.Err())
	case err == nil:
		return peak, nil
	case cmd.ProcessState == nil || killed(cmd.ProcessState):
		return 0, fmt.Errorf("render: fit %s: ffmpeg: %w: %s", field, err, strings.TrimSpace(stderr.String()))
	}
	// ffmpeg's words about the file stay out: the message reaches the client.
	return 0, &AssetError{Field: field, URL: stills[0].media, Err: errUndecodable}
}

var errUndecodable = fmt.Errorf("not a readable image of at most %d megapixels", maxImagePixels/1_000_000)
