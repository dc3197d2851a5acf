package render

import (
	"image"
	"image/color"
	"math"
)

// The in-process fit scales with swscale's default kernel (bicubic, B = 0,
// C = 0.6), separably and in fixed point: each source row, as 16-bit
// premultiplied RGBA, is filtered across to the output's width, then the
// rows down to its height. Each output pixel's filter is centred on it
// ((x + 0.5) × ratio − 0.5 in the source) and widened by the ratio when
// it shrinks, so that every source pixel counts; its weights are in units
// of 1/2^14 and the rows filtered across are 4 int32 a pixel. In float64
// (x/image/draw's kernel scaler, which this replaced) the same frames
// differ by at most one level and take twice as long.

// weightBits is the fixed point of the filter weights.
const weightBits = 14

// tap is one output coordinate's filter: the weights of the source
// coordinates from first on, summing to 1<<weightBits.
type tap struct {
	first int
	w     []int32
}

// bicubicAt is the kernel at distance t.
func bicubicAt(t float64) float64 {
	const b, c = 0.0, 0.6
	t = math.Abs(t)
	switch {
	case t < 1:
		return ((12-9*b-6*c)*t*t*t + (-18+12*b+6*c)*t*t + (6 - 2*b)) / 6
	case t < 2:
		return ((-b-6*c)*t*t*t + (6*b+30*c)*t*t + (-12*b-48*c)*t + (8*b + 24*c)) / 6
	}
	return 0
}

// filterTaps is the filter of each of dst coordinates from src ones.
func filterTaps(dst, src int) []tap {
	scale := float64(src) / float64(dst)
	half, arg := 2.0, 1.0
	if scale > 1 {
		half, arg = 2*scale, 1/scale
	}
	taps := make([]tap, dst)
	for x := range taps {
		center := (float64(x)+0.5)*scale - 0.5
		lo := max(0, int(math.Floor(center-half)))
		hi := min(src, int(math.Ceil(center+half)))
		var ws []float64
		first, total := -1, 0.0
		for c := lo; c < hi; c++ {
			w := bicubicAt((center - float64(c)) * arg)
			if w == 0 && first < 0 {
				continue
			}
			if first < 0 {
				first = c
			}
			ws = append(ws, w)
			total += w
		}
		for len(ws) > 0 && ws[len(ws)-1] == 0 {
			ws = ws[:len(ws)-1]
		}
		// Rounded to fixed point, with the rounding's remainder on the
		// largest weight so that a flat picture stays flat.
		fixed, sum, big := make([]int32, len(ws)), int32(0), 0
		for i, w := range ws {
			fixed[i] = int32(math.Round(w / total * (1 << weightBits)))
			sum += fixed[i]
			if fixed[i] > fixed[big] {
				big = i
			}
		}
		if len(fixed) > 0 {
			fixed[big] += 1<<weightBits - sum
		}
		taps[x] = tap{first: max(first, 0), w: fixed}
	}
	return taps
}

// rowReader writes row y of a picture, columns x0 to x0+len(row)/4, into
// row as 16-bit premultiplied RGBA.
type rowReader func(row []int32, x0, y int)

// rowsOf reads img's rows; ok is false for a kind of picture it does not.
func rowsOf(img image.Image) (read rowReader, ok bool) {
	switch m := img.(type) {
	case *image.RGBA:
		return func(row []int32, x0, y int) {
			p := m.Pix[m.PixOffset(x0, y):]
			for i := range row {
				row[i] = int32(p[i]) * 0x101
			}
		}, true
	case *image.NRGBA:
		return func(row []int32, x0, y int) {
			p := m.Pix[m.PixOffset(x0, y):]
			for i := 0; i+3 < len(row); i += 4 {
				a := uint32(p[i+3])
				row[i] = int32(uint32(p[i]) * 0x101 * a / 0xff)
				row[i+1] = int32(uint32(p[i+1]) * 0x101 * a / 0xff)
				row[i+2] = int32(uint32(p[i+2]) * 0x101 * a / 0xff)
				row[i+3] = int32(a * 0x101)
			}
		}, true
	case *image.Gray:
		return func(row []int32, x0, y int) {
			p := m.Pix[m.PixOffset(x0, y):]
			for i := 0; i+3 < len(row); i += 4 {
				v := int32(p[i/4]) * 0x101
				row[i], row[i+1], row[i+2], row[i+3] = v, v, v, 0xffff
			}
		}, true
	case *image.Paletted:
		pal := make([][4]int32, 256)
		for i, c := range m.Palette {
			r, g, b, a := c.RGBA()
			pal[i] = [4]int32{int32(r), int32(g), int32(b), int32(a)}
		}
		return func(row []int32, x0, y int) {
			p := m.Pix[m.PixOffset(x0, y):]
			for i := 0; i+3 < len(row); i += 4 {
				c := pal[p[i/4]]
				row[i], row[i+1], row[i+2], row[i+3] = c[0], c[1], c[2], c[3]
			}
		}, true
	case *image.YCbCr:
		return pixels(m.YCbCrAt), true
	case *image.Gray16:
		return pixels(m.Gray16At), true
	case *image.NRGBA64:
		return pixels(m.NRGBA64At), true
	case *image.RGBA64:
		return pixels(m.RGBA64At), true
	}
	return nil, false
}

// pixels reads a row pixel by pixel.
func pixels[C color.Color](at func(x, y int) C) rowReader {
	return func(row []int32, x0, y int) {
		for i := 0; i+3 < len(row); i += 4 {
			r, g, b, a := at(x0+i/4, y).RGBA()
			row[i], row[i+1], row[i+2], row[i+3] = int32(r), int32(g), int32(b), int32(a)
		}
	}
}

// scaleRGBA scales the part src of a picture whose rows read gives to dst:
// colour is clamped to alpha, and each channel's 16 bits are truncated to
// 8.
func scaleRGBA(dst *image.RGBA, read rowReader, src image.Rectangle) {
	dw, dh := dst.Rect.Dx(), dst.Rect.Dy()
	across, down := filterTaps(dw, src.Dx()), filterTaps(dh, src.Dy())
	// Only the source rows some output row reads are filtered across.
	lo, hi := src.Dy(), 0
	for _, t := range down {
		lo, hi = min(lo, t.first), max(hi, t.first+len(t.w))
	}
	in := make([]int32, 4*src.Dx())
	mid := make([]int32, 4*dw*max(hi-lo, 0))
	for y := lo; y < hi; y++ {
		read(in, src.Min.X, src.Min.Y+y)
		filterAcross(mid[4*dw*(y-lo):4*dw*(y-lo+1)], in, across)
	}
	var acc []int64
	rows := make([][]int32, 0, 4)
	for y, t := range down {
		rows = rows[:0]
		for k := range t.w {
			rows = append(rows, mid[4*dw*(t.first+k-lo):4*dw*(t.first+k-lo+1)])
		}
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*dw]
		if len(t.w) <= 4 {
			filterDown4(out, rows, t.w)
			continue
		}
		if acc == nil {
			acc = make([]int64, 4*dw)
		}
		clear(acc)
		for k, row := range rows {
			w := int64(t.w[k])
			row := row[:len(acc)]
			for i, v := range row {
				acc[i] += w * int64(v)
			}
		}
		for i := 0; i+3 < len(acc); i += 4 {
			a := unit(acc[i+3])
			out[i] = byte(min(unit(acc[i]), a) >> 8)
			out[i+1] = byte(min(unit(acc[i+1]), a) >> 8)
			out[i+2] = byte(min(unit(acc[i+2]), a) >> 8)
			out[i+3] = byte(a >> 8)
		}
	}
}

// filterAcross filters the source row in (4 channels a pixel) to out with
// one tap per output pixel, keeping 16 bits.
func filterAcross(out, in []int32, across []tap) {
	const half = 1 << (weightBits - 1)
	for x, t := range across {
		var r, g, b, a int64
		if len(t.w) == 4 {
			p := in[4*t.first : 4*t.first+16]
			w0, w1, w2, w3 := int64(t.w[0]), int64(t.w[1]), int64(t.w[2]), int64(t.w[3])
			r = w0*int64(p[0]) + w1*int64(p[4]) + w2*int64(p[8]) + w3*int64(p[12])
			g = w0*int64(p[1]) + w1*int64(p[5]) + w2*int64(p[9]) + w3*int64(p[13])
			b = w0*int64(p[2]) + w1*int64(p[6]) + w2*int64(p[10]) + w3*int64(p[14])
			a = w0*int64(p[3]) + w1*int64(p[7]) + w2*int64(p[11]) + w3*int64(p[15])
		} else {
			p := in[4*t.first : 4*(t.first+len(t.w))]
			for k, w := range t.w {
				q := p[4*k : 4*k+4]
				w := int64(w)
				r += w * int64(q[0])
				g += w * int64(q[1])
				b += w * int64(q[2])
				a += w * int64(q[3])
			}
		}
		o := out[4*x : 4*x+4]
		o[0], o[1], o[2], o[3] = int32((r+half)>>weightBits), int32((g+half)>>weightBits), int32((b+half)>>weightBits), int32((a+half)>>weightBits)
	}
}

// filterDown4 writes the output row out from at most four filtered rows
// and their weights: colour clamped to alpha, 16 bits truncated to 8.
func filterDown4(out []byte, rows [][]int32, weights []int32) {
	var w [4]int64
	var r [4][]int32
	for k := range 4 {
		if k < len(rows) {
			w[k], r[k] = int64(weights[k]), rows[k]
		} else {
			r[k] = rows[0] // weighs nothing
		}
	}
	n := len(out)
	r0, r1, r2, r3 := r[0][:n], r[1][:n], r[2][:n], r[3][:n]
	for i := 0; i+3 < n; i += 4 {
		a := unit(w[0]*int64(r0[i+3]) + w[1]*int64(r1[i+3]) + w[2]*int64(r2[i+3]) + w[3]*int64(r3[i+3]))
		out[i] = byte(min(unit(w[0]*int64(r0[i])+w[1]*int64(r1[i])+w[2]*int64(r2[i])+w[3]*int64(r3[i])), a) >> 8)
		out[i+1] = byte(min(unit(w[0]*int64(r0[i+1])+w[1]*int64(r1[i+1])+w[2]*int64(r2[i+1])+w[3]*int64(r3[i+1])), a) >> 8)
		out[i+2] = byte(min(unit(w[0]*int64(r0[i+2])+w[1]*int64(r1[i+2])+w[2]*int64(r2[i+2])+w[3]*int64(r3[i+2])), a) >> 8)
		out[i+3] = byte(a >> 8)
	}
}

// unit is a filtered 16-bit value back from fixed point, within 0 and
// 0xffff.
func unit(v int64) int64 {
	return min(max((v+1<<(weightBits-1))>>weightBits, 0), 0xffff)
}
