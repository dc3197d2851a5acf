package scopes

import (
	"slices"
	"testing"
)

// TestAuditAndUsageScopes: the audit log is for managers only; usage is
// readable by read_only keys too; render keys get neither.
func TestAuditAndUsageScopes(t *testing.T) {
	for role, want := range map[Role]struct{ audit, usage bool }{
		ReadOnly: {false, true}, Render: {false, false}, Editor: {false, false}, Manager: {true, true},
	} {
		got := Of(role)
		if slices.Contains(got, AuditRead) != want.audit || slices.Contains(got, UsageRead) != want.usage {
			t.Errorf("%s: %v", role, got)
		}
	}
	for route, s := range map[string]Scope{"GET /audit-events": AuditRead, "GET /usage": UsageRead} {
		if r := Routes()[route]; r.Scope != s || r.Public {
			t.Errorf("%s: %+v", route, r)
		}
	}
	if r := Routes()["POST /secret-scanning/github"]; !r.Public {
		t.Error("the secret-scanning route needs no key: its signature is the authentication")
	}
}
