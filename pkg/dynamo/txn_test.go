package dynamo

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestCancelReasons(t *testing.T) {
	if CancelReasons(errors.New("other")) != nil {
		t.Fatal("a plain error is not a cancellation")
	}
	err := fmt.Errorf("wrapped: %w", &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{
		{Code: aws.String("None")}, {Code: aws.String("TransactionConflict")},
	}})
	r := CancelReasons(err)
	if fmt.Sprint(r) != "[None TransactionConflict]" || !Conflicted(r) {
		t.Fatal(r)
	}
	if r := CancelReasons(&types.TransactionCanceledException{}); fmt.Sprint(r) != "[Unknown]" || Conflicted(r) {
		t.Fatal(r)
	}
}

func TestBackoffStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Backoff(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
