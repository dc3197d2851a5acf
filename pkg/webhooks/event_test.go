package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

type eventRecorder struct {
	mu   sync.Mutex
	sent []*sqs.SendMessageInput
	fail string // queue URL whose sends fail
}

func (r *eventRecorder) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if aws.ToString(in.QueueUrl) == r.fail {
		return nil, errors.New("boom")
	}
	r.sent = append(r.sent, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}

func (r *eventRecorder) byQueue() map[string]*sqs.SendMessageInput {
	out := map[string]*sqs.SendMessageInput{}
	for _, m := range r.sent {
		out[aws.ToString(m.QueueUrl)] = m
	}
	return out
}

func attrs(m *sqs.SendMessageInput) map[string]string {
	out := map[string]string{}
	for k, v := range m.MessageAttributes {
		out[k] = aws.ToString(v.StringValue)
	}
	return out
}

func TestPublish(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)
	ev, err := NewEvent(RenderSucceeded, map[string]any{"videoId": "vid_1"}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	big, _ := NewEvent(RenderFailed, map[string]string{"x": strings.Repeat("a", MaxSize)}, now, nil)
	route := Route{Workspace: "ws_1", Environment: "live", WebhookURL: "https://example.com/hook"}
	tests := []struct {
		name    string
		ev      Event
		route   Route
		fail    string
		wantErr bool
		queues  int
	}{
		{"both queues", ev, route, "", false, 2},
		{"no webhook url", ev, Route{Workspace: "ws_1", Environment: "test"}, "", false, 2},
		{"events queue down", ev, route, "events", true, 1},
		{"webhook queue down", ev, route, "webhooks", true, 1},
		{"too large", big, route, "", true, 0},
		{"no workspace", ev, Route{Environment: "live"}, "", true, 0},
		{"no id", Event{Type: RenderFailed, Timestamp: "t"}, route, "", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &eventRecorder{fail: tc.fail}
			p := Publisher{SQS: rec, EventsQueueURL: "events", WebhookQueueURL: "webhooks"}
			err := p.Publish(context.Background(), tc.ev, tc.route)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Publish err = %v, want error %v", err, tc.wantErr)
			}
			if len(rec.sent) != tc.queues {
				t.Fatalf("%d sends, want %d", len(rec.sent), tc.queues)
			}
			for q, m := range rec.byQueue() {
				a := attrs(m)
				want := map[string]string{"type": tc.ev.Type, "workspace": tc.route.Workspace, "environment": tc.route.Environment}
				if tc.route.WebhookURL != "" {
					want["webhookUrl"] = tc.route.WebhookURL
				}
				if len(a) != len(want) {
					t.Errorf("%s: attributes %v, want %v", q, a, want)
				}
				for k, v := range want {
					if a[k] != v {
						t.Errorf("%s: attribute %s = %q, want %q", q, k, a[k], v)
					}
				}
				// The body is what videos.Emitter sends: exactly these keys.
				var body map[string]json.RawMessage
				if err := json.Unmarshal([]byte(aws.ToString(m.MessageBody)), &body); err != nil {
					t.Fatal(err)
				}
				if len(body) != 4 || body["id"] == nil || body["type"] == nil || body["timestamp"] == nil || body["data"] == nil {
					t.Errorf("%s: body keys %v", q, body)
				}
				if strings.Contains(aws.ToString(m.MessageBody), "example.com") {
					t.Errorf("%s: the webhook URL leaked into the payload", q)
				}
				got, r, err := FromMessage(aws.ToString(m.MessageBody), a)
				if err != nil || got.ID != tc.ev.ID || r != tc.route {
					t.Errorf("%s: FromMessage = %v %v %v", q, got, r, err)
				}
			}
		})
	}
	if ev.Timestamp != "2030-01-02T03:04:05.006Z" || !strings.HasPrefix(ev.ID, "evt_") {
		t.Errorf("event %+v", ev)
	}
}

func TestSendToEndpoint(t *testing.T) {
	rec := &eventRecorder{}
	p := Publisher{SQS: rec, EventsQueueURL: "events", WebhookQueueURL: "webhooks"}
	ev, _ := NewEvent(WebhookTest, struct{}{}, time.Now(), nil)
	if err := p.SendToEndpoint(context.Background(), ev, Route{Workspace: "w", Environment: "live"}, "we_1"); err != nil {
		t.Fatal(err)
	}
	if len(rec.sent) != 1 || aws.ToString(rec.sent[0].QueueUrl) != "webhooks" || attrs(rec.sent[0])[AttrEndpoint] != "we_1" {
		t.Fatalf("sent %+v", rec.sent)
	}
}

func TestKnown(t *testing.T) {
	for typ, want := range map[string]bool{"render.succeeded": true, "*": true, "webhook.test": true, "render.*": false, "": false} {
		if Known(typ) != want {
			t.Errorf("Known(%q) = %v", typ, !want)
		}
	}
}
