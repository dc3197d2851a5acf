package render

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
)

// Pictures of at most inProcessMaxPixels, in PNG or JPEG, are fitted in
// this process instead of a separate ffmpeg run, and while the movie's run
// starts rather than before it: a run's start alone is 80 ms with Debian's
// ffmpeg (two thirds of it the dynamic linker resolving 43,000 symbols
// across 215 libraries), most of the time it takes to fit a logo, and the
// movie's run spends as long again opening its inputs. The movie's run
// reads each such still through a named pipe and waits there if it gets
// there first (pipeStills, feedStills).
//
// Pictures are fitted one at a time (runFits), in the order the movie's
// run reads them: decoded, one is at most 32 MB of this process's memory
// (4 megapixels of 16-bit RGBA), and scaling it at most maxScaleBytes
// more, for a moment. A larger one, one that would need more to scale, or
// another format is fitted by a separate ffmpeg run before the movie's.
// One whose header reads but which Go's decoder then refuses (a PNG with a
// bad checksum, which ffmpeg does not check) is fitted by an ffmpeg run
// after all, to the same raw frame, while the movie's run waits at the
// pipe, having opened only the inputs before it; that ffmpeg also decides
// whether the picture is unreadable, which stops the movie's run with the
// AssetError.
//
// The still is the same frame either way — yuva420p of the same size,
// scaled with ffmpeg's default (bicubic, B = 0, C = 0.6), converted with
// its default matrix (BT.601, limited range) — written raw instead of in
// NUT (TestInProcessFitMatchesFFmpeg compares the two).
const inProcessMaxPixels = 4_000_000

// pictureFit is a picture to fit in this process. When done closes, its
// stills' raw frames are written, or err says why not (an AssetError when
// the picture is unreadable).
type pictureFit struct {
	done chan struct{}
	err  error
	rss  int64 // of ffmpeg's run, when it had to fit the picture
	run  func()
}

// wait returns the fit's error once it is done.
func (f *pictureFit) wait() error {
	<-f.done
	return f.err
}

// maxScaleBytes bounds the memory of one in-process fit's scaling:
// scaleRGBA holds the picture scaled across as four int32s a pixel, for
// the frame and for its chroma at once.
const maxScaleBytes = 64 << 20

// planFit plans fitting the fetched picture file (of demuxer format) into
// its stills in this process when its header says it is one this process
// fits: it sets each still's raw size and file and returns the fit, to be
// run. It returns nil, having changed nothing, for any other picture.
// Should Go's decoder refuse the picture after all (a PNG with a bad
// checksum, which ffmpeg reads), ffmpeg fits it to the same raw frames.
func planFit(ctx context.Context, ffmpeg, job, field, file, format string, stills []still) *pictureFit {
	decode := map[string]struct {
		config func(io.Reader) (image.Config, error)
		image  func(io.Reader) (image.Image, error)
	}{
		"png_pipe":  {png.DecodeConfig, png.Decode},
		"jpeg_pipe": {jpeg.DecodeConfig, jpeg.Decode},
	}[format]
	if decode.image == nil {
		return nil
	}
	f, err := os.Open(filepath.Join(job, file))
	if err != nil {
		return nil
	}
	defer f.Close()
	cfg, err := decode.config(bufio.NewReader(f))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > inProcessMaxPixels || cfg.ColorModel == color.CMYKModel {
		return nil
	}
	bounds := image.Rect(0, 0, cfg.Width, cfg.Height)
	for _, s := range stills {
		src, w, h := fitGeometry(bounds, s, image.Point{})
		if w < 1 || h < 1 {
			return nil // ffmpeg says what it makes of a sliver
		}
		if 16*(w+(w+1)/2)*src.Dy() > maxScaleBytes {
			return nil
		}
	}
	for i, s := range stills {
		_, w, h := fitGeometry(bounds, s, image.Point{})
		stills[i].file, stills[i].raw = rawStillFile(s.file), [2]int{w, h}
	}
	fit := &pictureFit{done: make(chan struct{})}
	stills = append([]still(nil), stills...)
	fit.run = func() {
		defer close(fit.done)
		if fitPicture(job, file, decode.image, bounds, stills) == nil {
			return
		}
		fit.rss, fit.err = fitImage(ctx, ffmpeg, job, field, file, format, stills)
	}
	return fit
}

// runFits runs the fits it receives one after another, in the order of
// the movie run's inputs, so that this process holds one picture at a
// time; once they are done it hands the memory they took back to the
// system, before ffmpeg's frames need it.
func runFits(fits <-chan *pictureFit) {
	ran := false
	for f := range fits {
		f.run()
		ran = true
	}
	if ran {
		debug.FreeOSMemory()
	}
}

// fitPicture decodes the picture file, which its header says has bounds,
// and writes each still's raw frame.
func fitPicture(job, file string, decode func(io.Reader) (image.Image, error), bounds image.Rectangle, stills []still) error {
	f, err := os.Open(filepath.Join(job, file))
	if err != nil {
		return err
	}
	img, err := decode(bufio.NewReader(f))
	f.Close()
	if err != nil {
		return err
	}
	if img.Bounds() != bounds {
		return errors.New("the picture is not the size its header says")
	}
	// ffmpeg crops a subsampled picture (a JPEG's YCbCr) at whole chroma
	// samples.
	var sub image.Point
	if m, ok := img.(*image.YCbCr); ok {
		sub = map[image.YCbCrSubsampleRatio]image.Point{
			image.YCbCrSubsampleRatio422: {1, 0}, image.YCbCrSubsampleRatio420: {1, 1}, image.YCbCrSubsampleRatio440: {0, 1},
			image.YCbCrSubsampleRatio411: {2, 0}, image.YCbCrSubsampleRatio410: {2, 1}}[m.SubsampleRatio]
	}
	read, ok := rowsOf(img)
	if !ok {
		return fmt.Errorf("a %T picture", img)
	}
	for _, s := range stills {
		src, w, h := fitGeometry(bounds, s, sub)
		// Like swscale, luma and alpha are scaled to the frame's size and
		// chroma straight to the chroma planes' size, at once.
		full := image.NewRGBA(image.Rect(0, 0, w, h))
		half := image.NewRGBA(image.Rect(0, 0, (w+1)/2, (h+1)/2))
		var wg sync.WaitGroup
		wg.Go(func() { scaleRGBA(full, read, src) })
		scaleRGBA(half, read, src)
		wg.Wait()
		if err := os.WriteFile(filepath.Join(job, s.file), yuva420p(full, half), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// fitGeometry is what fitFilter does to a picture of bounds b whose
// chroma is subsampled by 1<<sub: the part of it that is scaled (cover
// crops it to the box's aspect ratio, centered) and the size it is scaled
// to (contain keeps the aspect ratio inside the box), by ffmpeg's
// arithmetic: crop rounds its expressions half to even and then down to
// whole chroma samples, scale's force_original_aspect_ratio rounds half
// away from zero.
func fitGeometry(b image.Rectangle, s still, sub image.Point) (src image.Rectangle, w, h int) {
	iw, ih := b.Dx(), b.Dy()
	switch s.fit {
	case "cover":
		align := func(v float64, sub int) int { return int(math.RoundToEven(v)) &^ (1<<sub - 1) }
		cw := align(math.Min(float64(iw), float64(ih)*float64(s.w)/float64(s.h)), sub.X)
		ch := align(math.Min(float64(ih), float64(iw)*float64(s.h)/float64(s.w)), sub.Y)
		x, y := align(float64(iw-cw)/2, sub.X), align(float64(ih-ch)/2, sub.Y)
		return image.Rect(x, y, x+cw, y+ch).Add(b.Min), s.w, s.h
	case "fill":
		return b, s.w, s.h
	}
	rescale := func(a, b, c int) int { return int((int64(a)*int64(b) + int64(c)/2) / int64(c)) }
	return b, min(s.w, rescale(s.h, iw, ih)), min(s.h, rescale(s.w, ih, iw))
}

// yuva420p converts premultiplied RGBA, full at the frame's size and
// half at its chroma planes', to a straight-alpha yuva420p frame (the
// planes one after another, as ffmpeg's rawvideo reads them) with BT.601
// limited range, swscale's default.
func yuva420p(full, half *image.RGBA) []byte {
	w, h := full.Rect.Dx(), full.Rect.Dy()
	cw, ch := half.Rect.Dx(), half.Rect.Dy()
	out := make([]byte, 2*w*h+2*cw*ch)
	yp, up, vp, ap := out[:w*h], out[w*h:w*h+cw*ch], out[w*h+cw*ch:w*h+2*cw*ch], out[w*h+2*cw*ch:]
	// A straight colour is the premultiplied one times 255/alpha: the
	// matrix's rows are scaled by 1/alpha.
	var inv [256]float64
	for a := 1; a < 256; a++ {
		inv[a] = 1 / float64(a)
	}
	// level rounds v to the nearest level, half away from zero, within 0
	// and 255.
	level := func(v float64) byte {
		v += 0.5
		if v <= 0 {
			return 0
		}
		return byte(min(v, 255))
	}
	for y := 0; y < h; y++ {
		p := full.Pix[y*full.Stride : y*full.Stride+4*w]
		for x := 0; x < w; x++ {
			q := p[4*x : 4*x+4]
			r, g, b := float64(q[0]), float64(q[1]), float64(q[2])
			yp[y*w+x] = level(16 + (65.481*r+128.553*g+24.966*b)*inv[q[3]])
			ap[y*w+x] = q[3]
		}
	}
	for y := 0; y < ch; y++ {
		p := half.Pix[y*half.Stride : y*half.Stride+4*cw]
		for x := 0; x < cw; x++ {
			q := p[4*x : 4*x+4]
			r, g, b, k := float64(q[0]), float64(q[1]), float64(q[2]), inv[q[3]]
			up[y*cw+x] = level(128 + (-37.797*r-74.203*g+112.0*b)*k)
			vp[y*cw+x] = level(128 + (112.0*r-93.786*g-18.214*b)*k)
		}
	}
	return out
}

// rawStillFile is the name of a still this process wrote.
func rawStillFile(nut string) string {
	return nut[:len(nut)-len(filepath.Ext(nut))] + ".yuv"
}

// The movie's run reads each picture fitted in this process through a
// named pipe, so that it starts (and spends its first 80 ms loading
// ffmpeg) while the pictures are still being decoded and scaled: it waits
// at the pipe if it gets there first. pipeStills makes the pipes; a
// platform without them reads the stills once they are written.
func pipeStills(job string, p *graphParams) {
	for k := range p.fits {
		s := &p.stills[k]
		if pipe := s.file + ".pipe"; makePipe(filepath.Join(job, pipe)) == nil {
			s.pipe = pipe
		}
	}
}

// feedStills feeds one ffmpeg run the stills fitted in this process: each
// once its fit is done and the run has opened its pipe. A fit that fails
// cancels the run with its error. stop, once the run is over, ends the
// feeding and waits for it.
func feedStills(job string, p graphParams, cancel context.CancelCauseFunc) (stop func()) {
	over := make(chan struct{})
	var wg sync.WaitGroup
	for k, fit := range p.fits {
		s := p.stills[k]
		if s.pipe == "" {
			continue // read once written
		}
		wg.Go(func() {
			select {
			case <-fit.done:
			case <-over:
				return
			}
			if fit.err != nil {
				cancel(fit.err)
				return
			}
			if err := feed(job, s, over); err != nil {
				cancel(fmt.Errorf("render: feed %s: %w", s.pipe, err))
			}
		})
	}
	return func() {
		close(over)
		wg.Wait()
	}
}

// feed writes still s into its pipe, unless the run is over first: ffmpeg
// may fail before it opens the pipe, or stop reading it.
func feed(job string, s still, over <-chan struct{}) error {
	frame, err := os.ReadFile(filepath.Join(job, s.file))
	if err != nil {
		return err
	}
	var w *os.File
	for {
		f, open, err := openPipe(filepath.Join(job, s.pipe))
		if err != nil {
			return err
		}
		if open {
			w = f
			break
		}
		select {
		case <-over:
			return nil
		case <-time.After(time.Millisecond):
		}
	}
	defer w.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-over:
			w.SetWriteDeadline(time.Now())
		case <-done:
		}
	}()
	if _, err := w.Write(frame); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil
}
