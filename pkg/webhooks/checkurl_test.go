package webhooks

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/egress"
)

type dns map[string][]net.IPAddr

func (d dns) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := d[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestCheckURL: what POST /v1/webhooks admits with the production policy
// (no loopback), and with the operator's loopback setting.
func TestCheckURL(t *testing.T) {
	r := dns{
		"hooks.example.com": {{IP: net.ParseIP("93.184.215.14")}},
		"sneaky.example":    {{IP: net.ParseIP("127.0.0.1")}},
		"mixed.example":     {{IP: net.ParseIP("93.184.215.14")}, {IP: net.ParseIP("169.254.169.254")}},
		"cgnat.example":     {{IP: net.ParseIP("100.64.0.9")}},
	}
	prod := &API{Guard: &egress.Guard{Resolver: r}, Now: time.Now}
	dev := &API{Guard: &egress.Guard{Resolver: r, AllowLoopback: true}, Now: time.Now}
	tests := []struct {
		name, url, env string
		api            *API
		ok             bool
		msg            string
	}{
		{"https public", "https://hooks.example.com/in?t=1", "live", prod, true, ""},
		{"http live", "http://hooks.example.com/in", "live", prod, false, "https"},
		{"http sandbox", "http://hooks.example.com/in", "test", prod, true, ""},
		{"private literal", "https://10.0.0.1/", "live", prod, false, "private address"},
		{"metadata literal", "https://169.254.169.254/latest/meta-data/", "live", prod, false, "cloud metadata"},
		{"IPv4-mapped private", "https://[::ffff:10.0.0.1]/", "live", prod, false, "private address"},
		{"name resolving to loopback", "https://sneaky.example/", "live", prod, false, "loopback address (sneaky.example resolves to 127.0.0.1)"},
		{"one bad answer among good", "https://mixed.example/", "live", prod, false, "cloud metadata"},
		{"CGNAT", "https://cgnat.example/", "live", prod, false, "CGNAT"},
		{"unresolvable", "https://nowhere.example/", "live", prod, false, "does not resolve"},
		{"loopback literal", "http://127.0.0.1:8080/", "live", prod, false, ""},
		{"loopback allowed by operator", "http://127.0.0.1:8080/", "live", dev, true, ""},
		{"operator allows loopback, not private", "http://10.0.0.1/", "live", dev, false, "private address"},
		{"credentials", "https://u:p@hooks.example.com/", "live", prod, false, "credentials"},
		{"relative", "/hooks", "live", prod, false, ""},
		{"fragment", "https://hooks.example.com/#x", "live", prod, false, "fragment"},
		{"too long", "https://hooks.example.com/" + strings.Repeat("a", MaxURLLen), "live", prod, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.api.checkURL(context.Background(), tc.url, tc.env)
			if (err == nil) != tc.ok {
				t.Fatalf("checkURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
			}
			if err != nil {
				e := apierr.From(err)
				if e.Code != apierr.InvalidRequest || e.Field != "/url" || !strings.Contains(e.Message, tc.msg) {
					t.Errorf("error %+v, want a 400 on /url mentioning %q", e, tc.msg)
				}
			}
		})
	}
}

func TestCheckEvents(t *testing.T) {
	got, err := checkEvents([]string{"render.failed", "*", "render.failed"})
	if err != nil || strings.Join(got, ",") != "*,render.failed" {
		t.Errorf("checkEvents = %v %v", got, err)
	}
	for _, bad := range [][]string{nil, {}, {"video.done"}, make([]string, MaxEvents+1)} {
		if _, err := checkEvents(bad); err == nil {
			t.Errorf("checkEvents(%q) accepted", bad)
		}
	}
}
