// Package ids makes public identifiers: a type prefix and 26 characters of
// Crockford base32 holding 48 bits of millisecond time and 80 random bits, so
// ids sort by creation time and listing in id order is listing by age.
package ids

import (
	"crypto/rand"
	"fmt"
	"io"
	"time"
)

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// New returns prefix + "_" + a time-ordered random id.
func New(prefix string, now time.Time, r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := io.ReadFull(r, b[6:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	// 128 bits → 26 base32 digits (the first carries 3 bits).
	out := make([]byte, 0, len(prefix)+1+26)
	out = append(out, prefix...)
	out = append(out, '_')
	var acc uint64
	bits := 2 // 130 - 128: left-pad so the digits split evenly
	for _, x := range b {
		acc = acc<<8 | uint64(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, crockford[(acc>>uint(bits))&31])
		}
	}
	return string(out), nil
}

// Valid reports whether s looks like an id with prefix, so malformed ids in
// paths get a 404 without a database call.
func Valid(prefix, s string) bool {
	if len(s) != len(prefix)+1+26 || s[:len(prefix)] != prefix || s[len(prefix)] != '_' {
		return false
	}
	for i := len(prefix) + 1; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') || c == 'i' || c == 'l' || c == 'o' || c == 'u' {
			return false
		}
	}
	return true
}

// TimePrefix is the part of an id (after "prefix_") that holds its time:
// every id made at t or later sorts at or after TimePrefix(t), every id
// made earlier sorts before it.
func TimePrefix(t time.Time) string {
	id, _ := New("", t, zeros{}) // zeros never fails
	return id[1:11]
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
