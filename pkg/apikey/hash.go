package apikey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Hasher turns a key into its stored form, HMAC-SHA256(pepper, key). The
// pepper never leaves the process; a leaked table alone cannot verify keys.
type Hasher struct {
	pool sync.Pool
}

// NewHasher returns a Hasher for pepper; the pepper must be at least 32 bytes.
func NewHasher(pepper []byte) (*Hasher, error) {
	if len(pepper) < 32 {
		return nil, errors.New("pepper shorter than 32 bytes")
	}
	p := append([]byte(nil), pepper...)
	h := &Hasher{}
	h.pool.New = func() any { return hmac.New(sha256.New, p) }
	return h, nil
}

// Hash returns the base64url (unpadded) HMAC of key. Console session
// tokens, a little longer than keys, take their own path, so a key's hash
// costs what it always did.
func (h *Hasher) Hash(key string) string {
	if len(key) > Len {
		return h.hash([]byte(key))
	}
	var in [Len]byte
	n := copy(in[:], key)
	return h.hash(in[:n])
}

func (h *Hasher) hash(b []byte) string {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	m.Write(b)
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])
	h.pool.Put(m)
	return base64.RawURLEncoding.EncodeToString(out)
}

// SecretGetter is the one Secrets Manager call the pepper needs.
type SecretGetter interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadPepper reads the pepper once per cold start.
func LoadPepper(ctx context.Context, sm SecretGetter, secretID string) ([]byte, error) {
	if secretID == "" {
		return nil, errors.New("load pepper: no secret id configured")
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return nil, fmt.Errorf("load pepper: %w", err)
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), nil
	}
	return out.SecretBinary, nil
}
