package videos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/render"
)

// FFmpegRenderer renders with package render: ffmpeg from the layer's
// /opt/bin or PATH, media fetched through the egress guard.
func FFmpegRenderer() (Renderer, error) {
	ff, _, err := render.FindFFmpeg()
	if err != nil {
		return nil, fmt.Errorf("render worker: %w", err)
	}
	return MovieRenderer(ff, &egress.Guard{}), nil
}

// MovieRenderer renders with the given ffmpeg, fetching media through g.
func MovieRenderer(ffmpeg string, g *egress.Guard) Renderer {
	fetch := func(ctx context.Context, url string, dst io.Writer) error {
		// Clips may be larger than images; render caps each kind again.
		return g.Fetch(ctx, url, render.DefaultMaxClipBytes, dst)
	}
	return func(ctx context.Context, j Job) (Output, error) {
		res, err := render.Render(ctx, j.Spec, j.Out, render.Options{
			FFmpeg: ffmpeg, WorkDir: j.WorkDir, Watermark: j.Watermark, Fetch: fetch, FetchAsset: j.FetchAsset, Thumbnail: j.Thumbnail,
			Progress: func(pct int) { j.Progress(float64(pct) / 100) },
		})
		if err != nil {
			return Output{}, classify(err)
		}
		return Output{Duration: res.Duration, Width: res.Width, Height: res.Height, SizeBytes: res.SizeBytes,
			PeakWorkBytes: res.PeakWorkBytes, PeakRSSBytes: res.PeakRSSBytes}, nil
	}
}

// assetError is a media file the spec names that cannot be used: the
// render fails for good with a message naming the field.
type assetError struct {
	field, reason string
	err           error
}

func (e *assetError) Error() string   { return e.field + ": " + e.reason + ": " + e.err.Error() }
func (e *assetError) Unwrap() []error { return []error{ErrPermanent, e.err} }
func (e *assetError) PublicMessage() string {
	return fmt.Sprintf("The media at %s %s.", e.field, e.reason)
}

// classify marks media that cannot be used as permanent; a server error or
// a timeout fetching it stays retryable.
func classify(err error) error {
	var ae *render.AssetError
	if !errors.As(err, &ae) {
		return err
	}
	var refused *egress.RefusedError
	var status *egress.StatusError
	var nerr net.Error
	reason := "could not be used: " + ae.Err.Error()
	switch {
	case errors.As(err, &refused):
		reason = "is not allowed: " + refused.Error()
	case errors.As(err, &status) && (status.Code >= 500 || status.Code == 429):
		return err
	case errors.As(err, &status):
		reason = fmt.Sprintf("could not be fetched (HTTP %d)", status.Code)
	case errors.Is(err, egress.ErrTooLarge):
		reason = "is too large"
	case errors.As(err, &nerr) && nerr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &nerr):
		reason = "could not be fetched"
	}
	return &assetError{field: ae.Field, reason: reason, err: err}
}
