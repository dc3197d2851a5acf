package ratelimit

// The one table of what each plan allows, and the way a workspace overrides
// any of its values.

import (
	"fmt"
	"slices"
	"sort"
)

// Plan are the values a plan sets. Zero in an override means "keep the plan's".
type Plan struct {
	KeyRequestsPerMinute       int `json:"keyRequestsPerMinute" dynamodbav:"keyRpm,omitempty"`
	WorkspaceRequestsPerMinute int `json:"workspaceRequestsPerMinute" dynamodbav:"wsRpm,omitempty"`
	ConcurrentRenders          int `json:"concurrentRenders" dynamodbav:"concurrentRenders,omitempty"`
	QueuedRenders              int `json:"queuedRenders" dynamodbav:"queuedRenders,omitempty"`
	MaxActiveKeys              int `json:"maxActiveKeys" dynamodbav:"maxKeys,omitempty"`
	MaxVideoSeconds            int `json:"maxVideoSeconds" dynamodbav:"maxVideoSeconds,omitempty"`
	// MaxStorageGB caps the bytes of an environment's assets (GiB).
	MaxStorageGB int `json:"maxStorageGB" dynamodbav:"maxStorageGB,omitempty"`
}

// DefaultPlan is the plan a workspace gets when none is named.
const DefaultPlan = "business"

var plans = map[string]Plan{
	"free": {
		KeyRequestsPerMinute: 20, WorkspaceRequestsPerMinute: 60,
		ConcurrentRenders: 1, QueuedRenders: 10, MaxActiveKeys: 3, MaxVideoSeconds: 60, MaxStorageGB: 1,
	},
	"business": {
		KeyRequestsPerMinute: 100, WorkspaceRequestsPerMinute: 1000,
		ConcurrentRenders: 5, QueuedRenders: 100, MaxActiveKeys: 5, MaxVideoSeconds: 600, MaxStorageGB: 100,
	},
	"enterprise": {
		KeyRequestsPerMinute: 500, WorkspaceRequestsPerMinute: 1000,
		ConcurrentRenders: 20, QueuedRenders: 1000, MaxActiveKeys: 50, MaxVideoSeconds: 3600, MaxStorageGB: 1000,
	},
}

// PlanNames lists the plans in a stable order.
func PlanNames() []string {
	out := make([]string, 0, len(plans))
	for n := range plans {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LookupPlan returns the limits of plan name.
func LookupPlan(name string) (Plan, error) {
	l, ok := plans[name]
	if !ok {
		return Plan{}, fmt.Errorf("unknown plan %q (known: %v)", name, PlanNames())
	}
	return l, nil
}

// KnownPlan reports whether name is a plan.
func KnownPlan(name string) bool { return slices.Contains(PlanNames(), name) }

// With returns l with every non-zero value of o applied.
func (l Plan) With(o Plan) Plan {
	set := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	set(&l.KeyRequestsPerMinute, o.KeyRequestsPerMinute)
	set(&l.WorkspaceRequestsPerMinute, o.WorkspaceRequestsPerMinute)
	set(&l.ConcurrentRenders, o.ConcurrentRenders)
	set(&l.QueuedRenders, o.QueuedRenders)
	set(&l.MaxActiveKeys, o.MaxActiveKeys)
	set(&l.MaxVideoSeconds, o.MaxVideoSeconds)
	set(&l.MaxStorageGB, o.MaxStorageGB)
	return l
}

// Validate rejects negative overrides.
func (l Plan) Validate() error {
	for name, v := range map[string]int{
		"keyRequestsPerMinute": l.KeyRequestsPerMinute, "workspaceRequestsPerMinute": l.WorkspaceRequestsPerMinute,
		"concurrentRenders": l.ConcurrentRenders, "queuedRenders": l.QueuedRenders,
		"maxActiveKeys": l.MaxActiveKeys, "maxVideoSeconds": l.MaxVideoSeconds, "maxStorageGB": l.MaxStorageGB,
	} {
		if v < 0 {
			return fmt.Errorf("%s must not be negative", name)
		}
	}
	return nil
}
