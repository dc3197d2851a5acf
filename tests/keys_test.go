package e2e

import (
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// TestKeyStatesOverHTTP: a status never changes meaning. An expired key
// stays expired (api_key_expired) after a creation at the cap releases its
// slot; the cap counts only active keys; each status filter lists exactly
// the keys in that status.
func TestKeyStatesOverHTTP(t *testing.T) {
	s := newStack(t)
	_, keys := s.workspace(ratelimit.Plan{MaxActiveKeys: 4})
	primary := keys[apikey.Live]
	exp := s.clock.Now().Add(time.Hour).UTC().Truncate(time.Second)
	expiring := create(t, s, primary, map[string]any{"name": "expiring", "role": "render", "expiresAt": exp.Format(time.RFC3339)})
	revoked := create(t, s, primary, map[string]any{"name": "revoked", "role": "render"})
	rotating := create(t, s, primary, map[string]any{"name": "rotating", "role": "render"})
	expect(t, s.do("DELETE", "/v1/keys/"+revoked.id, primary, nil), http.StatusOK)
	rotatingNew := expect(t, s.do("POST", "/v1/keys/"+rotating.id+"/rotate", primary, map[string]any{"gracePeriodSeconds": 7200}), http.StatusCreated).str("id")
	rotated := create(t, s, primary, map[string]any{"name": "rotated", "role": "render"})
	rotatedNew := expect(t, s.do("POST", "/v1/keys/"+rotated.id+"/rotate", primary, map[string]any{"gracePeriodSeconds": 0}), http.StatusCreated).str("id")
	// Four hold a slot now: the primary, expiring, and the two replacements.
	expectError(t, s.do("POST", "/v1/keys", primary, map[string]any{"name": "full", "role": "render"}), http.StatusConflict, "key_limit_reached", "")

	s.clock.Advance(time.Hour + time.Second)
	expectError(t, s.do("GET", "/v1/auth", expiring.plain, nil), http.StatusUnauthorized, "api_key_expired", "")
	// The expired key no longer counts against the cap, without being
	// rewritten: the creation releases its slot and it stays expired.
	created := create(t, s, primary, map[string]any{"name": "fits", "role": "render"})
	expectError(t, s.do("GET", "/v1/auth", expiring.plain, nil), http.StatusUnauthorized, "api_key_expired", "")
	r := expect(t, s.do("GET", "/v1/keys/"+expiring.id, primary, nil), http.StatusOK)
	if r.str("status") != "expired" || r.get("revokedAt") != nil {
		t.Errorf("expired key after the cap released it: %s", r)
	}
	expectError(t, s.do("GET", "/v1/auth", rotated.plain, nil), http.StatusUnauthorized, "api_key_expired", "")

	primaryID := expect(t, s.do("GET", "/v1/auth", primary, nil), http.StatusOK).str("key", "id")
	want := map[string][]string{
		"active":   {primaryID, rotatingNew, rotatedNew, created.id},
		"rotating": {rotating.id},
		"rotated":  {rotated.id},
		"expired":  {expiring.id},
		"revoked":  {revoked.id},
	}
	var all []string
	for status, ids := range want {
		r := expect(t, s.do("GET", "/v1/keys?status="+status, primary, nil), http.StatusOK)
		var got []string
		for _, k := range r.get("data").([]any) {
			m := k.(map[string]any)
			got = append(got, m["id"].(string))
			if m["status"] != status {
				t.Errorf("status=%s lists %s, which is %v", status, m["id"], m["status"])
			}
		}
		if !sameSet(got, ids) {
			t.Errorf("status=%s lists %v, want %v", status, got, ids)
		}
		all = append(all, ids...)
	}
	r = expect(t, s.do("GET", "/v1/keys?status=all", primary, nil), http.StatusOK)
	var got []string
	for _, k := range r.get("data").([]any) {
		got = append(got, k.(map[string]any)["id"].(string))
	}
	if !sameSet(got, all) {
		t.Errorf("status=all lists %v, want %v", got, all)
	}
	if r := expect(t, s.do("GET", "/v1/keys", primary, nil), http.StatusOK); len(r.get("data").([]any)) != 4 {
		t.Errorf("the default lists %s, want the 4 active keys", r)
	}
	expectError(t, s.do("GET", "/v1/keys?status=inactive", primary, nil), http.StatusBadRequest, "invalid_request", "status")
}

// TestOnlyThePrimaryResetsThePrimary: a manager key, even one that never
// expires, cannot reset the primary key (it would lock the owner out);
// the primary itself can, and a rotated primary in its grace period cannot.
func TestOnlyThePrimaryResetsThePrimary(t *testing.T) {
	s := newStack(t)
	_, keys := s.workspace(ratelimit.Plan{})
	primary := keys[apikey.Live]
	mgr := create(t, s, primary, map[string]any{"name": "forever manager", "role": "manager"})
	expectError(t, s.do("POST", "/v1/keys/primary/reset", mgr.plain, nil), http.StatusForbidden, "insufficient_scope", "")
	expect(t, s.do("GET", "/v1/auth", primary, nil), http.StatusOK)

	// A rotated primary in its grace period is not the primary any more.
	self := expect(t, s.do("GET", "/v1/auth", primary, nil), http.StatusOK).str("key", "id")
	r := expect(t, s.do("POST", "/v1/keys/"+self+"/rotate", primary, map[string]any{"gracePeriodSeconds": 600}), http.StatusCreated)
	current := r.str("key")
	expectError(t, s.do("POST", "/v1/keys/primary/reset", primary, nil), http.StatusForbidden, "insufficient_scope", "")

	r = expect(t, s.do("POST", "/v1/keys/primary/reset", current, nil), http.StatusCreated)
	reset := r.str("key")
	if r.str("kind") != "primary" || reset == "" || reset == current {
		t.Fatalf("reset: %s", r)
	}
	expectError(t, s.do("GET", "/v1/auth", current, nil), http.StatusUnauthorized, "invalid_api_key", "")
	expect(t, s.do("GET", "/v1/auth", reset, nil), http.StatusOK)
	expect(t, s.do("GET", "/v1/auth", mgr.plain, nil), http.StatusOK)
}

// goTypes catches Go's own words in a message: a package-qualified type, a
// Go numeric type, a slice or map type.
var goTypes = regexp.MustCompile(`\b[a-z]+\.[A-Z]\w*|\b(u?int(8|16|32|64)?|float(32|64)|struct)\b|\[\]|map\[`)

// TestInputHygieneOverHTTP: every free-text field refuses control
// characters with a 400 naming it, and a value of the wrong JSON type is
// refused in the API's own words.
func TestInputHygieneOverHTTP(t *testing.T) {
	s := newStack(t, func(c *devstack.Config) { c.Parameters = map[string]string{"WebhookAllowLoopback": "true"} })
	_, keys := s.workspace(ratelimit.Plan{})
	primary := keys[apikey.Live]
	hook := testenv.NewReceiver(t, http.StatusNoContent).URL
	wh := expect(t, s.do("POST", "/v1/webhooks", primary, map[string]any{"url": hook, "events": []string{"*"}}), http.StatusCreated).str("id")
	k := create(t, s, primary, map[string]any{"name": "k", "role": "render"})
	tpl := func(mod func(map[string]any)) map[string]any {
		b := myIntro("Intro")
		mod(b)
		return b
	}
	for _, bad := range []string{"nul\x00", "escape\x1b[2J", "bell\a", "bidi\u202ereversed", "c1\u0085control"} {
		for _, c := range []struct {
			method, path string
			body         any
			field        string
		}{
			{"POST", "/v1/keys", map[string]any{"name": bad, "role": "render"}, "/name"},
			{"POST", "/v1/webhooks", map[string]any{"url": hook, "events": []string{"*"}, "description": bad}, "/description"},
			{"PATCH", "/v1/webhooks/" + wh, map[string]any{"description": bad}, "/description"},
			{"POST", "/v1/connections", map[string]any{"type": "webhook", "url": hook, "name": bad}, "/name"},
			{"POST", "/v1/templates", tpl(func(b map[string]any) { b["name"] = bad }), "/name"},
			{"POST", "/v1/templates", tpl(func(b map[string]any) { b["description"] = bad }), "/description"},
			{"POST", "/v1/templates", tpl(func(b map[string]any) {
				b["variables"].([]any)[0].(map[string]any)["description"] = bad
			}), "/variables/0/description"},
			{"POST", "/v1/assets", map[string]any{"filename": bad + ".mp4", "contentType": "video/mp4", "sizeBytes": 1024}, "/filename"},
		} {
			r := expectError(t, s.do(c.method, c.path, primary, c.body), http.StatusBadRequest, "invalid_request", c.field)
			if goTypes.MatchString(r.str("error", "message")) {
				t.Errorf("%s %s: message %q", c.method, c.path, r.str("error", "message"))
			}
		}
	}
	// Nothing was written.
	if r := expect(t, s.do("GET", "/v1/keys", primary, nil), http.StatusOK); len(r.get("data").([]any)) != 2 {
		t.Errorf("keys: %s", r)
	}

	for _, c := range []struct {
		method, path string
		body         any
		field        string
	}{
		{"POST", "/v1/keys", map[string]any{"name": "x", "role": 5}, "/role"},
		{"POST", "/v1/keys", map[string]any{"name": 5, "role": "render"}, "/name"},
		{"POST", "/v1/keys", map[string]any{"name": "x", "role": "render", "expiresAt": true}, "/expiresAt"},
		{"POST", "/v1/keys/" + k.id + "/rotate", map[string]any{"gracePeriodSeconds": "60"}, "/gracePeriodSeconds"},
		{"POST", "/v1/keys/" + k.id + "/rotate", map[string]any{"gracePeriodSeconds": 1.5}, "/gracePeriodSeconds"},
		{"POST", "/v1/webhooks", map[string]any{"url": 5, "events": []string{"*"}}, "/url"},
		{"POST", "/v1/webhooks", map[string]any{"url": hook, "events": "*"}, "/events"},
		{"PATCH", "/v1/webhooks/" + wh, map[string]any{"enabled": "yes"}, "/enabled"},
		{"POST", "/v1/connections", map[string]any{"type": 5}, "/type"},
		{"POST", "/v1/videos", map[string]any{"spec": 5}, "/spec"},
		{"POST", "/v1/videos", map[string]any{"spec": map[string]any{"resolution": "sd", "fps": "25", "scenes": []any{}}}, "/spec/fps"},
		{"POST", "/v1/templates", tpl(func(b map[string]any) { b["variables"] = map[string]any{} }), "/variables"},
	} {
		r := expectError(t, s.do(c.method, c.path, primary, c.body), http.StatusBadRequest, "invalid_request", c.field)
		if msg := r.str("error", "message"); goTypes.MatchString(msg) {
			t.Errorf("%s %s %v: Go's words in %q", c.method, c.path, c.body, msg)
		}
	}
	// The pattern catches what it must.
	for _, leak := range []string{"must be a scopes.Role", "must be a int", "cannot unmarshal into []string", "map[string]any"} {
		if !goTypes.MatchString(leak) {
			t.Errorf("goTypes misses %q", leak)
		}
	}
	if slices.ContainsFunc([]string{"/role must be a string.", "/events must be an array."}, goTypes.MatchString) {
		t.Error("goTypes flags the API's own words")
	}
}
