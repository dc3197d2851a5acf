package assets

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Upload is how the client sends the file, straight to S3: one PUT of the
// whole file to URL with Headers, or, with Multipart, one PUT per part and
// a POST that completes the upload. Nothing goes through the API.
type Upload struct {
	Method    string            `json:"method"`
	URL       string            `json:"url,omitempty"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expiresAt"`
	Multipart *Multipart        `json:"multipart,omitempty"`
}

// Multipart is the plan of a multipart upload. Each part is PUT to its
// URL (the answer's ETag header identifies it); the upload resumes after an
// interruption by listing the parts S3 already has (ListParts) and sending
// the others; Complete (CompleteMultipartUpload, the parts' numbers and
// ETags as XML) ends it, and Abort gives up.
type Multipart struct {
	UploadID  string  `json:"uploadId"`
	PartSize  int64   `json:"partSize"`
	Parts     []Part  `json:"parts"`
	ListParts Request `json:"listParts"`
	Complete  Request `json:"complete"`
	Abort     Request `json:"abort"`
}

// Part is one part to PUT.
type Part struct {
	PartNumber int    `json:"partNumber"`
	SizeBytes  int64  `json:"sizeBytes"`
	URL        string `json:"url"`
}

// Request is a presigned S3 request other than a part.
type Request struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// MaxParts bounds a plan's part URLs (and so the answer's size); S3 itself
// allows 10,000.
const MaxParts = 1000

// PartSize is the part size of a multipart upload of size bytes: S3's 5 MiB
// minimum, larger in whole MiB when MaxParts would not hold the file.
func PartSize(size int64) int64 {
	const mib = 1 << 20
	p := max(MinPartSize, (size+MaxParts-1)/MaxParts)
	return (p + mib - 1) / mib * mib
}

// Presigner signs the part and single-PUT URLs (the SDK's presign client).
type Presigner interface {
	PresignPutObject(context.Context, *s3.PutObjectInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
	PresignUploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// Signer presigns every request of an upload. The SDK presigns PUTs and
// parts itself; ListParts, CompleteMultipartUpload and
// AbortMultipartUpload it does not, so those are signed here with the same
// credentials, on the object URL a part's presigned URL names.
type Signer struct {
	Presign     Presigner
	Credentials aws.CredentialsProvider
	Region      string
	Now         func() time.Time
	v4          *v4.Signer
}

// NewSigner returns a signer for the S3 client c built from cfg.
func NewSigner(cfg aws.Config, c *s3.Client, now func() time.Time) *Signer {
	return &Signer{Presign: s3.NewPresignClient(c), Credentials: cfg.Credentials, Region: cfg.Region, Now: now, v4: v4.NewSigner()}
}

// Plan returns the upload of a pending asset: a multipart plan when it has
// an upload id, one PUT otherwise. Every URL works until a.UploadBy.
func (s *Signer) Plan(ctx context.Context, bucket, key string, a Asset) (*Upload, error) {
	ttl := a.UploadBy.Sub(s.Now())
	expires := func(o *s3.PresignOptions) { o.Expires = ttl }
	up := &Upload{Method: http.MethodPut, Headers: map[string]string{"Content-Type": a.ContentType}, ExpiresAt: a.UploadBy.UTC().Format(TimeFormat)}
	if a.UploadID == "" {
		req, err := s.Presign.PresignPutObject(ctx, &s3.PutObjectInput{
			Bucket: &bucket, Key: &key, ContentType: &a.ContentType, ContentLength: aws.Int64(a.DeclaredSize),
		}, expires)
		if err != nil {
			return nil, fmt.Errorf("presign upload of %s: %w", a.ID, err)
		}
		up.URL = req.URL
		up.Headers["Content-Length"] = strconv.FormatInt(a.DeclaredSize, 10)
		return up, nil
	}
	delete(up.Headers, "Content-Type") // the type was set when the upload started
	size := PartSize(a.DeclaredSize)
	m := &Multipart{UploadID: a.UploadID, PartSize: size}
	for n, off := 1, int64(0); off < a.DeclaredSize; n, off = n+1, off+size {
		part := min(size, a.DeclaredSize-off)
		req, err := s.Presign.PresignUploadPart(ctx, &s3.UploadPartInput{
			Bucket: &bucket, Key: &key, UploadId: &a.UploadID, PartNumber: aws.Int32(int32(n)), ContentLength: aws.Int64(part),
		}, expires)
		if err != nil {
			return nil, fmt.Errorf("presign part %d of %s: %w", n, a.ID, err)
		}
		m.Parts = append(m.Parts, Part{PartNumber: n, SizeBytes: part, URL: req.URL})
	}
	object, err := url.Parse(m.Parts[0].URL)
	if err != nil {
		return nil, fmt.Errorf("part URL of %s: %w", a.ID, err)
	}
	object.RawQuery = ""
	for _, r := range []struct {
		dst    *Request
		method string
	}{{&m.ListParts, http.MethodGet}, {&m.Complete, http.MethodPost}, {&m.Abort, http.MethodDelete}} {
		u, err := s.sign(ctx, r.method, *object, a.UploadID, ttl)
		if err != nil {
			return nil, fmt.Errorf("presign %s of the upload of %s: %w", r.method, a.ID, err)
		}
		*r.dst = Request{Method: r.method, URL: u}
	}
	up.Multipart = m
	return up, nil
}

// sign presigns method on the object URL with ?uploadId=.
func (s *Signer) sign(ctx context.Context, method string, object url.URL, uploadID string, ttl time.Duration) (string, error) {
	q := url.Values{"uploadId": {uploadID}, "X-Amz-Expires": {strconv.FormatInt(int64(ttl/time.Second), 10)}}
	object.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, object.String(), nil)
	if err != nil {
		return "", err
	}
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	u, _, err := s.v4.PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", s.Region, s.Now().UTC())
	return u, err
}
