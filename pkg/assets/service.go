package assets

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/ids"
)

// Objects is the part of the S3 client the service uses.
type Objects interface {
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Service creates, reads, lists and deletes assets.
type Service struct {
	Store   *Store
	Objects Objects
	Signer  *Signer
	Bucket  string
	Logger  *slog.Logger
	Now     func() time.Time
	Rand    io.Reader // for ids; crypto/rand when nil
}

// CreateRequest is the body of POST /v1/assets.
type CreateRequest struct {
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	SizeBytes   int64  `json:"sizeBytes"`
	// Multipart asks for a multipart plan for a file that a single PUT
	// could carry, to upload it in resumable parts. Files over 5 GiB always
	// get one.
	Multipart bool `json:"multipart,omitempty"`
}

// validate checks what can be known before any byte arrives; it returns
// the normalized content type.
func (r CreateRequest) validate() (string, error) {
	if strings.TrimSpace(r.Filename) == "" {
		return "", apierr.Invalid("/filename", "filename is required.")
	}
	if err := apierr.Text("/filename", r.Filename, MaxFilenameLen, false); err != nil {
		return "", err
	}
	if strings.ContainsAny(r.Filename, `/\`) {
		return "", apierr.Invalid("/filename", "filename is a file's name, without a directory.")
	}
	mt, _, err := mime.ParseMediaType(r.ContentType)
	mt = strings.ToLower(mt)
	if _, ok := ContentTypes[mt]; err != nil || !ok {
		return "", apierr.Invalid("/contentType", "contentType must be one of %s.", strings.Join(contentTypeList(), ", "))
	}
	switch {
	case r.SizeBytes <= 0:
		return "", apierr.Invalid("/sizeBytes", "sizeBytes must be the file's size in bytes, at least 1.")
	case r.SizeBytes > MaxSize:
		return "", apierr.Invalid("/sizeBytes", "Assets are at most %d bytes (30 GiB); this one would be %d.", MaxSize, r.SizeBytes)
	}
	return mt, nil
}

func contentTypeList() []string {
	out := make([]string, 0, len(ContentTypes))
	for t := range ContentTypes {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Create validates a new asset against the environment's storage quota,
// records it as pending and returns it with the upload to perform: one
// presigned PUT, or a multipart plan.
func (sv *Service) Create(ctx context.Context, ws string, env apikey.Env, req CreateRequest, ch *audit.Change) (Asset, *Upload, error) {
	ct, err := req.validate()
	if err != nil {
		return Asset{}, nil, err
	}
	// The quota and the usage are independent reads: one round trip.
	var quota, used int64
	err = dynamo.Together(
		func() (err error) { quota, err = sv.Store.Quota(ctx, ws, env); return err },
		func() (err error) { used, err = sv.Store.Usage(ctx, ws, env); return err })
	if err != nil {
		return Asset{}, nil, err
	}
	if used+req.SizeBytes > quota {
		return Asset{}, nil, apierr.New(apierr.StorageLimitReached,
			"This environment stores %d of its %d bytes of assets; %d more do not fit. Delete assets or ask for a larger plan.", used, quota, req.SizeBytes)
	}
	now := sv.Now().UTC().Truncate(time.Millisecond)
	id, err := ids.New(IDPrefix, now, sv.Rand)
	if err != nil {
		return Asset{}, nil, err
	}
	a := Asset{
		ID: id, Workspace: ws, Env: env, Status: Pending, Filename: req.Filename, ContentType: ct,
		DeclaredSize: req.SizeBytes, CreatedAt: now, UploadBy: now.Add(UploadTTL),
	}
	if env == apikey.Test {
		exp := now.Add(SandboxRetention)
		a.ExpiresAt = &exp
	}
	objectKey := ObjectKey(env, ws, id)
	if req.Multipart || req.SizeBytes > MaxSinglePut {
		out, err := sv.Objects.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
			Bucket: &sv.Bucket, Key: &objectKey, ContentType: aws.String(ct),
		})
		if err != nil {
			return Asset{}, nil, fmt.Errorf("start multipart upload of %s: %w", id, err)
		}
		a.UploadID = aws.ToString(out.UploadId)
	}
	up, err := sv.Signer.Plan(ctx, sv.Bucket, objectKey, a)
	if err != nil {
		sv.abort(ctx, a)
		return Asset{}, nil, err
	}
	if err := sv.Store.Insert(ctx, a, ch); err != nil {
		sv.abort(ctx, a)
		return Asset{}, nil, err
	}
	return a, up, nil
}

// abort ends the multipart upload of an asset that was not recorded, so
// nothing half-written stays behind.
func (sv *Service) abort(ctx context.Context, a Asset) {
	if a.UploadID == "" {
		return
	}
	k := ObjectKey(a.Env, a.Workspace, a.ID)
	if _, err := sv.Objects.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
		Bucket: &sv.Bucket, Key: &k, UploadId: &a.UploadID,
	}); err != nil {
		sv.Logger.ErrorContext(ctx, "abort multipart upload of an unrecorded asset", "asset", a.ID, "err", err)
	}
}

// Get reads one asset.
func (sv *Service) Get(ctx context.Context, ws string, env apikey.Env, id string) (Asset, error) {
	if !ids.Valid(IDPrefix, id) {
		return Asset{}, errNotFound(id)
	}
	return sv.Store.Get(ctx, ws, env, id)
}

// Delete removes an asset, its file and any unfinished upload. Renders
// already queued that use it fail with the asset's absence.
func (sv *Service) Delete(ctx context.Context, ws string, env apikey.Env, id string, ch *audit.Change) (Asset, error) {
	a, err := sv.Get(ctx, ws, env, id)
	if err != nil {
		return Asset{}, err
	}
	k := ObjectKey(env, ws, id)
	if a.Status == Pending && a.UploadID != "" {
		_, err := sv.Objects.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &sv.Bucket, Key: &k, UploadId: &a.UploadID})
		if err != nil && !isNoSuchUpload(err) {
			return Asset{}, fmt.Errorf("abort upload of %s: %w", id, err)
		}
	}
	// The record goes last: a failure before leaves it for a retry, and a
	// file that lands after is deleted by the worker, which finds no record.
	if _, err := sv.Objects.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &sv.Bucket, Key: &k}); err != nil {
		return Asset{}, fmt.Errorf("delete file of %s: %w", id, err)
	}
	if err := sv.Store.Delete(ctx, a, ch); err != nil {
		return Asset{}, err
	}
	return a, nil
}
