package lambdas

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestEachMessageReportsOnlyFailures(t *testing.T) {
	var ev events.SQSEvent
	for i := range 10 {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint(i), Body: fmt.Sprint(i % 3)})
	}
	resp := EachMessage(ev, func(m events.SQSMessage) error {
		if m.Body == "0" {
			return errors.New("failed")
		}
		return nil
	})
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	if fmt.Sprint(ids) != "[0 3 6 9]" {
		t.Fatal(ids)
	}
}
