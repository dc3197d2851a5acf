package assets

// The asset worker: S3 tells it, through an ObjectCreated notification on
// SQS, that an upload finished (a PUT, or a multipart upload completed).
// It reads what arrived, never trusting the name or the declared type:
// the size against the declaration, the first bytes for the format, an
// image's header for its pixel count, then ffprobe, through a short-lived
// presigned GET, with the demuxer named. The asset becomes ready or failed
// (a failed file is deleted), and asset.ready or asset.failed goes out.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/render"
	"github.com/framegate/framegate/pkg/webhooks"
)

// WorkerObjects is the part of the S3 client the worker uses.
type WorkerObjects interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// GetPresigner signs the GET ffprobe reads the file through.
type GetPresigner interface {
	PresignGetObject(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// Publisher sends events.
type Publisher interface {
	Publish(context.Context, webhooks.Event, webhooks.Route) error
}

// Worker ingests uploaded files.
type Worker struct {
	Store   *Store
	Objects WorkerObjects
	Presign GetPresigner
	Bucket  string
	FFprobe string
	Events  Publisher
	Logger  *slog.Logger
	Now     func() time.Time
	// ProbeTimeout bounds one ffprobe run; default 2 minutes.
	ProbeTimeout time.Duration
}

// Handle is the SQS handler: each message is an S3 notification; the
// ones that failed for a reason a retry can fix are reported for retry.
func (w *Worker) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return lambdas.EachMessage(ev, func(rec events.SQSMessage) error {
		objects, err := ParseNotification([]byte(rec.Body))
		if err != nil {
			// Only S3 sends here; a malformed message reaches the DLQ for a look.
			w.Logger.ErrorContext(ctx, "malformed S3 notification", "message", rec.MessageId, "err", err)
			return err
		}
		var errs []error
		for _, o := range objects {
			if o.Bucket != w.Bucket {
				w.Logger.WarnContext(ctx, "notification of another bucket; ignored", "bucket", o.Bucket)
				continue
			}
			if err := w.Ingest(ctx, o.Key); err != nil {
				w.Logger.ErrorContext(ctx, "ingestion will be retried", "key", o.Key, "err", err)
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}), nil
}

// Object is one created object a notification names.
type Object struct {
	Bucket, Key string
	Size        int64
}

// ParseNotification reads the objects an S3 event notification reports
// created (keys decoded). S3's test event, sent when a bucket's
// notifications are configured, names none.
func ParseNotification(body []byte) ([]Object, error) {
	var n struct {
		Event   string `json:"Event"`
		Records []struct {
			EventSource string `json:"eventSource"`
			EventName   string `json:"eventName"`
			S3          struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key  string `json:"key"`
					Size int64  `json:"size"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("decode S3 notification: %w", err)
	}
	if n.Event == "s3:TestEvent" {
		return nil, nil
	}
	if len(n.Records) == 0 {
		return nil, errors.New("S3 notification without records")
	}
	var out []Object
	for i, r := range n.Records {
		if r.EventSource != "aws:s3" || r.S3.Bucket.Name == "" || r.S3.Object.Key == "" {
			return nil, fmt.Errorf("S3 notification record %d: not an S3 object event", i)
		}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		// Keys arrive URL-encoded, spaces as '+'.
		k, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return nil, fmt.Errorf("S3 notification record %d: key: %w", i, err)
		}
		out = append(out, Object{Bucket: r.S3.Bucket.Name, Key: k, Size: r.S3.Object.Size})
	}
	return out, nil
}

// Ingest probes the file at key and records the asset's outcome.
// Everything that cannot change on a retry is final; an error means a
// retry may help (S3 or DynamoDB unavailable).
func (w *Worker) Ingest(ctx context.Context, key string) error {
	env, ws, id, ok := ParseObjectKey(key)
	if !ok {
		w.Logger.WarnContext(ctx, "object outside the assets layout; ignored", "key", key)
		return nil
	}
	log := w.Logger.With("asset", id, "workspace", ws, "environment", env)
	a, err := w.Store.Get(ctx, ws, env, id)
	if isMissing(err) {
		// Deleted (or expired) before its file arrived: the file must not
		// outlive the record.
		log.InfoContext(ctx, "no asset for the uploaded file; deleting it")
		return w.delete(ctx, key)
	}
	if err != nil {
		return err
	}
	if a.Status != Pending { // a repeated notification: its event may have been lost
		if a.Status == Failed { // and so may the deletion of its file
			if err := w.delete(ctx, key); err != nil {
				return err
			}
		}
		return w.emit(ctx, a)
	}
	head, size, etag, err := w.readHead(ctx, key)
	if err != nil {
		if isNotFound(err) {
			log.InfoContext(ctx, "file is gone; nothing to ingest")
			return nil
		}
		return err
	}
	// A file replaced between this read and ffprobe's is caught later:
	// renders read the file only if its ETag is still the one recorded.
	m, fail, err := w.probe(ctx, a, key, head, size)
	if err != nil {
		return err
	}
	if fail != nil {
		log.InfoContext(ctx, "asset failed", "code", fail.Code, "bytes", size)
		var done bool
		if done, err = w.Store.MarkFailed(ctx, a, size, *fail); err == nil && done {
			err = w.delete(ctx, key)
		}
	} else {
		log.InfoContext(ctx, "asset ready", "kind", m.Kind, "format", m.Format, "seconds", m.DurationSeconds, "bytes", size)
		_, err = w.Store.MarkReady(ctx, a, size, etag, m)
	}
	if err != nil {
		return err
	}
	if a, err = w.Store.Get(ctx, ws, env, id); isMissing(err) {
		return nil
	} else if err != nil {
		return err
	}
	return w.emit(ctx, a)
}

// readHead reads the first HeadBytes of the file and, from the same
// answer, its size (Content-Range) and ETag: one request.
func (w *Worker) readHead(ctx context.Context, key string) (head []byte, size int64, etag string, err error) {
	obj, err := w.Objects.GetObject(ctx, &s3.GetObjectInput{Bucket: &w.Bucket, Key: &key, Range: aws.String(fmt.Sprintf("bytes=0-%d", HeadBytes-1))})
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) && ae.ErrorCode() == "InvalidRange" { // an empty file
		return nil, 0, "", nil
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("read the head of %s: %w", key, err)
	}
	defer obj.Body.Close()
	if head, err = io.ReadAll(io.LimitReader(obj.Body, HeadBytes)); err != nil {
		return nil, 0, "", fmt.Errorf("read the head of %s: %w", key, err)
	}
	size = aws.ToInt64(obj.ContentLength)
	if cr := aws.ToString(obj.ContentRange); cr != "" { // "bytes 0-262143/104832044"
		_, total, _ := strings.Cut(cr, "/")
		if size, err = strconv.ParseInt(total, 10, 64); err != nil {
			return nil, 0, "", fmt.Errorf("size of %s from %q: %w", key, cr, err)
		}
	}
	return head, size, aws.ToString(obj.ETag), nil
}

// probe decides what the file is. A *Error is the asset's failure; an
// error is worth a retry.
func (w *Worker) probe(ctx context.Context, a Asset, key string, head []byte, size int64) (Media, *Error, error) {
	if size > MaxSize || size != a.DeclaredSize {
		return Media{}, Check(a, size, Sniffed{}), nil
	}
	s, err := Sniff(head)
	if err != nil && s.Format != "" {
		return Media{}, &Error{ErrUnsupportedMedia, "The image's header cannot be read: the file is damaged or truncated."}, nil
	}
	if e := Check(a, size, s); e != nil {
		return Media{}, e, nil
	}
	req, err := w.Presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &w.Bucket, Key: &key}, s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		return Media{}, nil, fmt.Errorf("presign the probe of %s: %w", key, err)
	}
	to := w.ProbeTimeout
	if to <= 0 {
		to = 2 * time.Minute
	}
	pctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	p, err := render.ProbeMedia(pctx, w.FFprobe, req.URL, s.Format, "http,https,tcp,tls")
	if err != nil {
		if ctx.Err() != nil {
			return Media{}, nil, ctx.Err()
		}
		return Media{}, &Error{ErrUnsupportedMedia, fmt.Sprintf("The file looks like %s but cannot be decoded: it is damaged or truncated.", describe(s.Format))}, nil
	}
	m, e := Classify(a, s, p)
	return m, e, nil
}

func (w *Worker) delete(ctx context.Context, key string) error {
	if _, err := w.Objects.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.Bucket, Key: &key}); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// EventData is the data of asset.ready and asset.failed.
type EventData struct {
	AssetID         string   `json:"assetId"`
	Workspace       string   `json:"workspace"`
	Environment     string   `json:"environment"`
	Status          string   `json:"status"`
	Filename        string   `json:"filename"`
	SizeBytes       int64    `json:"sizeBytes"`
	Kind            *string  `json:"kind,omitempty"`
	DurationSeconds *float64 `json:"durationSeconds,omitempty"`
	Width           *int     `json:"width,omitempty"`
	Height          *int     `json:"height,omitempty"`
	Error           *Error   `json:"error,omitempty"`
}

// emit publishes the event of a finished asset. Its id and timestamp derive
// from the asset, so publishing again sends the very same event, which
// receivers deduplicate on its id.
func (w *Worker) emit(ctx context.Context, a Asset) error {
	typ := webhooks.AssetReady
	if a.Status == Failed {
		typ = webhooks.AssetFailed
	}
	v := ViewOf(a, nil)
	d := EventData{
		AssetID: a.ID, Workspace: a.Workspace, Environment: string(a.Env), Status: a.Status, Filename: a.Filename,
		SizeBytes: v.SizeBytes, Kind: v.Kind, DurationSeconds: v.DurationSeconds, Width: v.Width, Height: v.Height, Error: a.Error,
	}
	at := w.Now()
	if a.FinishedAt != nil {
		at = *a.FinishedAt
	}
	ev, err := webhooks.SeededEvent(typ, a.ID, d, at)
	if err != nil {
		return err
	}
	return w.Events.Publish(ctx, ev, webhooks.Route{Workspace: a.Workspace, Environment: string(a.Env)})
}

// isMissing is the store's not found.
func isMissing(err error) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code == apierr.NotFound
}

func isNotFound(err error) bool {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		c := ae.ErrorCode()
		return c == "NotFound" || c == "NoSuchKey" || c == "404"
	}
	return false
}
