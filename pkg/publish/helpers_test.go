package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/videos"
)

// succeededVideo walks a video through the videos store's own transitions
// (queued → rendering → succeeded) and puts its file in the renders bucket.
func succeededVideo(t *testing.T, cfg aws.Config, getenv func(string) string, ws string, env apikey.Env, now func() time.Time, file []byte) videos.Video {
	t.Helper()
	ctx := context.Background()
	st, err := videos.NewStore(dynamodb.NewFromConfig(cfg), getenv("DATA_TABLE"), getenv("KEYS_TABLE"), now)
	if err != nil {
		t.Fatal(err)
	}
	v := queuedVideo(t, st, ws, env, now)
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

func queuedVideo(t *testing.T, st *videos.Store, ws string, env apikey.Env, now func() time.Time) videos.Video {
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

// drain receives every message waiting on a queue and deletes it. No
// long poll: every message the test expects was sent before it drains.
func drain(t *testing.T, c *sqs.Client, queueURL string) []events.SQSMessage {
	t.Helper()
	var out []events.SQSMessage
	for {
		r, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			out = append(out, devstack.Record(m, "", devstack.Region))
			if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// eventsOf decodes the events among messages, keeping those of type typ.
func eventsOf(t *testing.T, msgs []events.SQSMessage, typ string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range msgs {
		var ev map[string]any
		if err := json.Unmarshal([]byte(m.Body), &ev); err != nil {
			t.Fatalf("event body %s: %v", m.Body, err)
		}
		if ev["type"] == typ {
			out = append(out, ev)
		}
	}
	return out
}

func containsField(err error, field string) bool {
	e := apierr.From(err)
	return e.Code == apierr.InvalidRequest && e.Field == field
}

func dynamoClient(cfg aws.Config) *dynamodb.Client { return dynamodb.NewFromConfig(cfg) }
