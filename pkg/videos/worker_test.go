package videos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/samtemplate"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
	"github.com/framegate/framegate/pkg/webhooks"
)

var workerT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type workerFixture struct {
	env    *testenv.Env
	clock  *testenv.Clock
	keys   *keystore.Store
	sv     *videos.Service
	w      *videos.Worker
	dlq    *videos.DLQ
	sqs    *sqs.Client
	s3     *s3.Client
	queues map[string]string // logical ID → URL
	bucket string
	calls  atomic.Int64
}

// setup builds the worker as functions/render-worker does, rendering with
// r wrapped to count calls.
func setupWorker(t *testing.T, r videos.Renderer) *workerFixture {
	t.Helper()
	env := testenv.New(t)
	f := &workerFixture{env: env, clock: testenv.NewClock(workerT0), sqs: sqs.NewFromConfig(env.AWS), s3: videos.S3Client(env.AWS), queues: map[string]string{}}
	ctx := context.Background()
	var err error
	if f.keys, err = keystore.Open(ctx, env.Deps("KeysFunction", f.clock.Now)); err != nil {
		t.Fatal(err)
	}
	if f.sv, err = videos.Open(ctx, env.Deps("VideosFunction", f.clock.Now), nil); err != nil {
		t.Fatal(err)
	}
	counted := func(ctx context.Context, j videos.Job) (videos.Output, error) {
		f.calls.Add(1)
		return r(ctx, j)
	}
	d := env.Deps("RenderWorkerFunction", f.clock.Now)
	if f.w, err = videos.OpenWorker(ctx, d, counted); err != nil {
		t.Fatal(err)
	}
	f.w.WorkDir = t.TempDir()
	if f.dlq, err = videos.OpenDLQWorker(ctx, env.Deps("RenderDlqFunction", f.clock.Now)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"RenderQueue", "RenderDLQ", "EventsQueue", "WebhookQueue"} {
		f.queues[q] = env.Resources.ByID[q].URL
	}
	f.bucket = d.Getenv("RENDERS_BUCKET")
	// One store for everyone. The emulator's writes are atomic per item
	// through testenv's proxy (pkg/devstack/isolate.go), as on DynamoDB.
	st, err := videos.NewStore(dynamodb.NewFromConfig(env.AWS), d.Getenv("DATA_TABLE"), d.Getenv("KEYS_TABLE"), f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	f.sv.Store, f.w.Store, f.dlq.Store = st, st, st
	return f
}

func (f *workerFixture) workspace(t *testing.T, o ratelimit.Plan) string {
	t.Helper()
	ws, _, err := f.keys.CreateWorkspace(context.Background(), "Acme", ratelimit.DefaultPlan, o)
	if err != nil {
		t.Fatal(err)
	}
	return ws.ID
}

func specBody(seconds float64) []byte {
	return fmt.Appendf(nil, `{"spec":{"resolution":"sd","scenes":[
		{"duration":%g,"background":{"color":"#203040"},"elements":[{"type":"text","text":"One"}]},
		{"duration":%g,"background":{"gradient":{"from":"#000000","to":"#ff8800"}},"elements":[{"type":"text","text":"Two"}]}]}}`,
		seconds/2, seconds/2)
}

func (f *workerFixture) create(t *testing.T, ws string, env apikey.Env, seconds float64) string {
	t.Helper()
	out, err := f.sv.Create(context.Background(), ws, env, specBody(seconds), "")
	if err != nil {
		t.Fatal(err)
	}
	return out.VideoID
}

func (f *workerFixture) video(t *testing.T, ws string, env apikey.Env, id string) videos.Video {
	t.Helper()
	v, err := f.sv.Store.Get(context.Background(), ws, env, id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// receive takes up to n messages off a queue.
func (f *workerFixture) receive(t *testing.T, queue string, n int) []sqstypes.Message {
	t.Helper()
	var out []sqstypes.Message
	for len(out) < n {
		resp, err := f.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(f.queues[queue]), MaxNumberOfMessages: int32(min(n-len(out), 10)),
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Messages) == 0 {
			break
		}
		out = append(out, resp.Messages...)
	}
	return out
}

func sqsEvent(ms ...sqstypes.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range ms {
		ev.Records = append(ev.Records, devstack.Record(m, "", devstack.Region))
	}
	return ev
}

// deliver hands the next render message to the worker as Lambda would and
// returns whether the worker reported it failed.
func (f *workerFixture) deliver(t *testing.T) (failed bool) {
	t.Helper()
	ms := f.receive(t, "RenderQueue", 1)
	if len(ms) != 1 {
		t.Fatal("no render message")
	}
	resp, err := f.w.Handle(context.Background(), sqsEvent(ms...))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) == 0 {
		if _, err := f.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queues["RenderQueue"]), ReceiptHandle: ms[0].ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}
	return len(resp.BatchItemFailures) > 0
}

// published is an event as the events queue carries it.
type published struct {
	ID, Type, Timestamp string
	Data                struct {
		videos.EventData
		// The links the publisher signed for the events queue.
		DownloadURL       string `json:"downloadUrl"`
		DownloadExpiresAt string `json:"downloadExpiresAt"`
		ThumbnailURL      string `json:"thumbnailUrl"`
	}
	RawData any `json:"-"` // Data as sent, for the OpenAPI schema
}

func (f *workerFixture) events(t *testing.T) []published {
	t.Helper()
	var out []published
	for _, m := range f.receive(t, "EventsQueue", 20) {
		var e published
		var raw struct{ Data any }
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &e); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &raw); err != nil {
			t.Fatal(err)
		}
		e.RawData = raw.Data
		if m.MessageAttributes["type"].StringValue == nil || *m.MessageAttributes["type"].StringValue != e.Type {
			t.Errorf("event %s lacks its type attribute", e.Type)
		}
		out = append(out, e)
	}
	return out
}

// colorRenderer renders a plain color clip of the spec's size, length and
// format, and its thumbnail, with the real ffmpeg: the worker's plumbing,
// not the movie renderer, is under test here.
func colorRenderer(ctx context.Context, j videos.Job) (videos.Output, error) {
	w, h := j.Spec.Size()
	d := j.Spec.Duration()
	j.Progress(0.3)
	codec := map[string][]string{
		"mp4":  {"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart"},
		"webm": {"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"},
		"gif":  {"-c:v", "gif"},
	}[j.Spec.Format]
	args := append([]string{"-v", "error", "-y", "-f", "lavfi", "-i", fmt.Sprintf("color=c=blue:s=%dx%d:d=%g:r=25", w, h, d)}, codec...)
	args = append(args, j.Out, "-frames:v", "1", "-update", "1", j.Thumbnail)
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return videos.Output{}, fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	j.Progress(0.9)
	st, err := os.Stat(j.Out)
	if err != nil {
		return videos.Output{}, err
	}
	return videos.Output{Duration: d, Width: w, Height: h, SizeBytes: st.Size()}, nil
}

type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		PixFmt    string `json:"pix_fmt"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// ffprobe downloads an object and describes its video stream.
func (f *workerFixture) ffprobe(t *testing.T, key string) probe {
	t.Helper()
	obj, err := f.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &f.bucket, Key: &key})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", f.bucket, key, err)
	}
	defer obj.Body.Close()
	path := filepath.Join(t.TempDir(), "out.mp4")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(file, obj.Body); err != nil {
		t.Fatal(err)
	}
	file.Close()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=codec_name,pix_fmt,width,height:format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	return p
}

func duration(t *testing.T, p probe) float64 {
	t.Helper()
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRenderSucceeds(t *testing.T) {
	f := setupWorker(t, colorRenderer)
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 2)
	if f.deliver(t) {
		t.Fatal("render reported as failed")
	}
	v := f.video(t, ws, apikey.Live, id)
	if v.Status != videos.Succeeded || v.Progress != 100 || v.SizeBytes == 0 || v.StartedAt == nil || v.FinishedAt == nil {
		t.Fatalf("video after render: %+v", v)
	}
	if want := videos.AttemptKey(apikey.Live, ws, id, v.LeaseToken, "mp4"); v.Attempts != 1 || v.S3Key != want {
		t.Errorf("s3 key %q after %d attempts, want %q", v.S3Key, v.Attempts, want)
	}
	p := f.ffprobe(t, v.S3Key)
	if s := p.Streams[0]; s.CodecName != "h264" || s.PixFmt != "yuv420p" || s.Width != 640 || s.Height != 360 {
		t.Errorf("stream %+v", s)
	}
	if d := duration(t, p); d < 1.9 || d > 2.1 {
		t.Errorf("duration %.2f, want 2", d)
	}
	ev := f.events(t)
	if len(ev) != 1 || ev[0].Type != webhooks.RenderSucceeded || ev[0].Data.VideoID != id || ev[0].Data.Workspace != ws ||
		ev[0].Data.Environment != "live" || ev[0].Data.SizeBytes == nil || *ev[0].Data.SizeBytes != v.SizeBytes {
		t.Errorf("events %+v", ev)
	}
	// The thumbnail lies beside the video, under the attempt's key.
	if want := videos.FilesPrefix(apikey.Live, ws, id) + v.LeaseToken + ".jpg"; v.ThumbnailKey != want {
		t.Errorf("thumbnail key %q, want %q", v.ThumbnailKey, want)
	}
	if head, err := f.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &f.bucket, Key: &v.ThumbnailKey}); err != nil ||
		aws.ToString(head.ContentType) != "image/jpeg" {
		t.Errorf("thumbnail object: %v", err)
	}
	// render.succeeded carries a download link and a thumbnail link valid
	// 15 minutes, as the OpenAPI document describes them.
	if len(ev) == 1 {
		u, err := url.Parse(ev[0].Data.DownloadURL)
		exp, perr := time.Parse(time.RFC3339, ev[0].Data.DownloadExpiresAt)
		if err != nil || !strings.HasSuffix(u.Path, "/"+v.S3Key) || u.Query().Get("X-Amz-Expires") != "900" ||
			perr != nil || exp.Sub(f.clock.Now()) != videos.DownloadTTL {
			t.Errorf("download link %q expiring %q", ev[0].Data.DownloadURL, ev[0].Data.DownloadExpiresAt)
		}
		u, err = url.Parse(ev[0].Data.ThumbnailURL)
		if err != nil || !strings.HasSuffix(u.Path, "/"+v.ThumbnailKey) || u.Query().Get("X-Amz-Expires") != "900" ||
			u.Query().Get("response-content-type") != "image/jpeg" {
			t.Errorf("thumbnail link %q", ev[0].Data.ThumbnailURL)
		}
		doc, err := testenv.DefaultValidator()
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Schema("RenderEventData", ev[0].RawData); err != nil {
			t.Errorf("render.succeeded data: %v", err)
		}
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), ws, apikey.Live); n != 0 {
		t.Errorf("queued counter %d after the render", n)
	}
	if held, _ := f.sv.Store.Holders(context.Background(), ws, apikey.Live); len(held) != 0 {
		t.Errorf("slots still held: %v", held)
	}
	// Download: a presigned GET of exactly this object, 15 minutes.
	d, err := f.sv.DownloadURL(context.Background(), ws, apikey.Live, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.URL, "/"+f.bucket+"/"+v.S3Key+"?") || !strings.Contains(d.URL, "X-Amz-Expires=900") {
		t.Errorf("download URL %s", d.URL)
	}
	// A duplicate delivery renders nothing and emits nothing.
	f.sv.Queue.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(f.queues["RenderQueue"]),
		MessageBody: aws.String(fmt.Sprintf(`{"videoId":%q,"workspace":%q,"environment":"live"}`, id, ws))})
	f.deliver(t)
	if f.calls.Load() != 1 || len(f.events(t)) != 0 {
		t.Errorf("duplicate delivery: %d renders, or an event", f.calls.Load())
	}
	// The thumbnail link: the poster of exactly this video.
	th, err := f.sv.ThumbnailURL(context.Background(), ws, apikey.Live, id)
	if err != nil || !strings.Contains(th.URL, "/"+f.bucket+"/"+v.ThumbnailKey+"?") {
		t.Errorf("thumbnail URL %+v: %v", th, err)
	}
	// Deleting a finished video removes its files.
	if _, gone, err := f.sv.Remove(context.Background(), ws, apikey.Live, id); err != nil || !gone {
		t.Fatalf("remove: %v %v", gone, err)
	}
	for _, k := range []string{v.S3Key, v.ThumbnailKey} {
		if _, err := f.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &f.bucket, Key: &k}); err == nil {
			t.Errorf("%s outlived its video", k)
		}
	}
}

// TestFormatsNameTheirFiles: a webm or gif render is stored, typed and
// downloaded as what it is.
func TestFormatsNameTheirFiles(t *testing.T) {
	f := setupWorker(t, colorRenderer)
	ws := f.workspace(t, ratelimit.Plan{})
	cases := []struct{ format, codec, contentType string }{
		{"webm", "vp9", "video/webm"},
		{"gif", "gif", "image/gif"},
	}
	for _, c := range cases {
		body := fmt.Appendf(nil, `{"spec":{"resolution":"sd","format":%q,"scenes":[{"duration":1,"background":{"color":"#203040"}}]}}`, c.format)
		out, err := f.sv.Create(context.Background(), ws, apikey.Live, body, "")
		if err != nil {
			t.Fatal(err)
		}
		if f.deliver(t) {
			t.Fatalf("%s: render reported as failed", c.format)
		}
		v := f.video(t, ws, apikey.Live, out.VideoID)
		if want := videos.AttemptKey(apikey.Live, ws, v.ID, v.LeaseToken, c.format); v.Status != videos.Succeeded || v.S3Key != want {
			t.Fatalf("%s: %s at %q, want succeeded at %q", c.format, v.Status, v.S3Key, want)
		}
		if p := f.ffprobe(t, v.S3Key); p.Streams[0].CodecName != c.codec {
			t.Errorf("%s: codec %s", c.format, p.Streams[0].CodecName)
		}
		head, err := f.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &f.bucket, Key: &v.S3Key})
		if err != nil || aws.ToString(head.ContentType) != c.contentType {
			t.Errorf("%s: object %v", c.format, err)
		}
		d, err := f.sv.DownloadURL(context.Background(), ws, apikey.Live, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(d.URL)
		if q := u.Query(); q.Get("response-content-type") != c.contentType ||
			q.Get("response-content-disposition") != `attachment; filename="`+v.ID+"."+c.format+`"` {
			t.Errorf("%s: download %s", c.format, d.URL)
		}
		f.events(t) // drained
	}
}

// TestNoThumbnail: a renderer that writes no poster leaves the video
// without one (404), and a video that has not succeeded has none (409).
func TestNoThumbnail(t *testing.T) {
	f := setupWorker(t, func(ctx context.Context, j videos.Job) (videos.Output, error) {
		j.Thumbnail = filepath.Join(t.TempDir(), "elsewhere.jpg")
		return colorRenderer(ctx, j)
	})
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	if _, err := f.sv.ThumbnailURL(context.Background(), ws, apikey.Live, id); apiCode(err) != apierr.Conflict {
		t.Errorf("queued video's thumbnail: %v", err)
	}
	f.deliver(t)
	v := f.video(t, ws, apikey.Live, id)
	if v.Status != videos.Succeeded || v.ThumbnailKey != "" {
		t.Fatalf("video %s with thumbnail %q", v.Status, v.ThumbnailKey)
	}
	if _, err := f.sv.ThumbnailURL(context.Background(), ws, apikey.Live, id); apiCode(err) != apierr.NotFound {
		t.Errorf("thumbnail of a video without one: %v", err)
	}
	if ev := f.events(t); len(ev) != 1 || ev[0].Data.ThumbnailURL != "" || ev[0].Data.DownloadURL == "" {
		t.Errorf("events %+v", ev)
	}
}

func apiCode(err error) apierr.Code {
	var e *apierr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestSandboxRenderCarriesWatermark(t *testing.T) {
	var sawWatermark atomic.Bool
	f := setupWorker(t, func(ctx context.Context, j videos.Job) (videos.Output, error) {
		sawWatermark.Store(j.Watermark)
		return colorRenderer(ctx, j)
	})
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Test, 1)
	f.deliver(t)
	v := f.video(t, ws, apikey.Test, id)
	if v.Status != videos.Succeeded || !sawWatermark.Load() || !v.Watermark {
		t.Fatalf("sandbox render: status %s, watermark asked %v", v.Status, sawWatermark.Load())
	}
	if !strings.HasPrefix(v.S3Key, "renders/test/") {
		t.Errorf("sandbox file %s is outside the prefix the lifecycle rule expires", v.S3Key)
	}
}

func TestCancelledQueuedVideoIsSkipped(t *testing.T) {
	f := setupWorker(t, colorRenderer)
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	if _, _, err := f.sv.Remove(context.Background(), ws, apikey.Live, id); err != nil {
		t.Fatal(err)
	}
	if f.deliver(t) {
		t.Fatal("skipping must not be a failure")
	}
	if v := f.video(t, ws, apikey.Live, id); v.Status != videos.Cancelled || f.calls.Load() != 0 {
		t.Errorf("cancelled video: status %s, %d renders", v.Status, f.calls.Load())
	}
	if ev := f.events(t); len(ev) != 0 {
		t.Errorf("a cancelled video emitted %+v", ev)
	}
}

func TestCancelWhileRenderingStopsTheRender(t *testing.T) {
	started := make(chan struct{})
	f := setupWorker(t, func(ctx context.Context, j videos.Job) (videos.Output, error) {
		close(started)
		for i := 1; ctx.Err() == nil && i < 200; i++ {
			j.Progress(float64(i) / 200)
			time.Sleep(20 * time.Millisecond)
		}
		return videos.Output{}, ctx.Err()
	})
	f.w.ProgressStep = 1
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	go func() {
		<-started
		time.Sleep(100 * time.Millisecond)
		f.sv.Remove(context.Background(), ws, apikey.Live, id)
	}()
	start := time.Now()
	if f.deliver(t) {
		t.Error("a cancelled render must not be retried")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("the render ran on for %v after the cancel", time.Since(start))
	}
	if v := f.video(t, ws, apikey.Live, id); v.Status != videos.Cancelled {
		t.Errorf("status %s", v.Status)
	}
	if held, _ := f.sv.Store.Holders(context.Background(), ws, apikey.Live); len(held) != 0 {
		t.Errorf("slots still held: %v", held)
	}
}

func TestPermanentFailure(t *testing.T) {
	f := setupWorker(t, func(context.Context, videos.Job) (videos.Output, error) {
		return videos.Output{}, fmt.Errorf("fetch image: %w", apierr.Invalid("/scenes/0/elements/0/url", "The image at /scenes/0/elements/0/url could not be fetched."))
	})
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	if f.deliver(t) {
		t.Fatal("a permanent failure must not be retried")
	}
	v := f.video(t, ws, apikey.Live, id)
	if v.Status != videos.Failed || v.Error == nil || v.Error.Code != videos.ErrInvalidSpec || !strings.Contains(v.Error.Message, "could not be fetched") {
		t.Fatalf("video %+v", v)
	}
	ev := f.events(t)
	if len(ev) != 1 || ev[0].Type != webhooks.RenderFailed || ev[0].Data.Error == nil || ev[0].Data.Error.Code != videos.ErrInvalidSpec {
		t.Errorf("events %+v", ev)
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), ws, apikey.Live); n != 0 {
		t.Errorf("queued counter %d", n)
	}
}

// TestTransientFailuresAreRetriedThenGivenUp: a failed attempt puts the
// video back in the queue with its attempts counted and a new message
// after the backoff; after the last attempt it fails with one render.failed.
func TestTransientFailuresAreRetriedThenGivenUp(t *testing.T) {
	f := setupWorker(t, func(context.Context, videos.Job) (videos.Output, error) {
		return videos.Output{}, errors.New("ffmpeg was killed")
	})
	f.w.RetryDelays = []time.Duration{time.Second, 2 * time.Second, time.Second}
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	for n := 1; n <= 3; n++ {
		if f.deliver(t) {
			t.Fatal("a failed attempt is retried by a new message, not by SQS")
		}
		v := f.video(t, ws, apikey.Live, id)
		if v.Status != videos.Queued || v.Attempts != n || v.Error != nil {
			t.Fatalf("after attempt %d: %+v", n, v)
		}
		if held, _ := f.sv.Store.Holders(context.Background(), ws, apikey.Live); len(held) != 0 {
			t.Errorf("a failed attempt kept its slot: %v", held)
		}
		// The retry is delayed by its backoff, never more than a minute.
		if ms := f.receive(t, "RenderQueue", 1); len(ms) != 0 {
			t.Fatalf("attempt %d: the retry came without its backoff", n)
		}
		time.Sleep(f.w.RetryDelays[n-1] + 200*time.Millisecond)
	}
	if f.deliver(t) {
		t.Fatal("the last attempt must not be retried by SQS")
	}
	v := f.video(t, ws, apikey.Live, id)
	if v.Status != videos.Failed || v.Attempts != 4 || v.Error == nil || v.Error.Code != videos.ErrRetriesExhausted || f.calls.Load() != 4 {
		t.Fatalf("after the last attempt: %+v, %d renders", v, f.calls.Load())
	}
	ev := f.events(t)
	if len(ev) != 1 || ev[0].Type != webhooks.RenderFailed || ev[0].Data.Error.Code != videos.ErrRetriesExhausted {
		t.Errorf("events %+v", ev)
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), ws, apikey.Live); n != 0 {
		t.Errorf("queued counter %d", n)
	}
	if ms := f.receive(t, "RenderQueue", 1); len(ms) != 0 {
		t.Error("a failed video was queued again")
	}
}

// TestDeadLetteredRenderFails: a message that failed maxReceiveCount times
// (the worker could not even start an attempt) reaches the DLQ, whose
// handler fails the video once.
func TestDeadLetteredRenderFails(t *testing.T) {
	f := setupWorker(t, colorRenderer)
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	msg := fmt.Sprintf(`{"videoId":%q,"workspace":%q,"environment":"live"}`, id, ws)
	resp, err := f.dlq.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: msg}, {MessageId: "m2", Body: "garbage"}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("dlq: %+v %v", resp, err)
	}
	v := f.video(t, ws, apikey.Live, id)
	if v.Status != videos.Failed || v.Error == nil || v.Error.Code != videos.ErrRetriesExhausted {
		t.Fatalf("after the DLQ: %+v", v)
	}
	ev := f.events(t)
	if len(ev) != 1 || ev[0].Type != webhooks.RenderFailed || ev[0].Data.VideoID != id {
		t.Errorf("events %+v", ev)
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), ws, apikey.Live); n != 0 {
		t.Errorf("queued counter %d", n)
	}
	// A second copy in the DLQ changes nothing and emits nothing.
	f.dlq.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m3", Body: msg}}})
	if ev := f.events(t); len(ev) != 0 {
		t.Errorf("duplicate dead letter emitted %+v", ev)
	}
}

// TestConcurrentConsumersOfOneMessage: two workers handed the very same
// message at once (SQS delivers at least once) render once: one attempt
// starts, the other finds its lease and only watches; the file is there
// and one render.succeeded goes out. The watching copy, delivered after
// the success, does nothing.
func TestConcurrentConsumersOfOneMessage(t *testing.T) {
	started := make(chan struct{}, 2)
	f := setupWorker(t, func(ctx context.Context, j videos.Job) (videos.Output, error) {
		started <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		return colorRenderer(ctx, j)
	})
	f.w.LeaseTTL, f.w.Heartbeat = 3*time.Second, time.Second
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	ms := f.receive(t, "RenderQueue", 1)
	if len(ms) != 1 {
		t.Fatal("no render message")
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if resp, err := f.w.Handle(context.Background(), sqsEvent(ms[0])); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("consumer: %+v %v", resp, err)
			}
		})
	}
	wg.Wait()
	v := f.video(t, ws, apikey.Live, id)
	if f.calls.Load() != 1 || v.Status != videos.Succeeded || v.Attempts != 1 {
		t.Fatalf("%d renders, video %+v", f.calls.Load(), v)
	}
	if _, err := f.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &f.bucket, Key: &v.S3Key}); err != nil {
		t.Fatalf("the file of the succeeded video: %v", err)
	}
	if ev := f.events(t); len(ev) != 1 || ev[0].Type != webhooks.RenderSucceeded {
		t.Errorf("events %+v", ev)
	}
	// The watcher's copy comes back after the lease: it finds the video done.
	f.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queues["RenderQueue"]), ReceiptHandle: ms[0].ReceiptHandle})
	f.clock.Advance(f.w.LeaseTTL)
	deadline := time.Now().Add(f.w.LeaseTTL + 5*time.Second)
	for {
		if w := f.receive(t, "RenderQueue", 1); len(w) == 1 {
			if resp, err := f.w.Handle(context.Background(), sqsEvent(w[0])); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("watcher: %+v %v", resp, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watching copy never came")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if f.calls.Load() != 1 || len(f.events(t)) != 0 {
		t.Errorf("the watching copy rendered or emitted: %d renders", f.calls.Load())
	}
}

// TestLateAttemptCannotTouchTheWinner: an attempt that stalled past its
// lease (no heartbeat) is taken over; when it wakes up and finishes, its
// Succeed is refused, it deletes its own uploads (video and thumbnail) and
// nothing else, and the winner's file, thumbnail and single event stand.
func TestLateAttemptCannotTouchTheWinner(t *testing.T) {
	release := make(chan struct{})
	var first atomic.Bool
	f := setupWorker(t, func(ctx context.Context, j videos.Job) (videos.Output, error) {
		if first.CompareAndSwap(false, true) {
			<-release // stalls: no progress, and (Heartbeat below) no heartbeat
		}
		return colorRenderer(ctx, j)
	})
	f.w.Heartbeat = time.Hour
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	ms := f.receive(t, "RenderQueue", 1)
	stalled := make(chan error, 1)
	go func() {
		_, err := f.w.Handle(context.Background(), sqsEvent(ms[0]))
		stalled <- err
	}()
	for f.calls.Load() == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	// Its lease runs out; the message's next delivery takes over.
	f.clock.Advance(f.w.LeaseTTL + time.Second)
	if resp, err := f.w.Handle(context.Background(), sqsEvent(ms[0])); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("takeover: %+v %v", resp, err)
	}
	won := f.video(t, ws, apikey.Live, id)
	if won.Status != videos.Succeeded || won.Attempts != 2 {
		t.Fatalf("after the takeover: %+v", won)
	}
	close(release)
	if err := <-stalled; err != nil {
		t.Fatal(err)
	}
	if v := f.video(t, ws, apikey.Live, id); v.S3Key != won.S3Key || v.ThumbnailKey != won.ThumbnailKey || v.Status != videos.Succeeded {
		t.Fatalf("the late attempt changed the video: %+v", v)
	}
	if won.ThumbnailKey != videos.ThumbnailKey(won.S3Key) {
		t.Fatalf("the winner's thumbnail %q is not its attempt's (%s)", won.ThumbnailKey, won.S3Key)
	}
	prefix := videos.FilesPrefix(apikey.Live, ws, id)
	list, err := f.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &f.bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, *o.Key)
	}
	if want := []string{won.S3Key, won.ThumbnailKey}; !slices.Equal(keys, want) && !slices.Equal(keys, []string{want[1], want[0]}) {
		t.Errorf("files %v, want only the winner's %v", keys, want)
	}
	// Its thumbnail link is the winner's poster.
	if th, err := f.sv.ThumbnailURL(context.Background(), ws, apikey.Live, id); err != nil || !strings.Contains(th.URL, "/"+f.bucket+"/"+won.ThumbnailKey+"?") {
		t.Errorf("thumbnail URL %+v: %v", th, err)
	}
	if ev := f.events(t); len(ev) != 1 || ev[0].Type != webhooks.RenderSucceeded {
		t.Errorf("events %+v", ev)
	}
}

func TestLeaseOfACrashedRenderIsReclaimed(t *testing.T) {
	f := setupWorker(t, colorRenderer)
	ws := f.workspace(t, ratelimit.Plan{ConcurrentRenders: 1})
	ctx := context.Background()
	st := f.sv.Store
	// A worker takes the only slot and dies without releasing it.
	if _, ok, err := st.AcquireSlot(ctx, ws, apikey.Live, "vid_crashed", 1, -1, f.w.LeaseTTL); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	if _, ok, _ := st.AcquireSlot(ctx, ws, apikey.Live, "vid_other", 1, -1, f.w.LeaseTTL); ok {
		t.Fatal("a live lease was taken over")
	}
	// A render arriving now stays queued: its message goes back with a delay.
	f.w.RequeueDelay = time.Second
	id := f.create(t, ws, apikey.Live, 1)
	if f.deliver(t) {
		t.Fatal("a render waiting for a slot must not be a failure")
	}
	if v := f.video(t, ws, apikey.Live, id); v.Status != videos.Queued || f.calls.Load() != 0 {
		t.Fatalf("status %s, %d renders", v.Status, f.calls.Load())
	}
	if ms := f.receive(t, "RenderQueue", 1); len(ms) != 0 {
		t.Fatal("the requeued message must be delayed")
	}
	time.Sleep(2 * time.Second)
	f.clock.Advance(f.w.LeaseTTL + time.Second) // the dead worker's lease runs out
	if f.deliver(t) {
		t.Fatal("render failed")
	}
	if v := f.video(t, ws, apikey.Live, id); v.Status != videos.Succeeded {
		t.Fatalf("status %s after the lease expired", v.Status)
	}
	// The dead worker cannot renew what it lost.
	l := videos.Lease{Workspace: ws, Env: apikey.Live, Slot: 0, Holder: "vid_crashed"}
	if err := st.RenewSlot(ctx, &l, time.Minute); !errors.Is(err, videos.ErrLeaseLost) {
		t.Errorf("renew of a lost lease: %v", err)
	}
}

// TestHeartbeatHoldsTheMessageWhileRendering: a render four times longer
// than the lease keeps its message invisible the whole time (the heartbeat
// extends it with ChangeMessageVisibility), and once the worker stops
// beating the message is back within the lease, not the queue's 15 minutes.
func TestHeartbeatHoldsTheMessageWhileRendering(t *testing.T) {
	release := make(chan struct{})
	f := setupWorker(t, func(ctx context.Context, j videos.Job) (videos.Output, error) {
		<-release
		return colorRenderer(ctx, j)
	})
	f.w.LeaseTTL, f.w.Heartbeat = 2*time.Second, 400*time.Millisecond
	ws := f.workspace(t, ratelimit.Plan{})
	f.create(t, ws, apikey.Live, 1)
	ms := f.receive(t, "RenderQueue", 1)
	if len(ms) != 1 {
		t.Fatal("no render message")
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.w.Handle(context.Background(), sqsEvent(ms...))
		done <- err
	}()
	for start := time.Now(); time.Since(start) < 4*f.w.LeaseTTL; time.Sleep(300 * time.Millisecond) {
		if again := f.receive(t, "RenderQueue", 1); len(again) != 0 {
			t.Fatalf("the message came back %v into a render that is still beating", time.Since(start).Round(time.Millisecond))
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	for len(f.receive(t, "RenderQueue", 1)) == 0 {
		if time.Since(stopped) > f.w.LeaseTTL+3*time.Second {
			t.Fatalf("the message is still invisible %v after the last heartbeat", time.Since(stopped).Round(time.Millisecond))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestKeyRevocationDoesNotStopAcceptedRenders(t *testing.T) {
	f := setupWorker(t, colorRenderer)
	ctx := context.Background()
	ws := f.workspace(t, ratelimit.Plan{})
	id := f.create(t, ws, apikey.Live, 1)
	// Every key of the environment dies: the primary is replaced.
	if _, _, err := f.keys.ResetPrimary(ctx, ws, apikey.Live, "", f.env.Operator(ws)); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	if v := f.video(t, ws, apikey.Live, id); v.Status != videos.Succeeded {
		t.Errorf("status %s", v.Status)
	}
}

// TestConcurrencyLimit runs five workers at once, as Lambda would scale
// the event source, against a workspace allowed two concurrent renders.
func TestConcurrencyLimit(t *testing.T) {
	var running, peak atomic.Int64
	f := setupWorker(t, func(ctx context.Context, j videos.Job) (videos.Output, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(700 * time.Millisecond) // long enough for the others to try
		return colorRenderer(ctx, j)
	})
	f.w.RequeueDelay = time.Second
	ws := f.workspace(t, ratelimit.Plan{ConcurrentRenders: 2})
	var ids []string
	for range 5 {
		ids = append(ids, f.create(t, ws, apikey.Live, 1))
	}
	// Sample the statuses too: never more than two rendering.
	stop := make(chan struct{})
	var sampled atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			vs, _, err := f.sv.Store.List(context.Background(), ws, apikey.Live, videos.Filter{Status: videos.Rendering}, "", 10)
			if err == nil && int64(len(vs)) > sampled.Load() {
				sampled.Store(int64(len(vs)))
			}
		}
	}()
	loops := f.runWorkers(t, 5)
	deadline := time.Now().Add(40 * time.Second)
	for {
		done := 0
		for _, id := range ids {
			if v := f.video(t, ws, apikey.Live, id); v.Status == videos.Succeeded {
				done++
			} else if videos.Terminal(v.Status) {
				t.Fatalf("video %s ended %s", id, v.Status)
			}
		}
		if done == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d renders finished", done, len(ids))
		}
		time.Sleep(200 * time.Millisecond)
	}
	loops()
	close(stop)
	wg.Wait()
	if peak.Load() != 2 {
		t.Errorf("peak concurrent renders %d, want exactly the limit 2", peak.Load())
	}
	if sampled.Load() > 2 {
		t.Errorf("%d videos were rendering at once", sampled.Load())
	}
	if n, _ := f.sv.Store.QueuedCount(context.Background(), ws, apikey.Live); n != 0 {
		t.Errorf("queued counter %d", n)
	}
}

// runWorkers starts n event-source loops on the render queue, each feeding
// one message at a time to the worker like a separate Lambda instance. The
// returned func stops them.
func (f *workerFixture) runWorkers(t *testing.T, n int) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		l := &devstack.SQSLoop{
			Function: "RenderWorkerFunction",
			Event:    samtemplate.SQSEvent{EventName: "Render", Queue: "RenderQueue", BatchSize: 1, ReportBatchItemFailures: true},
			QueueURL: f.queues["RenderQueue"], Region: devstack.Region,
			Handler: f.w.Handle, Timeout: 15 * time.Minute, SQS: f.sqs, Logger: testenv.Logger(t),
		}
		wg.Add(1)
		go func() { defer wg.Done(); l.Run(ctx) }()
	}
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// TestSweeperDeletesSandboxVideosAt24Hours: the scheduled sweeper deletes
// a sandbox video's record and files once its 24 hours are up, and not a
// minute before; one still queued then is cancelled (its place in the
// queue freed) and deleted; live videos are never touched.
func TestSweeperDeletesSandboxVideosAt24Hours(t *testing.T) {
	f := setupWorker(t, colorRenderer)
	ws := f.workspace(t, ratelimit.Plan{})
	ctx := context.Background()
	rendered := f.create(t, ws, apikey.Test, 1)
	f.deliver(t)
	queued := f.create(t, ws, apikey.Test, 1) // stays queued: its message is never delivered
	live := f.create(t, ws, apikey.Live, 1)
	v := f.video(t, ws, apikey.Test, rendered)
	if v.Status != videos.Succeeded {
		t.Fatalf("sandbox render: %+v", v)
	}
	sweep, err := videos.NewSweeper(ctx, f.env.Deps("RenderSweeperFunction", f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	raw := dynamodb.NewFromConfig(f.env.AWS)
	table := f.env.Getenv("RenderSweeperFunction")("DATA_TABLE")
	exists := func(env apikey.Env, id string) bool {
		out, err := raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: map[string]dynamotypes.AttributeValue{
			"pk": &dynamotypes.AttributeValueMemberS{Value: videos.Partition(ws, env)}, "sk": &dynamotypes.AttributeValueMemberS{Value: "VIDEO#" + id}}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item != nil
	}
	fileThere := func() bool {
		_, err := f.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &f.bucket, Key: &v.S3Key})
		return err == nil
	}
	f.clock.Advance(videos.SandboxRetention - time.Minute)
	if err := sweep(ctx, events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	if !exists(apikey.Test, rendered) || !exists(apikey.Test, queued) || !fileThere() {
		t.Fatal("the sweeper deleted a sandbox video before its 24 hours")
	}
	f.clock.Advance(2 * time.Minute)
	if err := sweep(ctx, events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	if exists(apikey.Test, rendered) || exists(apikey.Test, queued) || fileThere() {
		t.Error("sandbox videos or files outlived their 24 hours and a sweep")
	}
	if n, _ := f.sv.Store.QueuedCount(ctx, ws, apikey.Test); n != 0 {
		t.Errorf("the swept queued video kept its place: counter %d", n)
	}
	if !exists(apikey.Live, live) {
		t.Error("the sweeper deleted a live video")
	}
}
