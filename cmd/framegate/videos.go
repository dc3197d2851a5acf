package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

func newVideosCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "videos",
		Short: "Render videos from movie specs or templates, follow them and download them",
		Long:  "videos creates renders and fetches their files. The key needs videos:write to create, videos:read for the rest." + apiEnvHelp,
	}
	cmd.AddCommand(newVideosCreateCmd(), newVideosDownloadCmd(), newVideosThumbnailCmd(), newVideosGetCmd())
	return cmd
}

// renderRequest reads a --file: either a whole POST /v1/videos body (it has
// "spec" or "templateId") or a bare movie spec, which it wraps.
func renderRequest(b []byte) (client.CreateVideoRequest, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return client.CreateVideoRequest{}, fmt.Errorf("not a JSON object: %w", err)
	}
	_, hasSpec := top["spec"]
	_, hasTemplate := top["templateId"]
	if !hasSpec && !hasTemplate {
		return client.CreateVideoRequest{Spec: json.RawMessage(bytes.TrimSpace(b))}, nil
	}
	var req client.CreateVideoRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return client.CreateVideoRequest{}, fmt.Errorf("a render request has spec or templateId with variables, and webhookUrl: %w", err)
	}
	return req, nil
}

func newVideosCreateCmd() *cobra.Command {
	var (
		file, idemKey, webhookURL string
		wait                      bool
		timeout, poll             time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create --file spec.json [--wait]",
		Short: "Queue a render; with --wait, follow it to the end",
		Long: `create queues a render. The file is a movie spec (see docs/renders.md and
examples/), or a template call {"templateId": "...", "variables": {...}}.
With --wait a progress bar on stderr follows GET /v1/videos/{id}/status and the
command fails (exit 1) if the render does not succeed. An "asset": "@FILENAME"
in the file names the newest ready asset uploaded under that file name.

Every create carries an Idempotency-Key (--idempotency-key to choose it), so a
create retried after a lost answer renders once.` + apiEnvHelp,
		Example: `  framegate videos create --file examples/hello.json --wait
  framegate videos create --file call.json --output json | jq -r .id`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			if b, err = resolveAssetNames(cmd.Context(), c, b); err != nil {
				return fmt.Errorf("--file %s: %w", file, err)
			}
			req, err := renderRequest(b)
			if err != nil {
				return usageError{fmt.Errorf("--file %s: %w", file, err)}
			}
			if webhookURL != "" {
				req.WebhookURL = webhookURL
			}
			var opts []client.CallOption
			if idemKey != "" {
				opts = append(opts, client.WithIdempotencyKey(idemKey))
			}
			v, err := c.CreateVideo(cmd.Context(), req, opts...)
			if err != nil {
				return fmt.Errorf("create video: %w", err)
			}
			if wait {
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				defer cancel()
				if v, err = waitForVideo(ctx, c, v, poll, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			if err := printVideo(cmd, v); err != nil {
				return err
			}
			if wait && v.Status != "succeeded" {
				return renderError{v}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "movie spec or template call, JSON (- for stdin) (required)")
	f.BoolVar(&wait, "wait", false, "follow the render to the end with a progress bar on stderr")
	f.DurationVar(&timeout, "timeout", 30*time.Minute, "with --wait, give up after this long")
	f.DurationVar(&poll, "poll-interval", time.Second, "with --wait, how often to ask for the status")
	f.StringVar(&idemKey, "idempotency-key", "", "Idempotency-Key to send (default: a random one)")
	f.StringVar(&webhookURL, "webhook-url", "", "also send this render's events to this https URL")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func readInput(cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, usageError{fmt.Errorf("--file: %w", err)}
	}
	return b, nil
}

type renderError struct{ v *client.Video }

func (e renderError) Error() string {
	if e.v.Error != nil {
		return fmt.Sprintf("render %s %s: %s: %s", e.v.ID, e.v.Status, e.v.Error.Code, e.v.Error.Message)
	}
	return fmt.Sprintf("render %s %s", e.v.ID, e.v.Status)
}

// waitForVideo polls the status route until the video is terminal, drawing
// progress on w. Polling, not a webhook, because it needs nothing reachable
// from the API; the status route is cheap and rate-limited like any other.
func waitForVideo(ctx context.Context, c *client.Client, v *client.Video, every time.Duration, w io.Writer) (*client.Video, error) {
	bar := newProgressBar(w)
	defer bar.done()
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		bar.show(v)
		if v.Terminal() {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("waiting for %s (last %s, %d%%): %w", v.ID, v.Status, v.Progress, ctx.Err())
		case <-t.C:
		}
		next, err := c.VideoStatus(ctx, v.ID)
		if err != nil {
			return v, fmt.Errorf("status of %s: %w", v.ID, err)
		}
		v = next
	}
}

// progressBar redraws one line on a terminal; elsewhere (CI logs, a pipe)
// it writes a line per change so the log stays readable.
type progressBar struct {
	w    io.Writer
	tty  bool
	last string
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty}
}

func (p *progressBar) show(v *client.Video) {
	pct := min(max(v.Progress, 0), 100)
	if v.Status == "succeeded" {
		pct = 100
	}
	const width = 30
	fill := pct * width / 100
	line := fmt.Sprintf("%s [%s%s] %3d%% %s", v.ID, strings.Repeat("#", fill), strings.Repeat("-", width-fill), pct, v.Status)
	if v.Attempts > 1 && !v.Terminal() {
		line += fmt.Sprintf(" (attempt %d)", v.Attempts)
	}
	p.line(line)
}

// line shows line unless it is the one shown.
func (p *progressBar) line(line string) {
	if line == p.last {
		return
	}
	p.last = line
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

func (p *progressBar) done() {
	if p.tty && p.last != "" {
		fmt.Fprintln(p.w)
	}
}

func newVideosGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get VIDEO_ID",
		Short: "Show a video's status, progress and details",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			v, err := c.GetVideo(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("get video %s: %w", args[0], err)
			}
			return printVideo(cmd, v)
		},
	}
}

func printVideo(cmd *cobra.Command, v *client.Video) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s %s %d%% (%s, %.1f s", v.ID, v.Status, v.Progress, v.Environment, v.DurationSeconds)
	if v.SizeBytes != nil {
		fmt.Fprintf(out, ", %d bytes", *v.SizeBytes)
	}
	if v.Attempts > 1 {
		fmt.Fprintf(out, ", attempt %d", v.Attempts)
	}
	fmt.Fprintln(out, ")")
	if v.Error != nil {
		fmt.Fprintf(out, "error %s: %s\n", v.Error.Code, v.Error.Message)
	}
	return nil
}

func newVideosDownloadCmd() *cobra.Command {
	return fileCmd("download", "out.mp4", "Download a succeeded video's file (MP4, WebM or GIF, as its spec says)",
		`download fetches the file through the short-lived link GET /v1/videos/{id}/download
hands out; the API key is not sent to the storage. The file is written next
to its destination and renamed into place only once complete.

Here -o/--output names the file (default VIDEO_ID.mp4), not the output format.`,
		"mp4", (*client.Client).DownloadVideo)
}

func newVideosThumbnailCmd() *cobra.Command {
	return fileCmd("thumbnail", "file.jpg", "Download a succeeded video's JPEG thumbnail",
		`thumbnail fetches the video's poster, a JPEG of the movie's size, through the
short-lived link GET /v1/videos/{id}/thumbnail hands out; the API key is not
sent to the storage. The file is written next to its destination and renamed
into place only once complete.

Here -o/--output names the file (default VIDEO_ID.jpg), not the output format.`,
		"jpg", (*client.Client).Thumbnail)
}

// fileCmd is a command that writes what get fetches for a video to a file.
func fileCmd(name, example, short, long, ext string, get func(*client.Client, context.Context, string, io.Writer) (int64, error)) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   name + " VIDEO_ID -o " + example,
		Short: short,
		Long:  long + apiEnvHelp,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if out == "" {
				out = id + "." + ext
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			n, err := saveTo(cmd.Context(), out, func(ctx context.Context, w io.Writer) (int64, error) { return get(c, ctx, id, w) })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d bytes\n", out, n)
			return nil
		},
	}
	// Shadows the root's --output for this command: a file path is what a
	// download needs, and `-o out.mp4` is what everyone types.
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default VIDEO_ID."+ext+")")
	return cmd
}

// saveTo writes what get produces to dst atomically: into a temporary
// file beside it, renamed into place once complete.
func saveTo(ctx context.Context, dst string, get func(context.Context, io.Writer) (int64, error)) (n int64, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if n, err = get(ctx, tmp); err != nil {
		return n, err
	}
	if err = tmp.Close(); err != nil {
		return n, fmt.Errorf("write %s: %w", dst, err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return n, fmt.Errorf("write %s: %w", dst, err)
	}
	return n, nil
}
