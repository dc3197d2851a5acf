package assets_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// BenchmarkUploadToReady measures, on the local stack (moto on loopback),
// the time from the start of an upload of a 100 MB file (a WAV: 546 s of
// 48 kHz stereo) to the asset being ready, through one presigned PUT and
// through a 20-part multipart upload, against the baseline of one bare
// presigned PUT of the same bytes to the same bucket in the same run (no
// API call, no notification, no ingestion). ready/put is what the API adds
// on top of moving the bytes; ingest-s is notification + probing.
func BenchmarkUploadToReady(b *testing.B) {
	s := testenv.NewStack(b)
	_, keys := s.Workspace("bench", ratelimit.Plan{KeyRequestsPerMinute: 100_000, WorkspaceRequestsPerMinute: 100_000})
	c := client.New(s.URL(), keys[apikey.Live])
	dir := b.TempDir()
	path := ffmpegFile(b, dir, "long.wav", "-f", "lavfi", "-i", "sine=frequency=220:duration=546", "-ar", "48000", "-ac", "2", "-c:a", "pcm_s16le")
	body, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	ctx := context.Background()
	bucket, _ := s.Resources().Get("AssetsBucket")

	bare := func() time.Duration {
		key := "bench/baseline.wav"
		req, err := s3.NewPresignClient(assets.S3Client(s.AWS())).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &bucket.Name, Key: &key})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		r, _ := http.NewRequest(http.MethodPut, req.URL, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(r)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("baseline put: %v %v", resp, err)
		}
		resp.Body.Close()
		return time.Since(t0)
	}
	upload := func(multipart bool) (total, ingest time.Duration) {
		t0 := time.Now()
		a, err := c.UploadAsset(ctx, path, client.UploadOptions{Multipart: multipart})
		if err != nil {
			b.Fatal(err)
		}
		uploaded := time.Now()
		a, err = c.WaitAsset(ctx, a.ID, 250*time.Millisecond)
		if err != nil || a.Status != "ready" {
			b.Fatalf("asset %+v %v", a, err)
		}
		done := time.Now()
		if err := c.DeleteAsset(ctx, a.ID); err != nil {
			b.Fatal(err)
		}
		return done.Sub(t0), done.Sub(uploaded)
	}
	var put, single, multi, ingest time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		put += bare()
		t, in := upload(false)
		single, ingest = single+t, ingest+in
		t, _ = upload(true)
		multi += t
	}
	n := float64(b.N)
	b.ReportMetric(single.Seconds()/n, "ready-s")
	b.ReportMetric(multi.Seconds()/n, "ready-multipart-s")
	b.ReportMetric(put.Seconds()/n, "put-s")
	b.ReportMetric(ingest.Seconds()/n, "ingest-s")
	b.ReportMetric(single.Seconds()/put.Seconds(), "ready/put")
	b.ReportMetric(multi.Seconds()/put.Seconds(), "ready-multipart/put")
}
