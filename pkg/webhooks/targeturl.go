package webhooks

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/egress"
)

// MaxURLLen is the longest destination URL the APIs accept.
const MaxURLLen = 2048

// CheckTargetURL is the one policy for URLs framegate sends to (webhook
// endpoints and webhook connections alike): https URLs of public hosts,
// http too in the sandbox (env "test"), loopback only when the operator
// allows it. Host names are resolved now so one pointing inside our network
// is refused at once, as a 400 naming /url; every send checks again (DNS
// changes).
func CheckTargetURL(ctx context.Context, guard *egress.Guard, raw, env string) (string, error) {
	const f = "/url"
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > MaxURLLen {
		return "", apierr.Invalid(f, "url must be an absolute https URL of at most %d characters.", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", apierr.Invalid(f, "url must be an absolute https URL.")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (env == "test" || guard.AllowLoopback):
	default:
		return "", apierr.Invalid(f, "url must use https.")
	}
	if u.Fragment != "" {
		return "", apierr.Invalid(f, "url must not have a #fragment.")
	}
	check := *u
	check.Scheme = "https" // the scheme was judged above, by environment
	if err := guard.CheckURL(&check); err != nil {
		return "", apierr.Invalid(f, "url is not allowed: %s.", err.Error())
	}
	if _, err := netip.ParseAddr(u.Hostname()); err != nil {
		r := guard.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		addrs, err := r.LookupIPAddr(ctx, u.Hostname())
		if err != nil || len(addrs) == 0 {
			return "", apierr.Invalid(f, "url's host %s does not resolve.", u.Hostname())
		}
		for _, ad := range addrs {
			ip, _ := netip.AddrFromSlice(ad.IP)
			if reason := guard.CheckAddr(ip); reason != "" {
				re := &egress.RefusedError{Host: u.Hostname(), Addr: ip.Unmap(), Reason: reason}
				return "", apierr.Invalid(f, "url is not allowed: %s.", re.Error())
			}
		}
	}
	return u.String(), nil
}
