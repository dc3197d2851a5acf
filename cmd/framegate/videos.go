package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
		Short: "Render videos from movie specs or templates, follow them, list, download and delete them",
		Long:  "videos creates renders and fetches their files. The key needs videos:write to create and delete, videos:read for the rest." + apiEnvHelp,
	}
	cmd.AddCommand(newVideosCreateCmd(), newVideosListCmd(), newVideosGetCmd(), newVideosStatusCmd(), newVideosDeleteCmd(),
		newVideosDownloadCmd(), newVideosThumbnailCmd())
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
	cmd := apiCmd(&cobra.Command{
		Use:   "create --file spec.json [--wait]",
		Short: "Queue a render; with --wait, follow it to the end",
		Long: `create queues a render. The file is a movie spec (see docs/renders.md and
examples/), or a template call {"templateId": "...", "variables": {...}}.
With --wait a progress bar on stderr follows GET /v1/videos/{id}/status and the
command fails (exit 1) if the render does not succeed. A 429 or 5xx while
waiting is waited out (as long as its Retry-After says, within --timeout):
the render goes on meanwhile. An "asset": "@FILENAME" in the file names the
newest ready asset uploaded under that file name.

Every create carries an Idempotency-Key (--idempotency-key to choose it), so a
create retried after a lost answer renders once.`,
		Example: `  framegate videos create --file examples/hello.json --wait
  framegate videos create --file call.json --output json | jq -r .id`,
		Args: noArgs,
	}, "createVideo,getVideoStatus,listAssets", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		b, err := readInput(cmd, file)
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
			w := waiter{c: c, every: poll, sleep: sleepCtx, out: cmd.ErrOrStderr()}
			if v, err = w.wait(ctx, v); err != nil {
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
	})
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

// waiter follows a render by polling the status route, drawing progress
// on out. Polling, not a webhook, because it needs nothing reachable from
// the API; the status route is cheap and rate-limited like any other.
type waiter struct {
	c     *client.Client
	every time.Duration
	sleep func(context.Context, time.Duration) error
	out   io.Writer
}

// wait returns the video once it is terminal. A 429 or a 5xx does not end
// the wait: the render goes on, so it waits as long as Retry-After asks
// (the client itself only waits up to its own budget) and asks again;
// ctx bounds the whole wait.
func (w waiter) wait(ctx context.Context, v *client.Video) (*client.Video, error) {
	bar := newProgressBar(w.out)
	defer bar.done()
	pause := max(w.every, 10*time.Millisecond)
	for {
		bar.show(v)
		if v.Terminal() {
			return v, nil
		}
		if err := w.sleep(ctx, pause); err != nil {
			return v, fmt.Errorf("waiting for %s (last %s, %d%%): %w", v.ID, v.Status, v.Progress, err)
		}
		pause = max(w.every, 10*time.Millisecond)
		next, err := w.c.VideoStatus(ctx, v.ID)
		var ae *client.Error
		switch {
		case err == nil:
			v = next
		case ctx.Err() == nil && errors.As(err, &ae) && (ae.Status == http.StatusTooManyRequests || ae.Status >= 500):
			pause = max(ae.RetryAfter, pause)
			bar.note(fmt.Sprintf("%s: %d %s, asking again in %s", v.ID, ae.Status, ae.Code, pause))
		default:
			return v, fmt.Errorf("status of %s: %w", v.ID, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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

// note writes a line of its own, then the bar resumes.
func (p *progressBar) note(s string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, s)
	p.last = ""
}

func (p *progressBar) done() {
	if p.tty && p.last != "" {
		fmt.Fprintln(p.w)
	}
}

func newVideosListCmd() *cobra.Command {
	var status, after string
	var limit int
	cmd := apiCmd(&cobra.Command{
		Use:   "list [--status S] [--created-after TIME] [--limit N]",
		Short: "List videos, newest first",
		Args:  noArgs,
	}, "listVideos", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		vs, err := collect(limit, func(p client.ListParams) ([]client.Video, client.Pagination, error) {
			page, err := c.ListVideos(cmd.Context(), client.ListVideosParams{ListParams: p, Status: status, CreatedAfter: after})
			if err != nil {
				return nil, client.Pagination{}, fmt.Errorf("list videos: %w", err)
			}
			return page.Data, page.Pagination, nil
		})
		if err != nil {
			return err
		}
		return table(cmd, vs, "ID\tSTATUS\tPROGRESS\tSECONDS\tCREATED", func(row func(string, ...any)) {
			for _, v := range vs {
				row("%s\t%s\t%d%%\t%.1f\t%s", v.ID, v.Status, v.Progress, v.DurationSeconds, v.CreatedAt)
			}
		})
	})
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only videos in this status: queued, rendering, succeeded, failed or cancelled")
	f.StringVar(&after, "created-after", "", "only videos created after this RFC 3339 time")
	f.IntVar(&limit, "limit", 20, "at most this many videos (0: all)")
	return cmd
}

func newVideosGetCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "get VIDEO_ID",
		Short: "Show a video's status, progress and details (with -o json, its spec)",
		Args:  exactArgs(1),
	}, "getVideo", func(cmd *cobra.Command, c *client.Client, args []string) error {
		v, err := c.GetVideo(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("get video %s: %w", args[0], err)
		}
		return printVideo(cmd, v)
	})
}

func newVideosStatusCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "status VIDEO_ID",
		Short: "Show a video's status and progress (the route to poll)",
		Args:  exactArgs(1),
	}, "getVideoStatus", func(cmd *cobra.Command, c *client.Client, args []string) error {
		v, err := c.VideoStatus(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("status of video %s: %w", args[0], err)
		}
		return printVideo(cmd, v)
	})
}

func newVideosDeleteCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "delete VIDEO_ID",
		Short: "Cancel a queued or rendering video, or delete a finished one and its file",
		Args:  exactArgs(1),
	}, "deleteVideo", func(cmd *cobra.Command, c *client.Client, args []string) error {
		r, err := c.DeleteVideo(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("delete video %s: %w", args[0], err)
		}
		if r.Deleted {
			return printDeleted(cmd, "video", args[0])
		}
		return printVideo(cmd, r.Video)
	})
}

func printVideo(cmd *cobra.Command, v *client.Video) error {
	return emit(cmd, v, func(out io.Writer) {
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
	})
}

func newVideosDownloadCmd() *cobra.Command {
	return fileCmd("download", "downloadVideo", "Download a succeeded video's file (MP4, WebM or GIF, as its spec says)",
		`download fetches the file through the short-lived link GET /v1/videos/{id}/download
hands out; the API key is not sent to the storage. The file is written next
to its destination and renamed into place only once complete.`,
		"mp4", (*client.Client).DownloadVideo)
}

func newVideosThumbnailCmd() *cobra.Command {
	return fileCmd("thumbnail", "videoThumbnail", "Download a succeeded video's JPEG thumbnail",
		`thumbnail fetches the video's poster, a JPEG of the movie's size, through the
short-lived link GET /v1/videos/{id}/thumbnail hands out; the API key is not
sent to the storage. The file is written next to its destination and renamed
into place only once complete.`,
		"jpg", (*client.Client).Thumbnail)
}

// fileCmd is a command that writes what get fetches for a video to a file
// named by --output-file (-o stays the output format: with -o json it
// prints {"file", "bytes"}).
func fileCmd(name, operation, short, long, ext string, get func(*client.Client, context.Context, string, io.Writer) (int64, error)) *cobra.Command {
	var dst string
	cmd := apiCmd(&cobra.Command{
		Use:   name + " VIDEO_ID [--output-file VIDEO_ID." + ext + "]",
		Short: short,
		Long:  long,
		Args:  exactArgs(1),
	}, operation, func(cmd *cobra.Command, c *client.Client, args []string) error {
		id, out := args[0], dst
		if out == "" {
			out = id + "." + ext
		}
		n, err := saveTo(cmd.Context(), out, func(ctx context.Context, w io.Writer) (int64, error) { return get(c, ctx, id, w) })
		if err != nil {
			return err
		}
		return emit(cmd, struct {
			File  string `json:"file"`
			Bytes int64  `json:"bytes"`
		}{out, n}, func(w io.Writer) { fmt.Fprintf(w, "%s: %d bytes\n", out, n) })
	})
	cmd.Flags().StringVarP(&dst, "output-file", "O", "", "file to write (default VIDEO_ID."+ext+")")
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
