package ratelimit

// The verdict is what the authorizer decided about a request, in the form
// it travels from the authorizer's Allow context to the handlers. API Gateway
// turns every context value into a string, so both ends speak strings.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Outcomes of an authorized request.
const (
	Allow             = "allow"
	RateLimited       = "rate_limited"
	InsufficientScope = "insufficient_scope"
)

// Limit is the state of one rate limit after this request.
type Limit struct {
	Name      string // "key" or "workspace"
	Limit     int
	Remaining int
	Reset     int // seconds until Remaining next grows
	Window    int // seconds
}

// Verdict is the authorizer's decision and the facts about the key.
type Verdict struct {
	Outcome        string
	Workspace      string
	Env            string
	KeyID          string
	KeyKind        string
	Role           string
	Scopes         string // space-separated
	RequiredScope  string
	KeyExpiresAt   string // RFC 3339, or empty
	KeyLimit       Limit
	WorkspaceLimit Limit
	RetryAfter     int // seconds, when rate limited
}

// Uncounted is the Remaining of a workspace limit that no write counted
// for this request because the workspace's keys together cannot reach it
// (keystore's key-only mode): it has at least as many requests left as the
// key's limit.
const Uncounted = -1

// Binding is the limit with the fewest requests left: the one a client
// should pace itself by and the one the headers show.
func (v Verdict) Binding() Limit {
	if v.WorkspaceLimit.Limit > 0 && v.WorkspaceLimit.Remaining != Uncounted && v.WorkspaceLimit.Remaining < v.KeyLimit.Remaining {
		return v.WorkspaceLimit
	}
	return v.KeyLimit
}

// Since is v as it stands at now when it was decided at: every duration
// shortened by the time since (rounded up, so a client told to wait never
// comes back too early).
func (v Verdict) Since(at, now time.Time) Verdict {
	shift := func(secs int) int {
		if secs <= 0 {
			return secs
		}
		return Seconds(time.Duration(secs)*time.Second - now.Sub(at))
	}
	v.KeyLimit.Reset, v.WorkspaceLimit.Reset = shift(v.KeyLimit.Reset), shift(v.WorkspaceLimit.Reset)
	v.RetryAfter = shift(v.RetryAfter)
	return v
}

// Context keys. The numbers travel packed in one value: fewer entries,
// fewer allocations on the authorizer's hot path.
const (
	kOutcome, kWorkspace, kEnv, kKeyID = "outcome", "workspace", "env", "keyId"
	kKind, kRole, kScopes, kRequired   = "keyKind", "role", "scopes", "requiredScope"
	kExpires, kLimits                  = "keyExpiresAt", "limits"
)

// Context encodes v for the authorizer response. "limits" holds, space
// separated: key limit, remaining, reset; workspace limit, remaining, reset;
// window; retry-after.
func (v Verdict) Context() map[string]any {
	var b [96]byte
	buf := b[:0]
	for i, n := range [...]int{v.KeyLimit.Limit, v.KeyLimit.Remaining, v.KeyLimit.Reset,
		v.WorkspaceLimit.Limit, v.WorkspaceLimit.Remaining, v.WorkspaceLimit.Reset, v.KeyLimit.Window, v.RetryAfter} {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, int64(n), 10)
	}
	return map[string]any{
		kOutcome: v.Outcome, kWorkspace: v.Workspace, kEnv: v.Env, kKeyID: v.KeyID,
		kKind: v.KeyKind, kRole: v.Role, kScopes: v.Scopes, kRequired: v.RequiredScope,
		kExpires: v.KeyExpiresAt, kLimits: string(buf),
	}
}

// FromContext decodes the authorizer context a handler receives. It fails
// when the context is missing or incomplete, which means the request did not
// come through the authorizer.
func FromContext(c map[string]any) (Verdict, error) {
	get := func(k string) string {
		switch x := c[k].(type) {
		case string:
			return x
		case nil:
			return ""
		default:
			return fmt.Sprint(x)
		}
	}
	v := Verdict{
		Outcome: get(kOutcome), Workspace: get(kWorkspace), Env: get(kEnv), KeyID: get(kKeyID),
		KeyKind: get(kKind), Role: get(kRole), Scopes: get(kScopes), RequiredScope: get(kRequired),
		KeyExpiresAt: get(kExpires),
	}
	var n [8]int
	fields := strings.Fields(get(kLimits))
	if len(fields) != len(n) {
		return Verdict{}, fmt.Errorf("authorizer context has %d limit values, want %d", len(fields), len(n))
	}
	for i, f := range fields {
		x, err := strconv.Atoi(f)
		if err != nil {
			return Verdict{}, fmt.Errorf("authorizer context limit value %q: %w", f, err)
		}
		n[i] = x
	}
	v.KeyLimit = Limit{Name: "key", Limit: n[0], Remaining: n[1], Reset: n[2], Window: n[6]}
	v.WorkspaceLimit = Limit{Name: "workspace", Limit: n[3], Remaining: n[4], Reset: n[5], Window: n[6]}
	v.RetryAfter = n[7]
	switch {
	case v.Outcome != Allow && v.Outcome != RateLimited && v.Outcome != InsufficientScope:
		return Verdict{}, fmt.Errorf("authorizer context has no valid outcome (%q)", v.Outcome)
	case v.Workspace == "" || v.KeyID == "" || (v.Env != "live" && v.Env != "test"):
		return Verdict{}, fmt.Errorf("authorizer context lacks the key's workspace, id or environment")
	}
	return v, nil
}
