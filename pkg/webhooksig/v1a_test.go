package webhooksig_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// TestV1aAgainstOpenSSL: a v1a signature made by Sign verifies with
// OpenSSL's ed25519 under the whpk_ public key, and one made by OpenSSL
// verifies with Verify: the scheme is plain ed25519 over id.timestamp.body,
// interoperable with any implementation.
func TestV1aAgainstOpenSSL(t *testing.T) {
	priv, pub, err := webhooksig.NewKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(priv, webhooksig.PrivateKeyPrefix) || !strings.HasPrefix(pub, webhooksig.PublicKeyPrefix) {
		t.Fatalf("keys %q %q", priv[:8], pub)
	}
	if got, err := webhooksig.PublicKey(priv); err != nil || got != pub {
		t.Fatalf("PublicKey = %q %v, want %q", got, err, pub)
	}
	const id, body = "evt_01j9zq3m4v8c6a0h2x5k7n9p1r", `{"type":"render.succeeded","data":{"videoId":"vid_1"}}`
	ts := time.Unix(1_900_000_000, 0)
	sig, err := webhooksig.Sign(id, ts, []byte(body), priv)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := strings.CutPrefix(sig, "v1a,")
	if !ok || strings.Contains(sig, " ") {
		t.Fatalf("signature %q", sig)
	}
	sigBytes, _ := base64.StdEncoding.DecodeString(raw)
	msg := []byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "." + body)
	if err := testenv.OpenSSLVerifyEd25519(t, testenv.DecodeKey(t, pub, webhooksig.PublicKeyPrefix), msg, sigBytes); err != nil {
		t.Fatalf("OpenSSL rejects our v1a signature: %v", err)
	}
	tampered := bytes.Replace(msg, []byte("vid_1"), []byte("vid_2"), 1)
	if err := testenv.OpenSSLVerifyEd25519(t, testenv.DecodeKey(t, pub, webhooksig.PublicKeyPrefix), tampered, sigBytes); err == nil {
		t.Fatal("OpenSSL accepts the signature over another body: the check proves nothing")
	}

	// The other way: OpenSSL signs, Verify checks.
	osPub, osSig := testenv.OpenSSLSignEd25519(t, msg)
	h := http.Header{}
	h.Set(webhooksig.HeaderID, id)
	h.Set(webhooksig.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhooksig.HeaderSignature, "v1,bm90IGEgc2lnbmF0dXJl v1a,"+base64.StdEncoding.EncodeToString(osSig))
	whpk := webhooksig.PublicKeyPrefix + base64.StdEncoding.EncodeToString(osPub)
	if err := webhooksig.VerifyAt(whpk, h, []byte(body), 0, ts); err != nil {
		t.Fatalf("Verify rejects OpenSSL's signature: %v", err)
	}
	if err := webhooksig.VerifyAt(pub, h, []byte(body), 0, ts); !errors.Is(err, webhooksig.ErrNoMatch) {
		t.Fatalf("Verify with another public key = %v, want ErrNoMatch", err)
	}
}

func TestV1aVerify(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	oldPriv, oldPub, _ := webhooksig.NewKeyPair(nil)
	newPriv, newPub, _ := webhooksig.NewKeyPair(nil)
	secret, _ := webhooksig.NewSecret(nil)
	const body = `{"a":1}`
	signed := func(keys ...string) http.Header {
		h := http.Header{}
		if err := webhooksig.SetHeaders(h, "evt_1", now, []byte(body), keys...); err != nil {
			t.Fatal(err)
		}
		return h
	}
	rotation := signed(newPriv, oldPriv)
	if sigs := strings.Fields(rotation[webhooksig.HeaderSignature][0]); len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1a,") || !strings.HasPrefix(sigs[1], "v1a,") {
		t.Fatalf("rotation header %q", rotation[webhooksig.HeaderSignature][0])
	}
	mixed := signed(secret, newPriv)
	for _, tc := range []struct {
		name, key string
		h         http.Header
		body      string
		want      error
	}{
		{"public key", newPub, signed(newPriv), body, nil},
		{"rotation, new key", newPub, rotation, body, nil},
		{"rotation, old key", oldPub, rotation, body, nil},
		{"mixed schemes, public key", newPub, mixed, body, nil},
		{"mixed schemes, secret", secret, mixed, body, nil},
		{"a v1 secret never accepts v1a", secret, signed(newPriv), body, webhooksig.ErrNoMatch},
		{"a public key never accepts v1", newPub, signed(secret), body, webhooksig.ErrNoMatch},
		{"other key", oldPub, signed(newPriv), body, webhooksig.ErrNoMatch},
		{"tampered", newPub, signed(newPriv), body + " ", webhooksig.ErrNoMatch},
		{"private key given to Verify", newPriv, signed(newPriv), body, webhooksig.ErrInvalidKey},
		{"short public key", "whpk_AAAA", signed(newPriv), body, webhooksig.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := webhooksig.VerifyAt(tc.key, tc.h, []byte(tc.body), 0, now); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyAt = %v, want %v", err, tc.want)
			}
		})
	}
	// A 32-byte seed is a valid whsk_ key too.
	seed := webhooksig.PrivateKeyPrefix + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	pub, err := webhooksig.PublicKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	if err := webhooksig.SetHeaders(h, "evt_1", now, []byte(body), seed); err != nil {
		t.Fatal(err)
	}
	if err := webhooksig.VerifyAt(pub, h, []byte(body), 0, now); err != nil {
		t.Fatal(err)
	}
}

// FuzzVerify: no header, key or body makes Verify panic, and whatever it
// accepts under a public key was signed with that key's private key.
func FuzzVerify(f *testing.F) {
	priv, pub, _ := webhooksig.NewKeyPair(bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	now := time.Unix(1_900_000_000, 0)
	h := http.Header{}
	_ = webhooksig.SetHeaders(h, "evt_1", now, []byte("{}"), priv)
	f.Add(pub, h[webhooksig.HeaderID][0], h[webhooksig.HeaderTimestamp][0], h[webhooksig.HeaderSignature][0], []byte("{}"))
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", "1900000000", "v1,AAAA v1a,BBBB", []byte("x"))
	f.Add("whpk_", "", "", "v1a,", []byte(nil))
	f.Fuzz(func(t *testing.T, key, id, ts, sigs string, body []byte) {
		hh := http.Header{}
		hh.Set(webhooksig.HeaderID, id)
		hh.Set(webhooksig.HeaderTimestamp, ts)
		hh.Set(webhooksig.HeaderSignature, sigs)
		err := webhooksig.VerifyAt(key, hh, body, 0, now)
		if err == nil && key == pub && !(id == "evt_1" && string(body) == "{}") {
			t.Fatalf("accepted a forged message id=%q body=%q", id, body)
		}
	})
}
