// Package egress makes outbound HTTP requests to URLs that clients chose
// (images and audio in movie specs, webhook endpoints) without letting them
// reach anything inside our network: private, loopback, link-local, CGNAT,
// multicast and cloud-metadata addresses are refused.
//
// The check happens in the dialer, on the address actually dialed: the
// guard resolves the name itself, checks every address, then connects to a
// checked IP, so there is no gap between checking and connecting for DNS
// rebinding to slip through. Redirects are re-checked and capped.
package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Resolver maps a host name to addresses; *net.Resolver is one. Tests plug
// in a map so that no test ever asks DNS.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Guard is the egress policy. The zero value refuses everything but public
// addresses over https, with DefaultTimeout.
type Guard struct {
	// AllowLoopback admits 127.0.0.0/8 and ::1 and plain http, for tests
	// against httptest servers and for the local stack.
	AllowLoopback bool
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Timeout bounds a whole Fetch, body included; 0 means DefaultTimeout.
	Timeout time.Duration
	// Dial, when set, opens the connection to an address the guard has
	// checked, instead of the network: tests route a public address to a
	// local server, so the production policy runs end to end. Nil in
	// production.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultTimeout bounds a Fetch when the Guard sets none.
const DefaultTimeout = 30 * time.Second

// MaxRedirects is how many redirects a guarded client follows.
const MaxRedirects = 3

// Reasons an address is refused, as shown in RefusedError.
const (
	ReasonLoopback    = "loopback address"
	ReasonPrivate     = "private address"
	ReasonLinkLocal   = "link-local address"
	ReasonMetadata    = "cloud metadata address"
	ReasonCGNAT       = "shared (CGNAT) address"
	ReasonUnspecified = "unspecified address"
	ReasonMulticast   = "multicast address"
	ReasonReserved    = "reserved address"
	// ReasonEmbedded is an IPv6 transition address (Teredo, 6to4, SIIT,
	// IPv4-compatible, local-use NAT64) whose embedded IPv4 address is not
	// itself refused: such addresses are refused whatever they embed.
	ReasonEmbedded = "IPv6 address embedding IPv4"
)

// RefusedError is an address or URL the policy does not allow. Callers show
// Error() to clients: it names the host and the reason, never more.
type RefusedError struct {
	Host   string     // as written in the URL
	Addr   netip.Addr // the refused address; invalid when the URL itself was refused
	Reason string     // one of the Reason constants, or why the URL was refused
}

func (e *RefusedError) Error() string {
	if e.Addr.IsValid() && e.Host != e.Addr.String() {
		return fmt.Sprintf("refused: %s (%s resolves to %s)", e.Reason, e.Host, e.Addr)
	}
	if e.Host != "" {
		return fmt.Sprintf("refused: %s (%s)", e.Reason, e.Host)
	}
	return "refused: " + e.Reason
}

// ErrTooLarge is returned when a body exceeds the size cap.
var ErrTooLarge = errors.New("response body exceeds the size limit")

// StatusError is a non-2xx answer.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("remote server answered %d %s", e.Code, http.StatusText(e.Code))
}

type prefixRule struct {
	prefix netip.Prefix
	reason string
}

// refused is checked in order, so the specific reasons (metadata) come
// before the ranges that contain them (link-local, fc00::/7). It holds
// every block of IANA's IPv4 and IPv6 Special-Purpose Address Registries,
// those marked globally reachable too (anycast infrastructure such as
// AS112 and AMT hosts no webhook), and multicast.
var refused = func() []prefixRule {
	rules := []struct{ cidr, reason string }{
		{"169.254.169.254/32", ReasonMetadata}, // EC2, GCP, Azure instance metadata
		{"169.254.170.2/32", ReasonMetadata},   // ECS task credentials
		{"169.254.170.23/32", ReasonMetadata},  // EKS pod identity
		{"fd00:ec2::254/128", ReasonMetadata},  // EC2 metadata over IPv6
		{"fd00:ec2::23/128", ReasonMetadata},   // EKS pod identity over IPv6
		{"100.100.100.200/32", ReasonMetadata}, // Alibaba Cloud metadata
		{"0.0.0.0/8", ReasonUnspecified},       // "this network"
		{"::/128", ReasonUnspecified},
		{"127.0.0.0/8", ReasonLoopback},
		{"::1/128", ReasonLoopback},
		{"10.0.0.0/8", ReasonPrivate},
		{"172.16.0.0/12", ReasonPrivate},
		{"192.168.0.0/16", ReasonPrivate},
		{"fc00::/7", ReasonPrivate},  // unique local
		{"fec0::/10", ReasonPrivate}, // deprecated site-local, still routed by some stacks
		{"100.64.0.0/10", ReasonCGNAT},
		{"169.254.0.0/16", ReasonLinkLocal},
		{"fe80::/10", ReasonLinkLocal},
		{"224.0.0.0/4", ReasonMulticast},
		{"ff00::/8", ReasonMulticast},
		{"192.0.0.0/24", ReasonReserved},    // IETF protocol assignments (DS-Lite, PCP, TURN, NAT64 discovery)
		{"192.0.2.0/24", ReasonReserved},    // documentation (TEST-NET-1)
		{"192.31.196.0/24", ReasonReserved}, // AS112-v4
		{"192.52.193.0/24", ReasonReserved}, // AMT
		{"192.88.99.0/24", ReasonReserved},  // deprecated 6to4 relay anycast
		{"192.175.48.0/24", ReasonReserved}, // AS112 direct delegation
		{"198.18.0.0/15", ReasonReserved},   // benchmarking, used inside some clouds
		{"198.51.100.0/24", ReasonReserved}, // documentation (TEST-NET-2)
		{"203.0.113.0/24", ReasonReserved},  // documentation (TEST-NET-3)
		{"240.0.0.0/4", ReasonReserved},     // future use, and 255.255.255.255
		{"100::/64", ReasonReserved},        // discard-only
		{"100:0:0:1::/64", ReasonReserved},  // dummy prefix
		{"2001::/23", ReasonReserved},       // IETF protocol assignments (benchmarking, AMT, AS112, ORCHID, …)
		{"2001:db8::/32", ReasonReserved},   // documentation
		{"2620:4f:8000::/48", ReasonReserved},
		{"3fff::/20", ReasonReserved}, // documentation
		{"5f00::/16", ReasonReserved}, // SRv6 SIDs
	}
	out := make([]prefixRule, len(rules))
	for i, r := range rules {
		out[i] = prefixRule{netip.MustParsePrefix(r.cidr), r.reason}
	}
	return out
}()

// Prefixes of IPv6 addresses that carry an IPv4 address.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")    // well-known NAT64 (RFC 6052)
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")  // local-use NAT64 (RFC 8215)
	sixToFour  = netip.MustParsePrefix("2002::/16")       // 6to4 (RFC 3056)
	teredo     = netip.MustParsePrefix("2001::/32")       // Teredo (RFC 4380)
	siit       = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT IPv4-translated (RFC 2765)
	v4compat   = netip.MustParsePrefix("::/96")           // IPv4-compatible (deprecated, RFC 4291)
	global6    = netip.MustParsePrefix("2000::/3")        // IPv6 global unicast
)

// CheckAddr returns the reason ip is refused, or "" when it may be dialed.
//
// IPv6 addresses that embed an IPv4 address are judged by it: a
// translator or tunnel on the way may deliver them to it. Only NAT64's
// well-known prefix may reach a public IPv4 address (AWS's DNS64 answers
// with it in IPv6-only subnets); every other transition form (Teredo,
// whose client address is stored inverted, 6to4, SIIT, IPv4-compatible,
// local-use NAT64) is refused whatever it embeds, and so is any IPv6
// address outside global unicast.
func (g *Guard) CheckAddr(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("") // ::ffff:10.0.0.1 is 10.0.0.1
	if !ip.IsValid() {
		return ReasonUnspecified
	}
	if ip.Is6() {
		if inner, only := embedded(ip); len(inner) > 0 {
			for _, v4 := range inner {
				// Judged as a remote address: AllowLoopback admits our own
				// loopback, not a translator's.
				if r := (&Guard{}).CheckAddr(v4); r != "" {
					return r
				}
			}
			if !only {
				return ReasonEmbedded
			}
		}
	}
	for _, r := range refused {
		if r.prefix.Contains(ip) {
			if r.reason == ReasonLoopback && g.AllowLoopback {
				return ""
			}
			return r.reason
		}
	}
	if ip.Is6() && !global6.Contains(ip) && ip != netip.IPv6Loopback() && !nat64.Contains(ip) {
		return ReasonReserved
	}
	return ""
}

// embedded returns the IPv4 addresses an IPv6 address carries, and whether
// they alone decide (NAT64's well-known prefix) rather than the address
// being refused anyway.
func embedded(ip netip.Addr) (inner []netip.Addr, only bool) {
	b := ip.As16()
	v4 := func(x []byte) netip.Addr { return netip.AddrFrom4([4]byte(x)) }
	switch {
	case nat64.Contains(ip):
		return []netip.Addr{v4(b[12:16])}, true
	case nat64Local.Contains(ip):
		// RFC 6052 layout for a /48: bits 48-63 and 72-95 (octet 8 is zero).
		return []netip.Addr{netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]})}, false
	case sixToFour.Contains(ip):
		return []netip.Addr{v4(b[2:6])}, false
	case teredo.Contains(ip):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]} // obfuscated: stored inverted
		return []netip.Addr{v4(b[4:8]), netip.AddrFrom4(client)}, false
	case siit.Contains(ip):
		return []netip.Addr{v4(b[12:16])}, false
	case v4compat.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return []netip.Addr{v4(b[12:16])}, false
	}
	return nil, false
}

func (g *Guard) resolver() Resolver {
	if g.Resolver != nil {
		return g.Resolver
	}
	return net.DefaultResolver
}

// resolve returns the addresses of host, all of them allowed, or a
// *RefusedError. One refused address refuses the host: a name mixing
// public and private answers is a rebinding setup, not a CDN.
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if r := g.CheckAddr(ip); r != "" {
			return nil, &RefusedError{Host: host, Addr: ip.Unmap(), Reason: r}
		}
		return []netip.Addr{ip.Unmap()}, nil
	}
	addrs, err := g.resolver().LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return nil, &RefusedError{Host: host, Reason: ReasonUnspecified}
		}
		ip = ip.Unmap()
		if r := g.CheckAddr(ip); r != "" {
			return nil, &RefusedError{Host: host, Addr: ip, Reason: r}
		}
		out = append(out, ip)
	}
	return out, nil
}

// dial resolves, checks, and connects to a checked IP. The dialer's Control
// hook checks again on the socket's actual peer address, so a future change
// that dials a name by mistake still cannot reach a refused address.
func (g *Guard) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, peer string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(peer)
			if err != nil {
				return fmt.Errorf("dial: unparsable peer %q: %w", peer, err)
			}
			if r := g.CheckAddr(ap.Addr()); r != "" {
				return &RefusedError{Host: host, Addr: ap.Addr().Unmap(), Reason: r}
			}
			return nil
		},
	}
	dialContext := d.DialContext
	if g.Dial != nil {
		dialContext = g.Dial
	}
	var errs []error
	for _, ip := range addrs {
		c, err := dialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dial %s: %w", host, errors.Join(errs...))
}

// ReasonScheme refuses a URL whose scheme the policy does not fetch.
const ReasonScheme = "only https URLs are fetched"

// CheckURL refuses URLs the policy never fetches, before any network use:
// schemes other than https (http too with AllowLoopback), credentials in
// the URL, and literal IP hosts that are refused.
func (g *Guard) CheckURL(u *url.URL) error { return g.checkURL(u, g.AllowLoopback) }

// CheckHTTPURL is CheckURL for a destination the caller accepts over plain
// http as well (sandbox webhooks): the addresses are held to the same
// policy, only the scheme is relaxed.
func (g *Guard) CheckHTTPURL(u *url.URL) error { return g.checkURL(u, true) }

func (g *Guard) checkURL(u *url.URL, plainHTTP bool) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && plainHTTP:
	default:
		return &RefusedError{Host: u.Host, Reason: ReasonScheme}
	}
	if u.User != nil {
		return &RefusedError{Host: u.Hostname(), Reason: "credentials in the URL"}
	}
	if u.Hostname() == "" {
		return &RefusedError{Reason: "the URL has no host"}
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		if r := g.CheckAddr(ip); r != "" {
			return &RefusedError{Host: u.Hostname(), Addr: ip.Unmap(), Reason: r}
		}
	}
	return nil
}

// Client is an HTTP client whose every connection, redirects included, goes
// through the guard. Environment proxies are ignored: a proxy would dial the
// target for us, out of the guard's sight.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            g.dial,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    10 * time.Second,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 64 << 10,
			// Sizes are capped on the bytes we store; transparent gzip
			// would let a small compressed body expand past the cap's
			// intent before we count it.
			DisableCompression: true,
			MaxIdleConns:       4,
			IdleConnTimeout:    30 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", MaxRedirects)
			}
			if err := g.CheckURL(req.URL); err != nil {
				return err
			}
			// Resolve now for a clear error; dial checks again anyway.
			_, err := g.resolve(req.Context(), req.URL.Hostname())
			return err
		},
	}
}

// Fetch GETs rawURL into dst, at most maxBytes of body within the guard's
// timeout. A body over the cap fails with ErrTooLarge after maxBytes have
// been written; callers discard dst then.
func (g *Guard) Fetch(ctx context.Context, rawURL string, maxBytes int64, dst io.Writer) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("parse url: %w", err)
	}
	if err := g.CheckURL(u); err != nil {
		return err
	}
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "framegate-fetch/1")
	client := g.Client(timeout)
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Code: resp.StatusCode}
	}
	if resp.ContentLength > maxBytes {
		return fmt.Errorf("%w: %d bytes announced, %d allowed", ErrTooLarge, resp.ContentLength, maxBytes)
	}
	n, err := io.CopyN(dst, resp.Body, maxBytes)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read body after %d bytes: %w", n, err)
	}
	if err == nil { // the cap was reached: is there more?
		var one [1]byte
		if k, _ := io.ReadFull(resp.Body, one[:]); k > 0 {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxBytes)
		}
	}
	return nil
}

// unwrapURLError surfaces a RefusedError from inside *url.Error so callers
// and clients see "refused: private address (…)" rather than a transport
// message around it; other errors keep their chain.
func unwrapURLError(err error) error {
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("get %s: %w", redact(ue.URL), ue.Err)
	}
	return err
}

// redact drops the query string, which may hold signatures, from logs.
func redact(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}
