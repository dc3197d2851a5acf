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

func TestTogetherRunsAtOnceAndReportsTheFirstError(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	started := make(chan struct{})
	err := Together(
		func() error { <-started; return first }, // waits for the second: they overlap
		func() error { close(started); return second },
	)
	if err != first {
		t.Fatalf("got %v, want the first call's error", err)
	}
	if err := Together(func() error { return nil }, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := Together(); err != nil {
		t.Fatal(err)
	}
}
