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

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/event"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/lambdas/registry"
	"github.com/framegate/framegate/pkg/localstack"
	"github.com/framegate/framegate/pkg/plan"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/videos"
	"github.com/framegate/framegate/pkg/webhook"
)

// client talks to the whole local stack over HTTP.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(keys ...string) string {
	v, _ := r.get(keys...).(string)
	return v
}

func (r reply) get(keys ...string) any {
	var cur any = r.body
	for _, k := range keys {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func (c *client) do(method, path, key string, body any) reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (c *client) expect(r reply, status int) reply {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// idleMissing gives template functions that another change declared but
// has not registered yet an idle handler, so this test does not depend on
// work in progress elsewhere; the registry's own test catches the gap.
func idleMissing(t *testing.T, reg map[string]lambdas.Constructor) {
	for _, f := range testenv.RepoTemplate(t).Functions {
		if _, ok := reg[f.Name]; ok {
			continue
		}
		if len(f.Routes) > 0 {
			reg[f.Name] = func(context.Context, lambdas.Deps) (any, error) {
				return lambdas.HTTPFunc(func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
					return events.APIGatewayProxyResponse{StatusCode: 501}, nil
				}), nil
			}
			continue
		}
		reg[f.Name] = func(context.Context, lambdas.Deps) (any, error) {
			return lambdas.SQSFunc(func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				var r events.SQSEventResponse
				for _, m := range ev.Records {
					r.BatchItemFailures = append(r.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				}
				return r, nil
			}), nil
		}
	}
}

// TestPublishingOverHTTP drives /v1/connections and publishing end to end
// through the local stack: gateway, authorizer, handlers, and the publish
// worker on its SQS loop.
func TestPublishingOverHTTP(t *testing.T) {
	reg := registry.Registry()
	idleMissing(t, reg)
	s := testenv.NewStack(t, testenv.WithRegistry(reg), func(c *localstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true", "WebhookRetrySchedule": "0s,1s"}
	})
	ctx := context.Background()
	fnEnv := func(id string) func(string) string {
		for _, f := range s.Template().Functions {
			if f.LogicalID == id {
				env, err := s.Resources().Env(f)
				if err != nil {
					t.Fatal(err)
				}
				return func(k string) string { return env[k] }
			}
		}
		t.Fatalf("no function %s", id)
		return nil
	}
	ks, err := keystore.Open(ctx, lambdas.Deps{AWS: s.AWS(), Getenv: fnEnv("KeysFunction")})
	if err != nil {
		t.Fatal(err)
	}
	wsA, a, err := ks.CreateWorkspace(ctx, "A", plan.Default, plan.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := ks.CreateWorkspace(ctx, "B", plan.Default, plan.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	live, sandbox, other := a[apikey.Live], a[apikey.Test], b[apikey.Live]
	c := &client{t: t, base: s.URL(), http: &http.Client{Timeout: 30 * time.Second}}
	rcv := newReceiver(t)
	workerEnv := fnEnv("PublishWorkerFunction")
	file := []byte("\x00\x00\x00\x18ftypmp42 a small render")
	v := succeededVideo(t, s.AWS(), workerEnv, wsA.ID, apikey.Live, time.Now, file)

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
				r := c.expect(c.do("POST", "/connections", live, tc.body), 400)
				if r.str("error", "code") != "invalid_request" || r.str("error", "field") != tc.field {
					t.Errorf("got %s, want field %s", r.raw, tc.field)
				}
			})
		}
	})

	// Create both types.
	r := c.expect(c.do("POST", "/connections", live, map[string]any{"type": "webhook", "name": "Zapier", "url": rcv.URL + "/hooks/catch/1"}), 201)
	hookID, secret := r.str("id"), r.str("secret")
	if !strings.HasPrefix(hookID, "conn_") || !strings.HasPrefix(secret, "whsec_") || r.header.Get("Location") != "/v1/connections/"+hookID ||
		r.str("secretPreview") != webhook.Mask(secret) || r.str("name") != "Zapier" || r.get("bucket") != nil {
		t.Fatalf("create webhook connection: %s", r.raw)
	}
	r = c.expect(c.do("POST", "/connections", live, map[string]any{"type": "s3", "bucket": custBucket, "prefix": "exports",
		"roleArn": "arn:aws:iam::123456789012:role/framegate-publisher"}), 201)
	s3ID, extID := r.str("id"), r.str("externalId")
	if !strings.HasPrefix(extID, "fgx_") || len(extID) < 36 || r.str("prefix") != "exports/" || r.get("secret") != nil || r.get("url") != nil {
		t.Fatalf("create s3 connection: %s", r.raw)
	}

	// Reads: no secret; list pages.
	r = c.expect(c.do("GET", "/connections/"+hookID, live, nil), 200)
	if r.get("secret") != nil || strings.Contains(r.raw, secret[6:]) || r.str("url") != rcv.URL+"/hooks/catch/1" {
		t.Errorf("get: %s", r.raw)
	}
	r = c.expect(c.do("GET", "/connections?limit=1", live, nil), 200)
	next := r.str("pagination", "next")
	if r.str("data", "0", "id") != hookID || next == "" || strings.Contains(r.raw, secret[6:]) {
		t.Fatalf("list page 1: %s", r.raw)
	}
	r = c.expect(c.do("GET", strings.TrimPrefix(next, "/v1"), live, nil), 200)
	if r.str("data", "0", "id") != s3ID {
		t.Errorf("list page 2: %s", r.raw)
	}

	// Tenant and environment isolation: not found, never forbidden.
	for _, key := range []string{other, sandbox} {
		c.expect(c.do("GET", "/connections/"+hookID, key, nil), 404)
		c.expect(c.do("DELETE", "/connections/"+s3ID, key, nil), 404)
		if r := c.expect(c.do("GET", "/connections", key, nil), 200); r.get("data", "0") != nil {
			t.Errorf("another tenant lists: %s", r.raw)
		}
		c.expect(c.do("POST", "/videos/"+v.ID+"/publish", key, map[string]any{"connectionId": hookID}), 404)
		c.expect(c.do("GET", "/videos/"+v.ID+"/publications", key, nil), 404)
	}
	c.expect(c.do("GET", "/connections/conn_nope", live, nil), 404)

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
				r := c.expect(c.do("POST", "/videos/"+v.ID+"/publish", live, tc.body), tc.status)
				if r.str("error", "field") != tc.field {
					t.Errorf("got %s, want field %s", r.raw, tc.field)
				}
			})
		}
		st, err := videos.NewStore(dynamoClient(s.AWS()), workerEnv("DATA_TABLE"), workerEnv("KEYS_TABLE"), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		queued := queuedVideo(t, st, wsA.ID, apikey.Live, time.Now)
		c.expect(c.do("POST", "/videos/"+queued.ID+"/publish", live, map[string]any{"connectionId": hookID}), 409)
		c.expect(c.do("POST", "/videos/vid_nope/publish", live, map[string]any{"connectionId": hookID}), 404)
	})

	eventsQueue := workerEnv("EVENTS_QUEUE_URL")
	sqsc := sqs.NewFromConfig(s.AWS())
	drain(t, sqsc, eventsQueue)
	waitStatus := func(pubID, want string) reply {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := c.expect(c.do("GET", "/videos/"+v.ID+"/publications", live, nil), 200)
			for i := range 20 {
				if r.str("data", fmt.Sprint(i), "id") == pubID && r.str("data", fmt.Sprint(i), "status") == want {
					return r
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("publication %s never became %s: %s", pubID, want, r.raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	t.Run("webhook now", func(t *testing.T) {
		r := c.expect(c.do("POST", "/videos/"+v.ID+"/publish", live, map[string]any{"connectionId": hookID}), 202)
		pubID := r.str("id")
		if !strings.HasPrefix(pubID, "pub_") || r.str("status") != "scheduled" || r.str("videoId") != v.ID {
			t.Fatalf("publish: %s", r.raw)
		}
		got := rcv.wait(t)
		if err := webhook.Verify(secret, got.header, got.body, time.Minute); err != nil {
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
		if err := json.Unmarshal(got.body, &payload); err != nil {
			t.Fatal(err)
		}
		if payload.Type != event.PublishExecuted || payload.Data.PublicationID != pubID || payload.Data.VideoID != v.ID ||
			!strings.Contains(payload.Data.DownloadURL, "X-Amz-Expires=900") || payload.ID != got.header.Get("Webhook-Id") {
			t.Errorf("payload %s", got.body)
		}
		waitStatus(pubID, "executed")
		evs := eventsOf(t, drain(t, sqsc, eventsQueue), event.PublishExecuted)
		if len(distinctIDs(evs)) != 1 || evs[0]["data"].(map[string]any)["publicationId"] != pubID {
			t.Errorf("events queue: %v", evs)
		}
		if n := rcv.count(); n != 1 {
			t.Errorf("%d webhooks, want 1", n)
		}
	})

	t.Run("s3 now", func(t *testing.T) {
		r := c.expect(c.do("POST", "/videos/"+v.ID+"/publish", live, map[string]any{"connectionId": s3ID}), 202)
		pubID := r.str("id")
		r = waitStatus(pubID, "executed")
		key := "exports/" + v.ID + ".mp4"
		if !strings.Contains(r.raw, "s3://"+custBucket+"/"+key) {
			t.Errorf("destination: %s", r.raw)
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
		r := c.expect(c.do("POST", "/videos/"+v.ID+"/publish", live, map[string]any{"connectionId": hookID,
			"publishAt": time.Now().Add(2 * time.Hour).Format(time.RFC3339)}), 202)
		pubID := r.str("id")
		path := "/videos/" + v.ID + "/publications/" + pubID
		c.expect(c.do("DELETE", path, other, nil), 404)
		r = c.expect(c.do("DELETE", path, live, nil), 200)
		if r.str("status") != "cancelled" || r.str("cancelledAt") == "" {
			t.Errorf("cancel: %s", r.raw)
		}
		c.expect(c.do("DELETE", path, live, nil), 200) // idempotent
		c.expect(c.do("DELETE", "/videos/"+v.ID+"/publications/pub_nope", live, nil), 404)
		// An executed one is a conflict.
		r = c.expect(c.do("GET", "/videos/"+v.ID+"/publications", live, nil), 200)
		for i := range 10 {
			if r.str("data", fmt.Sprint(i), "status") == "executed" {
				c.expect(c.do("DELETE", "/videos/"+v.ID+"/publications/"+r.str("data", fmt.Sprint(i), "id"), live, nil), 409)
				return
			}
		}
		t.Fatalf("no executed publication to try: %s", r.raw)
	})

	// Deleting a connection.
	c.expect(c.do("DELETE", "/connections/"+s3ID, live, nil), 200)
	c.expect(c.do("GET", "/connections/"+s3ID, live, nil), 404)
	c.expect(c.do("DELETE", "/connections/"+s3ID, live, nil), 404)
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
