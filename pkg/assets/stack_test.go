package assets_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/render"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// ffmpegFile generates a file with ffmpeg args into dir.
func ffmpegFile(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	ff, _, err := render.FindFFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if b, err := exec.Command(ff, append(append([]string{"-v", "error", "-y"}, args...), p)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v %s", name, err, b)
	}
	return p
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pngHeader is a PNG whose header claims w×h pixels, with one tiny IDAT:
// what a decompression bomb looks like before anything decodes it.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// longM4A patches a 1 s M4A's movie, media and track headers to claim 25
// hours, more than the 1440 minutes an asset may last.
func longM4A(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, box := range []string{"mvhd", "mdhd", "tkhd"} {
		i := bytes.Index(b, []byte(box))
		if i < 0 || b[i+4] != 0 {
			t.Fatalf("no version 0 %s box", box)
		}
		if box == "tkhd" { // duration in the movie's timescale
			binary.BigEndian.PutUint32(b[i+4+24:], 1000*90000)
			continue
		}
		p := i + 4 + 16
		scale := binary.BigEndian.Uint32(b[p-4:])
		binary.BigEndian.PutUint32(b[p:], scale*90000)
	}
	return b
}

func stackClient(t *testing.T, name string, plan ratelimit.Plan) (*testenv.Stack, *client.Client, map[apikey.Env]string) {
	s := testenv.NewStack(t)
	_, keys := s.Workspace(name, plan)
	return s, client.New(s.URL(), keys[apikey.Test]), keys
}

func wait(t *testing.T, c *client.Client, id string) *client.Asset {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := c.WaitAsset(ctx, id, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestUploadsBecomeReady uploads through the presigned URLs the API hands
// out, nothing else: S3's notification reaches the worker through SQS on
// the emulator as on AWS, and the assets become ready with what probing
// found, whatever the names say.
func TestUploadsBecomeReady(t *testing.T) {
	_, c, _ := stackClient(t, "Assets", ratelimit.Plan{})
	dir := t.TempDir()
	clip := ffmpegFile(t, dir, "clip.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")
	png := ffmpegFile(t, dir, "still.png", "-f", "lavfi", "-i", "smptehdbars=size=640x360", "-frames:v", "1")
	ctx := context.Background()

	var lastSent, total int64
	v, err := c.UploadAsset(ctx, clip, client.UploadOptions{Progress: func(s, n int64) { lastSent, total = s, n }})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != "pending" || v.Upload.Method != "PUT" || v.Upload.URL == "" || lastSent != total || total == 0 {
		t.Fatalf("created %+v, progress %d/%d", v, lastSent, total)
	}
	img, err := c.UploadAsset(ctx, png, client.UploadOptions{Multipart: true})
	if err != nil {
		t.Fatal(err)
	}
	if img.Upload.Multipart == nil || len(img.Upload.Multipart.Parts) != 1 {
		t.Fatalf("multipart plan %+v", img.Upload)
	}

	got := wait(t, c, v.ID)
	if got.Status != "ready" || *got.Kind != "video" || *got.Width != 320 || *got.Height != 240 ||
		*got.DurationSeconds < 1.9 || *got.DurationSeconds > 2.1 || got.Codecs.Video != "h264" || got.Codecs.Audio != "aac" || got.SizeBytes != total {
		t.Fatalf("clip %+v %+v", got, got.Codecs)
	}
	got = wait(t, c, img.ID)
	if got.Status != "ready" || *got.Kind != "image" || *got.Width != 640 || *got.Height != 360 || got.DurationSeconds != nil {
		t.Fatalf("image %+v", got)
	}
	list, err := c.ListAssets(ctx, client.ListAssetsParams{Status: "ready"})
	if err != nil || len(list.Data) != 2 || list.Data[0].ID != img.ID {
		t.Fatalf("list %+v %v", list, err)
	}
}

// TestMultipartResumes interrupts a three-part upload after its first
// part and resumes it from the state file: only the missing parts are
// sent, and the asset becomes ready.
func TestMultipartResumes(t *testing.T) {
	_, c, _ := stackClient(t, "Resume", ratelimit.Plan{})
	dir := t.TempDir()
	// 11 MiB of a WAV tone: three 5 MiB parts.
	wav := ffmpegFile(t, dir, "long.wav", "-f", "lavfi", "-i", "sine=frequency=220:duration=66", "-ar", "44100", "-ac", "2")
	st, _ := os.Stat(wav)
	if st.Size() < 10<<20 || st.Size() > 15<<20 {
		t.Fatalf("wav is %d bytes", st.Size())
	}
	state := filepath.Join(dir, "upload.json")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.UploadAsset(ctx, wav, client.UploadOptions{Multipart: true, StateFile: state, Progress: func(sent, _ int64) {
		if sent > 5<<20 {
			cancel() // the connection drops once the first part is in
		}
	}})
	if err == nil {
		t.Fatal("the interrupted upload succeeded")
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state to resume from: %v", err)
	}
	var first int64 = -1
	a, err := c.UploadAsset(context.Background(), wav, client.UploadOptions{StateFile: state, Progress: func(sent, _ int64) {
		if first < 0 {
			first = sent
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if first != 5<<20 {
		t.Fatalf("resumed at %d bytes, want the first part (%d) already there", first, 5<<20)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("state file left behind: %v", err)
	}
	got := wait(t, c, a.ID)
	if got.Status != "ready" || *got.Kind != "audio" || got.SizeBytes != st.Size() || *got.DurationSeconds < 65 {
		t.Fatalf("resumed asset %+v", got)
	}
}

// TestBadMedia: each lie or accident ends as the asset's error, with the
// file deleted; what is knowable at creation is a 400 then.
func TestBadMedia(t *testing.T) {
	s, c, keys := stackClient(t, "BadMedia", ratelimit.Plan{MaxStorageGB: 1})
	dir := t.TempDir()
	ctx := context.Background()
	clip := ffmpegFile(t, dir, "clip.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	clipBytes, _ := os.ReadFile(clip)
	pngPath := ffmpegFile(t, dir, "real.png", "-f", "lavfi", "-i", "color=c=red:size=64x64", "-frames:v", "1")
	pngBytes, _ := os.ReadFile(pngPath)
	audioOnly := ffmpegFile(t, dir, "audio-only.mp4", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac")

	cases := []struct {
		name, file, contentType, code string
		data                          []byte
		declare                       int64 // 0: the file's size
	}{
		{name: "text declared as video", file: "notes.mp4", contentType: "video/mp4", data: []byte("just some text, not a video\n"), code: assets.ErrUnsupportedMedia},
		{name: "png named .mp4", file: "holiday.mp4", contentType: "video/mp4", data: pngBytes, code: assets.ErrUnsupportedMedia},
		{name: "mp4 declared as png", file: "photo.png", contentType: "image/png", data: clipBytes, code: assets.ErrUnsupportedMedia},
		{name: "mp4 without a video stream", file: audioOnly, contentType: "video/mp4", code: assets.ErrUnsupportedMedia},
		{name: "100k x 100k image", file: "huge.png", contentType: "image/png", data: pngHeader(100_000, 100_000), code: assets.ErrDecompressionBomb},
		{name: "longer than 1440 minutes", file: "endless.m4a", contentType: "audio/mp4", data: longM4A(t, audioOnly), code: assets.ErrTooLong},
		{name: "larger than declared", file: "big.mp4", contentType: "video/mp4", data: clipBytes, declare: int64(len(clipBytes)) - 100, code: assets.ErrTooLarge},
		{name: "truncated upload", file: "cut.mp4", contentType: "video/mp4", data: clipBytes[:len(clipBytes)/2], declare: int64(len(clipBytes)), code: assets.ErrIncompleteUpload},
		{name: "empty upload", file: "empty.mp4", contentType: "video/mp4", data: []byte{}, declare: 1000, code: assets.ErrIncompleteUpload},
		{name: "truncated mp4", file: "cut2.mp4", contentType: "video/mp4", data: clipBytes[:len(clipBytes)/3], code: assets.ErrUnsupportedMedia},
	}
	ids := map[string]string{}
	for _, tc := range cases {
		path := tc.file
		if tc.data != nil {
			path = writeFile(t, dir, tc.file, tc.data)
		}
		body, _ := os.ReadFile(path)
		size := int64(len(body))
		if tc.declare != 0 {
			size = tc.declare
		}
		a, err := c.CreateAsset(ctx, client.CreateAssetRequest{Filename: filepath.Base(path), ContentType: tc.contentType, SizeBytes: size})
		if err != nil {
			t.Fatalf("%s: create: %v", tc.name, err)
		}
		// Sent as is: moto does not check the signed Content-Length that
		// makes S3 itself refuse a size other than the declared one.
		req, _ := http.NewRequest(http.MethodPut, a.Upload.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", tc.contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: put: %v %v", tc.name, resp, err)
		}
		resp.Body.Close()
		ids[tc.name] = a.ID
	}
	for _, tc := range cases {
		got := wait(t, c, ids[tc.name])
		if got.Status != "failed" || got.Error == nil || got.Error.Code != tc.code || got.Kind != nil {
			t.Errorf("%s: %+v %+v, want failed with %s", tc.name, got, got.Error, tc.code)
			continue
		}
		t.Logf("%s: %s: %s", tc.name, got.Error.Code, got.Error.Message)
	}
	// A failed asset's file is deleted: nothing half-written stays. The
	// worker records the failure first and deletes the file right after
	// (a lost deletion is redone on the repeated notification), so the
	// bucket empties within moments of the last status.
	bucket, _ := s.Resources().Get("AssetsBucket")
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		objs, err := assets.S3Client(s.AWS()).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket.Name})
		if err != nil {
			t.Fatal(err)
		}
		left = left[:0]
		for _, o := range objs.Contents {
			left = append(left, aws.ToString(o.Key))
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) != 0 {
		t.Errorf("files of failed assets left in the bucket: %v", left)
	}

	// Knowable at creation: a 400 naming the field, nothing recorded.
	for _, tc := range []struct {
		req   client.CreateAssetRequest
		field string
		code  apierr.Code
	}{
		{client.CreateAssetRequest{Filename: "a.txt", ContentType: "text/plain", SizeBytes: 10}, "/contentType", apierr.InvalidRequest},
		{client.CreateAssetRequest{Filename: "a.pdf", ContentType: "application/pdf", SizeBytes: 10}, "/contentType", apierr.InvalidRequest},
		{client.CreateAssetRequest{Filename: "a.mp4", ContentType: "video/mp4", SizeBytes: 31 << 30}, "/sizeBytes", apierr.InvalidRequest},
		{client.CreateAssetRequest{Filename: "a.mp4", ContentType: "video/mp4", SizeBytes: 0}, "/sizeBytes", apierr.InvalidRequest},
		{client.CreateAssetRequest{Filename: "a\x07.mp4", ContentType: "video/mp4", SizeBytes: 10}, "/filename", apierr.InvalidRequest},
		{client.CreateAssetRequest{Filename: "../a.mp4", ContentType: "video/mp4", SizeBytes: 10}, "/filename", apierr.InvalidRequest},
		// The plan's quota (1 GiB here): 2 GiB do not fit.
		{client.CreateAssetRequest{Filename: "a.mp4", ContentType: "video/mp4", SizeBytes: 2 << 30}, "", apierr.StorageLimitReached},
	} {
		_, err := c.CreateAsset(ctx, tc.req)
		var e *client.Error
		if !errors.As(err, &e) || e.Code != string(tc.code) || e.Field != tc.field {
			t.Errorf("create %+v: %v, want %s at %q", tc.req, err, tc.code, tc.field)
		}
	}
	list, err := c.ListAssets(ctx, client.ListAssetsParams{})
	if err != nil || len(list.Data) != len(cases) {
		t.Errorf("refused creations left records: %d assets, %v", len(list.Data), err)
	}

	// Another environment's key sees none of them.
	live := client.New(s.URL(), keys[apikey.Live])
	if _, err := live.GetAsset(ctx, ids[cases[0].name]); !isCode(err, apierr.NotFound) {
		t.Errorf("the live key reads a sandbox asset: %v", err)
	}
	if err := live.DeleteAsset(ctx, ids[cases[0].name]); !isCode(err, apierr.NotFound) {
		t.Errorf("the live key deletes a sandbox asset: %v", err)
	}
	if err := c.DeleteAsset(ctx, ids[cases[0].name]); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := c.GetAsset(ctx, ids[cases[0].name]); !isCode(err, apierr.NotFound) {
		t.Errorf("deleted asset still there: %v", err)
	}
	if !strings.HasPrefix(ids[cases[0].name], "ast_") {
		t.Errorf("id %s", ids[cases[0].name])
	}
}

func isCode(err error, code apierr.Code) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == string(code)
}
