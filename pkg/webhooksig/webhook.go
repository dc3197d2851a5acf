// Package webhooksig signs and verifies webhooks the Standard Webhooks way
// (https://www.standardwebhooks.com): the headers webhook-id,
// webhook-timestamp and webhook-signature, the last carrying one or more
// "v1,<base64 HMAC-SHA256>" signatures of id.timestamp.body. Receivers
// written in Go import it and call Verify; the sender calls Sign. It has no
// dependency beyond the standard library.
package webhooksig

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names, lower case as the specification writes them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// SecretBytes is the entropy of a new secret (the specification asks for
// 24 to 64 bytes).
const SecretBytes = 32

// DefaultTolerance is how far a timestamp may be from the receiver's clock,
// either way, before Verify rejects it as a replay (or a wrong clock).
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns; test them with errors.Is.
var (
	ErrMissingHeaders   = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidTimestamp = errors.New("webhook: webhook-timestamp is not a unix time in seconds")
	ErrTimestampTooOld  = errors.New("webhook: timestamp too old")
	ErrTimestampTooNew  = errors.New("webhook: timestamp too far in the future")
	ErrNoMatch          = errors.New("webhook: no signature matches")
	ErrInvalidSecret    = errors.New("webhook: invalid secret: want whsec_ followed by base64")
)

// NewSecret returns a fresh signing secret: whsec_ and the base64 of
// SecretBytes random bytes from r (crypto/rand when nil).
func NewSecret(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, SecretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("new webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey is the HMAC key of a secret: the bytes its base64 encodes.
// The prefix is optional so that receivers may paste either form.
func secretKey(secret string) ([]byte, error) {
	s := strings.TrimPrefix(secret, SecretPrefix)
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(k) < 16 {
		return nil, ErrInvalidSecret
	}
	return k, nil
}

// signature is the base64 HMAC-SHA256 of id.timestamp.body under key.
func signature(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature value for a message signed with every
// secret given, space-separated: during a rotation both the old and the new
// secret sign, so receivers holding either keep verifying.
func Sign(id string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhook: sign: no secret")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		k, err := secretKey(s)
		if err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
		sigs = append(sigs, "v1,"+signature(k, id, ts.Unix(), body))
	}
	return strings.Join(sigs, " "), nil
}

// SetHeaders signs the message and writes the three headers into h.
func SetHeaders(h http.Header, id string, ts time.Time, body []byte, secrets ...string) error {
	sig, err := Sign(id, ts, body, secrets...)
	if err != nil {
		return err
	}
	// Set the lower-case names verbatim: some receivers (and the
	// specification's examples) read them case-sensitively.
	h[HeaderID] = []string{id}
	h[HeaderTimestamp] = []string{strconv.FormatInt(ts.Unix(), 10)}
	h[HeaderSignature] = []string{sig}
	return nil
}

// Verify checks a received webhook against secret: the timestamp must be
// within tolerance of now either way (0 means DefaultTolerance), and one of
// the v1 signatures in webhook-signature must match, compared in constant
// time. body must be the raw bytes received, before any JSON parsing.
func Verify(secret string, headers http.Header, body []byte, tolerance time.Duration) error {
	return VerifyAt(secret, headers, body, tolerance, time.Now())
}

// VerifyAt is Verify with the receiver's clock given.
func VerifyAt(secret string, headers http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	id, tsRaw, sigs := header(headers, HeaderID), header(headers, HeaderTimestamp), header(headers, HeaderSignature)
	if id == "" || tsRaw == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	sent := time.Unix(ts, 0)
	switch {
	case now.Sub(sent) > tolerance:
		return ErrTimestampTooOld
	case sent.Sub(now) > tolerance:
		return ErrTimestampTooNew
	}
	want := []byte(signature(key, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue // other schemes (v1a asymmetric) are not ours to check
		}
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrNoMatch
}

// header reads a header whether the map holds it canonicalized
// (Webhook-Id, as net/http does) or verbatim (webhook-id, as SetHeaders does).
func header(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Mask shows a secret the way reads do: the prefix, an ellipsis and its
// last four characters, enough to tell secrets apart, useless to an attacker.
func Mask(secret string) string {
	if len(secret) <= len(SecretPrefix)+8 {
		return SecretPrefix + "…"
	}
	return SecretPrefix + "…" + secret[len(secret)-4:]
}
