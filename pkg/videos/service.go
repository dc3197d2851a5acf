package videos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/idempotency"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/movie"
	"github.com/framegate/framegate/pkg/webhooks"
)

// Queue is the part of the SQS client that sends.
type Queue interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Presigner signs download URLs.
type Presigner interface {
	PresignGetObject(context.Context, *s3.GetObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// Templates instantiates a template (built-in or the workspace's own) into
// a validated spec; an unknown id is not_found, bad variables are
// invalid_request naming the variable.
type Templates interface {
	Instantiate(ctx context.Context, ws string, env apikey.Env, id string, vars map[string]any, l movie.Limits) (movie.Spec, error)
}

// Assets resolves a spec's asset references (assets.Store.Resolve).
type Assets interface {
	Resolve(ctx context.Context, ws string, env apikey.Env, id string) (assets.Asset, error)
}

// Service creates, reads, lists, cancels and deletes videos.
type Service struct {
	Store     *Store
	Assets    Assets
	Queue     Queue
	QueueURL  string
	Objects   Objects
	Presigner Presigner
	Bucket    string
	Templates Templates
	// Guard is the egress policy webhookUrls are held to (webhooks.CheckTargetURL).
	Guard  *egress.Guard
	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader // for ids; crypto/rand when nil
}

// DownloadTTL is how long a download link works.
const DownloadTTL = 15 * time.Minute

// Request is the body of POST /v1/videos and of an intake message: a spec,
// or a template and its variables.
type Request struct {
	Spec       json.RawMessage `json:"spec,omitempty"`
	TemplateID string          `json:"templateId,omitempty"`
	Variables  map[string]any  `json:"variables,omitempty"`
	WebhookURL string          `json:"webhookUrl,omitempty"`
}

// Created is the answer to a creation: the status and JSON body to send,
// identical on an idempotent replay.
type Created struct {
	Status   int
	Body     []byte
	Replayed bool
	VideoID  string
}

// bareSpecHint says what to do when the body is a movie spec itself: its
// first field is then unknown at the top level of a render request.
func bareSpecHint(err error) error {
	var e *apierr.Error
	if !errors.As(err, &e) || e.Code != apierr.InvalidRequest {
		return err
	}
	switch e.Field {
	case "/resolution", "/fps", "/scenes", "/audio":
		return apierr.Invalid(e.Field, `Unknown field %q: a movie spec goes inside "spec", as in {"spec": {"resolution": …, "scenes": […]}}.`, e.Field[1:])
	}
	return err
}

// Create validates a render request against the environment's limits,
// stores the video counted against the queue cap, and queues it. With an
// idempotency key, a repeat of the same body within 24 h gets the first
// answer again and creates nothing.
func (sv *Service) Create(ctx context.Context, ws string, env apikey.Env, body []byte, idemKey string) (Created, error) {
	if idemKey != "" {
		if err := idempotency.Check(idemKey); err != nil {
			return Created{}, err
		}
	}
	var req Request
	if err := apierr.DecodeJSON(body, &req); err != nil {
		return Created{}, bareSpecHint(err)
	}
	lim, err := sv.Store.EnvLimits(ctx, ws, env)
	if err != nil {
		return Created{}, err
	}
	v, err := sv.build(ctx, ws, env, req, lim)
	if err != nil {
		return Created{}, err
	}
	out, replayed, err := sv.Store.Idempotent(ctx, sv.Logger, ws, env, idemKey, idempotency.BodyHash(body), v.ID,
		func(ctx context.Context) (idempotency.Response, error) {
			c, err := sv.insertAndQueue(ctx, v, lim)
			return idempotency.Response{Status: c.Status, Body: c.Body}, err
		})
	if err != nil {
		return Created{}, err
	}
	if replayed {
		var id struct{ ID string }
		_ = json.Unmarshal(out.Body, &id)
		return Created{Status: out.Status, Body: out.Body, Replayed: true, VideoID: id.ID}, nil
	}
	return Created{Status: out.Status, Body: out.Body, VideoID: v.ID}, nil
}

func (sv *Service) insertAndQueue(ctx context.Context, v Video, lim Limits) (Created, error) {
	if err := sv.Store.Insert(ctx, v, lim.QueuedRenders); err != nil {
		var ae *apierr.Error
		if !errors.As(err, &ae) {
			// The insert may have gone through with its answer lost.
			sv.failUnqueued(ctx, v)
		}
		return Created{}, err
	}
	msg, _ := json.Marshal(Message{VideoID: v.ID, Workspace: v.Workspace, Environment: string(v.Env)})
	if _, err := sv.Queue.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &sv.QueueURL, MessageBody: aws.String(string(msg))}); err != nil {
		sv.failUnqueued(ctx, v)
		e := apierr.New(apierr.ServiceUnavailable, "The render queue is unavailable; retry shortly.")
		e.Cause = fmt.Errorf("send render message for %s: %w", v.ID, err)
		return Created{}, e
	}
	body, err := json.Marshal(ViewOf(v, true))
	if err != nil {
		return Created{}, fmt.Errorf("encode video: %w", err)
	}
	return Created{Status: http.StatusAccepted, Body: body, VideoID: v.ID}, nil
}

// failUnqueued fails a video no render message names, if it exists:
// nothing may stay "queued" that no worker will ever see, holding a place
// in the queue. It is tried a few times (each try the SDK's retries), as
// the write that failed before it may fail again.
func (sv *Service) failUnqueued(ctx context.Context, v Video) {
	for try := 0; try < 3; try++ {
		_, err := sv.Store.Fail(context.WithoutCancel(ctx), v, Error{Code: ErrQueueUnavailable, Message: "The render could not be queued."})
		if err == nil {
			return
		}
		sv.Logger.ErrorContext(ctx, "mark unqueued video failed", "video", v.ID, "try", try+1, "err", err)
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
}

// build validates req and returns the video to create.
func (sv *Service) build(ctx context.Context, ws string, env apikey.Env, req Request, lim Limits) (Video, error) {
	sandbox := env == apikey.Test
	ml := movie.DefaultLimits(lim.MaxVideoSeconds, sandbox)
	var spec movie.Spec
	var vars json.RawMessage
	hasSpec := len(req.Spec) > 0 && string(req.Spec) != "null"
	switch {
	case hasSpec && req.TemplateID != "":
		return Video{}, apierr.Invalid("/templateId", "Send either spec or templateId, not both.")
	case hasSpec:
		if req.Variables != nil {
			return Video{}, apierr.Invalid("/variables", "variables go with a templateId.")
		}
		var err error
		if spec, err = movie.Parse(req.Spec, ml); err != nil {
			return Video{}, prefixField(err, "/spec")
		}
	case req.TemplateID != "":
		if sv.Templates == nil {
			return Video{}, apierr.New(apierr.NotFound, "No template %s.", req.TemplateID)
		}
		var err error
		if spec, err = sv.Templates.Instantiate(ctx, ws, env, req.TemplateID, req.Variables, ml); err != nil {
			return Video{}, err
		}
		if req.Variables != nil {
			vars, _ = json.Marshal(req.Variables)
		}
	default:
		return Video{}, apierr.Invalid("/spec", "Send a spec, or a templateId with its variables.")
	}
	prefix := ""
	if hasSpec {
		prefix = "/spec"
	}
	if err := sv.resolveAssets(ctx, ws, env, spec, prefix); err != nil {
		return Video{}, err
	}
	// Validate already refuses long sandbox movies; this keeps the rule
	// whatever path built the spec.
	if sandbox && spec.Duration() > movie.SandboxMaxSeconds {
		return Video{}, &apierr.Error{Code: apierr.SandboxDurationExceeded, Field: "/spec",
			Message: fmt.Sprintf("Sandbox videos are at most %d seconds; this one is %.2f s.", movie.SandboxMaxSeconds, spec.Duration())}
	}
	if req.WebhookURL != "" {
		// The rule of every destination, webhook endpoints' included:
		// what is accepted here, the webhook worker delivers.
		if _, err := webhooks.CheckTargetURL(ctx, sv.Guard, req.WebhookURL, string(env), "/webhookUrl"); err != nil {
			return Video{}, err
		}
	}
	now := sv.Now().UTC().Truncate(time.Millisecond)
	id, err := ids.New("vid", now, sv.Rand)
	if err != nil {
		return Video{}, err
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return Video{}, fmt.Errorf("encode spec: %w", err)
	}
	v := Video{
		ID: id, Workspace: ws, Env: env, Status: Queued, Spec: specJSON,
		TemplateID: req.TemplateID, Variables: vars, Duration: spec.Duration(),
		CreatedAt: now, WebhookURL: req.WebhookURL, Watermark: sandbox, Slot: -1,
	}
	v.Width, v.Height = spec.Size()
	if sandbox {
		exp := now.Add(SandboxRetention)
		v.ExpiresAt = &exp
	}
	return v, nil
}

// resolveAssets checks every asset the spec names, now, so that a render
// never starts on media that is missing, someone else's, not ready or of
// the wrong kind: each is an error naming the field.
func (sv *Service) resolveAssets(ctx context.Context, ws string, env apikey.Env, spec movie.Spec, prefix string) error {
	seen := map[string]assets.Asset{}
	for _, ref := range spec.AssetRefs() {
		field := prefix + ref.Field
		if sv.Assets == nil {
			return apierr.Invalid(field, "Assets cannot be used here.")
		}
		a, ok := seen[ref.ID]
		var err error
		if !ok {
			a, err = sv.Assets.Resolve(ctx, ws, env, ref.ID)
		}
		var e *apierr.Error
		switch {
		case errors.As(err, &e) && e.Code == apierr.NotFound:
			return &apierr.Error{Code: apierr.NotFound, Field: field, Message: fmt.Sprintf("No asset %s in this workspace and environment (%s).", ref.ID, field)}
		case errors.As(err, &e) && e.Code == apierr.Conflict:
			return apierr.Invalid(field, "%s", e.Message)
		case err != nil:
			return err
		}
		seen[ref.ID] = a
		kind := a.Media.Kind
		ok = kind == ref.Kind || ref.Kind == "audio" && kind == assets.KindVideo && a.Media.AudioCodec != ""
		if !ok {
			return apierr.Invalid(field, "Asset %s is %s %s; this place needs %s.", ref.ID, article(kind), kind, article(ref.Kind)+" "+ref.Kind)
		}
	}
	for i, sc := range spec.Scenes {
		for j, e := range sc.Elements {
			if e.Type != "video" || e.Asset == "" {
				continue
			}
			if d := seen[e.Asset].Media.DurationSeconds; e.TrimStart >= d {
				return apierr.Invalid(fmt.Sprintf("%s/scenes/%d/elements/%d/trimStart", prefix, i, j), "trimStart is past the clip's end (%.2f s).", d)
			}
		}
	}
	return nil
}

func article(kind string) string {
	if kind == assets.KindImage || kind == assets.KindAudio {
		return "an"
	}
	return "a"
}

// prefixField makes a spec error's JSON pointer relative to the request body.
func prefixField(err error, prefix string) error {
	var e *apierr.Error
	if !errors.As(err, &e) {
		return err
	}
	c := *e
	if c.Field == "" || strings.HasPrefix(c.Field, "/") {
		c.Field = prefix + c.Field
	}
	c.Message = strings.ReplaceAll(c.Message, " at /", " at "+prefix+"/")
	return &c
}

// Get reads one video.
func (sv *Service) Get(ctx context.Context, ws string, env apikey.Env, id string) (Video, error) {
	if !ids.Valid("vid", id) {
		return Video{}, errNotFound(id)
	}
	return sv.Store.Get(ctx, ws, env, id)
}

// Remove cancels an unfinished video, or deletes a finished one with its
// file. It returns the video as it was left and whether it is gone.
func (sv *Service) Remove(ctx context.Context, ws string, env apikey.Env, id string) (Video, bool, error) {
	v, err := sv.Get(ctx, ws, env, id)
	if err != nil {
		return Video{}, false, err
	}
	if !Terminal(v.Status) {
		ok, err := sv.Store.Cancel(ctx, v)
		if err != nil {
			return Video{}, false, err
		}
		if !ok {
			return Video{}, false, apierr.New(apierr.Conflict, "Video %s finished while it was being cancelled; retry to delete it.", id)
		}
		v, err = sv.Store.Get(ctx, ws, env, id)
		return v, false, err
	}
	if sv.Objects != nil {
		if err := DeleteFiles(ctx, sv.Objects, sv.Bucket, v); err != nil {
			return Video{}, false, err
		}
	}
	if err := sv.Store.Delete(ctx, v); err != nil {
		return Video{}, false, err
	}
	return v, true, nil
}

// Download is a time-limited link to a succeeded video's file or
// thumbnail.
type Download struct {
	URL       string `json:"url"`
	ExpiresAt string `json:"expiresAt"`
}

// DownloadURL presigns a GET of the video's file for DownloadTTL.
func (sv *Service) DownloadURL(ctx context.Context, ws string, env apikey.Env, id string) (Download, error) {
	v, err := sv.succeeded(ctx, ws, env, id, "downloaded")
	if err != nil {
		return Download{}, err
	}
	return sv.link(ctx, v.S3Key, v.ID)
}

// ThumbnailURL presigns a GET of the video's JPEG poster for DownloadTTL.
func (sv *Service) ThumbnailURL(ctx context.Context, ws string, env apikey.Env, id string) (Download, error) {
	v, err := sv.succeeded(ctx, ws, env, id, "shown as a thumbnail")
	if err != nil {
		return Download{}, err
	}
	if v.ThumbnailKey == "" {
		return Download{}, apierr.New(apierr.NotFound, "Video %s has no thumbnail: it was rendered before thumbnails existed.", id)
	}
	return sv.link(ctx, v.ThumbnailKey, v.ID)
}

// succeeded reads a video that must have succeeded to be what.
func (sv *Service) succeeded(ctx context.Context, ws string, env apikey.Env, id, what string) (Video, error) {
	v, err := sv.Get(ctx, ws, env, id)
	if err != nil {
		return Video{}, err
	}
	if v.Status != Succeeded || v.S3Key == "" {
		return Video{}, apierr.New(apierr.Conflict, "Video %s is %s; only a succeeded video can be %s.", id, v.Status, what)
	}
	return v, nil
}

// link presigns a GET of key, a file of video id, valid DownloadTTL,
// answered with the object's media type and file name.
func (sv *Service) link(ctx context.Context, key, id string) (Download, error) {
	ct, disp := mediaType(key, id)
	req, err := sv.Presigner.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: &sv.Bucket, Key: &key,
		ResponseContentType:        aws.String(ct),
		ResponseContentDisposition: aws.String(disp),
	}, s3.WithPresignExpires(DownloadTTL))
	if err != nil {
		return Download{}, fmt.Errorf("presign %s: %w", key, err)
	}
	return Download{URL: req.URL, ExpiresAt: sv.Now().Add(DownloadTTL).UTC().Format(TimeFormat)}, nil
}
