// Package keystore keeps workspaces and API keys in the keys table: creation
// under the active-key cap (enforced in one transaction), lookup by id within
// a workspace and environment, listing, revocation, rotation with a grace
// period, and primary key reset. The authorizer reads the same items through
// its own single counting write (package authorizer).
package keystore

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

// Key kinds.
const (
	Primary   = "primary"
	Secondary = "secondary"
)

// Key statuses as shown to users. Each key has exactly one, and a status
// never changes meaning: an expired key stays expired (the cap stops
// counting it without rewriting it), a rotated key stays rotated.
const (
	StatusActive   = "active"
	StatusRotating = "rotating" // replaced by rotation, working until its grace period ends
	StatusRotated  = "rotated"  // replaced by rotation, its grace period over
	StatusExpired  = "expired"  // reached its own expiresAt
	StatusRevoked  = "revoked"
)

// Statuses lists every status, in the order a key can reach them.
var Statuses = []string{StatusActive, StatusRotating, StatusRotated, StatusExpired, StatusRevoked}

// Workspace is a tenant.
type Workspace struct {
	ID        string
	Name      string
	Plan      string
	Overrides ratelimit.Plan
	CreatedAt time.Time
}

// Limits are the workspace's effective limits.
func (w Workspace) Limits() ratelimit.Plan {
	l, err := ratelimit.LookupPlan(w.Plan)
	if err != nil {
		l, _ = ratelimit.LookupPlan(ratelimit.DefaultPlan)
	}
	return l.With(w.Overrides)
}

// Key is an API key's metadata; the plaintext is never stored.
type Key struct {
	ID         string
	Workspace  string
	Env        apikey.Env
	Name       string
	Role       scopes.Role
	Scopes     []scopes.Scope
	Kind       string
	Preview    string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
	// RotatedTo is the id of the key that replaced this one.
	RotatedTo string
	// HoldsSlot is true while the key counts against the active-key cap.
	HoldsSlot bool

	hash string
	// record is the record the key was read from, when a caller may
	// write on it at once (LookupKey).
	record map[string]types.AttributeValue
	// graceFrom lists the keys in a rotation grace period that count on
	// this key's record (hash → end of grace, ms); nil on records written
	// before it was kept.
	graceFrom map[string]int64
}

// Status is the key's state at now.
func (k Key) Status(now time.Time) string {
	ended := k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
	switch {
	case k.RevokedAt != nil:
		return StatusRevoked
	case k.RotatedTo != "" && ended:
		return StatusRotated
	case k.RotatedTo != "":
		return StatusRotating
	case ended:
		return StatusExpired
	}
	return StatusActive
}

// Usable reports whether the key still authenticates at now.
func (k Key) Usable(now time.Time) bool {
	s := k.Status(now)
	return s == StatusActive || s == StatusRotating
}

// NewKey is what a caller asks for when creating a secondary key.
type NewKey struct {
	Name      string
	Role      scopes.Role
	ExpiresAt *time.Time
}
