// Package scopes defines what a key may do: the scopes, the roles that name
// sets of them, and the one table from route to required scope that the
// authorizer decides with and the tests check against template.yaml.
package scopes

import (
	"slices"
	"strings"
)

// Scope is one permission.
type Scope string

// The scopes.
const (
	KeysManage        Scope = "keys:manage"
	VideosRead        Scope = "videos:read"
	VideosWrite       Scope = "videos:write"
	TemplatesRead     Scope = "templates:read"
	TemplatesWrite    Scope = "templates:write"
	WebhooksManage    Scope = "webhooks:manage"
	ConnectionsManage Scope = "connections:manage"
	AssetsRead        Scope = "assets:read"
	AssetsWrite       Scope = "assets:write"
	// AuditRead reads the audit log: who changed what, from which address.
	// Only managers get it; read_only does not, although it ends in ":read".
	AuditRead Scope = "audit:read"
	// UsageRead reads request and render usage.
	UsageRead Scope = "usage:read"
)

// All is every scope, in a stable order.
var All = []Scope{KeysManage, VideosRead, VideosWrite, TemplatesRead, TemplatesWrite, WebhooksManage, ConnectionsManage,
	AssetsRead, AssetsWrite, AuditRead, UsageRead}

// managerOnly are the ":read" scopes read_only does not get: reading them
// tells more about the workspace's people than about its videos.
var managerOnly = []Scope{AuditRead}

// Role names a set of scopes. The authorizer checks scopes, never roles.
type Role string

// The roles.
const (
	ReadOnly Role = "read_only"
	Render   Role = "render"
	Editor   Role = "editor"
	Manager  Role = "manager"
)

// Roles lists the roles from least to most powerful.
var Roles = []Role{ReadOnly, Render, Editor, Manager}

// Of returns the scopes of role r, or nil for an unknown role.
func Of(r Role) []Scope {
	switch r {
	case ReadOnly:
		var out []Scope
		for _, s := range All {
			if strings.HasSuffix(string(s), ":read") && !slices.Contains(managerOnly, s) {
				out = append(out, s)
			}
		}
		return out
	case Render:
		return []Scope{VideosRead, VideosWrite, TemplatesRead, AssetsRead, AssetsWrite}
	case Editor:
		return []Scope{VideosRead, VideosWrite, TemplatesRead, TemplatesWrite, AssetsRead, AssetsWrite}
	case Manager:
		return slices.Clone(All)
	}
	return nil
}

// Subset reports whether every scope of want is in have.
func Subset(want, have []Scope) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// Join renders scopes space-separated, the form they travel in through the
// authorizer context.
func Join(ss []Scope) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// Split parses the form Join produces.
func Split(s string) []Scope {
	f := strings.Fields(s)
	out := make([]Scope, len(f))
	for i, x := range f {
		out[i] = Scope(x)
	}
	return out
}
