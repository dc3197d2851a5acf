// Package dynamo is what every DynamoDB store here shares: attribute values
// built and read by hand (no reflection on the hot paths, times as Unix
// milliseconds), reading why a transaction or a conditional write failed,
// and retrying the transactions that only lost a race.
package dynamo

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// WorkspacePartition is the data table's partition key of a workspace's
// environment, where its videos, templates and idempotency records live.
func WorkspacePartition(ws, env string) string { return "WS#" + ws + "#" + env }

// Item is a DynamoDB item.
type Item = map[string]types.AttributeValue

// S is a string value.
func S(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// N is an integer value.
func N(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// F is a float value.
func F(v float64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatFloat(v, 'f', -1, 64)}
}

// Millis is a time as Unix milliseconds.
func Millis(t time.Time) types.AttributeValue { return N(t.UnixMilli()) }

// Str reads a string attribute; "" when absent or of another type.
func Str(it Item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// Int reads an integer attribute.
func Int(it Item, name string) (int64, bool) {
	v, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseInt(v.Value, 10, 64)
	return x, err == nil
}

// Float reads a number attribute as a float.
func Float(it Item, name string) (float64, bool) {
	v, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseFloat(v.Value, 64)
	return x, err == nil
}

// Time reads a Unix-milliseconds attribute; nil when absent.
func Time(it Item, name string) *time.Time {
	x, ok := Int(it, name)
	if !ok {
		return nil
	}
	t := time.UnixMilli(x).UTC()
	return &t
}

// Bool reads a boolean attribute; false when absent.
func Bool(it Item, name string) bool {
	v, ok := it[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

// B is a boolean value.
func B(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }
