package devstack

import (
	"testing"
	"time"
)

func TestRoundTripsCountsCallsInSequence(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(from, to int) Call {
		return Call{Op: "GetItem", Start: t0.Add(time.Duration(from) * time.Millisecond), End: t0.Add(time.Duration(to) * time.Millisecond)}
	}
	for _, tc := range []struct {
		name  string
		calls []Call
		want  int
	}{
		{"none", nil, 0},
		{"one", []Call{at(0, 10)}, 1},
		{"two in parallel", []Call{at(0, 10), at(1, 12)}, 1},
		{"two in a row", []Call{at(0, 10), at(11, 20)}, 2},
		{"a pair, then one", []Call{at(0, 10), at(1, 9), at(12, 20)}, 2},
		{"the longest chain wins", []Call{at(0, 50), at(1, 5), at(6, 10), at(11, 15), at(60, 70)}, 4},
		{"listed out of order", []Call{at(30, 40), at(0, 10), at(15, 25)}, 3},
	} {
		if got := RoundTrips(tc.calls); got != tc.want {
			t.Errorf("%s: %d round trips, want %d", tc.name, got, tc.want)
		}
	}
}

func TestMeterFilesRetriesAsOneCall(t *testing.T) {
	m := &Meter{calls: map[string][]Call{}}
	t0 := time.Unix(1_800_000_000, 0)
	m.record("r1", Call{Op: "UpdateItem", Start: t0, End: t0.Add(800 * time.Millisecond), Attempts: 1, invocation: "a"})
	m.record("r1", Call{Op: "UpdateItem", Start: t0.Add(805 * time.Millisecond), End: t0.Add(810 * time.Millisecond), Attempts: 1, invocation: "a"})
	m.record("r1", Call{Op: "GetItem", Start: t0.Add(811 * time.Millisecond), End: t0.Add(820 * time.Millisecond), Attempts: 1, invocation: "b"})
	calls := m.Calls("r1")
	if len(calls) != 2 || calls[0].Attempts != 2 || !calls[0].End.Equal(t0.Add(810*time.Millisecond)) || RoundTrips(calls) != 2 {
		t.Fatalf("%+v", calls)
	}
	if u := m.Usage("r2"); u.Calls() != 0 || u.RoundTrips() != 0 {
		t.Fatalf("%+v", u)
	}
}
