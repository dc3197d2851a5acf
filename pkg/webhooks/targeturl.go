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

// PlainHTTP is the scheme rule of every URL framegate sends to, applied
// alike when the API accepts a URL and when the sender sends to it: https
// always; plain http in the sandbox (env "test"), and anywhere when the
// operator allows loopback (local stacks). Addresses are held to the same
// egress policy whatever the scheme.
func PlainHTTP(guard *egress.Guard, env string) bool { return env == "test" || guard.AllowLoopback }

// parseTargetURL checks a destination URL against that policy, without the
// network: absolute, at most MaxURLLen, no fragment or credentials, a
// scheme PlainHTTP allows and no literal address the guard refuses. A
// failure is a 400 naming field (a JSON pointer).
func parseTargetURL(guard *egress.Guard, raw, env, field string) (*url.URL, error) {
	name := strings.TrimPrefix(field, "/")
	schemes := "https"
	if PlainHTTP(guard, env) {
		schemes = "http or https"
	}
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > MaxURLLen {
		return nil, apierr.Invalid(field, "%s must be an absolute %s URL of at most %d characters.", name, schemes, MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, apierr.Invalid(field, "%s must be an absolute %s URL.", name, schemes)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && PlainHTTP(guard, env):
	case u.Scheme == "http":
		return nil, apierr.Invalid(field, "%s must use https: plain http is accepted for sandbox (fg_test_) destinations only.", name)
	default:
		return nil, apierr.Invalid(field, "%s must use %s.", name, schemes)
	}
	if u.Fragment != "" {
		return nil, apierr.Invalid(field, "%s must not have a #fragment.", name)
	}
	if err := guard.CheckHTTPURL(u); err != nil { // the scheme was judged above
		return nil, apierr.Invalid(field, "%s is not allowed: %s.", name, err.Error())
	}
	return u, nil
}

// CheckTargetURL is the policy of every URL framegate sends to (webhook
// endpoints, per-video webhookUrls, webhook connections): parseTargetURL,
// and host names resolved too, so one pointing inside our network is
// refused at once, as a 400 naming field. Every send checks again (DNS
// changes). A nil guard is the production policy.
func CheckTargetURL(ctx context.Context, guard *egress.Guard, raw, env, field string) (string, error) {
	if guard == nil {
		guard = &egress.Guard{}
	}
	u, err := parseTargetURL(guard, raw, env, field)
	if err != nil {
		return "", err
	}
	f, name := field, strings.TrimPrefix(field, "/")
	if _, err := netip.ParseAddr(u.Hostname()); err != nil {
		r := guard.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		addrs, err := r.LookupIPAddr(ctx, u.Hostname())
		if err != nil || len(addrs) == 0 {
			return "", apierr.Invalid(f, "%s's host %s does not resolve.", name, u.Hostname())
		}
		for _, ad := range addrs {
			ip, _ := netip.AddrFromSlice(ad.IP)
			if reason := guard.CheckAddr(ip); reason != "" {
				re := &egress.RefusedError{Host: u.Hostname(), Addr: ip.Unmap(), Reason: reason}
				return "", apierr.Invalid(f, "%s is not allowed: %s.", name, re.Error())
			}
		}
	}
	return u.String(), nil
}
