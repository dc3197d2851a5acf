package videos

// The render worker: for each render message it loads the video (skipping
// cancelled, deleted and finished ones), takes a render slot of the
// workspace's environment through a lease, starts an attempt on the video,
// renders with ffmpeg into the function's /tmp, uploads the file (in the
// spec's format) and its JPEG thumbnail to the attempt's own S3 keys and
// records the result, then emits render.succeeded
// or render.failed on the events queue. It never looks at API keys: a
// render accepted before its key was revoked still runs.
//
// What SQS and Lambda will do to it, and what it does about it:
//   - A message delivered twice, or to two workers at once: only one
//     attempt can start (StartRendering takes a queued video, or one whose
//     lease ran out); the other delivery finds a live lease, puts a
//     watching copy of the message back for when that lease would run out,
//     and is done. Every write of an attempt is fenced on its token, and
//     each attempt uploads to its own keys (video and thumbnail), so a late
//     attempt can neither overwrite nor delete the files of the one that
//     succeeded.
//   - A worker killed without a word (out of memory, timeout, a dead host):
//     while it renders a heartbeat renews its slot's and its video's leases
//     and keeps its message invisible for LeaseTTL, no longer; when it
//     stops, the message comes back within LeaseTTL and takes the video
//     over once the lease has run out, and the slot frees itself.
//   - A failed attempt (ffmpeg killed, a fetch timing out): the video is
//     queued again, attempts counted, and a new message is sent after a
//     backoff (RetryDelays); after MaxAttempts the video fails with
//     retries_exhausted and one render.failed.
//   - No free slot: the render stays queued and its message is sent again
//     with a delay, never rejected.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
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
	"github.com/framegate/framegate/pkg/render"
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
	// FetchAsset reads one of the workspace's uploaded assets and returns
	// what its upload's probe stored about it.
	FetchAsset func(ctx context.Context, id string, dst io.Writer) (render.Stored, error)
}

// Output describes a rendered file.
type Output struct {
	Duration      float64
	Width, Height int
	SizeBytes     int64
	PeakWorkBytes int64
	PeakRSSBytes  int64
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

// WorkerQueue is the part of the SQS client the worker uses on the render
// queue: sending retries, and the heartbeat on the message it works on.
type WorkerQueue interface {
	Queue
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// DefaultRetryDelays are the waits before the second, third and fourth
// attempt: all within a minute of the failure.
var DefaultRetryDelays = []time.Duration{5 * time.Second, 15 * time.Second, 45 * time.Second}

// Worker renders the videos of render messages.
type Worker struct {
	Store    *Store
	Events   *Emitter
	Queue    WorkerQueue // the render queue
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
	// Rand makes attempt tokens; crypto/rand when nil.
	Rand io.Reader

	// LeaseTTL is how long an attempt holds its slot, its video and its
	// message without a heartbeat: a dead worker's render is taken over,
	// and its slot freed, at most this long after it stopped. Default 60 s.
	LeaseTTL time.Duration
	// Heartbeat is how often the leases are renewed; default LeaseTTL/4.
	Heartbeat time.Duration
	// RetryDelays are the waits after each failed attempt; the video fails
	// after len(RetryDelays)+1 attempts. Default DefaultRetryDelays.
	RetryDelays []time.Duration
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
	if w.RetryDelays == nil {
		w.RetryDelays = DefaultRetryDelays
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
	if w.Rand == nil {
		w.Rand = rand.Reader
	}
}

// MaxAttempts is how many attempts a video gets.
func (w *Worker) MaxAttempts() int { return len(w.RetryDelays) + 1 }

// Handle is the SQS handler: every message is processed in turn, and the
// ones that failed for a reason a retry can fix are reported, so SQS
// redelivers only those (and, after maxReceiveCount, moves them to the DLQ).
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	w.defaults()
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		if err := w.process(ctx, rec); err != nil {
			w.Logger.ErrorContext(ctx, "render message will be retried", "message", rec.MessageId, "err", err)
			w.backOff(ctx, rec)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

// backOff brings a message that failed back after 5 s, doubling with each
// receive up to a minute, rather than after the queue's visibility timeout
// (the worker's whole 15 minutes): a failure that a retry can fix (DynamoDB
// throttled, S3 down for a moment) costs seconds.
func (w *Worker) backOff(ctx context.Context, rec events.SQSMessage) {
	n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	wait := min(5*time.Second<<min(max(n-1, 0), 4), time.Minute)
	if rec.ReceiptHandle == "" {
		return
	}
	if _, err := w.Queue.ChangeMessageVisibility(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &w.QueueURL, ReceiptHandle: &rec.ReceiptHandle, VisibilityTimeout: int32(wait / time.Second),
	}); err != nil {
		w.Logger.WarnContext(ctx, "shorten the failed message's visibility", "message", rec.MessageId, "err", err)
	}
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
	if v.LeaseLive(w.Store.now()) {
		return w.watch(ctx, rec.Body, v, log)
	}
	if v.Attempts >= w.MaxAttempts() {
		// The last attempt died without a word.
		return w.giveUp(ctx, v, log)
	}
	lim, err := w.Store.EnvLimits(ctx, m.Workspace, env)
	if isNotFound(err) {
		return w.fail(ctx, v, "", Error{Code: ErrRenderFailed, Message: "The workspace no longer exists."})
	}
	if err != nil {
		return err
	}
	token, err := w.token()
	if err != nil {
		return err
	}
	lease, ok, err := w.Store.AcquireSlot(ctx, m.Workspace, env, token, lim.ConcurrentRenders, v.Slot, w.LeaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		log.InfoContext(ctx, "every render slot is busy; the render stays queued", "slots", lim.ConcurrentRenders)
		return w.send(ctx, rec.Body, w.RequeueDelay+time.Duration(mrand.Int64N(int64(w.RequeueDelay/2)+1)))
	}
	defer func() {
		if err := w.Store.ReleaseSlot(context.WithoutCancel(ctx), m.Workspace, env, lease.Slot, token); err != nil {
			log.ErrorContext(ctx, "release render slot", "slot", lease.Slot, "err", err)
		}
	}()
	started, ok, err := w.Store.StartRendering(ctx, v, lease.Slot, token, w.LeaseTTL)
	if err != nil {
		return err
	}
	if !ok {
		// Cancelled, or another delivery started an attempt in between.
		v, err := w.Store.Get(ctx, m.Workspace, env, m.VideoID)
		if err != nil || !v.LeaseLive(w.Store.now()) {
			return nil
		}
		return w.watch(ctx, rec.Body, v, log)
	}
	log = log.With("attempt", started.Attempts)
	return w.render(ctx, started, token, &lease, rec, log)
}

// token is a new attempt's fencing token.
func (w *Worker) token() (string, error) {
	b := make([]byte, 12)
	if _, err := io.ReadFull(w.Rand, b); err != nil {
		return "", fmt.Errorf("attempt token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// watch handles a delivery that found another attempt rendering the
// video: a duplicate, or the message of an attempt that lost its lease. It
// puts a copy back for just after the lease would run out, so that if the
// holder dies and its own message is lost, the render is still taken over.
func (w *Worker) watch(ctx context.Context, body string, v Video, log *slog.Logger) error {
	wait := v.LeaseExpiresAt.Sub(w.Store.now()) + time.Second
	log.InfoContext(ctx, "another attempt is rendering the video; watching it", "attempt", v.Attempts, "leaseLeft", wait.Seconds())
	return w.send(ctx, body, wait)
}

// giveUp fails a video whose attempts are used up and no attempt holds.
func (w *Worker) giveUp(ctx context.Context, v Video, log *slog.Logger) error {
	ok, err := w.Store.GiveUp(ctx, v, Error{Code: ErrRetriesExhausted,
		Message: fmt.Sprintf("The render failed %d times and was given up.", v.Attempts)})
	if err != nil {
		return err
	}
	if ok {
		log.WarnContext(ctx, "render gave up after its attempts", "attempts", v.Attempts)
	}
	return w.emitStored(ctx, v)
}

func (w *Worker) render(ctx context.Context, v Video, token string, lease *Lease, rec events.SQSMessage, log *slog.Logger) error {
	var spec movie.Spec
	if err := json.Unmarshal(v.Spec, &spec); err != nil {
		return w.fail(ctx, v, token, Error{Code: ErrInvalidSpec, Message: "The stored spec cannot be read."})
	}
	spec.Normalize() // specs stored before formats existed are mp4
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if dl, ok := ctx.Deadline(); ok {
		var stop context.CancelFunc
		rctx, stop = context.WithDeadline(rctx, dl.Add(-w.Reserve))
		defer stop()
	}
	// The heartbeat runs until the attempt has recorded its outcome: the
	// upload and the bookkeeping are part of the attempt.
	stopHeartbeat := w.heartbeat(ctx, v, token, lease, rec, cancel, log)
	defer stopHeartbeat()

	prog := newProgress(w.ProgressStep, func(pct int) {
		pctx, c := context.WithTimeout(rctx, 5*time.Second)
		defer c()
		if err := w.Store.SetProgress(pctx, v, token, pct); errors.Is(err, ErrNotRendering) {
			cancel(errCancelled)
		} else if err != nil {
			log.WarnContext(ctx, "progress update", "err", err)
		}
	})
	out := filepath.Join(w.WorkDir, v.ID+"-"+token+"."+spec.Format)
	thumb := filepath.Join(w.WorkDir, v.ID+"-"+token+".jpg")
	defer os.Remove(out)
	defer os.Remove(thumb)
	started := time.Now()
	res, err := w.Render(rctx, Job{Spec: spec, Out: out, Thumbnail: thumb, WorkDir: w.WorkDir, Watermark: v.Watermark, Progress: prog.report,
		FetchAsset: func(ctx context.Context, id string, dst io.Writer) (render.Stored, error) {
			return w.fetchAsset(ctx, v, id, dst)
		}})
	prog.stop()
	if err != nil {
		cause := context.Cause(rctx)
		switch {
		case errors.Is(cause, errCancelled):
			log.InfoContext(ctx, "the attempt lost the video (cancelled or taken over); stopped")
			return nil
		case errors.Is(cause, ErrLeaseLost):
			// The heartbeat could not renew the slot in time and another
			// render took it: this one steps back rather than exceed the
			// limit.
			return w.retry(ctx, v, token, rec.Body, cause, log)
		case ctx.Err() != nil:
			return fmt.Errorf("render of %s interrupted: %w", v.ID, err)
		case rctx.Err() != nil:
			return w.fail(ctx, v, token, Error{Code: ErrRenderTimeout, Message: "The render did not finish in the time a worker has."})
		case permanent(err):
			return w.fail(ctx, v, token, Error{Code: ErrInvalidSpec, Message: publicMessage(err)})
		}
		return w.retry(ctx, v, token, rec.Body, err, log)
	}
	log.InfoContext(ctx, "rendered", "seconds", time.Since(started).Seconds(), "duration", res.Duration,
		"bytes", res.SizeBytes, "peakWorkBytes", res.PeakWorkBytes, "peakRSSBytes", res.PeakRSSBytes)
	key := AttemptKey(v.Env, v.Workspace, v.ID, token, spec.Format)
	if err := w.upload(ctx, out, key); err != nil {
		return w.retry(ctx, v, token, rec.Body, err, log)
	}
	// The thumbnail goes beside the attempt's video, under the attempt's
	// own key, and is promoted with it by the fenced Succeed.
	tk, err := w.uploadThumbnail(ctx, thumb, key)
	if err != nil {
		return w.retry(ctx, v, token, rec.Body, err, log)
	}
	w2, h2 := res.Width, res.Height
	if w2 == 0 {
		w2, h2 = spec.Size()
	}
	ok, err := w.Store.Succeed(ctx, v, token, Rendered{Duration: res.Duration, SizeBytes: res.SizeBytes, Width: w2, Height: h2, S3Key: key, ThumbnailKey: tk})
	if err != nil {
		// Unknown whether it was recorded: the file stays, and the
		// message's next delivery finds out.
		return err
	}
	if !ok {
		return w.lost(ctx, v, key, tk, log)
	}
	return w.emitStored(ctx, v)
}

// lost handles a Succeed that found the attempt no longer holding the
// video. A write that went through but whose answer was lost (the SDK then
// retried it into its own condition) looks the same, so the video is read
// back: only files that are not the video's are deleted, and only this
// attempt's own (its video at key and its thumbnail at thumbKey, if any).
func (w *Worker) lost(ctx context.Context, v Video, key, thumbKey string, log *slog.Logger) error {
	now, err := w.Store.Get(ctx, v.Workspace, v.Env, v.ID)
	if err != nil && !isNotFound(err) {
		return err
	}
	if err == nil && now.Status == Succeeded && now.S3Key == key {
		return w.emit(ctx, now)
	}
	log.InfoContext(ctx, "the attempt lost the video before it could record its file; deleting its own upload", "status", now.Status)
	for _, k := range []string{key, thumbKey} {
		if k == "" || k == now.S3Key || k == now.ThumbnailKey {
			continue
		}
		if _, err := w.Objects.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.Bucket, Key: &k}); err != nil {
			log.ErrorContext(ctx, "delete the upload of a lost attempt", "key", k, "err", err)
		}
	}
	return nil
}

// heartbeat keeps the attempt's slot, video lease and message for another
// LeaseTTL every Heartbeat, and cancels the render when the attempt lost
// the slot or the video. The returned func stops it.
func (w *Worker) heartbeat(ctx context.Context, v Video, token string, lease *Lease, rec events.SQSMessage, cancel context.CancelCauseFunc, log *slog.Logger) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	beat := func() {
		bctx, c := context.WithTimeout(ctx, w.Heartbeat)
		defer c()
		if err := w.Store.RenewSlot(bctx, lease, w.LeaseTTL); errors.Is(err, ErrLeaseLost) {
			cancel(err)
			return
		} else if err != nil {
			log.WarnContext(ctx, "renew render slot", "err", err)
		}
		if err := w.Store.RenewLease(bctx, v, token, w.LeaseTTL); errors.Is(err, ErrNotRendering) {
			cancel(errCancelled)
			return
		} else if err != nil {
			log.WarnContext(ctx, "renew the video's lease", "err", err)
		}
		w.extend(bctx, rec, log)
	}
	w.extend(ctx, rec, log) // from the queue's long timeout down to LeaseTTL
	wg.Go(func() {
		t := time.NewTicker(w.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				beat()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// extend makes the message being worked on invisible for LeaseTTL more.
// Failing is not fatal: another delivery of it finds the lease live.
func (w *Worker) extend(ctx context.Context, rec events.SQSMessage, log *slog.Logger) {
	if rec.ReceiptHandle == "" {
		return
	}
	if _, err := w.Queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &w.QueueURL, ReceiptHandle: &rec.ReceiptHandle, VisibilityTimeout: int32(w.LeaseTTL / time.Second),
	}); err != nil {
		log.WarnContext(ctx, "extend the render message's visibility", "err", err)
	}
}

// retry ends a failed attempt: the video is queued again and a message
// sent after the attempt's backoff, or, after its last attempt, it fails.
func (w *Worker) retry(ctx context.Context, v Video, token, body string, cause error, log *slog.Logger) error {
	if v.Attempts >= w.MaxAttempts() {
		log.WarnContext(ctx, "the last attempt failed", "err", cause)
		return w.fail(ctx, v, token, Error{Code: ErrRetriesExhausted,
			Message: fmt.Sprintf("The render failed %d times and was given up.", v.Attempts)})
	}
	delay := w.RetryDelays[max(v.Attempts-1, 0)]
	log.WarnContext(ctx, "attempt failed; retrying", "retryIn", delay.Seconds(), "err", cause)
	ok, err := w.Store.Retry(ctx, v, token)
	if err != nil || !ok {
		return err // gone, cancelled or taken over: nothing to retry
	}
	return w.send(ctx, body, delay)
}

// fetchAsset copies an asset of the video's workspace and environment:
// the key is built from them, so no spec can reach another's files, and
// the file is read only if it is the one probing saw (If-Match its ETag),
// which is what lets the render trust what the probe stored about a clip.
func (w *Worker) fetchAsset(ctx context.Context, v Video, id string, dst io.Writer) (render.Stored, error) {
	a, err := w.Assets.Resolve(ctx, v.Workspace, v.Env, id)
	if err != nil {
		var e *apierr.Error
		if errors.As(err, &e) && (e.Code == apierr.NotFound || e.Code == apierr.Conflict) {
			return render.Stored{}, fmt.Errorf("asset %s no longer exists", id)
		}
		return render.Stored{}, err
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
			return render.Stored{}, fmt.Errorf("asset %s no longer exists", id)
		case errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed":
			return render.Stored{}, fmt.Errorf("asset %s was replaced after it was checked; upload it again as a new asset", id)
		}
		return render.Stored{}, fmt.Errorf("read asset %s: %w", id, err)
	}
	defer out.Body.Close()
	if _, err := io.Copy(dst, out.Body); err != nil {
		return render.Stored{}, err
	}
	var stored render.Stored
	if m := a.Media; m.Kind == assets.KindVideo && a.ETag != "" {
		stored = render.Stored{Duration: m.DurationSeconds, Width: m.Width, Height: m.Height, HasAudio: m.AudioCodec != ""}
	}
	return stored, nil
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
	ct, _ := mediaType(key, "")
	if _, err := w.Objects.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &w.Bucket, Key: &key, Body: f, ContentLength: aws.Int64(st.Size()),
		ContentType: aws.String(ct),
	}); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// uploadThumbnail puts the poster the renderer wrote at path beside the
// attempt's video at key and returns its key; a renderer that wrote none
// gives "".
func (w *Worker) uploadThumbnail(ctx context.Context, path, key string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	tk := ThumbnailKey(key)
	if err := w.upload(ctx, path, tk); err != nil {
		return "", err
	}
	return tk, nil
}

// fail records the attempt's failure (any holder's when token is "") and
// emits render.failed.
func (w *Worker) fail(ctx context.Context, v Video, token string, e Error) error {
	var ok bool
	var err error
	if token == "" {
		ok, err = w.Store.Fail(ctx, v, e)
	} else {
		ok, err = w.Store.FailAttempt(ctx, v, token, e)
	}
	if err != nil {
		return err
	}
	if !ok {
		return nil // finished, cancelled or taken over meanwhile
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

// send puts a render message on the queue, delayed by d (SQS allows 1 s
// to 15 minutes).
func (w *Worker) send(ctx context.Context, body string, d time.Duration) error {
	secs := int32(min(max((d+time.Second/2)/time.Second, 1), 900))
	if _, err := w.Queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &w.QueueURL, MessageBody: aws.String(body), DelaySeconds: secs,
	}); err != nil {
		return fmt.Errorf("send render message: %w", err)
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
