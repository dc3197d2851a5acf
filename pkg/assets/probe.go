package assets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // DecodeConfig reads these headers
	_ "image/jpeg"
	_ "image/png"
	"math"
	"strings"

	"github.com/framegate/framegate/pkg/movie"
	"github.com/framegate/framegate/pkg/render"
)

// HeadBytes is how much of a file ingestion reads before anything decodes
// it: the magic bytes, and an image's header (a JPEG's EXIF may take 64 KB
// before the frame header).
const HeadBytes = 256 << 10

// Sniffed is what the first bytes of a file say.
type Sniffed struct {
	Format string // ffmpeg demuxer
	Family string // render.FamilyImage, FamilyAudio, FamilyContainer
	// Width and Height of an image, from its header alone (0 when the
	// header could not be read).
	Width, Height int
}

// Sniff reads the head of a file: its format and, for an image, its
// dimensions, with no decoder involved, so a decompression bomb is caught
// before anything expands it. An image whose header cannot be read comes
// back with its format and an error.
func Sniff(head []byte) (Sniffed, error) {
	format, family := render.Sniff(head)
	if format == "" {
		return Sniffed{}, errors.New("not a video, image or audio format we read")
	}
	s := Sniffed{Format: format, Family: family}
	if family != render.FamilyImage {
		return s, nil
	}
	var err error
	if format == "webp_pipe" {
		s.Width, s.Height, err = webpSize(head)
	} else {
		var c image.Config
		c, _, err = image.DecodeConfig(bytes.NewReader(head))
		s.Width, s.Height = c.Width, c.Height
	}
	if err != nil {
		return Sniffed{Format: format, Family: family}, fmt.Errorf("unreadable image header: %w", err)
	}
	return s, nil
}

// webpSize reads the canvas size of a WebP: VP8X (extended), VP8L
// (lossless) or VP8 (lossy) as the first chunk.
func webpSize(b []byte) (w, h int, err error) {
	if len(b) < 30 {
		return 0, 0, errors.New("short WebP header")
	}
	switch string(b[12:16]) {
	case "VP8X":
		w = 1 + int(uint32(b[24])|uint32(b[25])<<8|uint32(b[26])<<16)
		h = 1 + int(uint32(b[27])|uint32(b[28])<<8|uint32(b[29])<<16)
	case "VP8L":
		if b[20] != 0x2f {
			return 0, 0, errors.New("bad VP8L signature")
		}
		v := binary.LittleEndian.Uint32(b[21:25])
		w, h = 1+int(v&0x3fff), 1+int(v>>14&0x3fff)
	case "VP8 ":
		if b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a {
			return 0, 0, errors.New("bad VP8 start code")
		}
		w = int(binary.LittleEndian.Uint16(b[26:28]) & 0x3fff)
		h = int(binary.LittleEndian.Uint16(b[28:30]) & 0x3fff)
	default:
		return 0, 0, errors.New("unknown WebP chunk")
	}
	return w, h, nil
}

// Check is what ingestion decides before running ffprobe: the size that
// arrived against the declared one and the limits, the format against the
// declared kind, an image's pixel count. Nothing that fails here is ever
// handed to ffprobe or ffmpeg.
func Check(a Asset, size int64, s Sniffed) *Error {
	declared := ContentTypes[a.ContentType]
	switch {
	case size > MaxSize:
		return &Error{ErrTooLarge, fmt.Sprintf("The file is %d bytes; assets are at most %d bytes (30 GiB).", size, MaxSize)}
	case size > a.DeclaredSize:
		return &Error{ErrTooLarge, fmt.Sprintf("The file is %d bytes, more than the %d declared at creation.", size, a.DeclaredSize)}
	case size < a.DeclaredSize:
		return &Error{ErrIncompleteUpload, fmt.Sprintf("Only %d of the %d bytes declared at creation arrived.", size, a.DeclaredSize)}
	case s.Format == "":
		return &Error{ErrUnsupportedMedia, fmt.Sprintf("The file is not a video, image or audio format we read (declared %s). Use %s.", a.ContentType, formats())}
	}
	found := map[string]string{render.FamilyImage: KindImage, render.FamilyAudio: KindAudio}[s.Family]
	if found != "" && found != declared || s.Family == render.FamilyContainer && declared == KindImage {
		what := found
		if what == "" {
			what = "video or audio container"
		}
		return &Error{ErrUnsupportedMedia, fmt.Sprintf("The file is %s (%s), not the %s declared as %s.", article(what), describe(s.Format), declared, a.ContentType)}
	}
	if s.Family == render.FamilyImage && int64(s.Width)*int64(s.Height) > MaxPixels {
		return &Error{ErrDecompressionBomb, fmt.Sprintf("The image is %d×%d pixels; at most %d pixels are allowed.", s.Width, s.Height, MaxPixels)}
	}
	return nil
}

// Classify turns ffprobe's view of a file that passed Check into its
// media, or the reason it cannot be used.
func Classify(a Asset, s Sniffed, p render.MediaProbe) (Media, *Error) {
	declared := ContentTypes[a.ContentType]
	m := Media{Format: s.Format, DurationSeconds: p.Duration}
	if !finite(p.Duration) || p.Duration < 0 {
		m.DurationSeconds = 0
	}
	if len(p.Audio) > 0 {
		m.AudioCodec = p.Audio[0].Codec
	}
	if len(p.Video) > 0 {
		v := p.Video[0]
		m.VideoCodec, m.Width, m.Height = v.Codec, v.Width, v.Height
	}
	switch s.Family {
	case render.FamilyImage:
		m.Kind, m.DurationSeconds, m.AudioCodec = KindImage, 0, ""
		if len(p.Video) == 0 || m.Width <= 0 || m.Height <= 0 {
			return Media{}, &Error{ErrUnsupportedMedia, "The image cannot be decoded: it is damaged or truncated."}
		}
	case render.FamilyAudio:
		m.Kind, m.VideoCodec, m.Width, m.Height = KindAudio, "", 0, 0
		if len(p.Audio) == 0 {
			return Media{}, &Error{ErrUnsupportedMedia, "The file has no audio stream we can decode."}
		}
	default: // a container: its streams tell what it is
		switch {
		case declared == KindVideo && len(p.Video) == 0:
			return Media{}, &Error{ErrUnsupportedMedia, fmt.Sprintf("The file has no video stream, but was declared %s.", a.ContentType)}
		case declared == KindAudio && len(p.Video) > 0:
			return Media{}, &Error{ErrUnsupportedMedia, fmt.Sprintf("The file has a video stream, but was declared %s: upload it as video.", a.ContentType)}
		case declared == KindAudio && len(p.Audio) == 0:
			return Media{}, &Error{ErrUnsupportedMedia, "The file has no audio stream we can decode."}
		case declared == KindVideo && (m.Width <= 0 || m.Height <= 0):
			return Media{}, &Error{ErrUnsupportedMedia, "The video stream has no frame size: the file is damaged or truncated."}
		}
		m.Kind = declared
		if m.Kind == KindAudio {
			m.VideoCodec, m.Width, m.Height = "", 0, 0
		}
		if m.DurationSeconds <= 0 {
			return Media{}, &Error{ErrUnsupportedMedia, "The file has no duration: it is damaged or truncated."}
		}
	}
	if int64(m.Width)*int64(m.Height) > MaxPixels {
		return Media{}, &Error{ErrDecompressionBomb, fmt.Sprintf("Frames are %d×%d pixels; at most %d pixels are allowed.", m.Width, m.Height, MaxPixels)}
	}
	if m.Kind == KindVideo && int64(m.Width)*int64(m.Height) > movie.MaxClipPixels {
		return Media{}, &Error{ErrUnsupportedMedia, fmt.Sprintf("Frames are %d×%d pixels; a video renders at most 3840×2160: scale it down before uploading.", m.Width, m.Height)}
	}
	if m.DurationSeconds > MaxDuration.Seconds() {
		return Media{}, &Error{ErrTooLong, fmt.Sprintf("The file is %.0f minutes long; assets are at most %.0f minutes.", m.DurationSeconds/60, MaxDuration.Minutes())}
	}
	return m, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func formats() string {
	return "MP4, MOV, WebM or MKV video; PNG, JPEG, WebP or GIF images; MP3, AAC, M4A, WAV, Ogg or FLAC audio"
}

// describe names a demuxer for people.
func describe(format string) string {
	if n, ok := map[string]string{
		"png_pipe": "PNG", "jpeg_pipe": "JPEG", "webp_pipe": "WebP", "gif_pipe": "GIF", "mov": "MP4/MOV",
		"matroska": "Matroska/WebM", "mp3": "MP3", "wav": "WAV", "ogg": "Ogg", "flac": "FLAC", "aac": "AAC",
	}[format]; ok {
		return n
	}
	return strings.ToUpper(format)
}

func article(kind string) string {
	switch kind {
	case KindImage:
		return "an image"
	case KindAudio:
		return "an audio file"
	}
	return "a " + kind
}
