// Package verdict is what the authorizer decided about a request, in the form
// it travels from the authorizer's Allow context to the handlers. API Gateway
// turns every context value into a string, so both ends speak strings.
package verdict

import (
	"fmt"
	"strconv"
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

// Binding is the limit with the fewest requests left: the one a client
// should pace itself by and the one the headers show.
func (v Verdict) Binding() Limit {
	if v.WorkspaceLimit.Limit > 0 && v.WorkspaceLimit.Remaining < v.KeyLimit.Remaining {
		return v.WorkspaceLimit
	}
	return v.KeyLimit
}

// Context keys.
const (
	kOutcome, kWorkspace, kEnv, kKeyID  = "outcome", "workspace", "env", "keyId"
	kKind, kRole, kScopes, kRequired    = "keyKind", "role", "scopes", "requiredScope"
	kExpires, kRetryAfter               = "keyExpiresAt", "retryAfter"
	kKeyLimit, kKeyRemaining, kKeyReset = "keyLimit", "keyRemaining", "keyReset"
	kWsLimit, kWsRemaining, kWsReset    = "wsLimit", "wsRemaining", "wsReset"
	kWindow                             = "window"
)

// Context encodes v for the authorizer response.
func (v Verdict) Context() map[string]any {
	itoa := strconv.Itoa
	return map[string]any{
		kOutcome: v.Outcome, kWorkspace: v.Workspace, kEnv: v.Env, kKeyID: v.KeyID,
		kKind: v.KeyKind, kRole: v.Role, kScopes: v.Scopes, kRequired: v.RequiredScope,
		kExpires: v.KeyExpiresAt, kRetryAfter: itoa(v.RetryAfter),
		kKeyLimit: itoa(v.KeyLimit.Limit), kKeyRemaining: itoa(v.KeyLimit.Remaining), kKeyReset: itoa(v.KeyLimit.Reset),
		kWsLimit: itoa(v.WorkspaceLimit.Limit), kWsRemaining: itoa(v.WorkspaceLimit.Remaining), kWsReset: itoa(v.WorkspaceLimit.Reset),
		kWindow: itoa(v.KeyLimit.Window),
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
	num := func(k string) int {
		n, _ := strconv.Atoi(get(k))
		return n
	}
	v := Verdict{
		Outcome: get(kOutcome), Workspace: get(kWorkspace), Env: get(kEnv), KeyID: get(kKeyID),
		KeyKind: get(kKind), Role: get(kRole), Scopes: get(kScopes), RequiredScope: get(kRequired),
		KeyExpiresAt: get(kExpires), RetryAfter: num(kRetryAfter),
	}
	w := num(kWindow)
	v.KeyLimit = Limit{Name: "key", Limit: num(kKeyLimit), Remaining: num(kKeyRemaining), Reset: num(kKeyReset), Window: w}
	v.WorkspaceLimit = Limit{Name: "workspace", Limit: num(kWsLimit), Remaining: num(kWsRemaining), Reset: num(kWsReset), Window: w}
	switch {
	case v.Outcome != Allow && v.Outcome != RateLimited && v.Outcome != InsufficientScope:
		return Verdict{}, fmt.Errorf("authorizer context has no valid outcome (%q)", v.Outcome)
	case v.Workspace == "" || v.KeyID == "" || (v.Env != "live" && v.Env != "test"):
		return Verdict{}, fmt.Errorf("authorizer context lacks the key's workspace, id or environment")
	}
	return v, nil
}
