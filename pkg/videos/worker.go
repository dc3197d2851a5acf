package videos

// The render worker: for each render message it loads the video (skipping
// cancelled, deleted and finished ones, so duplicate deliveries are
// harmless), takes a render slot of the workspace's environment through a
// lease, renders with ffmpeg into the function's /tmp, uploads the file (in
// the spec's format) and its JPEG thumbnail to S3 and records the result,
// then emits render.succeeded or render.failed on the events queue. A render that finds every slot busy stays queued: its
// message is sent again with a delay, never rejected. It never looks at API
// keys: a render accepted before its key was revoked still runs.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/movie"
)

// Job is one render to perform.
type Job struct {
	Spec movie.Spec
	Out  string // path of the file to write, in Spec.Format
	// Thumbnail is the path of the JPEG poster to write; a renderer that
	// writes none leaves the video without a thumbnail.
	Thumbnail string
	WorkDir   string // scratch space
	Watermark bool
	// Progress receives the fraction done, 0..1.
	Progress func(float64)
	// FetchAsset reads one of the workspace's uploaded assets.
	FetchAsset func(ctx context.Context, id string, dst io.Writer) error
}

// Output describes a rendered file.
type Output struct {
	Duration      float64
	Width, Height int
	SizeBytes     int64
	PeakWorkBytes int64
}

// Renderer renders a job. Errors it returns that are *apierr.Error or
// wrap ErrPermanent fail the video; anything else is retried.
type Renderer func(context.Context, Job) (Output, error)

// ErrPermanent marks a render error that a retry cannot fix (an image
// URL that is refused, missing or not an image).
var ErrPermanent = errors.New("permanent render failure")

// WorkerObjects is the part of the S3 client the worker uses.
type WorkerObjects interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Worker renders the videos of render messages.
type Worker struct {
	Store    *Store
	Events   *Emitter
	Queue    Queue // the render queue, to put back renders that found no free slot
	QueueURL string
	Objects  WorkerObjects
	Bucket   string
	// AssetsBucket holds the uploaded assets movies may use; Assets reads
	// their records.
	AssetsBucket string
	Assets       Assets
	Render       Renderer
	WorkDir      string
	Logger       *slog.Logger

	// LeaseTTL is how long a slot stays held without a heartbeat; a dead
	// worker's slot frees after at most this long. Default 60 s.
	LeaseTTL time.Duration
	// Heartbeat is how often the lease is renewed; default LeaseTTL/4.
	Heartbeat time.Duration
	// RequeueDelay is how long a render that found no free slot waits
	// before it tries again, plus up to half as much jitter so waiting
	// renders do not stampede. Default 20 s (SQS allows up to 900).
	RequeueDelay time.Duration
	// ProgressStep is the smallest progress change written, in percent.
	// Default 5.
	ProgressStep int
	// Reserve is the time kept back from the function's deadline for the
	// upload and the bookkeeping. Default 60 s.
	Reserve time.Duration
}

func (w *Worker) defaults() {
	if w.LeaseTTL <= 0 {
		w.LeaseTTL = 60 * time.Second
	}
	if w.Heartbeat <= 0 {
		w.Heartbeat = w.LeaseTTL / 4
	}
	if w.RequeueDelay <= 0 {
		w.RequeueDelay = 20 * time.Second
	}
	if w.ProgressStep <= 0 {
		w.ProgressStep = 5
	}
	if w.Reserve <= 0 {
		w.Reserve = 60 * time.Second
	}
	if w.WorkDir == "" {
		w.WorkDir = os.TempDir()
	}
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
}

// Handle is the SQS handler: every message is processed in turn, and the
// ones that failed for a reason a retry can fix are reported, so SQS
// redelivers only those (and, after maxReceiveCount, moves them to the DLQ).
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	w.defaults()
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		if err := w.process(ctx, rec); err != nil {
			w.Logger.ErrorContext(ctx, "render will be retried", "message", rec.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

// Causes of a stopped render.
var (
	errCancelled = errors.New("video cancelled while rendering")
)

func (w *Worker) process(ctx context.Context, rec events.SQSMessage) error {
	var m Message
	if err := json.Unmarshal([]byte(rec.Body), &m); err != nil || m.VideoID == "" || m.Workspace == "" {
		// Only our own code sends here; let it reach the DLQ for a look.
		return fmt.Errorf("malformed render message %s", rec.MessageId)
	}
	env := apikey.Env(m.Environment)
	log := w.Logger.With("video", m.VideoID, "workspace", m.Workspace, "environment", m.Environment)
	v, err := w.Store.Get(ctx, m.Workspace, env, m.VideoID)
	if isNotFound(err) {
		log.InfoContext(ctx, "video is gone; skipping")
		return nil
	}
	if err != nil {
		return err
	}
	if Terminal(v.Status) {
		log.InfoContext(ctx, "video already finished; skipping", "status", v.Status)
		return w.emit(ctx, v) // a previous attempt may have lost its event
	}
	lim, err := w.Store.EnvLimits(ctx, m.Workspace, env)
	if isNotFound(err) {
		return w.fail(ctx, v, Error{Code: ErrRenderFailed, Message: "The workspace no longer exists."})
	}
	if err != nil {
		return err
	}
	lease, ok, err := w.Store.AcquireSlot(ctx, m.Workspace, env, v.ID, lim.ConcurrentRenders, v.Slot, w.LeaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		log.InfoContext(ctx, "every render slot is busy; the render stays queued", "slots", lim.ConcurrentRenders)
		return w.requeue(ctx, rec.Body)
	}
	defer func() {
		if err := w.Store.ReleaseSlot(context.WithoutCancel(ctx), m.Workspace, env, lease.Slot, v.ID); err != nil {
			log.ErrorContext(ctx, "release render slot", "slot", lease.Slot, "err", err)
		}
	}()
	v, ok, err = w.Store.StartRendering(ctx, v, lease.Slot)
	if err != nil {
		return err
	}
	if !ok {
		log.InfoContext(ctx, "video was cancelled before it started; skipping")
		return nil
	}
	return w.render(ctx, v, &lease, log)
}

func (w *Worker) render(ctx context.Context, v Video, lease *Lease, log *slog.Logger) error {
	var spec movie.Spec
	if err := json.Unmarshal(v.Spec, &spec); err != nil {
		return w.fail(ctx, v, Error{Code: ErrInvalidSpec, Message: "The stored spec cannot be read."})
	}
	spec.Normalize() // specs stored before formats existed are mp4
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if dl, ok := ctx.Deadline(); ok {
		var stop context.CancelFunc
		rctx, stop = context.WithDeadline(rctx, dl.Add(-w.Reserve))
		defer stop()
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() { // heartbeat: keep the slot while rendering
		defer wg.Done()
		t := time.NewTicker(w.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := w.Store.RenewSlot(rctx, lease, w.LeaseTTL); err != nil {
					if errors.Is(err, ErrLeaseLost) {
						cancel(err)
						return
					}
					log.WarnContext(ctx, "renew render slot", "err", err)
				}
			}
		}
	}()
	prog := newProgress(w.ProgressStep, func(pct int) {
		pctx, c := context.WithTimeout(rctx, 5*time.Second)
		defer c()
		if err := w.Store.SetProgress(pctx, v, pct); errors.Is(err, ErrNotRendering) {
			cancel(errCancelled)
		} else if err != nil {
			log.WarnContext(ctx, "progress update", "err", err)
		}
	})
	out, thumb := filepath.Join(w.WorkDir, v.ID+"."+spec.Format), filepath.Join(w.WorkDir, v.ID+".jpg")
	defer os.Remove(out)
	defer os.Remove(thumb)
	started := time.Now()
	res, err := w.Render(rctx, Job{Spec: spec, Out: out, Thumbnail: thumb, WorkDir: w.WorkDir, Watermark: v.Watermark, Progress: prog.report,
		FetchAsset: func(ctx context.Context, id string, dst io.Writer) error { return w.fetchAsset(ctx, v, id, dst) }})
	prog.stop()
	close(done)
	wg.Wait()
	if err != nil {
		cause := context.Cause(rctx)
		switch {
		case errors.Is(cause, errCancelled):
			log.InfoContext(ctx, "video was cancelled while rendering; stopped")
			return nil
		case errors.Is(cause, ErrLeaseLost):
			return fmt.Errorf("render of %s stopped: %w", v.ID, cause)
		case ctx.Err() != nil:
			return fmt.Errorf("render of %s interrupted: %w", v.ID, err)
		case rctx.Err() != nil:
			return w.fail(ctx, v, Error{Code: ErrRenderTimeout, Message: "The render did not finish in the time a worker has."})
		case permanent(err):
			return w.fail(ctx, v, Error{Code: ErrInvalidSpec, Message: publicMessage(err)})
		}
		return fmt.Errorf("render %s: %w", v.ID, err)
	}
	log.InfoContext(ctx, "rendered", "seconds", time.Since(started).Seconds(), "duration", res.Duration,
		"bytes", res.SizeBytes, "peakWorkBytes", res.PeakWorkBytes)
	key := S3Key(v.Env, v.Workspace, v.ID, spec.Format)
	if err := w.upload(ctx, out, key); err != nil {
		return err
	}
	if err := w.uploadThumbnail(ctx, &v, thumb, key); err != nil {
		return err
	}
	w2, h2 := res.Width, res.Height
	if w2 == 0 {
		w2, h2 = spec.Size()
	}
	ok, err := w.Store.Succeed(ctx, v, res.Duration, res.SizeBytes, w2, h2, key)
	if err != nil {
		return err
	}
	if !ok { // cancelled during the upload: the files must not outlive it
		for _, k := range []string{key, v.ThumbnailKey} {
			if k == "" {
				continue
			}
			if _, err := w.Objects.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.Bucket, Key: &k}); err != nil {
				log.ErrorContext(ctx, "delete file of cancelled video", "key", k, "err", err)
			}
		}
		return nil
	}
	return w.emitStored(ctx, v)
}

// fetchAsset copies an asset of the video's workspace and environment:
// the key is built from them, so no spec can reach another's files, and
// the file is read only if it is the one probing saw (If-Match its ETag).
func (w *Worker) fetchAsset(ctx context.Context, v Video, id string, dst io.Writer) error {
	a, err := w.Assets.Resolve(ctx, v.Workspace, v.Env, id)
	if err != nil {
		var e *apierr.Error
		if errors.As(err, &e) && (e.Code == apierr.NotFound || e.Code == apierr.Conflict) {
			return fmt.Errorf("asset %s no longer exists", id)
		}
		return err
	}
	key := assets.ObjectKey(v.Env, v.Workspace, id)
	in := &s3.GetObjectInput{Bucket: &w.AssetsBucket, Key: &key}
	if a.ETag != "" {
		in.IfMatch = &a.ETag
	}
	out, err := w.Objects.GetObject(ctx, in)
	if err != nil {
		var nk *s3types.NoSuchKey
		var ae interface{ ErrorCode() string }
		switch {
		case errors.As(err, &nk):
			return fmt.Errorf("asset %s no longer exists", id)
		case errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed":
			return fmt.Errorf("asset %s was replaced after it was checked; upload it again as a new asset", id)
		}
		return fmt.Errorf("read asset %s: %w", id, err)
	}
	defer out.Body.Close()
	_, err = io.Copy(dst, out.Body)
	return err
}

// emitStored publishes the event of a video just finished, as stored.
func (w *Worker) emitStored(ctx context.Context, v Video) error {
	v, err := w.Store.Get(ctx, v.Workspace, v.Env, v.ID)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return w.emit(ctx, v)
}

func (w *Worker) upload(ctx context.Context, path, key string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open rendered file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat rendered file: %w", err)
	}
	ct, _ := mediaType(key)
	if _, err := w.Objects.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &w.Bucket, Key: &key, Body: f, ContentLength: aws.Int64(st.Size()),
		ContentType: aws.String(ct),
	}); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// uploadThumbnail puts the poster the renderer wrote at path beside the
// video at key and records its key on v; a renderer that wrote none
// leaves v without one.
func (w *Worker) uploadThumbnail(ctx context.Context, v *Video, path, key string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	tk := ThumbnailKey(key)
	if err := w.upload(ctx, path, tk); err != nil {
		return err
	}
	v.ThumbnailKey = tk
	return nil
}

// fail records a permanent failure and emits render.failed.
func (w *Worker) fail(ctx context.Context, v Video, e Error) error {
	ok, err := w.Store.Fail(ctx, v, e)
	if err != nil {
		return err
	}
	if !ok {
		return nil // finished or cancelled meanwhile
	}
	w.Logger.InfoContext(ctx, "render failed", "video", v.ID, "code", e.Code, "reason", e.Message)
	return w.emitStored(ctx, v)
}

// emit sends the terminal event of v once: a failure is retried through the
// message, and the redelivery finds the video finished and sends it then.
func (w *Worker) emit(ctx context.Context, v Video) error {
	return Emit(ctx, w.Store, w.Events, v)
}

// Emit sends the terminal event of a finished video unless it went out
// already, and records that it did.
func Emit(ctx context.Context, st *Store, em *Emitter, v Video) error {
	if v.EventSent || (v.Status != Succeeded && v.Status != Failed) {
		return nil
	}
	if err := em.Terminal(ctx, v); err != nil {
		return err
	}
	return st.MarkEventSent(ctx, v)
}

func (w *Worker) requeue(ctx context.Context, body string) error {
	d := w.RequeueDelay + time.Duration(rand.Int64N(int64(w.RequeueDelay/2)+1))
	secs := int32(min(max(d.Round(time.Second)/time.Second, 1), 900))
	if _, err := w.Queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &w.QueueURL, MessageBody: aws.String(body), DelaySeconds: secs,
	}); err != nil {
		return fmt.Errorf("requeue render: %w", err)
	}
	return nil
}

func isNotFound(err error) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code == apierr.NotFound
}

func permanent(err error) bool {
	var e *apierr.Error
	return errors.Is(err, ErrPermanent) || errors.As(err, &e)
}

// publicMessage is what a failed video shows: the message of a client
// error, never internal detail.
func publicMessage(err error) string {
	var e *apierr.Error
	if errors.As(err, &e) {
		return e.Message
	}
	var pe interface{ PublicMessage() string }
	if errors.As(err, &pe) {
		return pe.PublicMessage()
	}
	return "The spec could not be rendered: a media URL could not be fetched or read."
}

// progress throttles progress reports to steps of step percent and writes
// them off the renderer's goroutine, latest value first.
type progress struct {
	step  int
	mu    sync.Mutex
	last  int
	ch    chan int
	done  chan struct{}
	write func(int)
}

func newProgress(step int, write func(int)) *progress {
	p := &progress{step: step, ch: make(chan int, 1), done: make(chan struct{}), write: write}
	ch := p.ch // stop clears p.ch, maybe before this goroutine runs
	go func() {
		defer close(p.done)
		for pct := range ch {
			p.write(pct)
		}
	}()
	return p
}

func (p *progress) report(frac float64) {
	pct := min(int(frac*100), 99) // 100 is written with the result
	pct -= pct % p.step
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ch == nil || pct <= p.last {
		return
	}
	p.last = pct
	select {
	case p.ch <- pct:
	default: // a write is pending; replace its value with the newer one
		select {
		case <-p.ch:
		default:
		}
		select {
		case p.ch <- pct:
		default:
		}
	}
}

func (p *progress) stop() {
	p.mu.Lock()
	close(p.ch)
	p.ch = nil
	p.mu.Unlock()
	<-p.done
}
