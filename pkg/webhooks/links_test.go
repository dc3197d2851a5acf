package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/framegate/framegate/pkg/webhooks"
)

// TestRetriedLinkIsFresh: render.succeeded reaches an endpoint that fails
// the first attempt; each attempt carries a download link signed when it
// was sent (X-Amz-Date of the attempt, expiring LinkTTL after it), so the
// retry's link is not the first attempt's, and it downloads the file. The
// delivery log keeps the payload without links: no stale URL is ever
// resent. The events queue gets its own link, signed at publication.
func TestRetriedLinkIsFresh(t *testing.T) {
	h := newHarness(t, config{allowLoopback: true, schedule: "0s,2s"})
	rcv := newReceiver(t, response{status: 500}, response{status: 200})
	ep, _ := h.endpoint(rcv.URL, webhooks.RenderSucceeded)
	bucket, key := h.env(webhooks.EnvBucket), "renders/live/"+h.ws+"/vid_link.mp4"
	s3c := s3.NewFromConfig(h.tenv.AWS, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader("not really an mp4")}); err != nil {
		t.Fatal(err)
	}
	h.run(nil)
	ev, err := webhooks.NewEvent(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_link", "sizeBytes": 17}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev.Links = []webhooks.Link{{Field: "downloadUrl", ExpiresField: "downloadExpiresAt", Key: key, ContentType: "video/mp4", Filename: "vid_link.mp4"}}
	h.publishEvent(ev, webhooks.Route{})

	type link struct {
		signed, expires time.Time
		arrived         time.Time
		raw             string
	}
	var links []link
	for i := range 2 {
		got := rcv.wait(t, 15*time.Second)
		var body struct {
			Data struct {
				VideoID           string `json:"videoId"`
				SizeBytes         int    `json:"sizeBytes"`
				DownloadURL       string `json:"downloadUrl"`
				DownloadExpiresAt string `json:"downloadExpiresAt"`
			}
		}
		if err := json.Unmarshal(got.body, &body); err != nil || body.Data.VideoID != "vid_link" || body.Data.SizeBytes != 17 {
			t.Fatalf("attempt %d: %s %v", i+1, got.body, err)
		}
		u, err := url.Parse(body.Data.DownloadURL)
		if err != nil {
			t.Fatal(err)
		}
		signed, err1 := time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date"))
		expires, err2 := time.Parse(time.RFC3339, body.Data.DownloadExpiresAt)
		if err1 != nil || err2 != nil || u.Query().Get("X-Amz-Expires") != "900" || !strings.HasSuffix(u.Path, "/"+key) {
			t.Fatalf("attempt %d: link %s expiring %s", i+1, body.Data.DownloadURL, body.Data.DownloadExpiresAt)
		}
		links = append(links, link{signed: signed, expires: expires, arrived: got.at, raw: body.Data.DownloadURL})
	}
	for i, l := range links {
		if d := l.arrived.Sub(l.signed); d < -time.Second || d > 2*time.Second {
			t.Errorf("attempt %d: link signed at %s, arrived at %s: not signed for this attempt", i+1, l.signed, l.arrived)
		}
		if d := l.expires.Sub(l.arrived.Add(webhooks.LinkTTL)); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("attempt %d: expires %s, want %s after it arrived (%s)", i+1, l.expires, webhooks.LinkTTL, l.arrived)
		}
	}
	if !links[1].signed.After(links[0].signed) || links[1].raw == links[0].raw {
		t.Errorf("the retry carries the first attempt's link: %s then %s", links[0].signed, links[1].signed)
	}
	resp, err := http.Get(links[1].raw) // the emulator serves presigned GETs (it does not check signatures)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "not really an mp4" {
		t.Errorf("GET the retry's link: %d %q", resp.StatusCode, b)
	}

	d := h.waitDelivery(ep.ID, 5*time.Second, func(d webhooks.Delivery) bool { return d.Status == webhooks.Succeeded })
	if bytes.Contains(d.Payload, []byte("downloadUrl")) || len(d.Links) != 1 || d.Links[0].Key != key {
		t.Errorf("the log keeps %s with links %+v; want the payload without URL and the link", d.Payload, d.Links)
	}
	ms := recv(t, h.sqs, h.pub.EventsQueueURL, 1, 5*time.Second)
	if len(ms) != 1 || !strings.Contains(aws.ToString(ms[0].Body), `"downloadUrl":"http`) {
		t.Errorf("events queue: %v", ms)
	} else if _, ok := ms[0].MessageAttributes[webhooks.AttrLinks]; ok {
		t.Error("the events queue got the link references")
	}
}

// fakePresigner signs URLs that name the object and how many were signed.
type fakePresigner struct{ n int }

func (f *fakePresigner) PresignGetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	f.n++
	return &v4.PresignedHTTPRequest{URL: "https://bucket.example/" + aws.ToString(in.Key) + "?n=" + string(rune('0'+f.n)) +
		"&ct=" + aws.ToString(in.ResponseContentType) + "&cd=" + url.QueryEscape(aws.ToString(in.ResponseContentDisposition))}, nil
}

// TestLinkerRender: links fill their fields, leave the rest of the data
// alone, and are signed anew on every call; no links, no change.
func TestLinkerRender(t *testing.T) {
	p := &fakePresigner{}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	l := &webhooks.Linker{Presigner: p, Bucket: "renders", Now: func() time.Time { return now }}
	ev, _ := webhooks.NewEvent(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_1", "nested": map[string]int{"a": 1}}, now, nil)
	payload, _ := ev.Marshal()
	if out, err := l.Render(context.Background(), payload, nil); err != nil || !bytes.Equal(out, payload) {
		t.Fatalf("no links: %s %v", out, err)
	}
	links := []webhooks.Link{
		{Field: "downloadUrl", ExpiresField: "downloadExpiresAt", Key: "renders/a.mp4", ContentType: "video/mp4", Filename: "a.mp4"},
		{Field: "thumbnailUrl", Key: "renders/a.jpg"},
	}
	var got []map[string]any
	for range 2 {
		out, err := l.Render(context.Background(), payload, links)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			ID   string
			Data map[string]any
		}
		if err := json.Unmarshal(out, &e); err != nil || e.ID != ev.ID {
			t.Fatalf("%s %v", out, err)
		}
		got = append(got, e.Data)
	}
	d := got[0]
	if d["videoId"] != "vid_1" || d["nested"].(map[string]any)["a"] != 1.0 || d["downloadExpiresAt"] != "2030-01-02T03:19:05.000Z" ||
		!strings.HasPrefix(d["downloadUrl"].(string), "https://bucket.example/renders/a.mp4?n=1&ct=video/mp4&cd=attachment") ||
		!strings.HasPrefix(d["thumbnailUrl"].(string), "https://bucket.example/renders/a.jpg?n=2") || d["thumbnailExpiresAt"] != nil {
		t.Errorf("rendered data %v", d)
	}
	if got[1]["downloadUrl"] == got[0]["downloadUrl"] {
		t.Error("a second send reused the first link")
	}
	if _, err := (*webhooks.Linker)(nil).Render(context.Background(), payload, links); err == nil {
		t.Error("links without a linker rendered")
	}
}
