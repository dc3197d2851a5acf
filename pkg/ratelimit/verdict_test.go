package ratelimit

import (
	"fmt"
	"testing"
)

func TestContextRoundTripsThroughStrings(t *testing.T) {
	v := Verdict{Outcome: RateLimited, Workspace: "ws_1", Env: "test", KeyID: "key_1", KeyKind: "secondary",
		Role: "render", Scopes: "videos:read videos:write", RequiredScope: "", KeyExpiresAt: "2030-01-01T00:00:00Z",
		KeyLimit:       Limit{Name: "key", Limit: 10, Remaining: 0, Reset: 7, Window: 60},
		WorkspaceLimit: Limit{Name: "workspace", Limit: 1000, Remaining: 990, Reset: 3, Window: 60},
		RetryAfter:     7}
	// API Gateway turns every value into a string.
	ctx := map[string]any{"principalId": "key_1", "integrationLatency": 0}
	for k, val := range v.Context() {
		ctx[k] = fmt.Sprint(val)
	}
	got, err := FromContext(ctx)
	if err != nil || got != v {
		t.Fatalf("%+v\n%+v\n%v", got, v, err)
	}
	if got.Binding().Name != "key" {
		t.Fatal(got.Binding())
	}
}

func TestFromContextRejectsIncomplete(t *testing.T) {
	good := Verdict{Outcome: Allow, Workspace: "ws", Env: "live", KeyID: "k"}.Context()
	for _, drop := range []string{kOutcome, kWorkspace, kEnv, kKeyID, kLimits} {
		c := map[string]any{}
		for k, v := range good {
			if k != drop {
				c[k] = v
			}
		}
		if _, err := FromContext(c); err == nil {
			t.Errorf("accepted a context without %s", drop)
		}
	}
	bad := map[string]any{}
	for k, v := range good {
		bad[k] = v
	}
	bad[kLimits] = "1 2 x 4 5 6 7 8"
	if _, err := FromContext(bad); err == nil {
		t.Error("accepted a bad limit value")
	}
	if _, err := FromContext(nil); err == nil {
		t.Error("accepted nil")
	}
}

func TestUncountedWorkspaceNeverBinds(t *testing.T) {
	v := Verdict{
		KeyLimit:       Limit{Name: "key", Limit: 100, Remaining: 40},
		WorkspaceLimit: Limit{Name: "workspace", Limit: 1000, Remaining: Uncounted},
	}
	if v.Binding().Name != "key" {
		t.Fatal(v.Binding())
	}
	v.WorkspaceLimit.Remaining = 39
	if v.Binding().Name != "workspace" {
		t.Fatal(v.Binding())
	}
}
