package keysapi

// /v1/console/sessions: one-time links that sign a person in to the console
// (package console serves the page), the list of them and revocation.

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/keystore"
)

// ConsoleStore is what the console routes need from the key store.
type ConsoleStore interface {
	OpenConsoleLink(ctx context.Context, ws string, env apikey.Env, createdBy string, ch *audit.Change) (keystore.ConsoleLink, error)
	ListConsoleSessions(ctx context.Context, ws string, env apikey.Env) ([]keystore.ConsoleSession, error)
	RevokeConsoleSession(ctx context.Context, ws string, env apikey.Env, id string, ch *audit.Change) (keystore.ConsoleSession, error)
}

// ConsoleLinkURL is the link that signs in with token, on the API whose
// base URL (ending in the stage, e.g. https://…/v1) is api. The token is in
// the fragment: browsers never send it, so it stays out of access logs,
// and link scanners that fetch the page do not use it up.
func ConsoleLinkURL(api, token string) string {
	return strings.TrimSuffix(api, "/") + "/console#signin=" + token
}

// ConsoleLink is the body of 201 POST /v1/console/sessions.
type ConsoleLink struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expiresAt"`
}

// ConsoleSessionView is a console sign-in as the API shows it.
type ConsoleSessionView struct {
	Object        string  `json:"object"`
	ID            string  `json:"id"`
	Environment   string  `json:"environment"`
	Status        string  `json:"status"`
	CreatedAt     string  `json:"createdAt"`
	CreatedBy     string  `json:"createdBy"`
	LinkExpiresAt string  `json:"linkExpiresAt"`
	SignedInAt    *string `json:"signedInAt"`
	ExpiresAt     *string `json:"expiresAt"`
	RevokedAt     *string `json:"revokedAt"`
}

// ConsoleSessionList is the body of GET /v1/console/sessions.
type ConsoleSessionList struct {
	Object string               `json:"object"`
	Data   []ConsoleSessionView `json:"data"`
}

func (a *api) consoleView(c keystore.ConsoleSession) ConsoleSessionView {
	return ConsoleSessionView{
		Object: "console_session", ID: c.ID, Environment: string(c.Env), Status: c.Status(a.now()),
		CreatedAt: c.CreatedAt.UTC().Format(timeFormat), CreatedBy: c.CreatedBy, LinkExpiresAt: c.LinkExpiresAt.UTC().Format(timeFormat),
		SignedInAt: ts(c.UsedAt), ExpiresAt: ts(c.ExpiresAt), RevokedAt: ts(c.RevokedAt),
	}
}

// openConsole makes a one-time link for the caller's workspace and
// environment. A console session has every scope and the authority of the
// keys that do not expire, so only such a key may open one, and a session
// cannot open another (it would outlive its 12 hours).
func (a *api) openConsole(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	if err := r.Decode(&struct{}{}, true); err != nil {
		return httpapi.Response{}, err
	}
	switch {
	case r.Verdict.KeyKind == keystore.Console:
		return httpapi.Response{}, apierr.New(apierr.InsufficientScope, "A console session cannot open another console session; use an API key.")
	case r.Verdict.KeyExpiresAt != "":
		return httpapi.Response{}, apierr.New(apierr.InsufficientScope, "This key expires; only a key that does not can open a console session.")
	}
	l, err := a.console.OpenConsoleLink(ctx, r.Workspace(), r.Env(), r.Verdict.KeyID, a.audit.For(audit.FromRequest(r)))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusCreated, Body: ConsoleLink{
		Object: "console_link", ID: l.ID, URL: ConsoleLinkURL(apiBase(r), l.Token), ExpiresAt: l.LinkExpiresAt.UTC().Format(timeFormat),
	}}, nil
}

// apiBase is the base URL the request came in on: API Gateway names the
// scheme in X-Forwarded-Proto, the host in the request context.
func apiBase(r *httpapi.Request) string {
	proto := r.Header("X-Forwarded-Proto")
	if proto != "http" {
		proto = "https"
	}
	return proto + "://" + r.Event.RequestContext.DomainName + "/" + r.Event.RequestContext.Stage
}

func (a *api) listConsole(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	list, err := a.console.ListConsoleSessions(ctx, r.Workspace(), r.Env())
	if err != nil {
		return httpapi.Response{}, err
	}
	out := ConsoleSessionList{Object: "list", Data: make([]ConsoleSessionView, 0, len(list))}
	for _, c := range list {
		out.Data = append(out.Data, a.consoleView(c))
	}
	return httpapi.Response{Body: out}, nil
}

// revokeConsole ends a console session; a session that ends itself (sign
// out) also has the browser drop its cookie.
func (a *api) revokeConsole(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.PathParam("id")
	c, err := a.console.RevokeConsoleSession(ctx, r.Workspace(), r.Env(), id, a.audit.For(audit.FromRequest(r)))
	if err != nil {
		return httpapi.Response{}, err
	}
	resp := httpapi.Response{Body: a.consoleView(c)}
	if r.Verdict.KeyKind == keystore.Console && r.Verdict.KeyID == id {
		resp.Headers = map[string]string{"Set-Cookie": ClearConsoleCookie(r.Env(), r.Event.RequestContext.Stage)}
	}
	return resp, nil
}

// ConsoleCookie is the Set-Cookie value that carries a console session of
// env until exp: HttpOnly (no script reads it), Secure, SameSite=Strict,
// and only for the API's stage, where the console and the API live.
func ConsoleCookie(env apikey.Env, stage, token string, exp, now time.Time) string {
	return authorizer.ConsoleCookie(env) + "=" + token + "; Path=/" + stage + "; Max-Age=" +
		strconv.Itoa(int((exp.Sub(now)+time.Second-1)/time.Second)) + "; HttpOnly; Secure; SameSite=Strict"
}

// ClearConsoleCookie makes the browser drop the console cookie of env.
func ClearConsoleCookie(env apikey.Env, stage string) string {
	return authorizer.ConsoleCookie(env) + "=; Path=/" + stage + "; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
}
