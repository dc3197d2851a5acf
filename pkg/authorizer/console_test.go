package authorizer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

func TestExtractSession(t *testing.T) {
	cookie := "a=b; fg_console_test=fgcs_test_x; fg_console_live=fgcs_live_y"
	for _, c := range []struct {
		name string
		h    map[string]string
		mv   map[string][]string
		want string
	}{
		{"header picks the test cookie", map[string]string{"x-framegate-console": "test", "Cookie": cookie}, nil, "fgcs_test_x"},
		{"and the live one", map[string]string{"X-Framegate-Console": "live", "cookie": cookie}, nil, "fgcs_live_y"},
		{"split cookie headers", map[string]string{"X-Framegate-Console": "live"}, map[string][]string{"Cookie": {"a=b", "fg_console_live=z"}}, "z"},
		{"cookie without the header is no credential", map[string]string{"Cookie": cookie}, nil, ""},
		{"unknown environment", map[string]string{"X-Framegate-Console": "prod", "Cookie": cookie}, nil, ""},
		{"no cookie of that environment", map[string]string{"X-Framegate-Console": "test", "Cookie": "fg_console_live=y"}, nil, ""},
		{"empty cookie", map[string]string{"X-Framegate-Console": "test", "Cookie": "fg_console_test="}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := authorizer.ExtractSession(c.h, c.mv)
			if got != c.want || ok != (c.want != "") {
				t.Fatalf("ExtractSession = %q, %v; want %q", got, ok, c.want)
			}
		})
	}
}

func FuzzExtractSession(f *testing.F) {
	f.Add("test", "fg_console_test=abc; x=y")
	f.Add("live", ";;=;fg_console_live")
	f.Fuzz(func(t *testing.T, env, cookie string) {
		tok, ok := authorizer.ExtractSession(map[string]string{authorizer.ConsoleHeader: env, "Cookie": cookie}, nil)
		if ok != (tok != "") || !strings.Contains(cookie, tok) {
			t.Fatalf("ExtractSession(%q, %q) = %q, %v", env, cookie, tok, ok)
		}
	})
}

func consoleHeaders(env apikey.Env, token string) map[string]string {
	return map[string]string{authorizer.ConsoleHeader: string(env), "Cookie": "other=1; " + authorizer.ConsoleCookie(env) + "=" + token}
}

// A console session is authorized like a key: every scope, its own record
// checked and counted in one write, all sessions of a workspace sharing one
// key limit (the console budget) and always counted against the workspace
// ceiling, with the limits of the workspace as they are now; revocation
// and expiry take effect on the next request, and a link works once.
func TestConsoleSession(t *testing.T) {
	f := setup(t, ratelimit.Plan{})
	ctx := context.Background()
	link, err := f.store.OpenConsoleLink(ctx, f.ws.ID, apikey.Test, "operator", f.op(f.ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	sess, tok, err := f.store.SignInConsole(ctx, link.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.SignInConsole(ctx, link.Token); !isCode(err, apierr.InvalidConsoleLink) {
		t.Fatalf("second use of the link: %v, want invalid_console_link", err)
	}
	if !strings.HasPrefix(tok, "fgcs_test_") || sess.ExpiresAt == nil || sess.ExpiresAt.Sub(f.clock.Now()) > keystore.ConsoleSessionTTL {
		t.Fatalf("session %+v token %q", sess, tok)
	}

	call := func(h map[string]string) (string, ratelimit.Verdict) {
		t.Helper()
		resp, err := f.auth.Handle(ctx, request("POST", "/keys", h))
		if err != nil {
			t.Fatal(err)
		}
		if resp.PolicyDocument.Statement[0].Effect == "Deny" {
			return resp.Context["code"].(string), ratelimit.Verdict{}
		}
		v, err := ratelimit.FromContext(resp.Context)
		if err != nil {
			t.Fatal(err)
		}
		return "", v
	}
	code, v := call(consoleHeaders(apikey.Test, tok))
	if code != "" || v.Outcome != ratelimit.Allow || v.KeyKind != keystore.Console || v.KeyID != sess.ID || v.Workspace != f.ws.ID || v.Env != "test" || v.Scopes != scopes.Join(scopes.All) {
		t.Fatalf("deny %q verdict %+v", code, v)
	}
	// Counted on the budget and, always, on the workspace.
	if v.KeyLimit.Limit != 100 || v.KeyLimit.Remaining != 99 || v.WorkspaceLimit.Limit != 1000 || v.WorkspaceLimit.Remaining != 999 {
		t.Fatalf("limits %+v %+v", v.KeyLimit, v.WorkspaceLimit)
	}
	// A second session shares the budget.
	link2, _ := f.store.OpenConsoleLink(ctx, f.ws.ID, apikey.Test, "operator", f.op(f.ws.ID))
	_, tok2, err := f.store.SignInConsole(ctx, link2.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, v := call(consoleHeaders(apikey.Test, tok2)); v.KeyLimit.Remaining != 98 || v.WorkspaceLimit.Remaining != 998 {
		t.Fatalf("second session: %+v %+v", v.KeyLimit, v.WorkspaceLimit)
	}
	// Limits come from the workspace as it is now.
	if _, err := f.store.SetPlan(ctx, f.ws.ID, "business", ratelimit.Plan{KeyRequestsPerMinute: 7}, f.op(f.ws.ID)); err != nil {
		t.Fatal(err)
	}
	if _, v := call(consoleHeaders(apikey.Test, tok)); v.KeyLimit.Limit != 7 {
		t.Fatalf("after a plan change the session's limit is %d, want 7", v.KeyLimit.Limit)
	}

	// Credentials are never accepted in each other's place, and a cookie
	// without the header is no credential: none of these reach DynamoDB.
	before := f.db.calls.Load()
	for name, h := range map[string]map[string]string{
		"session as bearer":     bearer(tok),
		"key in the cookie":     consoleHeaders(apikey.Test, f.keys[apikey.Test]),
		"other env's header":    {authorizer.ConsoleHeader: "live", "Cookie": authorizer.ConsoleCookie(apikey.Test) + "=" + tok},
		"cookie without header": {"Cookie": authorizer.ConsoleCookie(apikey.Test) + "=" + tok},
	} {
		if code, _ := call(h); code != "invalid_api_key" && code != "missing_api_key" {
			t.Errorf("%s: %q, want a 401", name, code)
		}
	}
	if n := f.db.calls.Load() - before; n != 0 {
		t.Errorf("%d DynamoDB calls for credentials in the wrong place, want 0", n)
	}

	if _, err := f.store.RevokeConsoleSession(ctx, f.ws.ID, apikey.Test, sess.ID, f.op(f.ws.ID)); err != nil {
		t.Fatal(err)
	}
	if code, _ := call(consoleHeaders(apikey.Test, tok)); code != "invalid_api_key" {
		t.Fatalf("revoked session: %q", code)
	}
	if code, _ := call(consoleHeaders(apikey.Test, tok2)); code != "" {
		t.Fatalf("the other session was revoked too: %q", code)
	}
	f.clock.Advance(keystore.ConsoleSessionTTL + time.Second)
	if code, _ := call(consoleHeaders(apikey.Test, tok2)); code != "invalid_api_key" {
		t.Fatalf("expired session: %q", code)
	}
	// An unused link expires too.
	link3, _ := f.store.OpenConsoleLink(ctx, f.ws.ID, apikey.Test, "operator", f.op(f.ws.ID))
	f.clock.Advance(keystore.ConsoleLinkTTL)
	if _, _, err := f.store.SignInConsole(ctx, link3.Token); !isCode(err, apierr.InvalidConsoleLink) {
		t.Fatalf("expired link: %v", err)
	}
}

func isCode(err error, c apierr.Code) bool {
	var e *apierr.Error
	return errors.As(err, &e) && e.Code == c
}
