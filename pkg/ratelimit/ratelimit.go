// Package ratelimit is everything about limits that needs no database: the
// one table of what each plan allows (and how a workspace overrides it), the
// sliding-window counter framegate keeps in DynamoDB — a window of N fixed
// cells, each cell an attribute "c<index>" on the counted item, incremented
// with one atomic UpdateItem ADD whose ALL_NEW result says exactly where the
// request landed — and the verdict the authorizer hands the handlers.
package ratelimit

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Window is a sliding window made of Cells fixed cells spanning Length.
type Window struct {
	Length time.Duration
	Cells  int
}

// PerMinute is the window every framegate limit uses: one minute in six
// 10-second cells.
var PerMinute = Window{Length: time.Minute, Cells: 6}

// Validate rejects windows that cannot be cut into whole cells.
func (w Window) Validate() error {
	if w.Cells < 1 || w.Cells > 64 || w.Length <= 0 || w.Length%time.Duration(w.Cells) != 0 {
		return fmt.Errorf("window %v cannot be cut into %d cells", w.Length, w.Cells)
	}
	return nil
}

func (w Window) cell() time.Duration { return w.Length / time.Duration(w.Cells) }

// Cell is the index of the cell t falls in.
func (w Window) Cell(t time.Time) int64 { return t.UnixNano() / int64(w.cell()) }

// Attr is the attribute name of cell i.
func Attr(i int64) string { return "c" + strconv.FormatInt(i, 10) }

// parseAttr returns the cell index of a counter attribute name.
func parseAttr(name string) (int64, bool) {
	if len(name) < 2 || name[0] != 'c' {
		return 0, false
	}
	var v int64
	for i := 1; i < len(name); i++ {
		c := name[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// Stale is how many cells before the window each write removes, so counters
// of a key used every few minutes never accumulate.
func (w Window) Stale() int { return 2 * w.Cells }

// Names are the attribute names one counting write at cell i uses: the cell
// it adds to, and the stale cells it removes (oldest last).
func (w Window) Names(i int64) (add string, remove []string) {
	remove = make([]string, w.Stale())
	for k := range remove {
		remove[k] = Attr(i - int64(w.Cells) - int64(k))
	}
	return Attr(i), remove
}

// State is a limit's verdict for one request.
type State struct {
	Limit     int
	Count     int // requests in the window, this one included
	Remaining int
	// Reset is how long until the oldest counted cell leaves the window,
	// which is when Remaining next grows.
	Reset time.Duration
	// RetryAfter, when the request is over the limit, is how long until
	// a request would be admitted.
	RetryAfter time.Duration
	// Leftover lists counter attributes too old to be removed by the
	// regular writes (the item was idle for a long time); callers may
	// remove them off the hot path.
	Leftover []string
}

// Allowed reports whether the request is within the limit.
func (s State) Allowed() bool { return s.Count <= s.Limit }

// Evaluate reads the cells of item (as returned by the counting write,
// ALL_NEW, so the request itself is counted) at time now against limit.
func (w Window) Evaluate(item map[string]types.AttributeValue, now time.Time, limit int) State {
	cur := w.Cell(now)
	first := cur - int64(w.Cells) + 1
	oldestKept := first - int64(w.Stale())
	var counts [64]int // per cell of the window, oldest first; Cells ≤ 64
	st := State{Limit: limit}
	for name, av := range item {
		idx, ok := parseAttr(name)
		if !ok {
			continue
		}
		if idx < oldestKept {
			st.Leftover = append(st.Leftover, name)
			continue
		}
		if idx < first || idx > cur {
			continue
		}
		n, ok := av.(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		v, err := strconv.Atoi(n.Value)
		if err != nil || v < 0 {
			continue
		}
		counts[idx-first] += v
		st.Count += v
	}
	st.Remaining = max(limit-st.Count, 0)
	cellEnd := func(k int) time.Duration { // when cell first+k leaves the window
		return time.Unix(0, (first+int64(k)+int64(w.Cells))*int64(w.cell())).Sub(now)
	}
	st.Reset = cellEnd(w.Cells - 1)
	for k := 0; k < w.Cells; k++ {
		if counts[k] > 0 {
			st.Reset = cellEnd(k)
			break
		}
	}
	if !st.Allowed() {
		// The rejected request is not counted; find when enough old cells
		// have left for one more to fit.
		excess := st.Count - 1 - limit + 1
		for k := 0; k < w.Cells; k++ {
			excess -= counts[k]
			if excess <= 0 {
				st.RetryAfter = cellEnd(k)
				break
			}
		}
		if st.RetryAfter == 0 {
			st.RetryAfter = w.Length
		}
	}
	return st
}

// Seconds rounds d up to whole seconds, at least 1, for headers.
func Seconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		return 1
	}
	return s
}
