// Package keystore keeps workspaces and API keys in the keys table: creation
// under the active-key cap (enforced in one transaction), lookup by id within
// a workspace and environment, listing, revocation, rotation with a grace
// period, and primary key reset. The authorizer reads the same items through
// its own single counting write (package authorizer).
package keystore

import (
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

// Key kinds.
const (
	Primary   = "primary"
	Secondary = "secondary"
)

// Key statuses as shown to users.
const (
	StatusActive   = "active"
	StatusRotating = "rotating" // replaced by rotation, working until its grace period ends
	StatusExpired  = "expired"
	StatusRevoked  = "revoked"
)

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
}

// Status is the key's state at now.
func (k Key) Status(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return StatusRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return StatusExpired
	case k.RotatedTo != "":
		return StatusRotating
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
