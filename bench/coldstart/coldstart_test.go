package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// The harness measured against itself: hello on both sides, so the test does
// not depend on any function existing, only on the mechanics working.
func TestRunHelloAgainstHello(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	r, err := Run(context.Background(), Config{Fn: helloPkg, N: 3, Timeout: 10 * time.Second, InitTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []Binary{r.Baseline, r.Function} {
		if len(b.SamplesMS) != 3 {
			t.Errorf("%s: %d samples, want 3 (one per poll)", b.Package, len(b.SamplesMS))
		}
		for _, v := range b.SamplesMS {
			if v <= 0 || v > 10_000 {
				t.Errorf("%s: sample %v ms out of range", b.Package, v)
			}
		}
		if b.MinMS > b.MedianMS || b.MedianMS > b.P90MS {
			t.Errorf("%s: min %v, median %v, p90 %v out of order", b.Package, b.MinMS, b.MedianMS, b.P90MS)
		}
		if b.SizeHost < 1<<20 {
			t.Errorf("%s: size %d, want a real binary", b.Package, b.SizeHost)
		}
		if b.PrimedRuns != 0 || len(b.CallsBeforePoll) != 0 {
			t.Errorf("%s: hello made AWS calls: %v", b.Package, b.CallsBeforePoll)
		}
		if b.InitMS <= 0 || len(b.TopInits) == 0 {
			t.Errorf("%s: no inittrace (%v ms, %v)", b.Package, b.InitMS, b.TopInits)
		}
	}
	if math.IsNaN(r.RatioMedian) || math.IsInf(r.RatioMedian, 0) || r.RatioMedian <= 0 {
		t.Errorf("ratio %v, want finite and > 0", r.RatioMedian)
	}
}

// The priming path: the stand-in function reads the pepper and primes
// DynamoDB before polling, and the report says so.
func TestRunSeesPriming(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	r, err := Run(context.Background(), Config{Fn: "./primed", N: 2, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Function.PrimedRuns != 2 {
		t.Errorf("primed runs %d, want 2", r.Function.PrimedRuns)
	}
	want := map[string]int64{targetUpdateItem: 1, targetGetSecret: 1}
	for k, v := range want {
		if r.Function.CallsBeforePoll[k] != v {
			t.Errorf("calls before poll %v, want %v", r.Function.CallsBeforePoll, want)
		}
	}
}

func TestRunFailsClearly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"exits", nil, []string{"exited before polling", "init failed on purpose"}},
		{"hangs", []string{"NOPOLL_HANG=1"}, []string{"never polled the runtime API within 500ms", "hanging in init"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), Config{Fn: "./testdata/nopoll", N: 1, Timeout: 500 * time.Millisecond, Env: tt.env})
			if err == nil {
				t.Fatal("Run succeeded for a binary that never polls")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	tests := []struct {
		in               []float64
		median, p90, low float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 4, 1},
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 5.5, 9, 1},
		{[]float64{5, 1, 4, 2, 3}, 3, 5, 1},
	}
	for _, tt := range tests {
		m, p, l := stats(tt.in)
		if m != tt.median || p != tt.p90 || l != tt.low {
			t.Errorf("stats(%v) = %v, %v, %v; want %v, %v, %v", tt.in, m, p, l, tt.median, tt.p90, tt.low)
		}
	}
}
