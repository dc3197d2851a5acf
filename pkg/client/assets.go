package client

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Asset is an uploaded file (GET /v1/assets/{id}). Upload is set only in
// the answer that created it.
type Asset struct {
	Object          string       `json:"object"`
	ID              string       `json:"id"`
	Status          string       `json:"status"`
	Environment     string       `json:"environment"`
	Filename        string       `json:"filename"`
	ContentType     string       `json:"contentType"`
	SizeBytes       int64        `json:"sizeBytes"`
	Kind            *string      `json:"kind"`
	DurationSeconds *float64     `json:"durationSeconds"`
	Width           *int         `json:"width"`
	Height          *int         `json:"height"`
	Codecs          *AssetCodecs `json:"codecs"`
	Error           *VideoError  `json:"error"`
	CreatedAt       string       `json:"createdAt"`
	FinishedAt      *string      `json:"finishedAt"`
	ExpiresAt       *string      `json:"expiresAt"`
	Upload          *AssetUpload `json:"upload,omitempty"`
}

// AssetCodecs are a ready asset's codecs.
type AssetCodecs struct {
	Video string `json:"video,omitempty"`
	Audio string `json:"audio,omitempty"`
}

// Terminal reports whether the asset is ready or failed.
func (a *Asset) Terminal() bool { return a.Status == "ready" || a.Status == "failed" }

// AssetUpload is where the file goes: one PUT, or a multipart plan.
type AssetUpload struct {
	Method    string            `json:"method"`
	URL       string            `json:"url,omitempty"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expiresAt"`
	Multipart *struct {
		UploadID string `json:"uploadId"`
		PartSize int64  `json:"partSize"`
		Parts    []struct {
			PartNumber int    `json:"partNumber"`
			SizeBytes  int64  `json:"sizeBytes"`
			URL        string `json:"url"`
		} `json:"parts"`
		ListParts PresignedRequest `json:"listParts"`
		Complete  PresignedRequest `json:"complete"`
		Abort     PresignedRequest `json:"abort"`
	} `json:"multipart,omitempty"`
}

// PresignedRequest is a storage request the API signed.
type PresignedRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// CreateAssetRequest is the body of POST /v1/assets.
type CreateAssetRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	SizeBytes   int64  `json:"sizeBytes"`
	Multipart   bool   `json:"multipart,omitempty"`
}

// AssetList is a page of assets.
type AssetList struct {
	Object     string     `json:"object"`
	Data       []Asset    `json:"data"`
	Pagination Pagination `json:"pagination"`
}

// ListAssetsParams filter GET /v1/assets.
type ListAssetsParams struct {
	ListParams
	Status string // pending, ready or failed; "" for all
}

// CreateAsset announces a file; the answer's Upload says where to send it.
func (c *Client) CreateAsset(ctx context.Context, in CreateAssetRequest, opts ...CallOption) (*Asset, error) {
	var out Asset
	_, err := c.do(ctx, c.newCall(http.MethodPost, "/assets", in, opts), &out)
	return &out, err
}

// GetAsset reads one asset.
func (c *Client) GetAsset(ctx context.Context, id string) (*Asset, error) {
	var out Asset
	_, err := c.do(ctx, c.newCall(http.MethodGet, "/assets/"+esc(id), nil, nil), &out)
	return &out, err
}

// ListAssets reads a page of assets, newest first.
func (c *Client) ListAssets(ctx context.Context, p ListAssetsParams) (*AssetList, error) {
	r := c.newCall(http.MethodGet, "/assets", nil, nil)
	r.query = p.values()
	if p.Status != "" {
		r.query.Set("status", p.Status)
	}
	var out AssetList
	_, err := c.do(ctx, r, &out)
	return &out, err
}

// DeleteAsset deletes an asset and its file.
func (c *Client) DeleteAsset(ctx context.Context, id string) error {
	_, err := c.do(ctx, c.newCall(http.MethodDelete, "/assets/"+esc(id), nil, nil), nil)
	return err
}

// WaitAsset polls an asset until it is ready or failed.
func (c *Client) WaitAsset(ctx context.Context, id string, every time.Duration) (*Asset, error) {
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		a, err := c.GetAsset(ctx, id)
		if err != nil {
			return nil, err
		}
		if a.Terminal() {
			return a, nil
		}
		select {
		case <-ctx.Done():
			return a, fmt.Errorf("waiting for asset %s (still %s): %w", id, a.Status, ctx.Err())
		case <-t.C:
		}
	}
}

// ContentTypeOf is the content type to declare for a file, by its
// extension; the API checks the content against it.
func ContentTypeOf(path string) (string, bool) {
	t, ok := map[string]string{
		".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm", ".mkv": "video/x-matroska",
		".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif",
		".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav", ".ogg": "audio/ogg",
		".oga": "audio/ogg", ".flac": "audio/flac",
	}[strings.ToLower(filepath.Ext(path))]
	return t, ok
}

// UploadOptions tune UploadAsset.
type UploadOptions struct {
	// ContentType to declare; "" means ContentTypeOf the file's name.
	ContentType string
	// Multipart uploads in resumable parts even below 5 GiB.
	Multipart bool
	// Progress receives the bytes sent so far and the total.
	Progress func(sent, total int64)
	// StateFile keeps a multipart upload's plan, so that a later call
	// with the same StateFile resumes it instead of starting over; it is
	// removed once the upload is complete. "" keeps no state.
	StateFile string
}

// uploadState is what StateFile holds.
type uploadState struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
	Asset   Asset     `json:"asset"`
}

// UploadAsset uploads the file at path as an asset and returns it pending:
// the API notices the upload by itself (WaitAsset follows it to ready or
// failed). The bytes go straight to storage through the presigned URLs of
// the creation's answer, never with the API key.
func (c *Client) UploadAsset(ctx context.Context, path string, o UploadOptions) (*Asset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	ct := o.ContentType
	if ct == "" {
		var ok bool
		if ct, ok = ContentTypeOf(path); !ok {
			return nil, fmt.Errorf("upload %s: unknown extension; give the content type", path)
		}
	}
	a, resumed := c.resumable(o.StateFile, path, st)
	if a == nil {
		a, err = c.CreateAsset(ctx, CreateAssetRequest{Filename: filepath.Base(path), ContentType: ct, SizeBytes: st.Size(), Multipart: o.Multipart})
		if err != nil {
			return nil, err
		}
	}
	progress := o.Progress
	if progress == nil {
		progress = func(int64, int64) {}
	}
	up := a.Upload
	if up == nil {
		return nil, fmt.Errorf("upload %s: the answer has no upload", a.ID)
	}
	if up.Multipart == nil {
		if err := c.put(ctx, up.URL, up.Headers, io.NewSectionReader(f, 0, st.Size()), st.Size(), func(n int64) { progress(n, st.Size()) }); err != nil {
			return nil, fmt.Errorf("upload %s: %w", a.ID, err)
		}
		return a, nil
	}
	if o.StateFile != "" && !resumed {
		if err := saveState(o.StateFile, uploadState{Path: path, Size: st.Size(), ModTime: st.ModTime(), Asset: *a}); err != nil {
			return nil, err
		}
	}
	if err := c.uploadParts(ctx, a, f, st.Size(), progress); err != nil {
		return nil, err
	}
	if o.StateFile != "" {
		os.Remove(o.StateFile)
	}
	return a, nil
}

// resumable returns the asset of a multipart upload of the same file that
// StateFile recorded and that can still complete.
func (c *Client) resumable(stateFile, path string, st os.FileInfo) (*Asset, bool) {
	if stateFile == "" {
		return nil, false
	}
	b, err := os.ReadFile(stateFile)
	if err != nil {
		return nil, false
	}
	var s uploadState
	if json.Unmarshal(b, &s) != nil || s.Size != st.Size() || !s.ModTime.Equal(st.ModTime()) || s.Asset.Upload == nil || s.Asset.Upload.Multipart == nil {
		return nil, false
	}
	if exp, err := time.Parse(time.RFC3339, s.Asset.Upload.ExpiresAt); err != nil || time.Until(exp) < time.Minute {
		return nil, false
	}
	return &s.Asset, true
}

func saveState(path string, s uploadState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("upload: save state: %w", err)
	}
	return nil
}

type completedPart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
	Size       int64  `xml:"Size,omitempty"`
}

// uploadParts sends the parts storage does not have yet, then completes.
func (c *Client) uploadParts(ctx context.Context, a *Asset, f io.ReaderAt, size int64, progress func(int64, int64)) error {
	m := a.Upload.Multipart
	have, err := c.listParts(ctx, m.ListParts)
	if err != nil {
		return fmt.Errorf("upload %s: %w", a.ID, err)
	}
	var sent int64
	for _, p := range have {
		sent += p.Size
	}
	progress(sent, size)
	for _, p := range m.Parts {
		if _, ok := have[p.PartNumber]; ok {
			continue
		}
		off := int64(p.PartNumber-1) * m.PartSize
		base := sent
		var etag string
		err := c.putETag(ctx, p.URL, nil, io.NewSectionReader(f, off, p.SizeBytes), p.SizeBytes, func(n int64) { progress(base+n, size) }, &etag)
		if err != nil {
			return fmt.Errorf("upload %s part %d: %w", a.ID, p.PartNumber, err)
		}
		have[p.PartNumber] = completedPart{PartNumber: p.PartNumber, ETag: etag, Size: p.SizeBytes}
		sent += p.SizeBytes
	}
	parts := make([]completedPart, 0, len(have))
	for _, p := range have {
		parts = append(parts, completedPart{PartNumber: p.PartNumber, ETag: p.ETag})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	body, err := xml.Marshal(struct {
		XMLName xml.Name        `xml:"CompleteMultipartUpload"`
		Parts   []completedPart `xml:"Part"`
	}{Parts: parts})
	if err != nil {
		return err
	}
	resp, err := c.storage(ctx, m.Complete.Method, m.Complete.URL, nil, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return fmt.Errorf("upload %s: complete: %w", a.ID, err)
	}
	// S3 may answer 200 with an error document once the upload is done.
	if bytes.Contains(resp, []byte("<Error>")) {
		return fmt.Errorf("upload %s: complete: %s", a.ID, resp)
	}
	return nil
}

// listParts asks storage which parts of the upload it has.
func (c *Client) listParts(ctx context.Context, r PresignedRequest) (map[int]completedPart, error) {
	out := map[int]completedPart{}
	raw, err := c.storage(ctx, r.Method, r.URL, nil, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("list parts: %w", err)
	}
	var res struct {
		Parts []completedPart `xml:"Part"`
	}
	if err := xml.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("list parts: %w", err)
	}
	for _, p := range res.Parts {
		out[p.PartNumber] = p
	}
	return out, nil
}

func (c *Client) put(ctx context.Context, url string, h map[string]string, body io.Reader, size int64, progress func(int64)) error {
	var etag string
	return c.putETag(ctx, url, h, body, size, progress, &etag)
}

// putETag PUTs body to a presigned URL and reads the answer's ETag.
func (c *Client) putETag(ctx context.Context, url string, h map[string]string, body io.Reader, size int64, progress func(int64), etag *string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, &counting{r: body, report: progress})
	if err != nil {
		return err
	}
	req.ContentLength = size
	for k, v := range h {
		if !strings.EqualFold(k, "Content-Length") { // set from the body
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("storage answered %d: %s", resp.StatusCode, b)
	}
	*etag = resp.Header.Get("ETag")
	return nil
}

// storage sends a presigned request without the API key and returns the body.
func (c *Client) storage(ctx context.Context, method, url string, h map[string]string, body io.Reader, size int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("storage answered %d: %s", resp.StatusCode, b[:min(len(b), 512)])
	}
	return b, nil
}

// counting reports the bytes read through it.
type counting struct {
	r      io.Reader
	n      int64
	report func(int64)
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 && c.report != nil {
		c.report(c.n)
	}
	if errors.Is(err, io.EOF) {
		return n, io.EOF
	}
	return n, err
}
