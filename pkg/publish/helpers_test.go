package publish_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/devstack"
)

// drain receives every message waiting on a queue and deletes it. No
// long poll: every message the test expects was sent before it drains.
func drain(t *testing.T, c *sqs.Client, queueURL string) []events.SQSMessage {
	t.Helper()
	var out []events.SQSMessage
	for {
		r, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			out = append(out, devstack.Record(m, "", devstack.Region))
			if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// eventsOf decodes the events among messages, keeping those of type typ.
func eventsOf(t *testing.T, msgs []events.SQSMessage, typ string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range msgs {
		var ev map[string]any
		if err := json.Unmarshal([]byte(m.Body), &ev); err != nil {
			t.Fatalf("event body %s: %v", m.Body, err)
		}
		if ev["type"] == typ {
			out = append(out, ev)
		}
	}
	return out
}

func containsField(err error, field string) bool {
	e := apierr.From(err)
	return e.Code == apierr.InvalidRequest && e.Field == field
}

func dynamoClient(cfg aws.Config) *dynamodb.Client { return dynamodb.NewFromConfig(cfg) }
