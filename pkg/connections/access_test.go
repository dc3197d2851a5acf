package connections_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
)

const role = "arn:aws:iam::123456789012:role/framegate-publisher"

// bucket creates a customer bucket in the emulator and removes it after.
func bucket(t *testing.T, cfg aws.Config, name string) *s3.Client {
	t.Helper()
	ctx := context.Background()
	c := videos.S3Client(cfg)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
		if err == nil {
			for _, o := range out.Contents {
				_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: o.Key})
			}
		}
		_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	})
	return c
}

func keys(t *testing.T, c *s3.Client, b string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, aws.ToString(o.Key))
	}
	return ks
}

func bucketName(prefix, suffix string) string {
	return strings.ToLower(strings.ReplaceAll(prefix, "_", "-")) + "-" + suffix
}

// wrapped is the emulator's S3 client with one call replaced: the failures
// moto cannot produce (it enforces no IAM policy).
type wrapped struct {
	connections.Bucket
	put, del error
}

func (w wrapped) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if w.put != nil {
		return nil, w.put
	}
	return w.Bucket.PutObject(ctx, in, o...)
}

func (w wrapped) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if w.del != nil {
		return nil, w.del
	}
	return w.Bucket.DeleteObject(ctx, in, o...)
}

func checker(t *testing.T, cfg aws.Config, put, del error) *connections.Checker {
	roles := connections.NewRoles(cfg)
	inner := roles.Bucket
	roles.Bucket = func(creds aws.CredentialsProvider, region string) connections.Bucket {
		return wrapped{Bucket: inner(creds, region), put: put, del: del}
	}
	return &connections.Checker{Roles: roles, Log: testenv.Logger(t)}
}

// leaks says whether a client-facing message carries what it must not.
func leaks(msg string) bool {
	for _, s := range []string{"api error", "RequestID", "request id", "StatusCode", "operation error", "ValidationError",
		"NoSuchBucket", "AccessDenied", "validation error", "https://", "http://"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func TestAccessCheck(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	name := bucketName(env.Prefix, "cust")
	s3c := bucket(t, env.AWS, name)
	conn := connections.Connection{ID: "conn_check", Type: connections.TypeS3, Bucket: name, Prefix: "exports/",
		RoleARN: role, ExternalID: "fgx_0123456789abcdefghjkmnpqrstvwx"}

	t.Run("existing bucket passes and leaves nothing", func(t *testing.T) {
		if err := checker(t, env.AWS, nil, nil).Check(ctx, conn); err != nil {
			t.Fatal(err)
		}
		if ks := keys(t, s3c, name); len(ks) != 0 {
			t.Fatalf("left %v in the bucket", ks)
		}
	})

	t.Run("a failed delete is no error", func(t *testing.T) {
		if err := checker(t, env.AWS, nil, errors.New("delete refused")).Check(ctx, conn); err != nil {
			t.Fatal(err)
		}
		// What it wrote, and where: under the prefix.
		if ks := keys(t, s3c, name); len(ks) != 1 || ks[0] != "exports/.framegate-access-check" {
			t.Fatalf("bucket holds %v, want the check object under the prefix", ks)
		}
		_, _ = s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: aws.String("exports/.framegate-access-check")})
	})

	for _, tc := range []struct {
		name   string
		conn   func(c connections.Connection) connections.Connection
		put    error
		code   apierr.Code
		field  string
		saying []string
	}{
		{"missing bucket", func(c connections.Connection) connections.Connection { c.Bucket = name + "-nope"; return c },
			nil, apierr.InvalidRequest, "/bucket", []string{name + "-nope", "does not exist"}},
		// moto accepts any role ARN; it refuses a session name over 64
		// characters, which a connection id this long makes.
		{"AssumeRole refused", func(c connections.Connection) connections.Connection {
			c.ID = "conn_" + strings.Repeat("x", 60)
			return c
		},
			nil, apierr.InvalidRequest, "/roleArn", []string{role, conn.ExternalID, "trust policy", "sts:ExternalId"}},
		{"write denied", nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied", Fault: smithy.FaultClient},
			apierr.InvalidRequest, "/bucket", []string{"s3:PutObject", "arn:aws:s3:::" + name + "/exports/*"}},
		{"bucket in another region", nil, &smithy.GenericAPIError{Code: "PermanentRedirect", Fault: smithy.FaultClient},
			apierr.InvalidRequest, "/region", []string{name}},
		{"S3 slowing down", nil, &smithy.GenericAPIError{Code: "SlowDown", Fault: smithy.FaultServer},
			apierr.ServiceUnavailable, "", []string{"retry"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := conn
			if tc.conn != nil {
				c = tc.conn(c)
			}
			e := apierr.From(checker(t, env.AWS, tc.put, nil).Check(ctx, c))
			if e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("got %s on %q (%v), want %s on %q", e.Code, e.Field, e, tc.code, tc.field)
			}
			for _, s := range tc.saying {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q does not say %q", e.Message, s)
				}
			}
			if leaks(e.Message) {
				t.Errorf("message %q echoes the SDK", e.Message)
			}
		})
	}

	t.Run("bounded in time", func(t *testing.T) {
		k := checker(t, env.AWS, nil, nil)
		k.Timeout = time.Nanosecond
		if e := apierr.From(k.Check(ctx, conn)); e.Code != apierr.ServiceUnavailable || leaks(e.Message) {
			t.Fatalf("got %v, want a 503", e)
		}
	})
}

// TestCreateOverHTTP drives POST /v1/connections through the local stack:
// every response is checked against openapi.yaml.
func TestCreateOverHTTP(t *testing.T) {
	s := testenv.NewStack(t, func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true"}
	})
	_, k := s.Workspace("A", ratelimit.Plan{})
	_, other := s.Workspace("B", ratelimit.Plan{})
	live := k[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	name := bucketName(s.Resources().Prefix, "cust")
	s3c := bucket(t, s.AWS(), name)
	stored := func() int {
		t.Helper()
		r := c.Expect(c.Do("GET", "/connections?limit=100", live, nil), 200)
		n := 0
		for r.Get("data", strconv.Itoa(n)) != nil {
			n++
		}
		return n
	}

	// An s3 connection whose bucket exists is created; the check object is gone.
	body := map[string]any{"type": "s3", "bucket": name, "prefix": "exports", "roleArn": role}
	r := c.Expect(c.Do("POST", "/connections", live, body), 201)
	extID := r.Str("externalId")
	if !strings.HasPrefix(extID, "fgx_") || r.Str("prefix") != "exports/" {
		t.Fatalf("create: %s", r.Raw)
	}
	if ks := keys(t, s3c, name); len(ks) != 0 {
		t.Fatalf("the check left %v", ks)
	}
	// The external id is the same for the same role, in this workspace only.
	if again := c.Expect(c.Do("POST", "/connections", live, body), 201).Str("externalId"); again != extID {
		t.Errorf("external id %s, then %s", extID, again)
	}
	if theirs := c.Expect(c.Do("POST", "/connections", other[apikey.Live], body), 201).Str("externalId"); theirs == extID {
		t.Error("another workspace gets the same external id")
	}

	// A missing bucket: 400 on /bucket, nothing stored.
	before := stored()
	r = c.Expect(c.Do("POST", "/connections", live, map[string]any{"type": "s3", "bucket": name + "-nope", "roleArn": role}), 400)
	if r.Str("error", "code") != "invalid_request" || r.Str("error", "field") != "/bucket" ||
		!strings.Contains(r.Str("error", "message"), "does not exist") || leaks(r.Str("error", "message")) {
		t.Fatalf("missing bucket: %s", r.Raw)
	}
	if after := stored(); after != before {
		t.Fatalf("%d connections before a failed check, %d after", before, after)
	}

	// The cap: 409 connection_limit_reached, and a delete frees one place.
	for n := stored(); n < connections.MaxPerEnvironment; n++ {
		c.Expect(c.Do("POST", "/connections", live, map[string]any{"type": "webhook", "url": "http://127.0.0.1:9/hook"}), 201)
	}
	r = c.Expect(c.Do("POST", "/connections", live, map[string]any{"type": "webhook", "url": "http://127.0.0.1:9/hook"}), 409)
	if r.Str("error", "code") != "connection_limit_reached" || !strings.Contains(r.Str("error", "message"), "25") {
		t.Fatalf("over the cap: %s", r.Raw)
	}
	// Over the cap, an s3 connection is refused too, and nothing is stored.
	c.Expect(c.Do("POST", "/connections", live, body), 409)
	first := c.Expect(c.Do("GET", "/connections?limit=1", live, nil), 200).Str("data", "0", "id")
	c.Expect(c.Do("DELETE", "/connections/"+first, live, nil), 200)
	c.Expect(c.Do("DELETE", "/connections/"+first, live, nil), 404)
	c.Expect(c.Do("POST", "/connections", live, body), 201)
	c.Expect(c.Do("POST", "/connections", live, body), 409)
}
