package render

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
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

// ProbeFile runs ffprobe -show_streams -show_format on path.
func ProbeFile(ctx context.Context, ffprobe, path string) (Probe, error) {
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		return Probe{}, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	var raw struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			PixFmt       string `json:"pix_fmt"`
			AvgFrameRate string `json:"avg_frame_rate"`
		} `json:"streams"`
		Format struct {
			FormatName string `json:"format_name"`
			Duration   string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return Probe{}, fmt.Errorf("ffprobe %s: decode: %w", path, err)
	}
	p := Probe{FormatName: raw.Format.FormatName}
	if p.Duration, err = strconv.ParseFloat(raw.Format.Duration, 64); err != nil {
		return Probe{}, fmt.Errorf("ffprobe %s: duration %q: %w", path, raw.Format.Duration, err)
	}
	videos := 0
	for _, s := range raw.Streams {
		ps := ProbeStream{Codec: s.CodecName, Width: s.Width, Height: s.Height, PixFmt: s.PixFmt, FrameRate: s.AvgFrameRate}
		switch s.CodecType {
		case "video":
			p.Video = ps
			videos++
		case "audio":
			p.Audio = &ps
		}
	}
	if videos != 1 {
		return Probe{}, fmt.Errorf("ffprobe %s: %d video streams", path, videos)
	}
	return p, nil
}
