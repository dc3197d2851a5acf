package dynamo

// Transactions: reading why one was cancelled, and retrying the ones that
// only lost a race.

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ConditionFailed reports whether err is a single write's failed condition,
// with the item as it was when the write asked for it
// (ReturnValuesOnConditionCheckFailure: ALL_OLD), else nil.
func ConditionFailed(err error) (Item, bool) {
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return cf.Item, true
	}
	return nil, false
}

// IsConditionFailed reports whether err is a single write's failed condition.
func IsConditionFailed(err error) bool {
	_, ok := ConditionFailed(err)
	return ok
}

// Attempts bounds the retries of a transaction that conflicted.
const Attempts = 8

// CancelReasons returns the per-item codes of a cancelled transaction, in
// the order of its items ("None" for items that did not fail), or nil when
// err is not a cancellation.
func CancelReasons(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	out := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		out[i] = aws.ToString(r.Code)
	}
	if len(out) == 0 {
		out = []string{"Unknown"}
	}
	return out
}

// Conflicted reports whether a cancellation was a conflict with another
// transaction, which is worth retrying.
func Conflicted(reasons []string) bool {
	for _, r := range reasons {
		if r == "TransactionConflict" {
			return true
		}
	}
	return false
}

// Backoff waits before retry attempt (0-based): 5 ms, doubling.
func Backoff(ctx context.Context, attempt int) error {
	d := time.Duration(5<<attempt) * time.Millisecond
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
