package render

import (
	"bytes"
	"strings"
)

// Media is identified by its first bytes and handed to ffmpeg with the
// matching demuxer named explicitly. Whatever the URL, the file name or the
// Content-Type claims, only these formats reach a decoder.

// Families of sniffed formats. A container (mov, matroska) holds video,
// audio or both: only probing its streams tells.
const (
	FamilyImage     = "image"
	FamilyAudio     = "audio"
	FamilyContainer = "container"
)

// Sniff returns the ffmpeg demuxer and the family of the content that
// starts with b (64 bytes are enough), or "", "" for anything else.
func Sniff(b []byte) (format, family string) {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png_pipe", FamilyImage
	case bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		return "jpeg_pipe", FamilyImage
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp_pipe", FamilyImage
	case bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif_pipe", FamilyImage
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return "mov", FamilyContainer // mp4, mov, m4a
	case bytes.HasPrefix(b, []byte{0x1a, 0x45, 0xdf, 0xa3}):
		return "matroska", FamilyContainer // mkv, webm
	case bytes.HasPrefix(b, []byte("ID3")):
		return "mp3", FamilyAudio
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return "wav", FamilyAudio
	case bytes.HasPrefix(b, []byte("OggS")):
		return "ogg", FamilyAudio
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "flac", FamilyAudio
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xf6 == 0xf0:
		return "aac", FamilyAudio // ADTS sync word, layer 0
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0:
		return "mp3", FamilyAudio // MPEG audio frame sync without an ID3 tag
	}
	return "", ""
}

func sniffImage(b []byte) string {
	if f, fam := Sniff(b); fam == FamilyImage {
		return f
	}
	return ""
}

// sniffAudio accepts audio formats and containers (m4a is an MP4 with
// only audio; a clip's soundtrack is fine as well).
func sniffAudio(b []byte) string {
	if f, fam := Sniff(b); fam == FamilyAudio || fam == FamilyContainer {
		return f
	}
	return ""
}

// sniffVideo accepts the containers a clip comes in.
func sniffVideo(b []byte) string {
	if f, fam := Sniff(b); fam == FamilyContainer {
		return f
	}
	return ""
}

func supported(kind string) string {
	switch kind {
	case FamilyAudio:
		return strings.Join([]string{"MP3", "AAC", "M4A", "WAV", "Ogg", "FLAC"}, ", ")
	case "video":
		return strings.Join([]string{"MP4", "MOV", "WebM", "MKV"}, ", ")
	}
	return strings.Join([]string{"PNG", "JPEG", "WebP", "GIF"}, ", ")
}
