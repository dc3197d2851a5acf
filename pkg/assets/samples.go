package assets

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// Samples are small media files generated with ffmpeg's test sources, so
// that examples/ render with no internet: `framegate dev` uploads them to
// the demo workspace and the examples name them ("@sample-clip.mp4").
var Samples = map[string][]string{
	// 2 s of 320×240 test pattern with a 440 Hz tone.
	"sample-clip.mp4": {"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart"},
	// A 640×360 still of the colour-bars pattern.
	"sample-image.png": {"-f", "lavfi", "-i", "smptehdbars=size=640x360", "-frames:v", "1"},
	// A 400×400 logo-like mark.
	"sample-logo.png": {"-f", "lavfi", "-i", "mandelbrot=size=400x400", "-frames:v", "1"},
	// 8 s of a two-tone chord.
	"sample-music.m4a": {"-f", "lavfi", "-i", "sine=frequency=330:duration=8", "-f", "lavfi", "-i", "sine=frequency=495:duration=8",
		"-filter_complex", "amix=inputs=2", "-c:a", "aac"},
}

// WriteSamples generates every sample into dir and returns their paths.
func WriteSamples(ctx context.Context, ffmpeg, dir string) ([]string, error) {
	var out []string
	for name, args := range Samples {
		p := filepath.Join(dir, name)
		cmd := exec.CommandContext(ctx, ffmpeg, append(append([]string{"-v", "error", "-y"}, args...), p)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("generate %s: %w: %s", name, err, b)
		}
		out = append(out, p)
	}
	return out, nil
}
