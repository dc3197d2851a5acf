package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/movie"
)

// fitPictures are pictures of the kinds fitInProcess takes: a photo, a
// logo with soft transparent edges, gray, paletted with transparency, 16
// bits, a JPEG; odd sizes among them.
func fitPictures(t *testing.T) map[string][]byte {
	t.Helper()
	enc := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	logo := image.NewNRGBA(image.Rect(0, 0, 301, 203))
	for y := 0; y < 203; y++ {
		for x := 0; x < 301; x++ {
			d := math.Hypot(float64(x-150), float64(y-101))
			a := math.Max(0, math.Min(1, (90-d)/6)) // a disc with a soft edge
			c := color.NRGBA{230, 57, 70, uint8(255 * a)}
			if x > 60 && x < 240 && y%40 < 12 { // sharp bars, like type
				c = color.NRGBA{255, 255, 255, 255}
			}
			logo.SetNRGBA(x, y, c)
		}
	}
	gray := image.NewGray(image.Rect(0, 0, 97, 61))
	deep := image.NewNRGBA64(image.Rect(0, 0, 250, 130))
	for y := 0; y < 130; y++ {
		for x := 0; x < 250; x++ {
			if x < 97 && y < 61 {
				gray.SetGray(x, y, color.Gray{uint8((x*255/97 + y*3) % 256)})
			}
			deep.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 262), uint16(y * 504), 30000, 65535})
		}
	}
	pal := image.NewPaletted(image.Rect(0, 0, 64, 48), color.Palette{
		color.NRGBA{0, 0, 0, 0}, color.NRGBA{20, 120, 220, 255}, color.NRGBA{250, 200, 0, 255}, color.NRGBA{0, 160, 80, 128}})
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			pal.SetColorIndex(x, y, uint8((x/8+y/8)%4))
		}
	}
	photo, err := png.Decode(bytes.NewReader(photoOnce()))
	if err != nil {
		t.Fatal(err)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, photo, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"photo.png": photoOnce(), "logo.png": enc(logo), "gray.png": enc(gray),
		"paletted.png": enc(pal), "deep.png": enc(deep), "photo.jpg": jpg.Bytes()}
}

// TestInProcessFitMatchesFFmpeg fits each picture into boxes of every fit
// both ways — in this process, and with the ffmpeg run that fits the
// others — and compares the frames: the same size, and the same picture
// to within what two implementations of one bicubic scaler and one matrix
// round differently.
func TestInProcessFitMatchesFFmpeg(t *testing.T) {
	ffmpeg, _ := tools(t)
	boxes := [][2]int{{160, 160}, {333, 101}, {1280, 720}}
	for name, pic := range fitPictures(t) {
		for _, fit := range []string{"contain", "cover", "fill"} {
			t.Run(name+"/"+fit, func(t *testing.T) {
				t.Parallel()
				format := map[bool]string{true: "jpeg_pipe", false: "png_pipe"}[strings.HasSuffix(name, ".jpg")]
				var stills []still
				for i, b := range boxes {
					stills = append(stills, still{media: name, fit: fit, w: b[0], h: b[1], file: fmt.Sprintf("still%d.nut", i)})
				}
				ours, theirs := t.TempDir(), t.TempDir()
				for _, dir := range []string{ours, theirs} {
					if err := os.WriteFile(filepath.Join(dir, "asset0"), pic, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				inProcess := append([]still(nil), stills...)
				fit := planFit(context.Background(), ffmpeg, ours, "/image", "asset0", format, inProcess)
				if fit == nil {
					t.Fatal("not fitted in process")
				}
				fit.run()
				if err := fit.wait(); err != nil || fit.rss != 0 {
					t.Fatalf("fitted by ffmpeg after all (%d bytes) or not at all: %v", fit.rss, err)
				}
				if _, err := fitImage(context.Background(), ffmpeg, theirs, "/image", "asset0", format, stills); err != nil {
					t.Fatal(err)
				}
				theirFrames := rawStills(t, theirs, stills)
				for i, s := range inProcess {
					got, err := os.ReadFile(filepath.Join(ours, s.file))
					if err != nil {
						t.Fatal(err)
					}
					f := theirFrames[i]
					if s.raw != [2]int{f.w, f.h} {
						t.Fatalf("%dx%d box: fitted to %v, ffmpeg %dx%d", s.w, s.h, s.raw, f.w, f.h)
					}
					if d := compareYUVA(got, f.frame, f.w, f.h); d.meanLuma > 1.5 || d.meanChroma > 1.5 || d.meanAlpha > 1.5 || d.p99 > 16 {
						t.Errorf("%dx%d box (%dx%d): %+v", s.w, s.h, f.w, f.h, d)
					}
				}
			})
		}
	}
}

type rawFrame struct {
	w, h  int
	frame []byte
}

// rawStills decodes the NUT stills in dir to their sizes and yuva420p
// frames, with one ffmpeg.
func rawStills(t *testing.T, dir string, stills []still) []rawFrame {
	t.Helper()
	ffmpeg, _ := tools(t)
	args := []string{"-hide_banner", "-nostdin"}
	for _, s := range stills {
		args = append(args, "-f", "nut", "-i", s.file)
	}
	for i := range stills {
		args = append(args, "-map", fmt.Sprintf("%d:v", i), "-f", "rawvideo", "-pix_fmt", "yuva420p", fmt.Sprintf("raw%d.yuv", i))
	}
	cmd := exec.Command(ffmpeg, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// "Stream #0:0: Video: rawvideo (Y4[0][8] / 0x8003459), yuva420p, 160x120, …" per input, in order.
	sizes := regexp.MustCompile(`(?m)^  Stream #\d+:0: Video: .*?, (\d+)x(\d+)`).FindAllStringSubmatch(string(out), len(stills))
	if len(sizes) != len(stills) {
		t.Fatalf("no sizes in %s", out)
	}
	frames := make([]rawFrame, len(stills))
	for i, m := range sizes {
		frames[i].w, _ = strconv.Atoi(m[1])
		frames[i].h, _ = strconv.Atoi(m[2])
		if frames[i].frame, err = os.ReadFile(filepath.Join(dir, fmt.Sprintf("raw%d.yuv", i))); err != nil {
			t.Fatal(err)
		}
	}
	return frames
}

type yuvaDiff struct {
	meanLuma, meanChroma, meanAlpha float64 // levels, where both are opaque (alpha: everywhere)
	p99                             int     // the 99th percentile luma difference
}

// compareYUVA compares two w×h yuva420p frames: colour only where both
// pictures are opaque (elsewhere it is partly or wholly hidden, and the
// two scalers weigh transparent pixels differently), alpha everywhere.
func compareYUVA(a, b []byte, w, h int) yuvaDiff {
	if len(a) != len(b) {
		return yuvaDiff{meanLuma: math.Inf(1)}
	}
	cw, ch := (w+1)/2, (h+1)/2
	alpha := w*h + 2*cw*ch // the alpha plane's offset
	abs := func(x, y byte) int { return int(math.Abs(float64(x) - float64(y))) }
	var d yuvaDiff
	var hist [256]int
	n := 0
	for i := 0; i < w*h; i++ {
		d.meanAlpha += float64(abs(a[alpha+i], b[alpha+i]))
		if a[alpha+i] == 255 && b[alpha+i] == 255 {
			diff := abs(a[i], b[i])
			d.meanLuma += float64(diff)
			hist[diff]++
			n++
		}
	}
	d.meanAlpha /= float64(w * h)
	if n > 0 {
		d.meanLuma /= float64(n)
		for seen := 0; d.p99 < 255; d.p99++ {
			if seen += hist[d.p99]; seen*100 >= n*99 {
				break
			}
		}
	}
	m := 0
	for cy := 0; cy < ch; cy++ {
		for cx := 0; cx < cw; cx++ {
			opaque := true
			for y := 2 * cy; y < min(h, 2*cy+2); y++ {
				for x := 2 * cx; x < min(w, 2*cx+2); x++ {
					opaque = opaque && a[alpha+y*w+x] == 255 && b[alpha+y*w+x] == 255
				}
			}
			if opaque {
				u, v := w*h+cy*cw+cx, w*h+cw*ch+cy*cw+cx
				d.meanChroma += float64(abs(a[u], b[u])+abs(a[v], b[v])) / 2
				m++
			}
		}
	}
	if m > 0 {
		d.meanChroma /= float64(m)
	}
	return d
}

// TestWhoFitsPictures: a small PNG or JPEG is fitted in this process; a
// larger picture or a GIF goes to ffmpeg first. One whose header reads but
// which Go's decoder refuses is fitted by ffmpeg to the same frames, and
// ffmpeg decides that a broken picture is unreadable, which the render
// reports naming the element.
func TestWhoFitsPictures(t *testing.T) {
	ffmpeg, _ := tools(t)
	font, err := FindFont()
	if err != nil {
		t.Fatal(err)
	}
	pics := fitPictures(t)
	var gifPic bytes.Buffer
	if err := gif.Encode(&gifPic, image.NewPaletted(image.Rect(0, 0, 20, 20), color.Palette{color.Black, color.White}), nil); err != nil {
		t.Fatal(err)
	}
	huge := pngImage(t, 2500, 1601, color.NRGBA{10, 20, 30, 255}) // 4.0 megapixels and a bit
	// A bad checksum on the last chunk before IEND: Go refuses it, ffmpeg
	// does not check.
	badCRC := pngImage(t, 300, 200, color.NRGBA{255, 0, 0, 255})
	badCRC[len(badCRC)-13] ^= 0xff
	broken := append([]byte(nil), pics["photo.png"]...)
	for i := len(broken) / 2; i < len(broken)/2+64; i++ {
		broken[i] ^= 0x5a // inside the compressed pixels: the header still reads
	}
	cases := []struct {
		name       string
		pic        []byte
		inProcess  bool // fitted by this process
		byFFmpeg   bool // fitted by ffmpeg
		unreadable bool
	}{
		{"small PNG", pics["logo.png"], true, false, false},
		{"small JPEG", pics["photo.jpg"], true, false, false},
		{"over 4 megapixels", huge, false, true, false},
		{"GIF", gifPic.Bytes(), false, true, false},
		{"PNG with a bad checksum", badCRC, false, true, false},
		{"broken PNG", broken, false, false, true},
	}
	// A picture this process could decode but whose scaling would hold
	// more than maxScaleBytes (3 megapixels onto a full-hd frame) goes to
	// ffmpeg too.
	job := t.TempDir()
	if err := os.WriteFile(filepath.Join(job, "asset0"), pngImage(t, 2000, 1500, color.NRGBA{1, 2, 3, 255}), 0o600); err != nil {
		t.Fatal(err)
	}
	if f := planFit(context.Background(), ffmpeg, job, "/image", "asset0", "png_pipe", []still{{fit: "fill", w: 1920, h: 1080, file: "still0.nut"}}); f != nil {
		t.Fatal("a 3-megapixel picture onto a full-hd frame was planned in process")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{{Duration: 1, Background: movie.Background{Color: "#000000"},
				Elements: []movie.Element{{Type: "image", URL: "https://a.test/pic", Width: 200, Height: 100}}}}}
			spec.Normalize()
			o := Options{FFmpeg: ffmpeg, Fetch: assets{"https://a.test/pic": c.pic}.fetch}
			job := t.TempDir()
			p, err := prepare(context.Background(), spec, job, font, o)
			if err != nil {
				t.Fatal(err)
			}
			var fitErr error
			rss := p.fitRSS
			if f := p.fits[0]; f != nil {
				fitErr = f.wait()
				rss = max(rss, f.rss)
			}
			if c.unreadable {
				var ae *AssetError
				if !errors.As(fitErr, &ae) || ae.Field != "/scenes/0/elements/0/url" || !errors.Is(fitErr, errUndecodable) {
					t.Fatalf("got %v", fitErr)
				}
				// Through a render: the run reading the pipe is stopped,
				// and the error names the element.
				_, err := Render(context.Background(), spec, filepath.Join(t.TempDir(), "o.mp4"), o)
				if !errors.As(err, &ae) || ae.Field != "/scenes/0/elements/0/url" || !errors.Is(err, errUndecodable) {
					t.Fatalf("render: %v", err)
				}
				return
			}
			if fitErr != nil {
				t.Fatal(fitErr)
			}
			if got := rss == 0; got != c.inProcess || (rss > 0) != c.byFFmpeg {
				t.Fatalf("ffmpeg's fit held %d bytes; want in process %v, by ffmpeg %v", rss, c.inProcess, c.byFFmpeg)
			}
			if _, err := os.Stat(filepath.Join(job, p.stills[0].file)); err != nil {
				t.Fatal(err)
			}
			r := renderSpec(t, spec, o)
			if got := regionColor(frameRGB(t, r.path, 0.5, 640, 360), 640, 320, 180, 10); c.name == "PNG with a bad checksum" && !near(got, 0xff0000, 40) {
				t.Fatalf("the picture is not drawn: %v", got)
			}
		})
	}
}

// TestRunFailsBeforeThePipe: a run that fails before it opens a still's
// pipe (here at a clip that is not what the upload's probe said) ends the
// render with ffmpeg's error; nothing waits for the pipe forever.
func TestRunFailsBeforeThePipe(t *testing.T) {
	ffmpeg, _ := tools(t)
	notAClip := append([]byte("\x00\x00\x00\x18ftypisom"), bytes.Repeat([]byte{0xee}, 4096)...)
	a := assets{idgreen: notAClip, idimg: fitPictures(t)["logo.png"]}
	spec := movie.Spec{Resolution: "sd", Scenes: []movie.Scene{{Duration: 1, Background: movie.Background{Color: "#000000"},
		Elements: []movie.Element{{Type: "video", Asset: idgreen}, {Type: "image", Asset: idimg, Width: 100, Height: 100}}}}}
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Render(ctx, spec, filepath.Join(t.TempDir(), "o.mp4"), Options{FFmpeg: ffmpeg, WorkDir: work,
		FetchAsset: func(ctx context.Context, id string, dst io.Writer) (Stored, error) {
			return Stored{Duration: 1, Width: 320, Height: 240}, a.fetch(ctx, id, dst)
		}})
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "render: ffmpeg") {
		t.Fatalf("got %v (context: %v)", err, ctx.Err())
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("work dir not cleaned: %v", left)
	}
}

// TestWatchRSSIsTheChilds: the peak reported for an ffmpeg run is its
// own, not this process's. The kernel's maxrss of a child started by Go
// includes its parent's high-water mark (they share one memory map until
// the child execs), so a worker holding more than ffmpeg would hide it.
func TestWatchRSSIsTheChilds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	parent := make([]byte, 320<<20)
	for i := 0; i < len(parent); i += 4096 {
		parent[i] = 1
	}
	cmd := exec.Command("python3", "-c", "import time; b = bytearray(100 << 20); time.sleep(0.3)")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rss := watchRSS(cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	got := rss()
	runtime.KeepAlive(parent)
	if got < 100<<20 || got > 200<<20 {
		t.Fatalf("child's peak %d MiB; it held 100 MiB and its parent over 320", got>>20)
	}
}

// TestScaleRGBAKeepsFlatAndSame checks the fixed-point filters: the
// weights of every output pixel sum to exactly one, so a flat picture
// stays flat whichever way it is scaled, and a picture scaled to its own
// size is copied exactly.
func TestScaleRGBAKeepsFlatAndSame(t *testing.T) {
	for _, n := range [][2]int{{1920, 97}, {97, 1920}, {5, 3}, {3, 5}, {1, 400}, {400, 1}, {1080, 1080}, {517, 33}} {
		for x, tp := range filterTaps(n[0], n[1]) {
			sum := int32(0)
			for _, w := range tp.w {
				sum += w
			}
			if sum != 1<<weightBits || tp.first < 0 || tp.first+len(tp.w) > n[1] {
				t.Fatalf("%d from %d, pixel %d: weights %v from %d sum to %d", n[0], n[1], x, tp.w, tp.first, sum)
			}
		}
	}
	flat := image.NewNRGBA(image.Rect(0, 0, 97, 61))
	noisy := image.NewRGBA(image.Rect(0, 0, 97, 61))
	for i := range flat.Pix {
		flat.Pix[i] = []byte{200, 30, 90, 255}[i%4]
		noisy.Pix[i] = byte(i * 7919 % 251)
		if i%4 == 3 {
			noisy.Pix[i] = 255
		}
	}
	// The whole picture and slivers of it (as a crop reads them).
	for _, src := range []image.Rectangle{flat.Rect, image.Rect(10, 10, 11, 11), image.Rect(3, 40, 4, 47), image.Rect(90, 5, 93, 7)} {
		for _, size := range [][2]int{{1920, 1080}, {33, 517}, {5, 3}, {97, 61}, {200, 20}, {1, 1}, {1, 50}, {50, 1}} {
			dst := image.NewRGBA(image.Rect(0, 0, size[0], size[1]))
			read, _ := rowsOf(flat)
			scaleRGBA(dst, read, src)
			for i, v := range dst.Pix {
				if want := []byte{200, 30, 90, 255}[i%4]; v != want {
					t.Fatalf("%v of the picture to %v: %d at byte %d, want %d", src, size, v, i, want)
				}
			}
		}
	}
	dst := image.NewRGBA(noisy.Rect)
	read, _ := rowsOf(noisy)
	scaleRGBA(dst, read, noisy.Rect)
	if !bytes.Equal(dst.Pix, noisy.Pix) {
		t.Fatal("a picture scaled to its own size changed")
	}
}
