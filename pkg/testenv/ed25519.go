package testenv

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The openssl command line is the independent ed25519 implementation the
// tests check v1a signatures against: OpenSSL's own code, not Go's
// crypto/ed25519. It is on every machine that has a TLS stack; the tests
// fail, never skip, without it.

// spkiPrefix is the DER of an ed25519 SubjectPublicKeyInfo before its 32
// key bytes (RFC 8410).
var spkiPrefix = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}

func openssl(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("testenv: the openssl command is needed to check ed25519 signatures independently: install openssl")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("openssl %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// OpenSSLVerifyEd25519 checks an ed25519 signature of msg under the raw
// 32-byte public key pub with openssl; nil means OpenSSL accepts it.
func OpenSSLVerifyEd25519(t testing.TB, pub, msg, sig []byte) error {
	t.Helper()
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("public key of %d bytes", len(pub))
	}
	dir := t.TempDir()
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: append(append([]byte{}, spkiPrefix...), pub...)})
	files := map[string][]byte{"pub.pem": keyPEM, "msg": msg, "sig": sig}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", filepath.Join(dir, "pub.pem"), "-rawin",
		"-in", filepath.Join(dir, "msg"), "-sigfile", filepath.Join(dir, "sig"))
	return err
}

// OpenSSLSignEd25519 makes a fresh ed25519 key with openssl and signs msg
// with it, returning the raw public key and the signature.
func OpenSSLSignEd25519(t testing.TB, msg []byte) (pub, sig []byte) {
	t.Helper()
	dir := t.TempDir()
	key, msgFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "msg")
	if err := os.WriteFile(msgFile, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openssl(t, "genpkey", "-algorithm", "ed25519", "-out", key); err != nil {
		t.Fatal(err)
	}
	der, err := openssl(t, "pkey", "-in", key, "-pubout", "-outform", "DER")
	if err != nil {
		t.Fatal(err)
	}
	if len(der) != len(spkiPrefix)+ed25519.PublicKeySize || !bytes.HasPrefix(der, spkiPrefix) {
		t.Fatalf("openssl public key: unexpected DER % x", der)
	}
	sig, err = openssl(t, "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", msgFile)
	if err != nil {
		t.Fatal(err)
	}
	return der[len(spkiPrefix):], sig
}

// DecodeKey returns the raw bytes of a whpk_… or whsec_… key, or of a
// v1a,… signature: the base64 after the prefix.
func DecodeKey(t testing.TB, prefixed, prefix string) []byte {
	t.Helper()
	rest, ok := strings.CutPrefix(prefixed, prefix)
	b, err := base64.StdEncoding.DecodeString(rest)
	if !ok || err != nil {
		t.Fatalf("testenv: %q is not %s followed by base64", prefixed, prefix)
	}
	return b
}
