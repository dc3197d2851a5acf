// Package assets is the customer's own media top to bottom: clips, images
// and audio uploaded straight to S3 through presigned URLs (one PUT up to
// 5 GiB, a resumable multipart plan up to 30 GiB), noticed without another
// client call when S3's ObjectCreated notification reaches the asset worker
// through SQS, probed for what actually arrived (magic bytes, the image
// header, ffprobe; never the name or the declared type) and recorded as
// ready with its kind, duration, size and codecs, or failed with a code.
// The /v1/assets routes (http.go), the store in the data table (store.go),
// the ingestion worker (worker.go) and the asset.ready / asset.failed
// events live here; pkg/videos resolves movie specs' "asset" references
// through Service.Resolve.
package assets

import (
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
)

// IDPrefix starts asset ids.
const IDPrefix = "ast"

// Statuses of an asset.
const (
	Pending = "pending"
	Ready   = "ready"
	Failed  = "failed"
)

// Statuses lists them in life-cycle order.
var Statuses = []string{Pending, Ready, Failed}

// Kinds of media, decided from the content.
const (
	KindVideo = "video"
	KindImage = "image"
	KindAudio = "audio"
)

// Codes of a failed asset's error. They describe the file, not an HTTP
// answer, so they are not apierr codes (docs/assets.md lists them).
const (
	ErrUnsupportedMedia  = "unsupported_media"  // not a format we read, damaged, or not what its type declared
	ErrTooLong           = "too_long"           // longer than MaxDuration
	ErrTooLarge          = "too_large"          // larger than declared or than MaxSize
	ErrIncompleteUpload  = "incomplete_upload"  // fewer bytes arrived than declared
	ErrDecompressionBomb = "decompression_bomb" // an image (or frame) of absurd pixel count
)

// Limits of one asset.
const (
	// MaxSize is the largest asset: S3 multipart's 10,000 parts of at most
	// 5 GiB would allow more; the products we replace stop at 30 GiB.
	MaxSize int64 = 30 << 30
	// MaxSinglePut is the largest single presigned PUT S3 accepts.
	MaxSinglePut int64 = 5 << 30
	// MinPartSize is S3's smallest part (all but the last).
	MinPartSize int64 = 5 << 20
	// MaxDuration is the longest clip or audio.
	MaxDuration = 1440 * time.Minute
	// MaxPixels bounds an image's (or a video frame's) decoded size:
	// 40 megapixels is beyond 8K (33 MP) and a 160 MB RGBA frame.
	MaxPixels = 40_000_000
	// MaxFilenameLen bounds the display name.
	MaxFilenameLen = 255
)

// SandboxRetention is how long sandbox (fg_test_) assets live, like sandbox
// videos.
const SandboxRetention = 24 * time.Hour

// UploadTTL is how long the upload URLs of a new asset work. A pending
// asset whose URLs expired can no longer complete and stops counting
// against the storage quota.
const UploadTTL = 12 * time.Hour

// TimeFormat is how the API writes times.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Error is why an asset failed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Media is what probing found in a file.
type Media struct {
	Kind            string
	Format          string // the ffmpeg demuxer the content was sniffed as
	DurationSeconds float64
	Width, Height   int
	VideoCodec      string
	AudioCodec      string
}

// Asset is one uploaded file and what is known about it.
type Asset struct {
	ID          string
	Workspace   string
	Env         apikey.Env
	Status      string
	Filename    string
	ContentType string // as declared; never trusted
	// DeclaredSize is the size the client announced; SizeBytes is the size
	// that arrived (0 until then).
	DeclaredSize int64
	SizeBytes    int64
	Media        Media
	// ETag is the probed file's: renders read it with If-Match, so a file
	// replaced after probing (the upload URL still works) is never used.
	ETag  string
	Error *Error
	// UploadID is the S3 multipart upload of a multipart asset.
	UploadID   string
	CreatedAt  time.Time
	UploadBy   time.Time // the upload URLs expire
	FinishedAt *time.Time
	// ExpiresAt is when the record and the file go away (sandbox only).
	ExpiresAt *time.Time
}

// Expired reports whether the record is past its expiry at now: AWS deletes
// TTL items up to days late and the emulator never does, so reads treat
// them as gone.
func (a Asset) Expired(now time.Time) bool {
	return a.ExpiresAt != nil && !now.Before(*a.ExpiresAt)
}

// StorageBytes is what the asset counts against the storage quota at now:
// the file of a ready asset, the declared size of an upload that can still
// complete, nothing for a failed one or an abandoned upload.
func (a Asset) StorageBytes(now time.Time) int64 {
	switch {
	case a.Status == Ready:
		return a.SizeBytes
	case a.Status == Pending && now.Before(a.UploadBy):
		return a.DeclaredSize
	}
	return 0
}

// ObjectKey is where an asset's file lives in the assets bucket. The
// environment comes first so a lifecycle rule can expire the sandbox; the
// worker reads workspace and id back from it (ParseObjectKey).
func ObjectKey(env apikey.Env, ws, id string) string {
	return "assets/" + string(env) + "/" + ws + "/" + id
}

// ParseObjectKey is the inverse of ObjectKey.
func ParseObjectKey(key string) (env apikey.Env, ws, id string, ok bool) {
	rest, found := strings.CutPrefix(key, "assets/")
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || (parts[0] != string(apikey.Live) && parts[0] != string(apikey.Test)) || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return apikey.Env(parts[0]), parts[1], parts[2], true
}

// ContentTypes are the declared types accepted at creation, by the kind
// the content must turn out to be. The declaration is checked against the
// content at ingestion: a PNG declared video/mp4 fails.
var ContentTypes = map[string]string{
	"video/mp4": KindVideo, "video/quicktime": KindVideo, "video/webm": KindVideo, "video/x-matroska": KindVideo,
	"image/png": KindImage, "image/jpeg": KindImage, "image/webp": KindImage, "image/gif": KindImage,
	"audio/mpeg": KindAudio, "audio/mp4": KindAudio, "audio/aac": KindAudio, "audio/wav": KindAudio,
	"audio/x-wav": KindAudio, "audio/ogg": KindAudio, "audio/flac": KindAudio, "audio/webm": KindAudio,
}
