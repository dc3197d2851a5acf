package render

import (
	"bytes"
	"strings"
)

// Assets are identified by their first bytes and handed to ffmpeg with the
// matching demuxer named explicitly. Whatever the URL or Content-Type
// claims, only these formats reach a decoder.

func sniffImage(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png_pipe"
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return "jpeg_pipe"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp_pipe"
	case bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif_pipe"
	}
	return ""
}

func sniffAudio(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("ID3")):
		return "mp3"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return "wav"
	case bytes.HasPrefix(b, []byte("OggS")):
		return "ogg"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "flac"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return "mov" // m4a / mp4 audio
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xf6 == 0xf0:
		return "aac" // ADTS sync word, layer 0
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0:
		return "mp3" // MPEG audio frame sync without an ID3 tag
	}
	return ""
}

func supported(audio bool) string {
	if audio {
		return strings.Join([]string{"MP3", "AAC", "M4A", "WAV", "Ogg", "FLAC"}, ", ")
	}
	return strings.Join([]string{"PNG", "JPEG", "WebP", "GIF"}, ", ")
}
