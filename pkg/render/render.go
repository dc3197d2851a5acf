// Package render turns a movie spec into an MP4 (H.264, AAC), a WebM (VP9,
// Opus) or a GIF, and a JPEG thumbnail, with one ffmpeg run (two for a
// GIF): every scene is a generated color or gradient source with its text,
// images and video clips drawn on — once per still stretch, not once per
// frame —, scenes are joined by cuts (concat) or xfade's transitions (most
// drawn as weighted blends or moving windows in yuv420p), and the
// soundtracks (the movie's, each scene's, each clip's sound) are mixed and
// trimmed to the video. Remote media is fetched
// through the caller's egress guard, uploaded assets through the caller's
// asset reader, into a private work directory first; ffmpeg itself never
// opens anything but those files.
package render

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/framegate/framegate/pkg/movie"
)

// Options configure a render. Zero values pick the defaults noted on each
// field; Fetch is required when the spec has images or audio.
type Options struct {
	// FFmpeg is the ffmpeg binary; "" means FindFFmpeg.
	FFmpeg string
	// WorkDir holds the job's files (fetched assets, text files, the graph);
	// "" means os.TempDir(), which is /tmp in Lambda.
	WorkDir string
	// Watermark burns in the sandbox mark.
	Watermark bool
	// Fetch downloads a URL, normally egress.Guard.Fetch with a size cap.
	Fetch func(ctx context.Context, url string, dst io.Writer) error
	// FetchAsset downloads an uploaded asset by id and returns what its
	// upload's probe found; required when the spec names assets.
	FetchAsset func(ctx context.Context, id string, dst io.Writer) (Stored, error)
	// FFprobe probes video clips; "" means FindFFmpeg's.
	FFprobe string
	// Progress receives 0..100, each value once, 100 when ffmpeg is done.
	Progress func(percent int)
	// Threads for encoding and filtering; 0 means DefaultThreads.
	Threads int
	// FontFile overrides FindFont.
	FontFile string
	// Thumbnail, when set, is where the poster frame is written as a
	// full-size JPEG (see posterFrame for which frame).
	Thumbnail string
	// MaxAssetBytes caps each fetched image or audio file again here,
	// whatever Fetch does; 0 means DefaultMaxAssetBytes.
	MaxAssetBytes int64
	// MaxClipBytes caps each video clip; 0 means DefaultMaxClipBytes.
	MaxClipBytes int64
}

// DefaultThreads is how many threads ffmpeg encodes and filters with: the
// render worker's two vCPUs. It is fixed rather than the machine's count
// because x264's and the filters' memory grows with it, and movie's render
// budget was measured with this many.
const DefaultThreads = 2

// DefaultMaxAssetBytes bounds one image or audio file.
const DefaultMaxAssetBytes = 50 << 20

// DefaultMaxClipBytes bounds one video clip: the worker's /tmp (2 GB) holds
// it beside the output.
const DefaultMaxClipBytes = 1 << 30

// Stored is what probing an uploaded clip found when it was uploaded. The
// render takes it instead of probing the clip again (an ffprobe is 0.1 s,
// nearly all of it the process's start), which is sound because the worker
// reads the very bytes that were probed (by their ETag). A zero Duration
// means unknown: the render probes.
type Stored struct {
	Duration      float64 // seconds
	Width, Height int     // of the first video stream
	HasAudio      bool
}

// stored is what a probe found, as an upload stores it.
func (p MediaProbe) stored() Stored {
	s := Stored{Duration: p.Duration, HasAudio: len(p.Audio) > 0}
	if len(p.Video) > 0 {
		s.Width, s.Height = p.Video[0].Width, p.Video[0].Height
	}
	return s
}

// maxImagePixels stops decompression bombs: a small PNG that decodes to a
// gigapixel frame.
const maxImagePixels = 40_000_000

// Result describes the rendered file.
type Result struct {
	Duration      float64 // seconds, frame-exact
	Width, Height int
	SizeBytes     int64
	// PeakWorkBytes is the most the job directory and the output together
	// held on disk while rendering, sampled; what /tmp must have free.
	PeakWorkBytes int64
	// PeakRSSBytes is the peak resident memory of the largest ffmpeg run
	// (its own, see watchRSS; they run one at a time): what movie's
	// render budget bounds.
	PeakRSSBytes int64
}

// AssetError is media the render could not use: unreachable, refused by
// the egress guard, gone (a deleted asset), too large, or not a supported
// format.
// Field is the JSON pointer of the first element that uses it. Its message
// is safe to show the client.
type AssetError struct {
	Field, URL string
	Err        error
}

func (e *AssetError) Error() string { return fmt.Sprintf("%s %s: %v", e.Field, e.URL, e.Err) }
func (e *AssetError) Unwrap() error { return e.Err }

// renderLimits re-check a spec at render time for what keeps the ffmpeg
// command safe (enums, colors, URLs, text); the plan's limits were
// enforced when the API accepted it.
var renderLimits = movie.Limits{MaxSeconds: 4 * 3600, MaxScenes: 1000, MaxElements: 1000, MaxTextLen: 100_000}

// Render renders spec into the file out, in the spec's format. Canceling
// ctx kills ffmpeg.
func Render(ctx context.Context, spec movie.Spec, out string, o Options) (Result, error) {
	spec, err := normalizedCopy(spec)
	if err != nil {
		return Result{}, err
	}
	if spec.Format == movie.FormatGIF {
		silence(&spec) // a GIF has no sound: none is even fetched
	}
	if err := spec.Validate(renderLimits); err != nil {
		return Result{}, fmt.Errorf("render: invalid spec: %w", err)
	}
	if o.FFmpeg == "" {
		if o.FFmpeg, _, err = FindFFmpeg(); err != nil {
			return Result{}, err
		}
	}
	font := o.FontFile
	if font == "" {
		if font, err = FindFont(); err != nil {
			return Result{}, err
		}
	}
	if out, err = filepath.Abs(out); err != nil {
		return Result{}, fmt.Errorf("render: output path: %w", err)
	}
	if o.Thumbnail != "" {
		if o.Thumbnail, err = filepath.Abs(o.Thumbnail); err != nil {
			return Result{}, fmt.Errorf("render: thumbnail path: %w", err)
		}
	}
	workDir := o.WorkDir
	if workDir == "" {
		workDir = os.TempDir()
	}
	job, err := os.MkdirTemp(workDir, "render-")
	if err != nil {
		return Result{}, fmt.Errorf("render: work dir: %w", err)
	}
	defer os.RemoveAll(job)

	mon := startDiskMonitor(job, out)
	defer mon.stop()

	p, err := prepare(ctx, spec, job, font, o)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		for _, f := range p.fits {
			f.wait()
		}
	}()
	pipeStills(job, &p)
	for k, f := range p.fits {
		if p.stills[k].pipe == "" {
			if err := f.wait(); err != nil {
				return Result{}, err
			}
		}
	}
	tl := newTimeline(spec)
	inputs, graph := buildGraph(spec, tl, p)
	poster := -1
	if o.Thumbnail != "" {
		poster = posterFrame(spec, tl)
	}
	var rss int64
	runs := plan(spec, tl, inputs, graph, out, o, poster)
	last := -1
	for i, r := range runs {
		if err := os.WriteFile(filepath.Join(job, r.script), []byte(r.graph), 0o600); err != nil {
			return Result{}, fmt.Errorf("render: write graph: %w", err)
		}
		// Each run reports its share of the progress, each value once.
		lo, hi := 100*i/len(runs), 100*(i+1)/len(runs)
		progress := func(pct int) {
			if p := lo + pct*(hi-lo)/100; o.Progress != nil && p > last {
				last = p
				o.Progress(p)
			}
		}
		runCtx, cancel := context.WithCancelCause(ctx)
		stop := feedStills(job, p, cancel)
		runRSS, err := run(runCtx, o.FFmpeg, job, r.args, tl.Duration(), progress)
		stop()
		if cause := context.Cause(runCtx); err != nil && ctx.Err() == nil && cause != nil {
			err = cause // a picture turned out unreadable
		}
		cancel(nil)
		if err != nil {
			os.Remove(out)
			if o.Thumbnail != "" {
				os.Remove(o.Thumbnail)
			}
			return Result{}, err
		}
		rss = max(rss, runRSS)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return Result{}, fmt.Errorf("render: output: %w", err)
	}
	w, h := spec.Size()
	for _, f := range p.fits {
		rss = max(rss, f.rss)
	}
	return Result{Duration: tl.Duration(), Width: w, Height: h, SizeBytes: fi.Size(), PeakWorkBytes: mon.stop(), PeakRSSBytes: max(rss, p.fitRSS)}, nil
}

// silence takes every sound out of spec: the movie's and each scene's
// audio, and each clip's.
func silence(spec *movie.Spec) {
	spec.Audio = nil
	for i := range spec.Scenes {
		spec.Scenes[i].Audio = nil
		for j := range spec.Scenes[i].Elements {
			if e := &spec.Scenes[i].Elements[j]; e.Type == "video" {
				mute := 0.0
				e.Volume = &mute
			}
		}
	}
}

// normalizedCopy deep-copies the spec so Normalize does not write into the
// caller's slices.
func normalizedCopy(s movie.Spec) (movie.Spec, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return movie.Spec{}, fmt.Errorf("render: copy spec: %w", err)
	}
	var c movie.Spec
	if err := json.Unmarshal(b, &c); err != nil {
		return movie.Spec{}, fmt.Errorf("render: copy spec: %w", err)
	}
	c.Normalize()
	return c, nil
}

// prepare writes the job directory: the font link, one file per text, the
// fetched assets.
func prepare(ctx context.Context, spec movie.Spec, job, font string, o Options) (p graphParams, err error) {
	p = graphParams{
		font:       "font.ttf",
		textFile:   map[[2]int]string{},
		still:      map[[2]int]int{},
		clips:      map[[2]int]media{},
		sceneAudio: map[int]media{},
		fits:       map[int]*pictureFit{},
		watermark:  o.Watermark,
		wmFile:     "watermark.txt",
	}
	// Pictures fitted in this process are still being fitted when prepare
	// returns (the movie's run reads them as they are done), unless it
	// fails: nothing may outlive the job directory.
	defer func() {
		if err != nil {
			for _, f := range p.fits {
				f.wait()
			}
		}
	}()
	// The font is linked under a fixed name so its path, whatever
	// characters it has, never needs escaping in the graph.
	if err := os.Symlink(font, filepath.Join(job, p.font)); err != nil {
		return p, fmt.Errorf("render: link font: %w", err)
	}
	w, h := spec.Size()
	for i, sc := range spec.Scenes {
		for j, e := range sc.Elements {
			if e.Type != "text" {
				continue
			}
			name := fmt.Sprintf("text%d_%d.txt", i, j)
			text := wrapText(e.Text, w-2*margin(spec.Size()), e.FontSize)
			if err := os.WriteFile(filepath.Join(job, name), []byte(text), 0o600); err != nil {
				return p, fmt.Errorf("render: write text: %w", err)
			}
			p.textFile[[2]int{i, j}] = name
		}
	}
	if o.Watermark {
		if err := os.WriteFile(filepath.Join(job, p.wmFile), []byte(watermarkText()), 0o600); err != nil {
			return p, fmt.Errorf("render: write watermark: %w", err)
		}
	}

	maxBytes, maxClip := o.MaxAssetBytes, o.MaxClipBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxAssetBytes
	}
	if maxClip <= 0 {
		maxClip = DefaultMaxClipBytes
	}
	cache := map[string]media{} // one download per source and kind
	// Clips are probed while the rest is fetched and fitted: an ffprobe
	// takes as long to start as to read a header. Every return waits for
	// them (none may outlive the job directory), and a clip that cannot be
	// read is the error, being the earlier element.
	var probes []*clipProbe
	probeOf := map[string]*clipProbe{} // by fetched file
	clipOf := map[[2]int]*clipProbe{}
	probeError := func(err error) error {
		var first error
		for _, c := range probes {
			<-c.done
			if c.err.Err != nil && first == nil {
				first = c.err
			}
		}
		if first == nil || ctx.Err() != nil {
			return err
		}
		return first
	}
	defer probeError(nil)
	get := func(field, url, asset, kind string) (media, error) {
		src, fetch := url, o.Fetch
		var stored Stored
		if asset != "" {
			src, fetch = asset, nil
			if o.FetchAsset != nil {
				fetch = func(ctx context.Context, id string, dst io.Writer) (err error) {
					stored, err = o.FetchAsset(ctx, id, dst)
					return err
				}
			}
		}
		if f, ok := cache[kind+" "+src]; ok {
			return f, nil
		}
		if fetch == nil {
			return media{}, &AssetError{Field: field, URL: src, Err: errors.New("fetching is not configured")}
		}
		f := media{file: fmt.Sprintf("asset%d", len(cache))}
		limit := maxBytes
		if kind == "video" {
			limit = maxClip
		}
		if err := fetchTo(ctx, fetch, src, filepath.Join(job, f.file), limit); err != nil {
			if ctx.Err() != nil {
				return media{}, fmt.Errorf("render: fetch %s: %w", field, ctx.Err())
			}
			return media{}, &AssetError{Field: field, URL: src, Err: err}
		}
		head, err := readHead(filepath.Join(job, f.file))
		if err != nil {
			return media{}, fmt.Errorf("render: read asset: %w", err)
		}
		f.format = map[string]func([]byte) string{"image": sniffImage, "audio": sniffAudio, "video": sniffVideo}[kind](head)
		if f.format == "" {
			return media{}, &AssetError{Field: field, URL: src, Err: fmt.Errorf("unsupported %s format (use %s)", kind, supported(kind))}
		}
		if kind == "video" {
			c := &clipProbe{err: &AssetError{Field: field, URL: src}, done: make(chan struct{})}
			probes = append(probes, c)
			probeOf[f.file] = c
			go func(f media) {
				defer close(c.done)
				if c.err.Err = probeClip(ctx, o, job, &f, stored); c.err.Err == nil {
					c.f = f
				}
			}(f)
		}
		cache[kind+" "+src] = f
		return f, nil
	}
	type source struct {
		field  string
		f      media
		stills []int
	}
	var sources []*source // distinct images, in order of first use
	byMedia := map[string]*source{}
	for i, sc := range spec.Scenes {
		for j, e := range sc.Elements {
			if e.Type != "image" && e.Type != "video" {
				continue
			}
			field := fmt.Sprintf("/scenes/%d/elements/%d/%s", i, j, sourceField(e.URL))
			f, err := get(field, e.URL, e.Asset, e.Type)
			if err != nil {
				return p, probeError(err)
			}
			if e.Type == "video" {
				clipOf[[2]int{i, j}] = probeOf[f.file]
				continue
			}
			src := byMedia[e.Media()]
			if src == nil {
				src = &source{field: field, f: f}
				byMedia[e.Media()] = src
				sources = append(sources, src)
			}
			n := len(p.stills)
			k := stillFor(&p.stills, e, w, h)
			if k == n {
				src.stills = append(src.stills, k)
			}
			p.still[[2]int{i, j}] = k
		}
		if a := sc.Audio; a != nil {
			f, err := get(fmt.Sprintf("/scenes/%d/audio/%s", i, sourceField(a.URL)), a.URL, a.Asset, "audio")
			if err != nil {
				return p, probeError(err)
			}
			p.sceneAudio[i] = f
		}
	}
	if a := spec.Audio; a != nil {
		f, err := get("/audio/"+sourceField(a.URL), a.URL, a.Asset, "audio")
		if err != nil {
			return p, probeError(err)
		}
		p.audioFile, p.audioFmt = f.file, f.format
	}
	queue := make(chan *pictureFit, len(sources))
	go runFits(queue)
	defer close(queue)
	for _, src := range sources {
		stills := make([]still, len(src.stills))
		for n, k := range src.stills {
			stills[n] = p.stills[k]
		}
		if fit := planFit(ctx, o.FFmpeg, job, src.field, src.f.file, src.f.format, stills); fit != nil {
			for n, k := range src.stills {
				p.stills[k], p.fits[k] = stills[n], fit
			}
			queue <- fit
			continue
		}
		rss, err := fitImage(ctx, o.FFmpeg, job, src.field, src.f.file, src.f.format, stills)
		if err != nil {
			return p, probeError(err)
		}
		p.fitRSS = max(p.fitRSS, rss)
	}
	if err := probeError(nil); err != nil {
		return p, err
	}
	if err := ctx.Err(); err != nil {
		return p, fmt.Errorf("render: probe clips: %w", err)
	}
	for k, c := range clipOf {
		p.clips[k] = c.f
	}
	return p, nil
}

// clipProbe is a clip being probed: done closes when f (or err.Err) is set.
type clipProbe struct {
	f    media
	err  *AssetError
	done chan struct{}
}

// media is a fetched file and what the renderer knows of it.
type media struct {
	file, format string
	duration     float64 // clips only
	hasAudio     bool    // clips only
}

func sourceField(url string) string {
	if url != "" {
		return "url"
	}
	return "asset"
}

// probeClip reads a clip's length and whether it has sound: the graph
// seeks, loops and mixes with them. What the upload stored is taken as
// it is; anything else is probed.
func probeClip(ctx context.Context, o Options, job string, f *media, stored Stored) error {
	if stored.Duration <= 0 {
		ffprobe := o.FFprobe
		if ffprobe == "" {
			var err error
			if _, ffprobe, err = FindFFmpeg(); err != nil {
				return err
			}
		}
		pr, err := ProbeMedia(ctx, ffprobe, filepath.Join(job, f.file), f.format, "file")
		if err != nil {
			return fmt.Errorf("not a readable video: %w", err)
		}
		stored = pr.stored()
	}
	if stored.Width <= 0 || stored.Height <= 0 || stored.Duration <= 0 {
		return errors.New("no video stream")
	}
	if stored.Width*stored.Height > movie.MaxClipPixels {
		return fmt.Errorf("frames are %d×%d pixels; a clip may have at most 3840×2160", stored.Width, stored.Height)
	}
	f.duration, f.hasAudio = stored.Duration, stored.HasAudio
	return nil
}

func fetchTo(ctx context.Context, fetch func(context.Context, string, io.Writer) error, url, path string, maxBytes int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	lw := &limitWriter{w: f, left: maxBytes}
	err = fetch(ctx, url, lw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && lw.over {
		err = fmt.Errorf("larger than %d bytes", maxBytes)
	}
	return err
}

// limitWriter fails once more than left bytes are written.
type limitWriter struct {
	w    io.Writer
	left int64
	over bool
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if int64(len(b)) > l.left {
		l.over = true
		return 0, errors.New("asset size limit exceeded")
	}
	l.left -= int64(len(b))
	return l.w.Write(b)
}

func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 64)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// ffmpegRun is one ffmpeg command and the filter graph it reads.
type ffmpegRun struct {
	script, graph string
	args          []string
}

// plan is the ffmpeg runs that render a spec whose inputs and graph
// buildGraph made: one, or for a GIF a palette run and then the GIF. The
// run that writes out also writes the thumbnail when poster ≥ 0.
func plan(spec movie.Spec, tl timeline, inputs []input, graph, out string, o Options, poster int) []ffmpegRun {
	threads := o.Threads
	if threads <= 0 {
		threads = DefaultThreads
	}
	audio := strings.Contains(graph, "[aout]")
	video := "video"
	final := graph
	if poster >= 0 {
		final += fmt.Sprintf(";\n[video]split[main][poster];\n[poster]trim=start_frame=%d:end_frame=%d,format=yuvj420p[thumb]", poster, poster+1)
		video = "main"
	}
	var runs []ffmpegRun
	last := ffmpegRun{script: "graph.txt"}
	if spec.Format == movie.FormatGIF {
		runs = append(runs, ffmpegRun{
			script: "palette.txt",
			graph:  graph + ";\n" + paletteChain(spec, "video"),
			args: ffmpegArgs(inputs, "palette.txt", threads,
				"-map", "[vout]", "-frames:v", "1", "-c:v", "png", "-f", "image2", "-update", "1", "-y", paletteFile),
		})
		inputs = append(inputs, input{file: paletteFile, format: "png_pipe"})
		last.graph = final + ";\n" + gifChain(spec, video, len(inputs)-1)
	} else {
		last.graph = final + fmt.Sprintf(";\n[%s]null[vout]", video)
	}
	outArgs := []string{"-map", "[vout]"}
	if audio {
		outArgs = append(outArgs, "-map", "[aout]")
	}
	outArgs = append(outArgs, codecArgs(spec, threads, audio)...)
	outArgs = append(outArgs, "-y", out)
	if poster >= 0 {
		outArgs = append(outArgs, thumbnailArgs(o.Thumbnail)...)
	}
	last.args = ffmpegArgs(inputs, last.script, threads, outArgs...)
	return append(runs, last)
}

// ffmpegArgs is a command reading inputs through the filter graph in
// script and writing the outputs that outArgs describe.
func ffmpegArgs(inputs []input, script string, threads int, outArgs ...string) []string {
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-nostats", "-progress", "pipe:1"}
	for _, in := range inputs {
		// The demuxer is named, never probed, and only the file protocol is
		// allowed: a fetched "image" that is really an HLS playlist or a
		// concat script cannot make ffmpeg open other files or URLs.
		args = append(args, "-protocol_whitelist", "file")
		args = append(args, in.pre...)
		// An input gives one kind of stream: the others (a clip's sound
		// where its pictures are read, and the reverse; cover art) are
		// discarded by the demuxer instead of decoded for nothing.
		if in.isAudio {
			args = append(args, "-vn", "-sn", "-dn", "-f", in.format)
		} else {
			args = append(args, "-an", "-sn", "-dn", "-f", in.format, "-max_pixels", strconv.Itoa(maxImagePixels))
		}
		args = append(args, "-i", in.file)
	}
	args = append(args,
		"-filter_complex_script", script,
		"-filter_complex_threads", strconv.Itoa(threads))
	return append(args, outArgs...)
}

// run runs ffmpeg in the job directory, feeding its -progress output to
// progress and killing it when ctx ends. It returns ffmpeg's peak RSS.
func run(ctx context.Context, ffmpeg, dir string, args []string, total float64, progress func(int)) (int64, error) {
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	cmd.Dir = dir
	cmd.Env = ffmpegEnv(dir)
	cmd.WaitDelay = 2 * time.Second
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("render: ffmpeg stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("render: start ffmpeg: %w", err)
	}
	rss := watchRSS(cmd)
	readProgress(stdout, total, progress)
	err = cmd.Wait()
	peak := rss()
	if ctx.Err() != nil {
		return 0, fmt.Errorf("render: ffmpeg stopped: %w", ctx.Err())
	}
	if err != nil {
		return 0, fmt.Errorf("render: ffmpeg: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return peak, nil
}

// ffmpegEnv passes only what a dynamically linked ffmpeg needs to start:
// the process parses untrusted media and has no business seeing the
// function's AWS credentials.
func ffmpegEnv(dir string) []string {
	env := []string{"HOME=" + dir}
	for _, k := range []string{"PATH", "LD_LIBRARY_PATH", "TZ", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// readProgress parses ffmpeg's "-progress" key=value blocks.
func readProgress(r io.Reader, total float64, progress func(int)) {
	last := -1
	report := func(p int) {
		if progress != nil && p > last {
			last = p
			progress(p)
		}
	}
	report(0)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), "=")
		switch key {
		case "out_time_us":
			us, err := strconv.ParseInt(val, 10, 64)
			if err != nil || total <= 0 {
				continue // "N/A" before the first frame
			}
			// 99 at most until ffmpeg says "end": the trailer (and the
			// faststart rewrite) still has to be written.
			report(min(99, max(0, int(float64(us)/(total*1e6)*100))))
		case "progress":
			if val == "end" {
				report(100)
			}
		}
	}
	io.Copy(io.Discard, r)
}

// tailBuffer keeps the last max bytes written: ffmpeg's error is at the end.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.b, nil))
}

// diskMonitor samples the bytes the job directory and the output hold.
type diskMonitor struct {
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	mu   sync.Mutex
	peak int64
	job  string
	out  string
}

func startDiskMonitor(job, out string) *diskMonitor {
	m := &diskMonitor{done: make(chan struct{}), job: job, out: out}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-m.done:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *diskMonitor) sample() {
	var n int64
	filepath.WalkDir(m.job, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if fi, err := os.Stat(m.out); err == nil && !strings.HasPrefix(m.out, m.job+string(filepath.Separator)) {
		n += fi.Size()
	}
	m.mu.Lock()
	m.peak = max(m.peak, n)
	m.mu.Unlock()
}

// stop ends sampling after a last sample and returns the peak.
func (m *diskMonitor) stop() int64 {
	m.once.Do(func() {
		close(m.done)
		m.wg.Wait()
		m.sample()
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}
