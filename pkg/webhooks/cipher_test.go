package webhooks

import (
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/webhooksig"
)

const sealTestSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestCipher(t *testing.T) {
	if _, err := NewCipher([]byte("short")); err == nil {
		t.Fatal("short data key accepted")
	}
	c, err := NewCipher([]byte(strings.Repeat("k", 64)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewCipher([]byte(strings.Repeat("x", 64)))
	sealed, err := c.Seal(sealTestSecret, "we_1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, strings.TrimPrefix(sealTestSecret, webhooksig.SecretPrefix)) {
		t.Fatal("sealed form contains the secret")
	}
	again, _ := c.Seal(sealTestSecret, "we_1")
	if again == sealed {
		t.Error("two seals of one secret are equal: nonce reused")
	}
	tests := []struct {
		name   string
		c      *Cipher
		sealed string
		aad    string
		ok     bool
	}{
		{"round trip", c, sealed, "we_1", true},
		{"other record", c, sealed, "we_2", false},
		{"other key", other, sealed, "we_1", false},
		{"tampered", c, sealed[:len(sealed)-2] + "AA", "we_1", false},
		{"unknown version", c, "v9." + sealed[3:], "we_1", false},
		{"garbage", c, "v1.!!", "we_1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Open(tc.sealed, tc.aad)
			if (err == nil) != tc.ok {
				t.Fatalf("Open err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && got != sealTestSecret {
				t.Fatalf("Open = %q", got)
			}
		})
	}
}
