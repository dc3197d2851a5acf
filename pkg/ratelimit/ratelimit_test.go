package ratelimit

import (
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func item(cells map[int64]int) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "KEY#x"}, "createdAt": &types.AttributeValueMemberN{Value: "5"}}
	for i, n := range cells {
		it[Attr(i)] = &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
	}
	return it
}

func TestEvaluate(t *testing.T) {
	w := PerMinute
	base := time.Unix(1_700_000_000, 0) // a cell boundary: 1.7e9 is a multiple of 10
	cur := w.Cell(base.Add(5 * time.Second))
	now := base.Add(5 * time.Second)
	tests := []struct {
		name             string
		cells            map[int64]int
		limit            int
		count, remaining int
		allowed          bool
		reset, retry     time.Duration
		leftover         int
	}{
		{"first request", map[int64]int{cur: 1}, 10, 1, 9, true, 55 * time.Second, 0, 0},
		{"spread over the window", map[int64]int{cur - 5: 3, cur - 2: 3, cur: 4}, 10, 10, 0, true, 5 * time.Second, 0, 0},
		{"over by one, oldest cell frees it", map[int64]int{cur - 5: 3, cur - 2: 3, cur: 5}, 10, 11, 0, false, 5 * time.Second, 5 * time.Second, 0},
		{"over, needs two cells", map[int64]int{cur - 5: 1, cur - 4: 2, cur: 9}, 10, 12, 0, false, 5 * time.Second, 15 * time.Second, 0},
		{"all in the current cell", map[int64]int{cur: 11}, 10, 11, 0, false, 55 * time.Second, 55 * time.Second, 0},
		{"cells before the window do not count", map[int64]int{cur - 6: 50, cur - 7: 50, cur: 1}, 10, 1, 9, true, 55 * time.Second, 0, 0},
		{"long-idle leftovers are reported", map[int64]int{cur - 40: 5, cur - 41: 5, cur: 1}, 10, 1, 9, true, 55 * time.Second, 0, 2},
		{"future cells (clock skew) do not count", map[int64]int{cur + 1: 7, cur: 1}, 10, 1, 9, true, 55 * time.Second, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := w.Evaluate(item(tt.cells), now, tt.limit)
			if s.Count != tt.count || s.Remaining != tt.remaining || s.Allowed() != tt.allowed {
				t.Fatalf("count %d remaining %d allowed %v, want %d %d %v", s.Count, s.Remaining, s.Allowed(), tt.count, tt.remaining, tt.allowed)
			}
			if s.Reset != tt.reset || s.RetryAfter != tt.retry {
				t.Fatalf("reset %v retry %v, want %v %v", s.Reset, s.RetryAfter, tt.reset, tt.retry)
			}
			if len(s.Leftover) != tt.leftover {
				t.Fatalf("leftover %v", s.Leftover)
			}
			if s.RetryAfter > w.Length {
				t.Fatalf("retry after %v beyond the window", s.RetryAfter)
			}
		})
	}
}

func TestNamesCoverTheCellsBeforeTheWindow(t *testing.T) {
	w := PerMinute
	add, remove := w.Names(100)
	if add != "c100" || len(remove) != 12 || remove[0] != "c94" || remove[11] != "c83" {
		t.Fatalf("%s %v", add, remove)
	}
	for i := int64(0); i < 200; i++ {
		if got, ok := parseAttr(Attr(i)); !ok || got != i {
			t.Fatalf("round trip %d", i)
		}
	}
	for _, bad := range []string{"c", "x1", "c1a", "createdAt", "c-1"} {
		if _, ok := parseAttr(bad); ok {
			t.Fatalf("parsed %q", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	if PerMinute.Validate() != nil {
		t.Fatal("PerMinute invalid")
	}
	for _, w := range []Window{{}, {time.Minute, 0}, {time.Minute, 7}, {time.Minute, 100}} {
		if w.Validate() == nil {
			t.Fatalf("%v accepted", w)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Minute: 60} {
		if got := Seconds(d); got != want {
			t.Errorf("Seconds(%v) = %d, want %d", d, got, want)
		}
	}
}
