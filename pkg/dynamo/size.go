package dynamo

import (
	"math/big"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Size is an item's size as DynamoDB bills it: each attribute's name and
// value, numbers at about one byte per two significant digits plus one. A
// write costs one write unit per started KB of the larger of the item's
// sizes before and after it; a transactional write twice that.
func Size(it Item) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

// WriteUnits is what a write of an item of size bytes costs.
func WriteUnits(size int) int { return max(1, (size+1023)/1024) }

func valueSize(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return numberSize(x.Value)
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range x.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range x.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range x.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range x.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

func numberSize(s string) int {
	f, ok := new(big.Float).SetString(s)
	if !ok {
		return len(s)
	}
	digits := strings.Trim(strings.ReplaceAll(strings.TrimLeft(f.Text('f', -1), "-"), ".", ""), "0")
	return (len(digits)+1)/2 + 1
}
