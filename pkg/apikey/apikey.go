// Package apikey is the API key format and its storage form: generation from
// crypto/rand, the offline checksum that rejects typos and garbage with no
// database call, HMAC hashing with the pepper, and display previews.
//
// A key is "fg_live_" or "fg_test_", 30 base62 characters of entropy
// (≥ 178 bits) and a 6-character base62 CRC32 of those 30 characters.
package apikey

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Env is the environment a key acts in.
type Env string

// The two environments.
const (
	Live Env = "live"
	Test Env = "test"
)

// Valid reports whether e is a known environment.
func (e Env) Valid() bool { return e == Live || e == Test }

const (
	prefixLen   = len("fg_live_")
	entropyLen  = 30
	checksumLen = 6
	// Len is the length of every key.
	Len = prefixLen + entropyLen + checksumLen

	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrMalformed is returned for anything that is not a well-formed key; the
// caller answers invalid_api_key without touching the database.
var ErrMalformed = errors.New("malformed api key")

// base62 maps a byte to its digit value, or -1.
var base62 = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

var crcTable = crc32.IEEETable

// Parse checks the format and checksum of s and returns its environment.
// It does not allocate.
func Parse(s string) (Env, error) {
	if len(s) != Len || s[0] != 'f' || s[1] != 'g' || s[2] != '_' || s[7] != '_' {
		return "", ErrMalformed
	}
	var env Env
	switch s[3:7] {
	case "live":
		env = Live
	case "test":
		env = Test
	default:
		return "", ErrMalformed
	}
	if !checksumOK(s[prefixLen:]) {
		return "", ErrMalformed
	}
	return env, nil
}

// A console session token is "fgcs_live_" or "fgcs_test_" and the same 30
// characters of entropy and checksum as a key. It travels only in the
// console's cookie and is never accepted where a key is, nor a key where it is.
const (
	sessionPrefixLen = len("fgcs_live_")
	// SessionLen is the length of every console session token.
	SessionLen = sessionPrefixLen + entropyLen + checksumLen
)

// ParseSession checks the format and checksum of a console session token
// and returns its environment. It does not allocate.
func ParseSession(s string) (Env, error) {
	if len(s) != SessionLen || s[:5] != "fgcs_" || s[9] != '_' {
		return "", ErrMalformed
	}
	var env Env
	switch s[5:9] {
	case "live":
		env = Live
	case "test":
		env = Test
	default:
		return "", ErrMalformed
	}
	if !checksumOK(s[sessionPrefixLen:]) {
		return "", ErrMalformed
	}
	return env, nil
}

// checksumOK reports whether b, 30 base62 characters of entropy and their
// 6-character base62 CRC32, is consistent.
func checksumOK(b string) bool {
	if len(b) != entropyLen+checksumLen {
		return false
	}
	crc := ^uint32(0)
	for i := 0; i < entropyLen; i++ {
		c := b[i]
		if base62[c] < 0 {
			return false
		}
		crc = crcTable[byte(crc)^c] ^ (crc >> 8)
	}
	crc = ^crc
	// Decode the checksum digits and compare.
	var got uint64
	for i := entropyLen; i < entropyLen+checksumLen; i++ {
		d := base62[b[i]]
		if d < 0 {
			return false
		}
		got = got*62 + uint64(d)
	}
	return got == uint64(crc)
}

// New returns a fresh key for env, reading entropy from r (crypto/rand.Reader
// when nil).
func New(env Env, r io.Reader) (string, error) {
	return mint("fg_", env, r)
}

// NewSession returns a fresh console session token for env.
func NewSession(env Env, r io.Reader) (string, error) {
	return mint("fgcs_", env, r)
}

func mint(prefix string, env Env, r io.Reader) (string, error) {
	if !env.Valid() {
		return "", fmt.Errorf("new key: unknown environment %q", env)
	}
	if r == nil {
		r = rand.Reader
	}
	head := prefix + string(env) + "_"
	n := len(head) + entropyLen + checksumLen
	b := make([]byte, n)
	copy(b, head)
	if err := randomBase62(r, b[len(head):len(head)+entropyLen]); err != nil {
		return "", fmt.Errorf("new key: %w", err)
	}
	crc := crc32.ChecksumIEEE(b[len(head) : len(head)+entropyLen])
	v := uint64(crc)
	for i := n - 1; i >= len(head)+entropyLen; i-- {
		b[i] = alphabet[v%62]
		v /= 62
	}
	return string(b), nil
}

// Secret returns n uniform base62 characters from r (crypto/rand.Reader
// when nil), for one-time secrets that need no checksum.
func Secret(n int, r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if err := randomBase62(r, b); err != nil {
		return "", fmt.Errorf("new secret: %w", err)
	}
	return string(b), nil
}

// IsBase62 reports whether s is made only of base62 digits.
func IsBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if base62[s[i]] < 0 {
			return false
		}
	}
	return true
}

// randomBase62 fills dst with uniform base62 digits by rejection sampling,
// so no digit is more likely than another.
func randomBase62(r io.Reader, dst []byte) error {
	buf := make([]byte, 64)
	n := 0
	for n < len(dst) {
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("read entropy: %w", err)
		}
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62: keep the distribution uniform
				continue
			}
			dst[n] = alphabet[c%62]
			n++
			if n == len(dst) {
				break
			}
		}
	}
	return nil
}

// Preview is the display form of a key: its prefix, the first four and the
// last four characters, e.g. "fg_live_Ab3d…9xYz". It reveals about 24 bits
// of the entropy, not enough to help guess a key.
func Preview(key string) string {
	if len(key) != Len {
		return ""
	}
	return key[:prefixLen+4] + "…" + key[Len-4:]
}

// Pattern is a regular expression matching every key (and, the checksum
// aside, only keys), for scanners that take one: gitleaks, trufflehog,
// GitHub's secret scanning partner program. A match still has to pass
// Parse's checksum to be a key.
const Pattern = `\bfg_(?:live|test)_[0-9A-Za-z]{36}\b`

// Find returns the keys in text: every "fg_live_"/"fg_test_" run of the key's
// length, not inside a longer word, whose checksum holds. It reads the text
// once and needs no network or database, so a pre-commit hook or a CI step
// can run it on every file.
func Find(text []byte) []string {
	var out []string
	for i := 0; i+Len <= len(text); {
		j := indexPrefix(text[i:])
		if j < 0 {
			break
		}
		start := i + j
		i = start + 3
		if start+Len > len(text) {
			break
		}
		if start > 0 && wordByte(text[start-1]) {
			continue
		}
		if start+Len < len(text) && wordByte(text[start+Len]) {
			continue
		}
		k := string(text[start : start+Len])
		if _, err := Parse(k); err == nil {
			out = append(out, k)
			i = start + Len
		}
	}
	return out
}

// indexPrefix finds the next "fg_".
func indexPrefix(b []byte) int {
	for i := 0; i+3 <= len(b); i++ {
		if b[i] == 'f' && b[i+1] == 'g' && b[i+2] == '_' {
			return i
		}
	}
	return -1
}

func wordByte(c byte) bool { return base62[c] >= 0 || c == '_' }
