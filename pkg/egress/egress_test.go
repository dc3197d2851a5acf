package egress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hosts is a Resolver from a table: tests never ask DNS, and a name that
// is not in the table fails loudly instead of reaching the network.
type hosts map[string][]string

func (h hosts) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := h[host]
	if !ok {
		return nil, fmt.Errorf("test resolver: unknown host %q", host)
	}
	out := make([]net.IPAddr, len(ips))
	for i, s := range ips {
		out[i] = net.IPAddr{IP: net.ParseIP(s)}
	}
	return out, nil
}

// resolverSpy counts lookups, to prove a refusal needed no network.
type resolverSpy struct {
	hosts
	calls atomic.Int32
}

func (r *resolverSpy) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	r.calls.Add(1)
	return r.hosts.LookupIPAddr(ctx, host)
}

func TestCheckAddr(t *testing.T) {
	cases := []struct {
		ip       string
		reason   string // "" = allowed
		loopback bool   // AllowLoopback
	}{
		{"10.0.0.1", ReasonPrivate, false},
		{"10.255.255.255", ReasonPrivate, false},
		{"172.16.0.1", ReasonPrivate, false},
		{"172.31.255.254", ReasonPrivate, false},
		{"172.32.0.1", "", false},
		{"192.168.1.1", ReasonPrivate, false},
		{"fc00::1", ReasonPrivate, false},
		{"fd12:3456::1", ReasonPrivate, false},
		{"127.0.0.1", ReasonLoopback, false},
		{"127.9.9.9", ReasonLoopback, false},
		{"::1", ReasonLoopback, false},
		{"127.0.0.1", "", true},
		{"::1", "", true},
		{"10.0.0.1", ReasonPrivate, true},
		{"169.254.1.1", ReasonLinkLocal, false},
		{"fe80::1", ReasonLinkLocal, false},
		{"169.254.169.254", ReasonMetadata, false},
		{"169.254.169.254", ReasonMetadata, true},
		{"169.254.170.2", ReasonMetadata, false},
		{"fd00:ec2::254", ReasonMetadata, false},
		{"100.64.0.1", ReasonCGNAT, false},
		{"100.127.255.255", ReasonCGNAT, false},
		{"100.128.0.1", "", false},
		{"0.0.0.0", ReasonUnspecified, false},
		{"0.1.2.3", ReasonUnspecified, false},
		{"::", ReasonUnspecified, false},
		{"224.0.0.1", ReasonMulticast, false},
		{"239.255.255.250", ReasonMulticast, false},
		{"ff02::1", ReasonMulticast, false},
		{"255.255.255.255", ReasonReserved, false},
		// IPv4-mapped and embedded forms of refused IPv4 addresses.
		{"::ffff:10.0.0.1", ReasonPrivate, false},
		{"::ffff:127.0.0.1", ReasonLoopback, false},
		{"::ffff:169.254.169.254", ReasonMetadata, false},
		{"::ffff:100.64.0.1", ReasonCGNAT, false},
		{"::ffff:0.0.0.0", ReasonUnspecified, false},
		{"64:ff9b::a9fe:a9fe", ReasonMetadata, false}, // NAT64 of 169.254.169.254
		{"2002:0a00:0001::1", ReasonPrivate, false},   // 6to4 of 10.0.0.1
		{"::10.0.0.1", ReasonPrivate, false},          // IPv4-compatible
		// Every IPv6 form that embeds IPv4, each embedding the metadata
		// address, a private one and a public one: the embedded refused
		// address names the reason; a public one is refused too, except
		// behind NAT64's well-known prefix.
		{"64:ff9b::a9fe:a9fe", ReasonMetadata, true}, // NAT64: our AllowLoopback is not a translator's
		{"64:ff9b::7f00:1", ReasonLoopback, true},
		{"64:ff9b::a00:1", ReasonPrivate, false},
		{"64:ff9b:1:a9fe:a9:fe00::", ReasonMetadata, false}, // local-use NAT64 (RFC 6052 /48 layout)
		{"64:ff9b:1:a00:0:100::", ReasonPrivate, false},
		{"64:ff9b:1:808:8:800::", ReasonEmbedded, false},
		{"2001:0:a9fe:a9fe::1", ReasonMetadata, false},                  // Teredo server 169.254.169.254
		{"2001:0:4136:e378:8000:63bf:5601:5601", ReasonMetadata, false}, // Teredo client 169.254.169.254, inverted
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", ReasonPrivate, false},  // Teredo client 10.0.0.1
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", ReasonEmbedded, false}, // Teredo, both public
		{"::ffff:0:a9fe:a9fe", ReasonMetadata, false},                   // SIIT
		{"::ffff:0:a00:1", ReasonPrivate, false},
		{"::ffff:0:808:808", ReasonEmbedded, false},
		{"2002:a9fe:a9fe::1", ReasonMetadata, false}, // 6to4
		{"2002:808:808::1", ReasonEmbedded, false},
		{"::a9fe:a9fe", ReasonMetadata, false}, // IPv4-compatible
		{"::808:808", ReasonEmbedded, false},
		{"::ffff:a9fe:a9fe", ReasonMetadata, false}, // IPv4-mapped is the IPv4 address itself
		// The rest of IANA's special-purpose registries.
		{"192.0.0.9", ReasonReserved, false},
		{"192.0.0.171", ReasonReserved, false},
		{"192.31.196.1", ReasonReserved, false},
		{"192.52.193.1", ReasonReserved, false},
		{"192.88.99.1", ReasonReserved, false},
		{"192.175.48.1", ReasonReserved, false},
		{"198.19.255.255", ReasonReserved, false},
		{"203.0.113.7", ReasonReserved, false},
		{"100::1", ReasonReserved, false},
		{"100:0:0:1::1", ReasonReserved, false},
		{"2001:1::1", ReasonReserved, false},
		{"2001:2::1", ReasonReserved, false},
		{"2001:3::1", ReasonReserved, false},
		{"2001:4:112::1", ReasonReserved, false},
		{"2001:20::1", ReasonReserved, false},
		{"2001:db8::1", ReasonReserved, false},
		{"2620:4f:8000::1", ReasonReserved, false},
		{"3fff::1", ReasonReserved, false},
		{"5f00::1", ReasonReserved, false},
		{"4000::1", ReasonReserved, false}, // outside global unicast
		{"fec0::1", ReasonPrivate, false},
		// Public addresses pass (checked only, never dialed).
		{"8.8.8.8", "", false},
		{"93.184.216.34", "", false},
		{"::ffff:8.8.8.8", "", false},
		{"2606:4700:4700::1111", "", false},
		{"64:ff9b::808:808", "", false},
	}
	for _, c := range cases {
		g := &Guard{AllowLoopback: c.loopback}
		if got := g.CheckAddr(netip.MustParseAddr(c.ip)); got != c.reason {
			t.Errorf("%s (loopback %v): got %q, want %q", c.ip, c.loopback, got, c.reason)
		}
	}
}

func TestFetchRefuses(t *testing.T) {
	spy := &resolverSpy{hosts: hosts{
		"internal.example":  {"10.1.2.3"},
		"rebind.example":    {"93.184.216.34", "192.168.0.10"},
		"metadata.example":  {"::ffff:169.254.169.254"},
		"cgnat.example":     {"100.64.0.1"},
		"v6private.example": {"fd00::5"},
		"teredo.example":    {"2001:0:4136:e378:8000:63bf:5601:5601"},
		"siit.example":      {"::ffff:0:a00:1"},
	}}
	cases := []struct {
		name, url, reason string
		resolver          Resolver // nil = the spy
	}{
		{"private literal", "https://10.0.0.1/a.png", ReasonPrivate, nil},
		{"metadata literal", "https://169.254.169.254/latest/meta-data/", ReasonMetadata, nil},
		{"teredo literal embedding metadata", "https://[2001:0:a9fe:a9fe::1]/", ReasonMetadata, nil},
		{"teredo from DNS", "https://teredo.example/x", ReasonMetadata, nil},
		{"siit from DNS", "https://siit.example/x", ReasonPrivate, nil},
		{"loopback v6 literal", "https://[::1]/", ReasonLoopback, nil},
		{"cgnat literal", "https://100.64.0.1/", ReasonCGNAT, nil},
		{"mapped literal", "https://[::ffff:10.0.0.1]/", ReasonPrivate, nil},
		{"decimal-looking host is a name, resolved", "https://internal.example/x", ReasonPrivate, nil},
		{"one private answer refuses the name", "https://rebind.example/x", ReasonPrivate, nil},
		{"mapped metadata from DNS", "https://metadata.example/x", ReasonMetadata, nil},
		{"cgnat from DNS", "https://cgnat.example/x", ReasonCGNAT, nil},
		{"v6 private from DNS", "https://v6private.example:8443/x", ReasonPrivate, nil},
		// The system resolver answers "localhost" from /etc/hosts, offline.
		{"localhost", "https://localhost/", ReasonLoopback, net.DefaultResolver},
		{"plain http", "http://cdn.example.com/a.png", "only https URLs are fetched", nil},
		{"file scheme", "file:///etc/passwd", "only https URLs are fetched", nil},
		{"credentials", "https://user:pw@cdn.example.com/a.png", "credentials in the URL", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &Guard{Resolver: spy, Timeout: 2 * time.Second}
			if c.resolver != nil {
				g.Resolver = c.resolver
			}
			var buf bytes.Buffer
			err := g.Fetch(context.Background(), c.url, 1<<20, &buf)
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason != c.reason {
				t.Fatalf("got %v, want refused: %s", err, c.reason)
			}
			if !strings.HasPrefix(err.Error(), "refused: "+c.reason) {
				t.Fatalf("message %q", err)
			}
			if buf.Len() != 0 {
				t.Fatal("bytes were written")
			}
		})
	}
}

func TestLoopbackServerWithAllowLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "pixels")
	}))
	defer srv.Close()
	cases := []struct {
		name     string
		guard    *Guard
		wantBody string
		reason   string
	}{
		{"allowed", &Guard{AllowLoopback: true}, "pixels", ""},
		{"refused without AllowLoopback", &Guard{}, "", "only https URLs are fetched"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := c.guard.Fetch(context.Background(), srv.URL, 100, &buf)
			if c.reason == "" {
				if err != nil || buf.String() != c.wantBody {
					t.Fatalf("got %q, %v", buf.String(), err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason != c.reason {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// The dial-time check is what protects the client, whatever the URL looked
// like: an https client without AllowLoopback cannot connect to a loopback
// TLS server even by name.
func TestClientDialRefusesLoopback(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("request reached the server")
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	g := &Guard{Resolver: hosts{"loop.example": {"127.0.0.1"}}}
	_, err := g.Client(2 * time.Second).Get(fmt.Sprintf("https://loop.example:%d/", port))
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != ReasonLoopback {
		t.Fatalf("got %v", err)
	}
}

func TestRedirects(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-private":
			http.Redirect(w, r, "http://10.0.0.1/", http.StatusFound)
		case "/to-metadata-name":
			http.Redirect(w, r, "http://metadata.example/", http.StatusFound)
		case "/ok":
			fmt.Fprint(w, "ok")
		default: // /hop/N redirects N times, then serves /ok
			var n int
			if _, err := fmt.Sscanf(r.URL.Path, "/hop/%d", &n); err != nil {
				http.NotFound(w, r)
				return
			}
			next := "/ok"
			if n > 1 {
				next = fmt.Sprintf("/hop/%d", n-1)
			}
			http.Redirect(w, r, srv.URL+next, http.StatusFound)
		}
	}))
	defer srv.Close()
	g := &Guard{AllowLoopback: true, Resolver: hosts{"metadata.example": {"169.254.169.254"}}}
	cases := []struct {
		path, body, reason string
		other              bool // some other error
	}{
		{path: "/to-private", reason: ReasonPrivate},
		{path: "/to-metadata-name", reason: ReasonMetadata},
		{path: "/hop/3", body: "ok"},
		{path: "/hop/4", other: true},
		{path: "/missing", other: true},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := g.Fetch(context.Background(), srv.URL+c.path, 100, &buf)
		var re *RefusedError
		switch {
		case c.reason != "":
			if !errors.As(err, &re) || re.Reason != c.reason {
				t.Errorf("%s: got %v, want refused %s", c.path, err, c.reason)
			}
		case c.other:
			if err == nil || errors.As(err, &re) {
				t.Errorf("%s: got %v, want a non-refusal error", c.path, err)
			}
		default:
			if err != nil || buf.String() != c.body {
				t.Errorf("%s: got %q, %v", c.path, buf.String(), err)
			}
		}
	}
}

func TestSizeCap(t *testing.T) {
	const limit = 64 << 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 4096)
		switch r.URL.Path {
		case "/announced": // Content-Length says it all
			w.Header().Set("Content-Length", fmt.Sprint(limit+1))
			w.Write(bytes.Repeat([]byte("x"), limit+1))
		case "/exact":
			w.Write(bytes.Repeat([]byte("x"), limit))
		default: // chunked, streaming until the client hangs up
			for i := 0; i < 10_000; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}))
	defer srv.Close()
	g := &Guard{AllowLoopback: true}
	cases := []struct {
		path    string
		tooBig  bool
		maxSeen int
	}{
		{"/announced", true, 0},
		{"/stream", true, limit},
		{"/exact", false, limit},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := g.Fetch(context.Background(), srv.URL+c.path, limit, &buf)
		if errors.Is(err, ErrTooLarge) != c.tooBig {
			t.Errorf("%s: err %v, want too large %v", c.path, err, c.tooBig)
		}
		if buf.Len() > c.maxSeen || (!c.tooBig && buf.Len() != limit) {
			t.Errorf("%s: wrote %d bytes", c.path, buf.Len())
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	g := &Guard{AllowLoopback: true, Timeout: 200 * time.Millisecond}
	start := time.Now()
	err := g.Fetch(context.Background(), srv.URL, 10, &bytes.Buffer{})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a deadline error, got %v", err)
	}
}

func TestStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusGone)
	}))
	defer srv.Close()
	err := (&Guard{AllowLoopback: true}).Fetch(context.Background(), srv.URL, 10, &bytes.Buffer{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusGone {
		t.Fatalf("got %v", err)
	}
}

func TestLiteralRefusalNeedsNoLookup(t *testing.T) {
	spy := &resolverSpy{hosts: hosts{}}
	g := &Guard{Resolver: spy}
	for _, u := range []string{"https://10.0.0.1/", "https://[fd00:ec2::254]/", "https://[::ffff:a9fe:a9fe]/"} {
		if err := g.Fetch(context.Background(), u, 1, &bytes.Buffer{}); err == nil {
			t.Errorf("%s fetched", u)
		}
	}
	if n := spy.calls.Load(); n != 0 {
		t.Fatalf("%d lookups for literal addresses", n)
	}
}

// CheckHTTPURL relaxes the scheme only: addresses, credentials and other
// schemes are refused as by CheckURL.
func TestCheckHTTPURL(t *testing.T) {
	g := &Guard{}
	for _, c := range []struct {
		url, reason string
	}{
		{"http://hooks.example.com/in", ""},
		{"https://hooks.example.com/in", ""},
		{"http://10.0.0.1/", ReasonPrivate},
		{"http://[2001:0:a9fe:a9fe::1]/", ReasonMetadata},
		{"http://127.0.0.1:8080/", ReasonLoopback},
		{"http://u:p@hooks.example.com/", "credentials in the URL"},
		{"ftp://hooks.example.com/", ReasonScheme},
	} {
		u, _ := url.Parse(c.url)
		err := g.CheckHTTPURL(u)
		var re *RefusedError
		if (c.reason == "") != (err == nil) || (err != nil && (!errors.As(err, &re) || re.Reason != c.reason)) {
			t.Errorf("%s: %v, want %q", c.url, err, c.reason)
		}
		if u.Scheme == "http" && c.reason == "" {
			if err := g.CheckURL(u); err == nil {
				t.Errorf("CheckURL(%s) accepted plain http", c.url)
			}
		}
	}
}
