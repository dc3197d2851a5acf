package apikey

import (
	"bytes"
	"crypto/rand"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestNewParsesBack(t *testing.T) {
	for _, env := range []Env{Live, Test} {
		seen := map[string]bool{}
		for range 200 {
			k, err := New(env, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(k) != Len || !strings.HasPrefix(k, "fg_"+string(env)+"_") {
				t.Fatalf("bad shape %q", k)
			}
			got, err := Parse(k)
			if err != nil || got != env {
				t.Fatalf("Parse(%q) = %v, %v", k, got, err)
			}
			if seen[k] {
				t.Fatalf("duplicate key %q", k)
			}
			seen[k] = true
		}
	}
}

func TestParseRejects(t *testing.T) {
	good, err := New(Live, nil)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	cases := map[string]string{
		"empty":            "",
		"short":            good[:Len-1],
		"long":             good + "x",
		"prefix":           "fg_prod_" + good[8:],
		"sk prefix":        "sk_live_" + good[8:],
		"typo in entropy":  flip(12),
		"typo in checksum": flip(Len - 1),
		"bad char":         good[:10] + "-" + good[11:],
		"non-ascii":        good[:10] + "é" + good[12:],
		"spaces":           " " + good[1:],
	}
	for name, k := range cases {
		if _, err := Parse(k); err == nil {
			t.Errorf("%s: Parse(%q) accepted", name, k)
		}
	}
}

func TestEntropyIsUniformBase62(t *testing.T) {
	// A reader of all 0xFF bytes must be rejected byte by byte (≥ 248), then
	// accept what follows: rejection sampling, not modulo bias.
	r := bytes.NewReader(append(bytes.Repeat([]byte{0xFF}, 64), bytes.Repeat([]byte{61}, 64)...))
	k, err := New(Test, r)
	if err != nil {
		t.Fatal(err)
	}
	if got := k[8:38]; got != strings.Repeat("z", 30) {
		t.Fatalf("entropy %q", got)
	}
}

func TestPreview(t *testing.T) {
	k := "fg_live_Ab3d" + strings.Repeat("q", Len-16) + "9xYz"
	if p := Preview(k); p != "fg_live_Ab3d…9xYz" {
		t.Fatalf("preview %q", p)
	}
	if Preview("short") != "" {
		t.Fatal("preview of a malformed key")
	}
}

func TestHasher(t *testing.T) {
	p := make([]byte, 64)
	rand.Read(p)
	h, err := NewHasher(p)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := New(Live, nil)
	a, b := h.Hash(k), h.Hash(k)
	if a != b || len(a) != 43 {
		t.Fatalf("hash %q %q", a, b)
	}
	other, _ := NewHasher(append([]byte{p[0] ^ 1}, p[1:]...))
	if other.Hash(k) == a {
		t.Fatal("pepper does not change the hash")
	}
	if strings.Contains(a, k[8:20]) {
		t.Fatal("hash contains key material")
	}
	if _, err := NewHasher([]byte("short")); err == nil {
		t.Fatal("short pepper accepted")
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	k, _ := New(Live, nil)
	bad := k[:Len-1] + "0"
	if a := testing.AllocsPerRun(100, func() { Parse(k); Parse(bad) }); a != 0 {
		t.Fatalf("Parse allocates %v times", a)
	}
}

func FuzzParse(f *testing.F) {
	k, _ := New(Live, nil)
	f.Add(k)
	f.Add("fg_test_" + strings.Repeat("0", 36))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		env, err := Parse(s)
		if err != nil {
			return
		}
		// Anything accepted must be exactly a well-formed key.
		if !env.Valid() || len(s) != Len || Preview(s) == "" {
			t.Fatalf("accepted %q as %q", s, env)
		}
	})
}

// A console session token and an API key are never accepted for each
// other, and the session format round-trips like the key format.
func TestSessionTokens(t *testing.T) {
	for _, env := range []Env{Live, Test} {
		s, err := NewSession(env, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != SessionLen || !strings.HasPrefix(s, "fgcs_"+string(env)+"_") {
			t.Fatalf("session token %q", s)
		}
		if got, err := ParseSession(s); err != nil || got != env {
			t.Errorf("ParseSession(%q) = %q, %v", s, got, err)
		}
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse accepted the session token %q", s)
		}
		k, _ := New(env, nil)
		if _, err := ParseSession(k); err == nil {
			t.Errorf("ParseSession accepted the key %q", k)
		}
		typo := []byte(s)
		typo[20] ^= 1
		if _, err := ParseSession(string(typo)); err == nil {
			t.Errorf("ParseSession accepted a token with a changed character")
		}
	}
}

func FuzzParseSession(f *testing.F) {
	s, _ := NewSession(Test, nil)
	f.Add(s)
	f.Add("fgcs_live_" + strings.Repeat("0", 36))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		env, err := ParseSession(s)
		if err != nil {
			return
		}
		if !env.Valid() || len(s) != SessionLen || !IsBase62(s[10:]) {
			t.Fatalf("accepted %q as %q", s, env)
		}
	})
}
func TestFind(t *testing.T) {
	live, _ := New(Live, nil)
	test, _ := New(Test, nil)
	typo := live[:20] + flipCase(live[20]) + live[21:]
	text := "export FG_KEY=" + live + "\n" +
		`{"key":"` + test + `"}` + "\n" +
		"x" + live + "\n" + // inside a longer word: not a key
		live + "9\n" + // longer than a key
		typo + "\n" + // checksum fails
		"fg_live_short\n"
	got := Find([]byte(text))
	if len(got) != 2 || got[0] != live || got[1] != test {
		t.Fatalf("Find = %q, want the live and the test key", got)
	}
	re := regexp.MustCompile(Pattern)
	for _, m := range re.FindAllString(text, -1) {
		_, err := Parse(m)
		if (err == nil) != slices.Contains(got, m) {
			t.Errorf("Pattern and Find disagree on %q", m)
		}
	}
	if Find(nil) != nil || Find([]byte(live[:Len-1])) != nil {
		t.Error("found a key in too little text")
	}
}

func flipCase(c byte) string {
	if 'a' <= c && c <= 'z' {
		return string(c - 32)
	}
	if 'A' <= c && c <= 'Z' {
		return string(c + 32)
	}
	if c == '0' {
		return "1"
	}
	return "0"
}

// FuzzFind: whatever the text, Find returns only valid keys that occur in
// it, each also matched by Pattern.
func FuzzFind(f *testing.F) {
	k, _ := New(Live, nil)
	f.Add([]byte("token: " + k))
	f.Add([]byte(k + k))
	f.Add([]byte("fg_fg_live_"))
	re := regexp.MustCompile(Pattern)
	f.Fuzz(func(t *testing.T, text []byte) {
		for _, key := range Find(text) {
			if _, err := Parse(key); err != nil || !bytes.Contains(text, []byte(key)) {
				t.Fatalf("Find returned %q", key)
			}
			if !re.MatchString(key) {
				t.Fatalf("Pattern misses %q", key)
			}
		}
	})
}

// TestDocsGiveThePattern: the pattern docs/keys.md hands to gitleaks,
// trufflehog and GitHub is the one the code matches.
func TestDocsGiveThePattern(t *testing.T) {
	b, err := os.ReadFile("../../docs/keys.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), Pattern); n < 3 {
		t.Fatalf("docs/keys.md gives Pattern %d times, want it for GitHub, gitleaks and trufflehog", n)
	}
}
