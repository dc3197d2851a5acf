package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/render"
)

func newAssetsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "assets",
		Short: "Upload your own clips, images and audio, and list them",
		Long: `assets uploads media for movies to use ("asset": "ast_…" in a spec, or
"@FILENAME" with videos create). The key needs assets:write to upload and
delete, assets:read for the rest.` + apiEnvHelp,
	}
	cmd.AddCommand(newAssetsUploadCmd(), newAssetsListCmd(), newAssetsGetCmd(), newAssetsDeleteCmd())
	return cmd
}

// multipartFrom is the size from which uploads go in resumable parts.
const multipartFrom = 64 << 20

// uploadStateFile is where an interrupted multipart upload of path is
// remembered, so running the same upload again resumes it.
func uploadStateFile(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	sum := sha256.Sum256([]byte(abs))
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "framegate", "uploads")
	_ = os.MkdirAll(dir, 0o700)
	return filepath.Join(dir, hex.EncodeToString(sum[:8])+".json")
}

func newAssetsUploadCmd() *cobra.Command {
	var (
		contentType string
		multipart   bool
		wait        bool
		timeout     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "upload FILE [--wait]",
		Short: "Upload a file as an asset, with a progress bar; resumes an interrupted upload",
		Long: `upload sends FILE straight to storage through the presigned URLs POST /v1/assets
hands out; the API key never travels with the bytes. Files from 64 MiB (or with
--multipart) go in parts: if the upload is interrupted, running the same command
again sends only the missing parts. The content type comes from the extension
unless --content-type says; the API checks the content itself either way.
With --wait the command follows the asset until it is ready (exit 0) or failed
(exit 1, with the reason).` + apiEnvHelp,
		Example: `  framegate assets upload intro.mp4 --wait
  framegate assets upload talk.mov --output json | jq -r .id`,
		Args:        exactArgs(1),
		Annotations: map[string]string{operationAnnotation: "createAsset,getAsset"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			path := args[0]
			st, err := os.Stat(path)
			if err != nil {
				return usageError{err}
			}
			bar := newByteBar(cmd.ErrOrStderr(), filepath.Base(path))
			a, err := c.UploadAsset(cmd.Context(), path, client.UploadOptions{
				ContentType: contentType,
				Multipart:   multipart || st.Size() >= multipartFrom,
				StateFile:   uploadStateFile(path),
				Progress:    bar.show,
			})
			bar.done()
			if err != nil {
				return fmt.Errorf("upload %s: %w", path, err)
			}
			if wait {
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				defer cancel()
				if a, err = c.WaitAsset(ctx, a.ID, 500*time.Millisecond); err != nil {
					return err
				}
			}
			a.Upload = nil
			if err := printAsset(cmd, a); err != nil {
				return err
			}
			if a.Status == "failed" {
				return assetError{a}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&contentType, "content-type", "", "declared type (default: from the extension)")
	f.BoolVar(&multipart, "multipart", false, "upload in resumable parts even below 64 MiB")
	f.BoolVar(&wait, "wait", false, "wait until the asset is ready or failed")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "with --wait, give up after this long")
	return cmd
}

type assetError struct{ a *client.Asset }

func (e assetError) Error() string {
	if e.a.Error != nil {
		return fmt.Sprintf("asset %s failed: %s: %s", e.a.ID, e.a.Error.Code, e.a.Error.Message)
	}
	return fmt.Sprintf("asset %s %s", e.a.ID, e.a.Status)
}

func newAssetsListCmd() *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:         "list [--status ready]",
		Short:       "List assets, newest first, every page",
		Args:        noArgs,
		Annotations: map[string]string{operationAnnotation: "listAssets"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			list, err := allAssets(cmd.Context(), c, status)
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFILENAME\tSTATUS\tKIND\tSECONDS\tSIZE\tBYTES")
			for _, a := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", a.ID, a.Filename, a.Status, deref(a.Kind, "-"), seconds(a.DurationSeconds), frameSize(a), a.SizeBytes)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only pending, ready or failed assets")
	return cmd
}

func allAssets(ctx context.Context, c *client.Client, status string) ([]client.Asset, error) {
	var out []client.Asset
	p := client.ListAssetsParams{ListParams: client.ListParams{Limit: 100}, Status: status}
	for {
		page, err := c.ListAssets(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list assets: %w", err)
		}
		out = append(out, page.Data...)
		if p.Cursor = page.Pagination.NextCursor(); p.Cursor == "" {
			return out, nil
		}
	}
}

func newAssetsGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "get ASSET_ID",
		Short:       "Show an asset's status and what probing found",
		Args:        exactArgs(1),
		Annotations: map[string]string{operationAnnotation: "getAsset"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			a, err := c.GetAsset(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("get asset %s: %w", args[0], err)
			}
			return printAsset(cmd, a)
		},
	}
}

func newAssetsDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "delete ASSET_ID",
		Short:       "Delete an asset and its file",
		Args:        exactArgs(1),
		Annotations: map[string]string{operationAnnotation: "deleteAsset"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.DeleteAsset(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("delete asset %s: %w", args[0], err)
			}
			return printDeleted(cmd, "asset", args[0])
		},
	}
}

func seconds(d *float64) string {
	if d == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *d)
}

func frameSize(a client.Asset) string {
	if a.Width == nil || a.Height == nil {
		return "-"
	}
	return fmt.Sprintf("%dx%d", *a.Width, *a.Height)
}

func printAsset(cmd *cobra.Command, a *client.Asset) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), a)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s %s %s (%s, %d bytes", a.ID, a.Status, a.Filename, a.Environment, a.SizeBytes)
	if a.Kind != nil {
		fmt.Fprintf(out, ", %s", *a.Kind)
		if a.DurationSeconds != nil {
			fmt.Fprintf(out, " %s s", seconds(a.DurationSeconds))
		}
		if a.Width != nil {
			fmt.Fprintf(out, " %s", frameSize(*a))
		}
	}
	fmt.Fprintln(out, ")")
	if a.Error != nil {
		fmt.Fprintf(out, "error %s: %s\n", a.Error.Code, a.Error.Message)
	}
	return nil
}

// byteBar draws upload progress like the render bar: one redrawn line on a
// terminal, a line per tenth elsewhere.
type byteBar struct {
	p    *progressBar
	name string
}

func newByteBar(w io.Writer, name string) *byteBar { return &byteBar{p: newProgressBar(w), name: name} }

func (b *byteBar) show(sent, total int64) {
	pct := 100
	if total > 0 {
		pct = int(sent * 100 / total)
	}
	if !b.p.tty {
		pct = pct / 10 * 10
	}
	const width = 30
	fill := pct * width / 100
	b.p.line(fmt.Sprintf("%s [%s%s] %3d%% %d/%d bytes", b.name, strings.Repeat("#", fill), strings.Repeat("-", width-fill), pct, min(sent, total), total))
}

func (b *byteBar) done() { b.p.done() }

// seedSamples generates the sample media (assets.Samples) with ffmpeg and
// uploads them with each key, waiting until they are ready: the examples
// name them, so they render on a fresh local stack with no internet.
func seedSamples(ctx context.Context, apiURL string, keys []string, out io.Writer) error {
	ffmpeg, _, err := render.FindFFmpeg()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "framegate-samples-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	paths, err := assets.WriteSamples(ctx, ffmpeg, dir)
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, key := range keys {
		c := client.New(apiURL, key, client.WithUserAgent("framegate-cli"))
		for _, p := range paths {
			a, err := c.UploadAsset(ctx, p, client.UploadOptions{})
			if err != nil {
				return fmt.Errorf("upload sample %s: %w", filepath.Base(p), err)
			}
			if a, err = c.WaitAsset(ctx, a.ID, 250*time.Millisecond); err != nil {
				return err
			}
			if a.Status != "ready" {
				return assetError{a}
			}
			fmt.Fprintf(out, "  %s %s (%s)\n", a.ID, a.Filename, a.Environment)
		}
	}
	return nil
}

// resolveAssetNames replaces every "asset": "@FILENAME", and every template
// variable "@FILENAME", in a render request by the id of the newest ready
// asset with that file name, so examples can name the media they need
// portably.
func resolveAssetNames(ctx context.Context, c *client.Client, body []byte) ([]byte, error) {
	if !strings.Contains(string(body), `"@`) {
		return body, nil
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var ready []client.Asset // listed once, when first needed
	lookup := func(name string) (string, error) {
		if ready == nil {
			var err error
			if ready, err = allAssets(ctx, c, "ready"); err != nil {
				return "", err
			}
		}
		for _, a := range ready { // newest first
			if a.Filename == name {
				return a.ID, nil
			}
		}
		return "", usageError{fmt.Errorf("no ready asset named %s: upload it first (framegate assets upload %s --wait)", name, name)}
	}
	// replace resolves the "@" strings of m that names says are asset
	// references (nil: every one).
	var walk func(v any) error
	replace := func(m map[string]any, names func(string) bool) error {
		for k, val := range m {
			if s, ok := val.(string); ok && strings.HasPrefix(s, "@") && names(k) {
				id, err := lookup(s[1:])
				if err != nil {
					return err
				}
				m[k] = id
			} else if err := walk(val); err != nil {
				return err
			}
		}
		return nil
	}
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			if vars, ok := x["variables"].(map[string]any); ok { // a template's url variables take asset ids
				if err := replace(vars, func(string) bool { return true }); err != nil {
					return err
				}
			}
			return replace(x, func(k string) bool { return k == "asset" })
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(doc); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}
