package ids

import (
	"testing"
	"time"
)

// TestTimePrefix: ids sort against TimePrefix exactly as their times do,
// to the millisecond.
func TestTimePrefix(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for _, d := range []time.Duration{-time.Hour, -time.Millisecond, 0, time.Millisecond, 24 * time.Hour} {
		id, err := New("evt", t0.Add(d), nil)
		if err != nil {
			t.Fatal(err)
		}
		digits, p := id[4:], TimePrefix(t0)
		if got, want := digits >= p, d >= 0; got != want {
			t.Errorf("%s: id %s >= prefix %s is %v, want %v", d, digits, p, got, want)
		}
		if digits[:10] != TimePrefix(t0.Add(d)) {
			t.Errorf("%s: id %s does not start with its own time prefix %s", d, id, TimePrefix(t0.Add(d)))
		}
	}
}
