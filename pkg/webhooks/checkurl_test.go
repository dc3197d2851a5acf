package webhooks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
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

// TestOneRuleForAPIAndSender: every destination URL the API accepts
// (CheckTargetURL, as endpoints, per-video URLs and connections use it), the
// sender delivers with the same policy, and what the API refuses the
// sender refuses too: sandbox http included, with the production policy
// (no loopback). The network is a local server behind the guard's Dial, so
// the guard checks the public addresses the names resolve to, as in AWS.
func TestOneRuleForAPIAndSender(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(srv.Close)
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(tls.Close)
	toServer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(addr)
		target := srv.Listener.Addr().String()
		if port == "443" {
			target = tls.Listener.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
	r := dns{
		"hooks.example.com": {{IP: net.ParseIP("93.184.215.14")}},
		"inside.example":    {{IP: net.ParseIP("10.1.2.3")}},
	}
	for _, loopback := range []bool{false, true} {
		g := &egress.Guard{Resolver: r, AllowLoopback: loopback, Dial: toServer}
		c := NewClient(g, time.Now)
		c.http.Transport.(*http.Transport).TLSClientConfig = tls.Client().Transport.(*http.Transport).TLSClientConfig
		for _, env := range []string{"live", "test"} {
			for _, u := range []string{
				"http://hooks.example.com/in", "https://hooks.example.com/in", "http://hooks.example.com:8080/in",
				"http://inside.example/in", "http://10.0.0.1/in", "http://[2001:0:a9fe:a9fe::1]/in", "ftp://hooks.example.com/",
			} {
				_, apiErr := CheckTargetURL(context.Background(), g, u, env, "/url")
				res := c.Send(context.Background(), Target{URL: u, Env: env, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, "evt_1", []byte(`{}`))
				sent := res.Outcome != Refused
				if (apiErr == nil) != sent {
					t.Errorf("loopback=%v env=%s %s: API accepts %v (%v), sender sends %v (%s)", loopback, env, u, apiErr == nil, apiErr, sent, res.Error)
				}
				if apiErr == nil && res.Outcome != Delivered {
					t.Errorf("loopback=%v env=%s %s: accepted but not delivered: %+v", loopback, env, u, res)
				}
				wantHTTP := env == "test" || loopback
				if strings.HasPrefix(u, "http://hooks.example.com") && (apiErr == nil) != wantHTTP {
					t.Errorf("loopback=%v env=%s %s: plain http accepted %v, want %v", loopback, env, u, apiErr == nil, wantHTTP)
				}
			}
		}
	}
}
