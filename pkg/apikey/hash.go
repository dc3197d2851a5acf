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

// maxHashed bounds what Hash reads of its input: keys, console session
// tokens and console link secrets are all shorter.
const maxHashed = 64

// Hash returns the base64url (unpadded) HMAC of key (at most its first 64
// bytes).
func (h *Hasher) Hash(key string) string {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	var in [maxHashed]byte
	n := copy(in[:], key)
	m.Write(in[:n])
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
