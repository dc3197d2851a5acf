package dynamo

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestSize(t *testing.T) {
	it := Item{"pk": S("KEY#abc"), "n": N(12345), "b": B(true), "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{S("ab")}}}
	// 2+7, 1+(5 digits → 4), 1+1, 1+(3+1+2)
	if got := Size(it); got != 9+5+2+7 {
		t.Fatalf("size %d", got)
	}
	if WriteUnits(0) != 1 || WriteUnits(1024) != 1 || WriteUnits(1025) != 2 {
		t.Fatal("write units")
	}
}
