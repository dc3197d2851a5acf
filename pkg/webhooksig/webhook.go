// Package webhooksig signs and verifies webhooks the Standard Webhooks way
// (https://www.standardwebhooks.com): the headers webhook-id,
// webhook-timestamp and webhook-signature, the last carrying one or more
// signatures of id.timestamp.body, either symmetric ("v1,<base64
// HMAC-SHA256>" under a whsec_ secret) or asymmetric ("v1a,<base64
// ed25519>" under a whsk_ private key, verified with its whpk_ public key,
// so the receiver holds nothing secret). Receivers written in Go import it
// and call Verify with the secret or the public key; the sender calls
// Sign. It has no dependency beyond the standard library.
package webhooksig

import (
	"crypto/ed25519"
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

// Key prefixes, as the specification serializes them.
const (
	// SecretPrefix starts a symmetric (v1) signing secret.
	SecretPrefix = "whsec_"
	// PrivateKeyPrefix starts an ed25519 (v1a) signing key; only the
	// sender holds it.
	PrivateKeyPrefix = "whsk_"
	// PublicKeyPrefix starts the public key that verifies v1a signatures.
	PublicKeyPrefix = "whpk_"
)

// Signature schemes: the version before the comma of each signature.
const (
	SchemeV1  = "v1"  // HMAC-SHA256 under a shared secret
	SchemeV1a = "v1a" // ed25519
)

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
	ErrInvalidKey       = errors.New("webhook: invalid key: want whsk_ or whpk_ followed by the base64 of an ed25519 key")
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
	m.Write(content(id, ts, body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// NewKeyPair returns a fresh ed25519 signing key (whsk_ and the base64 of
// the 64-byte private key) and its public key (whpk_ and the base64 of its
// 32 bytes), with entropy from r (crypto/rand when nil).
func NewKeyPair(r io.Reader) (privateKey, publicKey string, err error) {
	if r == nil {
		r = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return "", "", fmt.Errorf("new webhook key pair: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return PrivateKeyPrefix + base64.StdEncoding.EncodeToString(priv),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), nil
}

// privateKey decodes a whsk_ key: the 64-byte private key, or its 32-byte seed.
func privateKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, PrivateKeyPrefix))
	switch {
	case err != nil:
		return nil, ErrInvalidKey
	case len(b) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case len(b) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, ErrInvalidKey
}

// publicKey decodes a whpk_ key.
func publicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, PublicKeyPrefix))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, ErrInvalidKey
	}
	return ed25519.PublicKey(b), nil
}

// PublicKey returns the whpk_ public key of a whsk_ private key.
func PublicKey(privateKeyText string) (string, error) {
	k, err := privateKey(privateKeyText)
	if err != nil {
		return "", err
	}
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey)), nil
}

// content is what both schemes sign: id.timestamp.body.
func content(id string, ts int64, body []byte) []byte {
	m := make([]byte, 0, len(id)+len(body)+22)
	m = append(m, id...)
	m = append(m, '.')
	m = strconv.AppendInt(m, ts, 10)
	m = append(m, '.')
	return append(m, body...)
}

// Sign returns the webhook-signature value for a message signed with every
// key given, space-separated: a whsk_ key makes a v1a (ed25519) signature,
// any other a v1 (HMAC) one with the whsec_ secret. During a rotation both
// the old and the new key sign, so receivers holding either keep verifying.
func Sign(id string, ts time.Time, body []byte, keys ...string) (string, error) {
	if len(keys) == 0 {
		return "", errors.New("webhook: sign: no secret")
	}
	sigs := make([]string, 0, len(keys))
	for _, s := range keys {
		if strings.HasPrefix(s, PrivateKeyPrefix) {
			k, err := privateKey(s)
			if err != nil {
				return "", fmt.Errorf("sign: %w", err)
			}
			sigs = append(sigs, SchemeV1a+","+base64.StdEncoding.EncodeToString(ed25519.Sign(k, content(id, ts.Unix(), body))))
			continue
		}
		k, err := secretKey(s)
		if err != nil {
			return "", fmt.Errorf("sign: %w", err)
		}
		sigs = append(sigs, SchemeV1+","+signature(k, id, ts.Unix(), body))
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

// Verify checks a received webhook against key: the timestamp must be
// within tolerance of now either way (0 means DefaultTolerance), and one of
// the signatures in webhook-signature must match. key is the endpoint's
// whsec_ secret, which checks the v1 signatures (HMAC, compared in
// constant time), or its whpk_ public key, which checks the v1a ones
// (ed25519). body must be the raw bytes received, before any JSON parsing.
func Verify(key string, headers http.Header, body []byte, tolerance time.Duration) error {
	return VerifyAt(key, headers, body, tolerance, time.Now())
}

// VerifyAt is Verify with the receiver's clock given.
func VerifyAt(key string, headers http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	k, err := parseVerifyKey(key)
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
	match := k.matcher(content(id, ts, body))
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != k.scheme {
			continue // the other scheme's signatures are not for this key
		}
		if match(sig) {
			return nil
		}
	}
	return ErrNoMatch
}

// verifyKey is a key Verify checks signatures with: a v1 secret or a v1a
// public key.
type verifyKey struct {
	scheme string
	secret []byte            // v1
	public ed25519.PublicKey // v1a
}

func parseVerifyKey(key string) (verifyKey, error) {
	switch {
	case strings.HasPrefix(key, PublicKeyPrefix):
		pub, err := publicKey(key)
		return verifyKey{scheme: SchemeV1a, public: pub}, err
	case strings.HasPrefix(key, PrivateKeyPrefix):
		return verifyKey{}, fmt.Errorf("%w: verify with the whpk_ public key, not the private one", ErrInvalidKey)
	}
	secret, err := secretKey(key)
	return verifyKey{scheme: SchemeV1, secret: secret}, err
}

// matcher reports whether one base64 signature of its scheme signs msg.
func (k verifyKey) matcher(msg []byte) func(sig string) bool {
	if k.scheme == SchemeV1a {
		return func(sig string) bool {
			raw, err := base64.StdEncoding.DecodeString(sig)
			return err == nil && len(raw) == ed25519.SignatureSize && ed25519.Verify(k.public, msg, raw)
		}
	}
	m := hmac.New(sha256.New, k.secret)
	m.Write(msg)
	want := []byte(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return func(sig string) bool { return hmac.Equal([]byte(sig), want) }
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
