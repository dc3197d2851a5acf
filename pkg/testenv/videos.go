package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/videos"
)

// SucceededVideo walks a video through the videos store's own transitions
// (queued → rendering → succeeded) and puts its file in the renders bucket.
func SucceededVideo(t testing.TB, cfg aws.Config, getenv func(string) string, ws string, env apikey.Env, now func() time.Time, file []byte) videos.Video {
	t.Helper()
	ctx := context.Background()
	st, err := videos.NewStore(dynamodb.NewFromConfig(cfg), getenv("DATA_TABLE"), getenv("KEYS_TABLE"), now)
	if err != nil {
		t.Fatal(err)
	}
	v := QueuedVideo(t, st, ws, env, now)
	v, ok, err := st.StartRendering(ctx, v, 0, "attempt1", time.Minute)
	if err != nil || !ok {
		t.Fatalf("start rendering: %v %v", ok, err)
	}
	key := videos.AttemptKey(env, ws, v.ID, "attempt1", "mp4")
	if ok, err := st.Succeed(ctx, v, "attempt1", videos.Rendered{Duration: 1.5, SizeBytes: int64(len(file)), Width: 320, Height: 240, S3Key: key}); err != nil || !ok {
		t.Fatalf("succeed: %v %v", ok, err)
	}
	_, err = videos.S3Client(cfg).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(getenv("RENDERS_BUCKET")), Key: aws.String(key),
		Body: bytes.NewReader(file), ContentType: aws.String("video/mp4")})
	if err != nil {
		t.Fatal(err)
	}
	v, err = st.Get(ctx, ws, env, v.ID)
	if err != nil || v.Status != videos.Succeeded {
		t.Fatalf("video %+v %v", v, err)
	}
	return v
}

// QueuedVideo inserts a queued video through the videos store.
func QueuedVideo(t testing.TB, st *videos.Store, ws string, env apikey.Env, now func() time.Time) videos.Video {
	t.Helper()
	id, err := ids.New("vid", now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := videos.Video{ID: id, Workspace: ws, Env: env, Status: videos.Queued, CreatedAt: now().UTC().Truncate(time.Millisecond),
		Spec: json.RawMessage(`{}`)}
	if err := st.Insert(context.Background(), v, 100); err != nil {
		t.Fatal(err)
	}
	return v
}
