package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/framegate/framegate/pkg/connections"
)

// ObjectGetter reads our renders bucket.
type ObjectGetter interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Copier copies a rendered video into a customer's bucket as the role the
// customer granted. It reads with our credentials and writes with the
// role's: a server-side CopyObject would need the customer's role to read
// our bucket, that is a bucket policy naming every customer's account.
type Copier struct {
	Source ObjectGetter
	// Roles assumes the connection's role; the connections API checks a new
	// connection through the same code.
	Roles *connections.Roles
	// TempDir holds the file between download and upload ("" is os.TempDir).
	TempDir string
}

// NewCopier builds a copier from one AWS config.
func NewCopier(cfg aws.Config, source ObjectGetter) *Copier {
	return &Copier{Source: source, Roles: connections.NewRoles(cfg)}
}

// CopyError is a copy that failed; Permanent ones are not retried (a
// denied role or a missing bucket stays that way until the customer acts).
type CopyError struct {
	Permanent bool
	Code      string // ErrS3AccessDenied or ErrS3Failed
	Msg       string
}

func (e *CopyError) Error() string { return e.Msg }

// DestinationKey is where a video lands in the customer's bucket: named
// like its file in ours (key), whose extension is the video's format.
func DestinationKey(c connections.Connection, videoID, key string) string {
	ext := path.Ext(key)
	if ext == "" {
		ext = ".mp4"
	}
	return c.Prefix + videoID + ext
}

// Copy assumes the connection's role with its external id and writes
// s3://bucket/key to the connection's bucket under its prefix. The session
// name carries the publication id, so the customer's CloudTrail shows which
// publication wrote what.
func (c *Copier) Copy(ctx context.Context, conn connections.Connection, bucket, key, videoID, pubID string) (string, error) {
	dstBucket, err := c.Roles.Assume(ctx, conn, "framegate-"+pubID)
	if errors.Is(err, connections.ErrNoCredentials) {
		return "", &CopyError{Code: ErrS3AccessDenied, Msg: "assume role " + conn.RoleARN + ": no credentials returned"}
	}
	if err != nil {
		return "", classify("assume role "+conn.RoleARN, err)
	}

	f, size, contentType, err := c.download(ctx, bucket, key)
	if err != nil {
		return "", err
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()

	dst := DestinationKey(conn, videoID, key)
	_, err = dstBucket.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(conn.Bucket), Key: aws.String(dst), Body: f, ContentLength: aws.Int64(size),
		ContentType: aws.String(contentType),
	})
	if err != nil {
		return "", classify(fmt.Sprintf("write s3://%s/%s", conn.Bucket, dst), err)
	}
	return "s3://" + conn.Bucket + "/" + dst, nil
}

// download spools the video to a file: PutObject needs a seekable body to
// sign over plain HTTP and to retry, and a file keeps a long video out of
// the function's memory. It returns the object's Content-Type too (the
// video's format's; video/mp4 when it has none).
func (c *Copier) download(ctx context.Context, bucket, key string) (*os.File, int64, string, error) {
	obj, err := c.Source.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" {
			return nil, 0, "", &CopyError{Permanent: true, Code: ErrVideoUnavailable, Msg: "the video's file is gone"}
		}
		return nil, 0, "", fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()
	contentType := aws.ToString(obj.ContentType)
	if contentType == "" {
		contentType = "video/mp4"
	}
	f, err := os.CreateTemp(c.TempDir, "publish-*")
	if err != nil {
		return nil, 0, "", fmt.Errorf("spool video: %w", err)
	}
	size, err := io.Copy(f, obj.Body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, "", fmt.Errorf("spool s3://%s/%s: %w", bucket, key, err)
	}
	return f, size, contentType, nil
}

// classify turns an AWS error into a CopyError whose message the customer
// may read (it names the role or bucket they configured, never our
// credentials): their side's 4xx are permanent, anything else is retried.
func classify(what string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return &CopyError{Code: ErrS3Failed, Msg: what + ": the request did not complete"}
	}
	msg := fmt.Sprintf("%s: %s", what, ae.ErrorCode())
	if m := ae.ErrorMessage(); m != "" && len(m) < 300 {
		msg += ": " + m
	}
	switch ae.ErrorCode() {
	case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "InvalidAccessKeyId", "ExpiredToken",
		"AllAccessDisabled", "RegionDisabledException":
		return &CopyError{Permanent: true, Code: ErrS3AccessDenied, Msg: msg}
	}
	return &CopyError{Permanent: ae.ErrorFault() == smithy.FaultClient, Code: ErrS3Failed, Msg: msg}
}
