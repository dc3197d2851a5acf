package assets_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/render"
	"github.com/framegate/framegate/pkg/testenv"
)

func notFound(err error) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code == apierr.NotFound
}

// TestSandboxAssetsExpire: a sandbox asset lives 24 h like a sandbox video
// (the expiresAt and ttl the videos carry, and the bucket's lifecycle rule
// on assets/test/); past it, it is gone for every read, and for the quota,
// even before DynamoDB's TTL deletes it. A live asset does not expire; an
// upload never finished stops counting once its URLs expired.
func TestSandboxAssetsExpire(t *testing.T) {
	env := testenv.New(t)
	clock := testenv.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	ws, _ := env.Workspace("Expiry", ratelimit.Plan{})
	sv, err := assets.Open(context.Background(), env.Deps("AssetsFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := assets.CreateRequest{Filename: "a.png", ContentType: "image/png", SizeBytes: 1000}
	sb, _, err := sv.Create(ctx, ws.ID, apikey.Test, req, env.Operator(ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	live, _, err := sv.Create(ctx, ws.ID, apikey.Live, req, env.Operator(ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	if sb.ExpiresAt == nil || !sb.ExpiresAt.Equal(clock.Now().Add(24*time.Hour)) || live.ExpiresAt != nil {
		t.Fatalf("expiry: sandbox %v, live %v", sb.ExpiresAt, live.ExpiresAt)
	}
	if used, err := sv.Store.Usage(ctx, ws.ID, apikey.Test); err != nil || used != 1000 {
		t.Fatalf("usage of a pending upload: %d %v", used, err)
	}
	clock.Advance(assets.UploadTTL + time.Minute)
	if used, err := sv.Store.Usage(ctx, ws.ID, apikey.Live); err != nil || used != 0 {
		t.Errorf("an abandoned upload still counts: %d %v", used, err)
	}
	if _, err := sv.Get(ctx, ws.ID, apikey.Test, sb.ID); err != nil {
		t.Fatalf("before 24 h: %v", err)
	}
	clock.Advance(24 * time.Hour)
	if _, err := sv.Get(ctx, ws.ID, apikey.Test, sb.ID); !notFound(err) {
		t.Errorf("after 24 h: %v", err)
	}
	if page, _, err := sv.Store.List(ctx, ws.ID, apikey.Test, "", "", 10); err != nil || len(page) != 0 {
		t.Errorf("listed after 24 h: %v %v", page, err)
	}
	if _, err := sv.Get(ctx, ws.ID, apikey.Live, live.ID); err != nil {
		t.Errorf("live asset: %v", err)
	}
	var lifecycle bool
	for _, b := range env.Template.Buckets {
		if b.LogicalID == "AssetsBucket" && b.ExpireAfterDays["assets/test/"] == 1 {
			lifecycle = true
		}
	}
	if !lifecycle {
		t.Error("no lifecycle rule deletes sandbox files after a day")
	}
}

// TestOrphanFilesAreDeleted: a file that lands for an asset deleted
// meanwhile is removed by the worker, and a repeated notification of a
// finished asset changes nothing.
func TestOrphanFilesAreDeleted(t *testing.T) {
	env := testenv.New(t)
	_, ffprobe, err := render.FindFFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := env.Workspace("Orphans", ratelimit.Plan{})
	ctx := context.Background()
	sv, err := assets.Open(ctx, env.Deps("AssetsFunction", nil))
	if err != nil {
		t.Fatal(err)
	}
	w, err := assets.OpenWorker(ctx, env.Deps("AssetWorkerFunction", nil), ffprobe)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := sv.Create(ctx, ws.ID, apikey.Live, assets.CreateRequest{Filename: "x.mp4", ContentType: "video/mp4", SizeBytes: 4}, env.Operator(ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.Delete(ctx, ws.ID, apikey.Live, a.ID, env.Operator(ws.ID)); err != nil {
		t.Fatal(err)
	}
	key := assets.ObjectKey(apikey.Live, ws.ID, a.ID)
	c := assets.S3Client(env.AWS)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &sv.Bucket, Key: &key, Body: bytes.NewReader([]byte("late"))}); err != nil {
		t.Fatal(err)
	}
	if err := w.Ingest(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &sv.Bucket, Key: &key}); err == nil {
		t.Error("the orphan file is still there")
	}
}
