package authorizer

// Refusals from memory. When a counter refuses a request, the counts its
// write returned, less that request, already fill the limit; and the counts
// of the cells inside a window only grow until those cells leave it (an
// admitted request is never taken back, and a refused one only takes back
// its own). So until the oldest cell holding any of those counts leaves the
// window, every request counted on that counter would be refused too: the
// container refuses them itself, with the verdict of the refusal and no
// DynamoDB call, and asks DynamoDB again from that moment on. It is the
// earliest time the window can free capacity, never later than it, so no
// request the counter would admit is refused. Only a new limit could admit
// sooner, and a container learns of one only from DynamoDB: a refusal is
// remembered for the refusal horizon at most (ten seconds by default).
// docs/rate-limits.md states the argument and its limits (another
// container's refusal caught in flight; a key revoked meanwhile answers 429,
// not 401, within the horizon).

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
)

// refusal is a counter known to be full: the verdict that found it so,
// when, and until when it cannot admit.
type refusal struct {
	v         ratelimit.Verdict
	at, until time.Time
}

// keyRefusal and wsRefusal name the refusals of a key (by hash) and of a
// workspace environment.
func keyRefusal(hash string) string              { return "k" + hash }
func wsRefusal(ws string, env apikey.Env) string { return "w" + ws + "#" + string(env) }

// recordCounted reads the counting mode of a key record; records without
// one count.
func recordCounted(it map[string]types.AttributeValue) bool {
	c, ok := it[keystore.AttrCounted].(*types.AttributeValueMemberBOOL)
	return !ok || c.Value
}

// rememberRefusal keeps a refusal by the key's or the workspace's limit
// until the oldest counted cell of that counter leaves the window, or the
// horizon passes.
func (a *Authorizer) rememberRefusal(hash string, c counted, env apikey.Env, v ratelimit.Verdict, ks, wss ratelimit.State, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.refusals) >= a.cacheSize {
		clear(a.refusals)
	}
	if !ks.Allowed() {
		a.refusals[keyRefusal(hash)] = refusal{v: v, at: now, until: now.Add(min(ks.Reset, a.horizon))}
	}
	if c.wsCounted && !wss.Allowed() {
		a.refusals[wsRefusal(c.ws, env)] = refusal{v: v, at: now, until: now.Add(min(wss.Reset, a.horizon))}
	}
}

// refusedFromMemory answers a request of the key with this hash from a
// refusal still in force: its own, or its workspace's when the key is
// known to count on it. The key must be one this container has counted,
// and not past its own expiry.
func (a *Authorizer) refusedFromMemory(hash string, env apikey.Env, now time.Time) (ratelimit.Verdict, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.refusals) == 0 {
		return ratelimit.Verdict{}, false
	}
	e, known := a.workspace[hash]
	if !known || (e.facts.expires && now.UnixMilli() >= e.facts.expiresMS) {
		return ratelimit.Verdict{}, false
	}
	r, ok := a.refusals[keyRefusal(hash)]
	if !ok || !now.Before(r.until) {
		if !e.counted {
			return ratelimit.Verdict{}, false
		}
		if r, ok = a.refusals[wsRefusal(e.id, env)]; !ok || !now.Before(r.until) {
			return ratelimit.Verdict{}, false
		}
		// Another key of the workspace found it full: the workspace's
		// figures are that refusal's, the key's own are its last known.
		r.v.KeyID, r.v.KeyKind, r.v.Role, r.v.Scopes = e.facts.id, e.facts.kind, e.facts.role, e.facts.scopes
		r.v.KeyExpiresAt = ""
		if e.facts.expires {
			r.v.KeyExpiresAt = time.UnixMilli(e.facts.expiresMS).UTC().Format(time.RFC3339)
		}
	}
	return r.v.Since(r.at, now), true
}
