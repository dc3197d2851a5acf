package dynamo

import (
	"testing"
	"time"
)

func TestRoundTrips(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_123).UTC()
	it := Item{"s": S("x"), "n": N(-42), "f": F(2.5), "t": Millis(now), "b": B(true)}
	if Str(it, "s") != "x" || Str(it, "n") != "" || Str(it, "missing") != "" {
		t.Fatal("Str")
	}
	if v, ok := Int(it, "n"); !ok || v != -42 {
		t.Fatal("Int")
	}
	if _, ok := Int(it, "f"); ok {
		t.Fatal("Int accepted a fraction")
	}
	if v, ok := Float(it, "f"); !ok || v != 2.5 {
		t.Fatal("Float")
	}
	if got := Time(it, "t"); got == nil || !got.Equal(now) || Time(it, "s") != nil {
		t.Fatal("Time")
	}
	if !Bool(it, "b") || Bool(it, "s") || Bool(it, "missing") {
		t.Fatal("Bool")
	}
}
