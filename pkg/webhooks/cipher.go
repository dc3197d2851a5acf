package webhooks

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Cipher seals signing secrets for storage with AES-256-GCM. Its key is
// derived from a data key held in Secrets Manager, so a copy of the table
// alone (a backup, an export) reveals no secret.
type Cipher struct {
	aead   cipher.AEAD
	tagKey []byte
}

// sealedPrefix versions the stored form, so the data key or the algorithm
// can change later while old records stay readable.
const sealedPrefix = "v1."

// MinKeyLen is the shortest data key accepted; the template generates 64
// alphanumerics (~380 bits).
const MinKeyLen = 32

// NewCipher derives the AES-256 key from the data key with HKDF-SHA256.
// The data key is a generated password rather than raw bytes, hence the
// derivation instead of using it directly.
func NewCipher(dataKey []byte) (*Cipher, error) {
	if len(dataKey) < MinKeyLen {
		return nil, fmt.Errorf("webhook cipher: data key of %d bytes, want at least %d", len(dataKey), MinKeyLen)
	}
	k, err := hkdf.Key(sha256.New, dataKey, nil, "framegate webhook signing secrets v1", 32)
	if err != nil {
		return nil, fmt.Errorf("webhook cipher: derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("webhook cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webhook cipher: %w", err)
	}
	tk, err := hkdf.Key(sha256.New, dataKey, nil, "framegate tags v1", 32)
	if err != nil {
		return nil, fmt.Errorf("webhook cipher: derive tag key: %w", err)
	}
	return &Cipher{aead: aead, tagKey: tk}, nil
}

// Tag is HMAC-SHA256 of msg under a key derived from the data key, apart
// for each purpose: a value that is the same for the same input and that
// no one without the data key can compute (an S3 connection's external
// id, which a customer needs before the connection exists). It changes if
// the data key does.
func (c *Cipher) Tag(purpose, msg string) []byte {
	h := hmac.New(sha256.New, c.tagKey)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// SecretGetter is the part of the Secrets Manager client LoadCipher uses.
type SecretGetter interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// LoadCipher reads the data key from Secrets Manager (once per cold start).
func LoadCipher(ctx context.Context, sm SecretGetter, secretID string) (*Cipher, error) {
	if secretID == "" {
		return nil, errors.New("load webhook cipher: no secret id configured")
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return nil, fmt.Errorf("load webhook cipher: %w", err)
	}
	key := out.SecretBinary
	if out.SecretString != nil {
		key = []byte(*out.SecretString)
	}
	return NewCipher(key)
}

// Seal encrypts a secret. aad binds the ciphertext to its record (the
// endpoint's id), so a sealed secret copied onto another record fails to open.
func (c *Cipher) Seal(plain, aad string) (string, error) {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := c.aead.Seal(nonce, nonce, []byte(plain), []byte(aad))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal produced with the same aad.
func (c *Cipher) Open(sealed, aad string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errors.New("open sealed secret: unknown format")
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < c.aead.NonceSize() {
		return "", errors.New("open sealed secret: malformed")
	}
	n := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, b[:n], b[n:], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("open sealed secret: %w", err)
	}
	return string(plain), nil
}
