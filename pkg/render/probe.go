package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Probe is what ffprobe says about a rendered file; the worker checks its
// output with it before uploading, and tests assert on it.
type Probe struct {
	Duration   float64 // container duration, seconds
	FormatName string
	Video      ProbeStream
	Audio      *ProbeStream // nil without an audio track
}

// ProbeStream is one stream of a probed file.
type ProbeStream struct {
	Codec         string
	Width, Height int
	PixFmt        string
	FrameRate     string // "25/1"
}

// MediaProbe is every stream of a file: what asset ingestion and clips
// need, where a file may have no video, or a cover picture besides it.
type MediaProbe struct {
	Duration   float64 // seconds; 0 when the container does not say (a still image)
	FormatName string
	Video      []ProbeStream // attached pictures (cover art) left out
	Audio      []ProbeStream
}

// ProbeMedia runs ffprobe on input (a path, or a URL when protocols allows
// its scheme) read with the named demuxer, never a guessed one: a file
// posing as a playlist or a concat script cannot make ffprobe open
// anything else. protocols is ffprobe's -protocol_whitelist ("file" for a
// local file).
func ProbeMedia(ctx context.Context, ffprobe, input, format, protocols string) (MediaProbe, error) {
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-protocol_whitelist", protocols, "-f", format,
		"-show_streams", "-show_format", "-of", "json", input).Output()
	if err != nil {
		return MediaProbe{}, fmt.Errorf("ffprobe: %w", err)
	}
	return parseProbe(out)
}

// parseProbe reads ffprobe's JSON.
func parseProbe(out []byte) (MediaProbe, error) {
	var raw struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			PixFmt       string `json:"pix_fmt"`
			AvgFrameRate string `json:"avg_frame_rate"`
			Disposition  struct {
				AttachedPic int `json:"attached_pic"`
			} `json:"disposition"`
		} `json:"streams"`
		Format struct {
			FormatName string `json:"format_name"`
			Duration   string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return MediaProbe{}, fmt.Errorf("ffprobe: decode: %w", err)
	}
	p := MediaProbe{FormatName: raw.Format.FormatName}
	if raw.Format.Duration != "" {
		d, err := strconv.ParseFloat(raw.Format.Duration, 64)
		if err != nil {
			return MediaProbe{}, fmt.Errorf("ffprobe: duration %q: %w", raw.Format.Duration, err)
		}
		p.Duration = d
	}
	for _, s := range raw.Streams {
		ps := ProbeStream{Codec: s.CodecName, Width: s.Width, Height: s.Height, PixFmt: s.PixFmt, FrameRate: s.AvgFrameRate}
		switch {
		case s.CodecType == "video" && s.Disposition.AttachedPic == 0:
			p.Video = append(p.Video, ps)
		case s.CodecType == "audio":
			p.Audio = append(p.Audio, ps)
		}
	}
	return p, nil
}

// ProbeFile probes a rendered file: exactly one video stream.
func ProbeFile(ctx context.Context, ffprobe, path string) (Probe, error) {
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		return Probe{}, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	m, err := parseProbe(out)
	if err != nil {
		return Probe{}, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	if len(m.Video) != 1 {
		return Probe{}, fmt.Errorf("ffprobe %s: %d video streams", path, len(m.Video))
	}
	p := Probe{Duration: m.Duration, FormatName: m.FormatName, Video: m.Video[0]}
	if len(m.Audio) > 0 {
		p.Audio = &m.Audio[0]
	}
	return p, nil
}

// VideoBytes is the size of the first video stream of path, the sum of
// its packets: what a file's sound and container do not blur.
func VideoBytes(ctx context.Context, ffprobe, path string) (int64, error) {
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	var n int64
	for _, f := range strings.Fields(string(out)) {
		v, err := strconv.ParseInt(strings.TrimSuffix(f, ","), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("ffprobe %s: packet size %q", path, f)
		}
		n += v
	}
	return n, nil
}

// Veryfast is the yardstick renders are held to: a bare x264 veryfast
// CRF 23 encode of the video of in (any file ffmpeg reads, or raw frames
// when inArgs describe them) into the MP4 out.
func Veryfast(ctx context.Context, ffmpeg, in, out string, inArgs ...string) error {
	args := append([]string{"-nostdin", "-v", "error"}, inArgs...)
	args = append(args, "-i", in, "-map", "0:v:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
		"-threads", strconv.Itoa(runtime.NumCPU()), "-f", "mp4", "-y", out)
	if b, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("veryfast encode of %s: %w: %s", in, err, bytes.TrimSpace(b))
	}
	return nil
}

// ReencodeRatio is VideoBytes of the file at path over that of a Veryfast
// encode of its own decoded frames, written in dir.
func ReencodeRatio(ctx context.Context, ffmpeg, ffprobe, path, dir string) (float64, error) {
	ve := filepath.Join(dir, "veryfast.mp4")
	if err := Veryfast(ctx, ffmpeg, path, ve); err != nil {
		return 0, err
	}
	defer os.Remove(ve)
	a, err := VideoBytes(ctx, ffprobe, path)
	if err != nil {
		return 0, err
	}
	b, err := VideoBytes(ctx, ffprobe, ve)
	if err != nil {
		return 0, err
	}
	return float64(a) / float64(b), nil
}
