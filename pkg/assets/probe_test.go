package assets

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/render"
)

func png(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}

func webp(chunk string, body []byte) []byte {
	b := append([]byte("RIFF\x00\x00\x00\x00WEBP"+chunk+"\x00\x00\x00\x00"), body...)
	return append(b, make([]byte, 16)...)
}

func TestSniff(t *testing.T) {
	vp8x := make([]byte, 10)
	vp8x[4], vp8x[5], vp8x[6] = 0x7f, 0x02, 0x00 // width-1 = 639
	vp8x[7], vp8x[8], vp8x[9] = 0x67, 0x01, 0x00 // height-1 = 359
	for _, c := range []struct {
		name         string
		head         []byte
		format, fam  string
		w, h         int
		err, partial bool
	}{
		{"png", png(640, 360), "png_pipe", render.FamilyImage, 640, 360, false, false},
		{"png bomb", png(100_000, 100_000), "png_pipe", render.FamilyImage, 100_000, 100_000, false, false},
		{"png without a header", []byte("\x89PNG\r\n\x1a\nxx"), "png_pipe", render.FamilyImage, 0, 0, true, true},
		{"webp VP8X", webp("VP8X", vp8x), "webp_pipe", render.FamilyImage, 640, 360, false, false},
		{"webp VP8 lossy", webp("VP8 ", []byte{0, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}), "webp_pipe", render.FamilyImage, 640, 360, false, false},
		{"mp4", []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"), "mov", render.FamilyContainer, 0, 0, false, false},
		{"webm", []byte{0x1a, 0x45, 0xdf, 0xa3, 1, 2, 3, 4}, "matroska", render.FamilyContainer, 0, 0, false, false},
		{"mp3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "mp3", render.FamilyAudio, 0, 0, false, false},
		{"text", []byte("hello, this is not media"), "", "", 0, 0, true, false},
		{"empty", nil, "", "", 0, 0, true, false},
	} {
		s, err := Sniff(c.head)
		if (err != nil) != c.err || s.Format != c.format || s.Family != c.fam || s.Width != c.w || s.Height != c.h {
			t.Errorf("%s: %+v %v", c.name, s, err)
		}
	}
}

func TestCheckAndClassify(t *testing.T) {
	a := func(ct string, size int64) Asset { return Asset{ContentType: ct, DeclaredSize: size} }
	img := Sniffed{Format: "png_pipe", Family: render.FamilyImage, Width: 640, Height: 360}
	mp4 := Sniffed{Format: "mov", Family: render.FamilyContainer}
	for _, c := range []struct {
		name  string
		a     Asset
		size  int64
		s     Sniffed
		code  string // "" passes
		words string
	}{
		{"png as png", a("image/png", 10), 10, img, "", ""},
		{"larger than declared", a("image/png", 10), 11, img, ErrTooLarge, "more than the 10 declared"},
		{"over 30 GiB", a("video/mp4", MaxSize), MaxSize + 1, mp4, ErrTooLarge, "30 GiB"},
		{"fewer bytes", a("image/png", 10), 9, img, ErrIncompleteUpload, "Only 9 of the 10"},
		{"not media", a("video/mp4", 10), 10, Sniffed{}, ErrUnsupportedMedia, "not a video, image or audio"},
		{"png declared mp4", a("video/mp4", 10), 10, img, ErrUnsupportedMedia, "an image (PNG), not the video"},
		{"mp4 declared png", a("image/png", 10), 10, mp4, ErrUnsupportedMedia, "container (MP4/MOV), not the image"},
		{"mp3 declared mp4", a("video/mp4", 10), 10, Sniffed{Format: "mp3", Family: render.FamilyAudio}, ErrUnsupportedMedia, "an audio file (MP3)"},
		{"bomb", a("image/png", 10), 10, Sniffed{Format: "png_pipe", Family: render.FamilyImage, Width: 100_000, Height: 100_000}, ErrDecompressionBomb, "100000×100000"},
	} {
		e := Check(c.a, c.size, c.s)
		if (e == nil) != (c.code == "") || e != nil && (e.Code != c.code || !strings.Contains(e.Message, c.words)) {
			t.Errorf("%s: %+v, want %s %q", c.name, e, c.code, c.words)
		}
	}

	vid := render.ProbeStream{Codec: "h264", Width: 320, Height: 240}
	aac := render.ProbeStream{Codec: "aac"}
	for _, c := range []struct {
		name string
		a    Asset
		s    Sniffed
		p    render.MediaProbe
		kind string
		code string
	}{
		{"clip", a("video/mp4", 1), mp4, render.MediaProbe{Duration: 2, Video: []render.ProbeStream{vid}, Audio: []render.ProbeStream{aac}}, KindVideo, ""},
		{"m4a declared audio", a("audio/mp4", 1), mp4, render.MediaProbe{Duration: 2, Audio: []render.ProbeStream{aac}}, KindAudio, ""},
		{"mp4 without video", a("video/mp4", 1), mp4, render.MediaProbe{Duration: 2, Audio: []render.ProbeStream{aac}}, "", ErrUnsupportedMedia},
		{"video declared audio", a("audio/mp4", 1), mp4, render.MediaProbe{Duration: 2, Video: []render.ProbeStream{vid}}, "", ErrUnsupportedMedia},
		{"no duration", a("video/mp4", 1), mp4, render.MediaProbe{Video: []render.ProbeStream{vid}}, "", ErrUnsupportedMedia},
		{"25 hours", a("video/mp4", 1), mp4, render.MediaProbe{Duration: 25 * 3600, Video: []render.ProbeStream{vid}}, "", ErrTooLong},
		{"exactly 1440 minutes", a("audio/mp4", 1), mp4, render.MediaProbe{Duration: 1440 * 60, Audio: []render.ProbeStream{aac}}, KindAudio, ""},
		{"16K frames", a("video/mp4", 1), mp4, render.MediaProbe{Duration: 1, Video: []render.ProbeStream{{Codec: "h264", Width: 15360, Height: 8640}}}, "", ErrDecompressionBomb},
		{"4K frames", a("video/mp4", 1), mp4, render.MediaProbe{Duration: 1, Video: []render.ProbeStream{{Codec: "h264", Width: 2160, Height: 3840}}}, KindVideo, ""},
		{"8K frames", a("video/mp4", 1), mp4, render.MediaProbe{Duration: 1, Video: []render.ProbeStream{{Codec: "h264", Width: 7680, Height: 4320}}}, "", ErrUnsupportedMedia},
		{"image", a("image/png", 1), img, render.MediaProbe{Video: []render.ProbeStream{{Codec: "png", Width: 640, Height: 360}}}, KindImage, ""},
		{"undecodable image", a("image/png", 1), img, render.MediaProbe{}, "", ErrUnsupportedMedia},
	} {
		m, e := Classify(c.a, c.s, c.p)
		if (e == nil) != (c.code == "") || e != nil && e.Code != c.code || e == nil && m.Kind != c.kind {
			t.Errorf("%s: %+v %+v, want kind %q code %q", c.name, m, e, c.kind, c.code)
		}
	}
}

func TestPartSize(t *testing.T) {
	for _, c := range []struct{ size, part int64 }{
		{1, MinPartSize}, {100 << 20, MinPartSize}, {5 << 30, 6 << 20}, {MaxSize, 31 << 20},
	} {
		if got := PartSize(c.size); got != c.part || (c.size+got-1)/got > MaxParts {
			t.Errorf("PartSize(%d) = %d, want %d", c.size, got, c.part)
		}
	}
}

func TestObjectKey(t *testing.T) {
	k := ObjectKey(apikey.Test, "ws_1", "ast_1")
	env, ws, id, ok := ParseObjectKey(k)
	if k != "assets/test/ws_1/ast_1" || !ok || env != apikey.Test || ws != "ws_1" || id != "ast_1" {
		t.Fatalf("%s → %s %s %s %v", k, env, ws, id, ok)
	}
	for _, bad := range []string{"renders/test/ws/id", "assets/prod/ws/id", "assets/test/ws", "assets/test/ws/id/x", "assets/test//id"} {
		if _, _, _, ok := ParseObjectKey(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestStorageBytes(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		a    Asset
		want int64
	}{
		{Asset{Status: Ready, SizeBytes: 5, DeclaredSize: 9}, 5},
		{Asset{Status: Pending, DeclaredSize: 9, UploadBy: now.Add(time.Hour)}, 9},
		{Asset{Status: Pending, DeclaredSize: 9, UploadBy: now.Add(-time.Hour)}, 0}, // abandoned
		{Asset{Status: Failed, SizeBytes: 5, DeclaredSize: 9}, 0},
	} {
		if got := c.a.StorageBytes(now); got != c.want {
			t.Errorf("%+v: %d, want %d", c.a, got, c.want)
		}
	}
}

func TestParseNotification(t *testing.T) {
	body := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:CompleteMultipartUpload",
		"s3":{"bucket":{"name":"b"},"object":{"key":"assets/test/ws_1/my+clip%28final%29.mp4","size":12}}},
		{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"x"}}}]}`
	got, err := ParseNotification([]byte(body))
	if err != nil || len(got) != 1 || got[0] != (Object{Bucket: "b", Key: "assets/test/ws_1/my clip(final).mp4", Size: 12}) {
		t.Fatalf("%+v %v", got, err)
	}
	if got, err := ParseNotification([]byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}`)); err != nil || len(got) != 0 {
		t.Errorf("test event: %+v %v", got, err)
	}
	for _, bad := range []string{`nope`, `{}`, `{"Records":[{"eventSource":"aws:sqs"}]}`, `{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}},"eventName":"ObjectCreated:Put"}]}`} {
		if _, err := ParseNotification([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func FuzzSniff(f *testing.F) {
	f.Add(png(640, 360))
	f.Add(webp("VP8L", []byte{0, 0, 0, 0, 0x2f, 0x7f, 0x60, 0x59, 0x00}))
	f.Add([]byte("\x00\x00\x00\x20ftypisom"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Sniff(b)
		if err == nil && (s.Format == "" || s.Width < 0 || s.Height < 0) {
			t.Fatalf("%+v", s)
		}
		// Whatever it is, Check decides without panicking.
		Check(Asset{ContentType: "image/png", DeclaredSize: int64(len(b))}, int64(len(b)), s)
	})
}

func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"assets/test/w/a","size":1}}}]}`))
	f.Add([]byte(`{"Event":"s3:TestEvent"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := ParseNotification(b)
		for _, o := range objs {
			if err != nil || o.Bucket == "" || o.Key == "" {
				t.Fatalf("%+v %v", o, err)
			}
		}
	})
}
