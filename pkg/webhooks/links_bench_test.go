package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/webhooks"
)

// BenchmarkLinkRender is what signing an event's download link costs at
// each attempt: a SigV4 presign (no network) and the payload rewritten
// around it. make bench prints it as a ratio to a v1 signature of the same
// payload, measured in the same run.
func BenchmarkLinkRender(b *testing.B) {
	cfg := awsconf.Base(awsconf.Options{Region: "eu-west-1"})
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	l := &webhooks.Linker{Presigner: webhooks.PresignClient(cfg), Bucket: "framegate-renders"}
	ev, _ := webhooks.NewEvent(webhooks.RenderSucceeded, map[string]any{"videoId": "vid_01j9zq3m4v8c6a0h2x5k7n9p1r",
		"workspace": "ws_01j9zq3m4v8c6a0h2x5k7n9p1r", "environment": "live", "status": "succeeded", "durationSeconds": 12.5, "sizeBytes": 4815162},
		time.Now(), nil)
	payload, _ := ev.Marshal()
	links := []webhooks.Link{{Field: "downloadUrl", ExpiresField: "downloadExpiresAt", Key: "renders/live/ws/vid.mp4",
		ContentType: "video/mp4", Filename: "vid.mp4"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Render(ctx, payload, links); err != nil {
			b.Fatal(err)
		}
	}
}
