package webhooksig_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/webhooksig"
)

// BenchmarkSign and BenchmarkVerify compare the schemes on a 2 KB event
// (make bench prints v1a as a ratio to v1, measured in the same run).
func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 2048)
	secret, _ := webhooksig.NewSecret(nil)
	priv, _, _ := webhooksig.NewKeyPair(nil)
	now := time.Unix(1_900_000_000, 0)
	for _, c := range []struct{ name, key string }{{"v1", secret}, {"v1a", priv}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := webhooksig.Sign("evt_01j9zq3m4v8c6a0h2x5k7n9p1r", now, body, c.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 2048)
	secret, _ := webhooksig.NewSecret(nil)
	priv, pub, _ := webhooksig.NewKeyPair(nil)
	now := time.Unix(1_900_000_000, 0)
	for _, c := range []struct{ name, sign, verify string }{{"v1", secret, secret}, {"v1a", priv, pub}} {
		h := http.Header{}
		if err := webhooksig.SetHeaders(h, "evt_01j9zq3m4v8c6a0h2x5k7n9p1r", now, body, c.sign); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := webhooksig.VerifyAt(c.verify, h, body, 0, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
