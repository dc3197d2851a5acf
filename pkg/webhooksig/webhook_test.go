package webhooksig

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The example of the Standard Webhooks reference libraries: a receiver
// built on any of them and one built on Verify agree.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesSpecification(t *testing.T) {
	got, err := Sign(specID, time.Unix(specTS, 0), []byte(specBody), specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got != specSig {
		t.Fatalf("Sign = %q, want %q", got, specSig)
	}
}

func signed(t *testing.T, ts time.Time, body string, secrets ...string) http.Header {
	t.Helper()
	h := http.Header{}
	if err := SetHeaders(h, specID, ts, []byte(body), secrets...); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerify(t *testing.T) {
	now := time.Unix(specTS, 0)
	other, err := NewSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	canonical := func(h http.Header) http.Header { // as a net/http server sees it
		out := http.Header{}
		for k, v := range h {
			out[http.CanonicalHeaderKey(k)] = v
		}
		return out
	}
	tests := []struct {
		name    string
		secret  string
		headers http.Header
		body    string
		now     time.Time
		want    error
	}{
		{"valid", specSecret, signed(t, now, specBody, specSecret), specBody, now, nil},
		{"valid, canonical header names", specSecret, canonical(signed(t, now, specBody, specSecret)), specBody, now, nil},
		{"secret without prefix", strings.TrimPrefix(specSecret, SecretPrefix), signed(t, now, specBody, specSecret), specBody, now, nil},
		{"two signatures, old secret", specSecret, signed(t, now, specBody, other, specSecret), specBody, now, nil},
		{"two signatures, new secret", other, signed(t, now, specBody, other, specSecret), specBody, now, nil},
		{"wrong secret", other, signed(t, now, specBody, specSecret), specBody, now, ErrNoMatch},
		{"tampered body", specSecret, signed(t, now, specBody, specSecret), specBody + " ", now, ErrNoMatch},
		{"too old", specSecret, signed(t, now, specBody, specSecret), specBody, now.Add(5*time.Minute + time.Second), ErrTimestampTooOld},
		{"too new", specSecret, signed(t, now, specBody, specSecret), specBody, now.Add(-5*time.Minute - time.Second), ErrTimestampTooNew},
		{"at the tolerance", specSecret, signed(t, now, specBody, specSecret), specBody, now.Add(5 * time.Minute), nil},
		{"no headers", specSecret, http.Header{}, specBody, now, ErrMissingHeaders},
		{"bad timestamp", specSecret, func() http.Header {
			h := signed(t, now, specBody, specSecret)
			h[HeaderTimestamp] = []string{"yesterday"}
			return h
		}(), specBody, now, ErrInvalidTimestamp},
		{"other id", specSecret, func() http.Header {
			h := signed(t, now, specBody, specSecret)
			h[HeaderID] = []string{"msg_other"}
			return h
		}(), specBody, now, ErrNoMatch},
		{"unknown scheme only", specSecret, func() http.Header {
			h := signed(t, now, specBody, specSecret)
			h[HeaderSignature] = []string{strings.Replace(h[HeaderSignature][0], "v1,", "v1a,", 1)}
			return h
		}(), specBody, now, ErrNoMatch},
		{"invalid secret", "whsec_!!", signed(t, now, specBody, specSecret), specBody, now, ErrInvalidSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyAt(tc.secret, tc.headers, []byte(tc.body), 0, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyAt = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNewSecretAndMask(t *testing.T) {
	a, err := NewSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret(nil)
	if a == b || !strings.HasPrefix(a, SecretPrefix) {
		t.Fatalf("secrets %q %q", a, b)
	}
	k, err := secretKey(a)
	if err != nil || len(k) != SecretBytes {
		t.Fatalf("key of %q: %d bytes, %v", a, len(k), err)
	}
	if m := Mask(a); m != SecretPrefix+"…"+a[len(a)-4:] || strings.Contains(m, a[6:20]) {
		t.Errorf("Mask = %q", m)
	}
	if _, err := NewSecret(bytes.NewReader(nil)); err == nil {
		t.Error("NewSecret with exhausted entropy succeeded")
	}
}
