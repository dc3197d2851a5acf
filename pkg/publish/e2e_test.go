package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
	"github.com/framegate/framegate/pkg/webhooks"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// TestPublishingOverHTTP drives /v1/connections and publishing end to end
// through the local stack: gateway, authorizer, handlers, and the publish
// worker on its SQS loop.
func TestPublishingOverHTTP(t *testing.T) {
	reg := devstack.Registry()
	s := testenv.NewStack(t, testenv.WithRegistry(reg), func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true", "WebhookRetrySchedule": "0s,1s"}
	})
	ctx := context.Background()
	wsA, a := s.Workspace("A", ratelimit.Plan{})
	_, b := s.Workspace("B", ratelimit.Plan{})
	live, sandbox, other := a[apikey.Live], a[apikey.Test], b[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	rcv := testenv.NewReceiver(t, http.StatusOK)
	workerEnv := s.Getenv("PublishWorkerFunction")
	file := []byte("\x00\x00\x00\x18ftypmp42 a small render")
	v := testenv.SucceededVideo(t, s.AWS(), workerEnv, wsA.ID, apikey.Live, time.Now, file)

	// A customer's bucket in the emulator (moto's STS hands out credentials
	// for any role; it checks no trust policy).
	s3c := videos.S3Client(s.AWS())
	custBucket := strings.ToLower(strings.ReplaceAll(s.Resources().Prefix, "_", "-")) + "-customer"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(custBucket)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emptyBucket(t, s3c, custBucket) })

	t.Run("validation", func(t *testing.T) {
		role := "arn:aws:iam::123456789012:role/framegate-publisher"
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"no type", map[string]any{"url": rcv.URL}, "/type"},
			{"unknown type", map[string]any{"type": "ftp", "url": rcv.URL}, "/type"},
			{"webhook without url", map[string]any{"type": "webhook"}, "/url"},
			{"ftp url", map[string]any{"type": "webhook", "url": "ftp://example.com/"}, "/url"},
			{"private address", map[string]any{"type": "webhook", "url": "https://10.0.0.1/hook"}, "/url"},
			{"metadata address", map[string]any{"type": "webhook", "url": "http://169.254.169.254/latest"}, "/url"},
			{"webhook with bucket", map[string]any{"type": "webhook", "url": rcv.URL, "bucket": "b-1"}, "/bucket"},
			{"long name", map[string]any{"type": "webhook", "url": rcv.URL, "name": strings.Repeat("n", 101)}, "/name"},
			{"unknown field", map[string]any{"type": "webhook", "url": rcv.URL, "secret": "mine"}, "/secret"},
			{"s3 without bucket", map[string]any{"type": "s3", "roleArn": role}, "/bucket"},
			{"upper-case bucket", map[string]any{"type": "s3", "bucket": "My_Bucket", "roleArn": role}, "/bucket"},
			{"short bucket", map[string]any{"type": "s3", "bucket": "ab", "roleArn": role}, "/bucket"},
			{"bucket like an IP", map[string]any{"type": "s3", "bucket": "192.168.5.4", "roleArn": role}, "/bucket"},
			{"bucket with ..", map[string]any{"type": "s3", "bucket": "a..b", "roleArn": role}, "/bucket"},
			{"no role", map[string]any{"type": "s3", "bucket": "cust-bucket"}, "/roleArn"},
			{"user ARN", map[string]any{"type": "s3", "bucket": "cust-bucket", "roleArn": "arn:aws:iam::123456789012:user/bob"}, "/roleArn"},
			{"short account", map[string]any{"type": "s3", "bucket": "cust-bucket", "roleArn": "arn:aws:iam::1234:role/x"}, "/roleArn"},
			{"absolute prefix", map[string]any{"type": "s3", "bucket": "cust-bucket", "roleArn": role, "prefix": "/exports"}, "/prefix"},
			{"dot-dot prefix", map[string]any{"type": "s3", "bucket": "cust-bucket", "roleArn": role, "prefix": "a/../b"}, "/prefix"},
			{"bad region", map[string]any{"type": "s3", "bucket": "cust-bucket", "roleArn": role, "region": "Mars"}, "/region"},
			{"our external id only", map[string]any{"type": "s3", "bucket": "cust-bucket", "roleArn": role, "externalId": "guess"}, "/externalId"},
			{"s3 with url", map[string]any{"type": "s3", "bucket": "cust-bucket", "roleArn": role, "url": rcv.URL}, "/url"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.Expect(c.Do("POST", "/connections", live, tc.body), 400)
				if r.Str("error", "code") != "invalid_request" || r.Str("error", "field") != tc.field {
					t.Errorf("got %s, want field %s", r.Raw, tc.field)
				}
			})
		}
	})

	// Create both types.
	r := c.Expect(c.Do("POST", "/connections", live, map[string]any{"type": "webhook", "name": "Zapier", "url": rcv.URL + "/hooks/catch/1"}), 201)
	hookID, secret := r.Str("id"), r.Str("secret")
	if !strings.HasPrefix(hookID, "conn_") || !strings.HasPrefix(secret, "whsec_") || r.Header.Get("Location") != "/v1/connections/"+hookID ||
		r.Str("secretPreview") != webhooksig.Mask(secret) || r.Str("name") != "Zapier" || r.Get("bucket") != nil {
		t.Fatalf("create webhook connection: %s", r.Raw)
	}
	r = c.Expect(c.Do("POST", "/connections", live, map[string]any{"type": "s3", "bucket": custBucket, "prefix": "exports",
		"roleArn": "arn:aws:iam::123456789012:role/framegate-publisher"}), 201)
	s3ID, extID := r.Str("id"), r.Str("externalId")
	if !strings.HasPrefix(extID, "fgx_") || len(extID) < 36 || r.Str("prefix") != "exports/" || r.Get("secret") != nil || r.Get("url") != nil {
		t.Fatalf("create s3 connection: %s", r.Raw)
	}

	// Reads: no secret; list pages.
	r = c.Expect(c.Do("GET", "/connections/"+hookID, live, nil), 200)
	if r.Get("secret") != nil || strings.Contains(r.Raw, secret[6:]) || r.Str("url") != rcv.URL+"/hooks/catch/1" {
		t.Errorf("get: %s", r.Raw)
	}
	r = c.Expect(c.Do("GET", "/connections?limit=1", live, nil), 200)
	next := r.Str("pagination", "next")
	if r.Str("data", "0", "id") != hookID || next == "" || strings.Contains(r.Raw, secret[6:]) {
		t.Fatalf("list page 1: %s", r.Raw)
	}
	r = c.Expect(c.Do("GET", strings.TrimPrefix(next, "/v1"), live, nil), 200)
	if r.Str("data", "0", "id") != s3ID {
		t.Errorf("list page 2: %s", r.Raw)
	}

	// Tenant and environment isolation: not found, never forbidden.
	for _, key := range []string{other, sandbox} {
		c.Expect(c.Do("GET", "/connections/"+hookID, key, nil), 404)
		c.Expect(c.Do("DELETE", "/connections/"+s3ID, key, nil), 404)
		if r := c.Expect(c.Do("GET", "/connections", key, nil), 200); r.Get("data", "0") != nil {
			t.Errorf("another tenant lists: %s", r.Raw)
		}
		c.Expect(c.Do("POST", "/videos/"+v.ID+"/publish", key, map[string]any{"connectionId": hookID}), 404)
		c.Expect(c.Do("GET", "/videos/"+v.ID+"/publications", key, nil), 404)
	}
	c.Expect(c.Do("GET", "/connections/conn_nope", live, nil), 404)

	t.Run("publish validation", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			body   any
			status int
			field  string
		}{
			{"beyond 30 days", map[string]any{"connectionId": hookID, "publishAt": time.Now().Add(31 * 24 * time.Hour).Format(time.RFC3339)}, 400, "/publishAt"},
			{"in the past", map[string]any{"connectionId": hookID, "publishAt": time.Now().Add(-time.Hour).Format(time.RFC3339)}, 400, "/publishAt"},
			{"not a time", map[string]any{"connectionId": hookID, "publishAt": "soon"}, 400, "/publishAt"},
			{"no connection", map[string]any{}, 400, "/connectionId"},
			{"unknown connection", map[string]any{"connectionId": "conn_00000000000000000000000000"}, 400, "/connectionId"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.Expect(c.Do("POST", "/videos/"+v.ID+"/publish", live, tc.body), tc.status)
				if r.Str("error", "field") != tc.field {
					t.Errorf("got %s, want field %s", r.Raw, tc.field)
				}
			})
		}
		st, err := videos.NewStore(dynamoClient(s.AWS()), workerEnv("DATA_TABLE"), workerEnv("KEYS_TABLE"), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		queued := testenv.QueuedVideo(t, st, wsA.ID, apikey.Live, time.Now)
		c.Expect(c.Do("POST", "/videos/"+queued.ID+"/publish", live, map[string]any{"connectionId": hookID}), 409)
		c.Expect(c.Do("POST", "/videos/vid_nope/publish", live, map[string]any{"connectionId": hookID}), 404)
	})

	eventsQueue := workerEnv("EVENTS_QUEUE_URL")
	sqsc := sqs.NewFromConfig(s.AWS())
	drain(t, sqsc, eventsQueue)
	waitStatus := func(pubID, want string) testenv.Reply {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := c.Expect(c.Do("GET", "/videos/"+v.ID+"/publications", live, nil), 200)
			for i := range 20 {
				if r.Str("data", fmt.Sprint(i), "id") == pubID && r.Str("data", fmt.Sprint(i), "status") == want {
					return r
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("publication %s never became %s: %s", pubID, want, r.Raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	t.Run("webhook now", func(t *testing.T) {
		r := c.Expect(c.Do("POST", "/videos/"+v.ID+"/publish", live, map[string]any{"connectionId": hookID}), 202)
		pubID := r.Str("id")
		if !strings.HasPrefix(pubID, "pub_") || r.Str("status") != "scheduled" || r.Str("videoId") != v.ID {
			t.Fatalf("publish: %s", r.Raw)
		}
		got := rcv.Wait(t)
		if err := webhooksig.Verify(secret, got.Header, got.Body, time.Minute); err != nil {
			t.Fatalf("verify: %v", err)
		}
		var payload struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Data struct {
				PublicationID string `json:"publicationId"`
				VideoID       string `json:"videoId"`
				DownloadURL   string `json:"downloadUrl"`
			} `json:"data"`
		}
		if err := json.Unmarshal(got.Body, &payload); err != nil {
			t.Fatal(err)
		}
		if payload.Type != webhooks.PublishExecuted || payload.Data.PublicationID != pubID || payload.Data.VideoID != v.ID ||
			!strings.Contains(payload.Data.DownloadURL, "X-Amz-Expires=900") || payload.ID != got.Header.Get("Webhook-Id") {
			t.Errorf("payload %s", got.Body)
		}
		waitStatus(pubID, "executed")
		evs := eventsOf(t, drain(t, sqsc, eventsQueue), webhooks.PublishExecuted)
		if len(distinctIDs(evs)) != 1 || evs[0]["data"].(map[string]any)["publicationId"] != pubID {
			t.Errorf("events queue: %v", evs)
		}
		if n := rcv.Count(); n != 1 {
			t.Errorf("%d webhooks, want 1", n)
		}
	})

	t.Run("s3 now", func(t *testing.T) {
		r := c.Expect(c.Do("POST", "/videos/"+v.ID+"/publish", live, map[string]any{"connectionId": s3ID}), 202)
		pubID := r.Str("id")
		r = waitStatus(pubID, "executed")
		key := "exports/" + v.ID + ".mp4"
		if !strings.Contains(r.Raw, "s3://"+custBucket+"/"+key) {
			t.Errorf("destination: %s", r.Raw)
		}
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(custBucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("the video did not land in the customer's bucket: %v", err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !bytes.Equal(body, file) {
			t.Errorf("copied %q, want %q", body, file)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		r := c.Expect(c.Do("POST", "/videos/"+v.ID+"/publish", live, map[string]any{"connectionId": hookID,
			"publishAt": time.Now().Add(2 * time.Hour).Format(time.RFC3339)}), 202)
		pubID := r.Str("id")
		path := "/videos/" + v.ID + "/publications/" + pubID
		c.Expect(c.Do("DELETE", path, other, nil), 404)
		r = c.Expect(c.Do("DELETE", path, live, nil), 200)
		if r.Str("status") != "cancelled" || r.Str("cancelledAt") == "" {
			t.Errorf("cancel: %s", r.Raw)
		}
		c.Expect(c.Do("DELETE", path, live, nil), 200) // idempotent
		c.Expect(c.Do("DELETE", "/videos/"+v.ID+"/publications/pub_nope", live, nil), 404)
		// An executed one is a conflict.
		r = c.Expect(c.Do("GET", "/videos/"+v.ID+"/publications", live, nil), 200)
		for i := range 10 {
			if r.Str("data", fmt.Sprint(i), "status") == "executed" {
				c.Expect(c.Do("DELETE", "/videos/"+v.ID+"/publications/"+r.Str("data", fmt.Sprint(i), "id"), live, nil), 409)
				return
			}
		}
		t.Fatalf("no executed publication to try: %s", r.Raw)
	})

	// Deleting a connection.
	c.Expect(c.Do("DELETE", "/connections/"+s3ID, live, nil), 200)
	c.Expect(c.Do("GET", "/connections/"+s3ID, live, nil), 404)
	c.Expect(c.Do("DELETE", "/connections/"+s3ID, live, nil), 404)
}

func emptyBucket(t *testing.T, c *s3.Client, bucket string) {
	ctx := context.Background()
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err == nil && len(out.Contents) > 0 {
		var objs []s3types.ObjectIdentifier
		for _, o := range out.Contents {
			objs = append(objs, s3types.ObjectIdentifier{Key: o.Key})
		}
		_, _ = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &s3types.Delete{Objects: objs}})
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Logf("delete bucket %s: %v", bucket, err)
	}
}
