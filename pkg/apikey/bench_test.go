package apikey

// Benchmarks of the key's hot paths. Issue 3 sets one target here:
// checksum rejection under 1 µs with no allocation (bench/report.sh prints
// it); the others show what a valid key costs before any database call.

import (
	"strings"
	"testing"
)

// benchKey is a fixed, well-formed key; its entropy is not a secret.
var benchKey = func() string {
	k, err := New(Live, strings.NewReader(strings.Repeat("benchmark entropy, not random ", 8)))
	if err != nil {
		panic(err)
	}
	return k
}()

// BenchmarkParseReject is a well-formed key with a wrong last checksum
// digit: the whole key is read and the CRC computed before the rejection,
// the slowest way to be rejected.
func BenchmarkParseReject(b *testing.B) {
	k := benchKey
	bad := k[:Len-1] + string(alphabet[(strings.IndexByte(alphabet, k[Len-1])+1)%62])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bad); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkParseAccept is a valid key.
func BenchmarkParseAccept(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if env, err := Parse(benchKey); err != nil || env != Live {
			b.Fatal(env, err)
		}
	}
}

// BenchmarkHash is the HMAC-SHA256 of a key with the pepper, base64url
// encoded: the storage form the authorizer looks the key up by.
func BenchmarkHash(b *testing.B) {
	h, err := NewHasher([]byte(strings.Repeat("p", 64)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(h.Hash(benchKey)) != 43 {
			b.Fatal("hash length")
		}
	}
}

// BenchmarkNew is a fresh key from crypto/rand.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(Test, nil); err != nil {
			b.Fatal(err)
		}
	}
}
