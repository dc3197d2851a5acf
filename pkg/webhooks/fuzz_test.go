package webhooks

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var region = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)

// FuzzParseAWSTarget: an accepted address names a region and, for SQS, is
// a queue URL of that region; nothing else is accepted, nothing panics.
func FuzzParseAWSTarget(f *testing.F) {
	f.Add(TypeSQS, "https://sqs.eu-west-1.amazonaws.com/123456789012/framegate-events")
	f.Add(TypeSQS, "https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo")
	f.Add(TypeEventBridge, "arn:aws:events:us-east-1:123456789012:event-bus/default")
	f.Add(TypeEventBridge, "arn:aws-cn:events:cn-north-1:123456789012:event-bus/a/b")
	f.Add(TypeHTTP, "https://example.com")
	f.Fuzz(func(t *testing.T, typ, address string) {
		a, ok := ParseAWSTarget(typ, address)
		_, err := checkAWSAddress(typ, address)
		if ok != (err == nil) && strings.TrimSpace(address) == address {
			t.Fatalf("ParseAWSTarget %v, checkAWSAddress %v for %q", ok, err, address)
		}
		if !ok {
			return
		}
		if !region.MatchString(a.Region) || strings.ContainsAny(address, " \t\r\n\x00?#") {
			t.Fatalf("accepted %q with region %q", address, a.Region)
		}
		if typ == TypeSQS && !strings.HasPrefix(address, "https://sqs."+a.Region+".amazonaws.com") {
			t.Fatalf("queue URL %q is not of region %s", address, a.Region)
		}
		if typ != TypeSQS && typ != TypeEventBridge {
			t.Fatalf("type %q accepted", typ)
		}
	})
}

type echoPresigner struct{}

func (echoPresigner) PresignGetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	return &v4.PresignedHTTPRequest{URL: "https://b.example/" + *in.Key}, nil
}

// FuzzRenderLinks: whatever payload arrives, rendering links fails cleanly
// or yields an event with the same id whose data holds the link.
func FuzzRenderLinks(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","type":"render.succeeded","timestamp":"t","data":{"videoId":"v"}}`), "downloadUrl", "renders/a.mp4")
	f.Add([]byte(`{"id":"evt_1","type":"t","timestamp":"t","data":[1]}`), "x", "k")
	f.Add([]byte(`{"id":"evt_1","type":"t","timestamp":"t"}`), "x", "k")
	f.Add([]byte(`nope`), "", "")
	l := &Linker{Presigner: echoPresigner{}, Bucket: "b"}
	f.Fuzz(func(t *testing.T, payload []byte, field, key string) {
		out, err := l.Render(context.Background(), payload, []Link{{Field: field, ExpiresField: field + "ExpiresAt", Key: key}})
		if err != nil {
			return
		}
		var in, ev struct {
			ID   string
			Data map[string]json.RawMessage
		}
		_ = json.Unmarshal(payload, &in)
		if err := json.Unmarshal(out, &ev); err != nil || ev.ID != in.ID {
			t.Fatalf("rendered %q from %q: %v", out, payload, err)
		}
		if !utf8.ValidString(field) || !utf8.ValidString(key) {
			return // JSON carries them as U+FFFD; object keys are UTF-8
		}
		var u string
		if json.Unmarshal(ev.Data[field], &u) != nil || u != "https://b.example/"+key {
			t.Fatalf("data %s lacks the link of %q at %q", out, key, field)
		}
	})
}
