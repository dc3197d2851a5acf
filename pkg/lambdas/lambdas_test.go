package lambdas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
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

// TestLoggerCarriesRequestID: what a function logs with the invocation's
// context carries the Lambda request id.
func TestLoggerCarriesRequestID(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	log := Logger() // the handler writes to the stdout it finds now
	os.Stdout = stdout
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-7f3a"})
	log.InfoContext(ctx, "rendered", "video", "vid_1")
	w.Close()
	out, _ := io.ReadAll(r)
	if !strings.Contains(string(out), "req-7f3a") || !strings.Contains(string(out), "vid_1") {
		t.Fatalf("log line without the request id: %q", out)
	}
}
