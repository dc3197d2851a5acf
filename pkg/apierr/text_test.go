package apierr

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct {
		s         string
		multiline bool
		ok        bool
	}{
		{"Production CI", false, true},
		{"Équipe 東京 🚀", false, true},
		{"", false, true},
		{"nul\x00byte", false, false},
		{"escape\x1b[31m", false, false},
		{"del\x7f", false, false},
		{"c1\u0085", false, false},
		{"bidi\u202eevil", false, false},
		{"isolate\u2066x", false, false},
		{"two\nlines", false, false},
		{"two\nlines\tand a tab", true, true},
		{"cr\r", true, false},
		{"bad\xffutf8", false, false},
		{strings.Repeat("x", 20), false, true},
		{strings.Repeat("é", 21), false, false},
	} {
		err := Text("/a/name", tc.s, 20, tc.multiline)
		if (err == nil) != tc.ok {
			t.Errorf("%q (multiline %v): %v", tc.s, tc.multiline, err)
			continue
		}
		if err != nil {
			e := From(err)
			if e.Code != InvalidRequest || e.Field != "/a/name" || !strings.HasPrefix(e.Message, "name ") {
				t.Errorf("%q: %+v", tc.s, e)
			}
		}
	}
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"ok", "nul\x00", "\u202e", "é", "\xff"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, multiline bool) {
		err := Text("/name", s, 100, multiline)
		if err != nil {
			return
		}
		for _, r := range s {
			if r < 0x20 && !(multiline && (r == '\n' || r == '\t')) || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("accepted control U+%04X in %q", r, s)
			}
		}
	})
}
