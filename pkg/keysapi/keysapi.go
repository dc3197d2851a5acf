// Package keysapi serves the key routes: GET /v1/auth (who the calling key
// is, what it may do and where it stands against its limits) and /v1/keys
// (creating, listing, reading, revoking and rotating the keys of the caller's
// own workspace and environment, and resetting its primary key). A key can
// never mint a key with scopes or a lifetime beyond its own. The keys
// themselves live in package keystore, which the authorizer links too.
package keysapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/webhooks"
)

// Store is what the handlers need from the key store. Every change takes
// the audit change its record is written with.
type Store interface {
	CreateKey(ctx context.Context, ws string, env apikey.Env, nk keystore.NewKey, ch *audit.Change) (keystore.Key, string, error)
	GetKey(ctx context.Context, ws string, env apikey.Env, id string) (keystore.Key, error)
	ListKeys(ctx context.Context, ws string, env apikey.Env, after string, limit int, status string) ([]keystore.Key, string, error)
	RevokeKey(ctx context.Context, ws string, env apikey.Env, id string, ch *audit.Change) (keystore.Key, error)
	RotateKey(ctx context.Context, ws string, env apikey.Env, id string, grace time.Duration, allow func(keystore.Key) error, ch *audit.Change) (keystore.Key, string, error)
	ResetPrimary(ctx context.Context, ws string, env apikey.Env, by string, ch *audit.Change) (keystore.Key, string, error)
}

// MaxGrace is the longest rotation grace period.
const MaxGrace = 24 * time.Hour

// New is the constructor of functions/keys.
func New(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	st, log, ev, err := openChanges(ctx, d)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), st, st, log, ev), nil
}

// openChanges is what the functions that change keys share: the key store,
// the audit log and the key events, from the function's environment.
func openChanges(ctx context.Context, d lambdas.Deps) (*keystore.Store, *audit.Log, Events, error) {
	st, err := keystore.Open(ctx, d)
	if err != nil {
		return nil, nil, Events{}, err
	}
	log, err := audit.Open(d)
	if err != nil {
		return nil, nil, Events{}, err
	}
	pub, err := webhooks.OpenPublisher(d)
	if err != nil {
		return nil, nil, Events{}, err
	}
	return st, log, Events{Publisher: pub, Now: d.Now, Logger: d.Logger}, nil
}

// Handler returns the routes of functions/keys.
func Handler(srv httpapi.Server, st Store, console ConsoleStore, log *audit.Log, ev Events) lambdas.HTTPFunc {
	a := &api{st: st, console: console, now: ev.Now, audit: log, events: ev}
	return srv.API(httpapi.Routes{
		"POST /keys":               a.create,
		"GET /keys":                a.list,
		"GET /keys/{id}":           a.get,
		"DELETE /keys/{id}":        a.revoke,
		"POST /keys/{id}/rotate":   a.rotate,
		"POST /keys/primary/reset": a.resetPrimary,

		"POST /console/sessions":        a.openConsole,
		"GET /console/sessions":         a.listConsole,
		"DELETE /console/sessions/{id}": a.revokeConsole,
	})
}

type api struct {
	st      Store
	console ConsoleStore
	now     func() time.Time
	audit   *audit.Log
	events  Events
}

// View is a key as the API shows it.
type View struct {
	Object      string         `json:"object"`
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Kind        string         `json:"kind"`
	Role        scopes.Role    `json:"role"`
	Scopes      []scopes.Scope `json:"scopes"`
	Environment string         `json:"environment"`
	Preview     string         `json:"preview"`
	Status      string         `json:"status"`
	CreatedAt   string         `json:"createdAt"`
	ExpiresAt   *string        `json:"expiresAt"`
	LastUsedAt  *string        `json:"lastUsedAt"`
	RevokedAt   *string        `json:"revokedAt,omitempty"`
	RotatedTo   string         `json:"rotatedTo,omitempty"`
	// Key is the plaintext, present once: in the response that created it.
	Key string `json:"key,omitempty"`
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func ts(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(timeFormat)
	return &s
}

func (a *api) view(k keystore.Key, plain string) View {
	return View{
		Object: "api_key", ID: k.ID, Name: k.Name, Kind: k.Kind, Role: k.Role, Scopes: k.Scopes,
		Environment: string(k.Env), Preview: k.Preview, Status: k.Status(a.now()),
		CreatedAt: k.CreatedAt.UTC().Format(timeFormat), ExpiresAt: ts(k.ExpiresAt),
		LastUsedAt: ts(k.LastUsedAt), RevokedAt: ts(k.RevokedAt), RotatedTo: k.RotatedTo, Key: plain,
	}
}

// CreateRequest is the body of POST /v1/keys.
type CreateRequest struct {
	Name      *string     `json:"name"`
	Role      scopes.Role `json:"role"`
	ExpiresAt *string     `json:"expiresAt"`
}

func (a *api) create(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in CreateRequest
	if err := r.Decode(&in, false); err != nil {
		return httpapi.Response{}, err
	}
	nk, err := a.validateCreate(r, in)
	if err != nil {
		return httpapi.Response{}, err
	}
	k, plain, err := a.st.CreateKey(ctx, r.Workspace(), r.Env(), nk, a.audit.For(audit.FromRequest(r)))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusCreated, Body: a.view(k, plain)}, nil
}

// validateCreate checks the body and that the new key stays within the
// caller's own scopes and lifetime.
func (a *api) validateCreate(r *httpapi.Request, in CreateRequest) (keystore.NewKey, error) {
	if in.Name == nil {
		return keystore.NewKey{}, apierr.Invalid("/name", "name is required.")
	}
	name := strings.TrimSpace(*in.Name)
	if name == "" {
		return keystore.NewKey{}, apierr.Invalid("/name", "name must be 1 to 100 characters.")
	}
	if err := apierr.Text("/name", name, 100, false); err != nil {
		return keystore.NewKey{}, err
	}
	if in.Role == "" {
		return keystore.NewKey{}, apierr.Invalid("/role", "role is required: one of %s.", roleList())
	}
	want := scopes.Of(in.Role)
	if want == nil {
		return keystore.NewKey{}, apierr.Invalid("/role", "role must be one of %s.", roleList())
	}
	have := scopes.Split(r.Verdict.Scopes)
	if !scopes.Subset(want, have) {
		return keystore.NewKey{}, apierr.New(apierr.InsufficientScope,
			"A key cannot create a key with scopes it does not have; role %s needs %s.", in.Role, scopes.Join(want))
	}
	nk := keystore.NewKey{Name: name, Role: in.Role}
	callerExp := callerExpiry(r)
	if in.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *in.ExpiresAt)
		if err != nil {
			return keystore.NewKey{}, apierr.Invalid("/expiresAt", "expiresAt must be an RFC 3339 time such as 2030-01-31T12:00:00Z.")
		}
		now := a.now()
		switch {
		case !t.After(now.Add(time.Minute)):
			return keystore.NewKey{}, apierr.Invalid("/expiresAt", "expiresAt must be at least a minute in the future.")
		case t.After(now.AddDate(10, 0, 0)):
			return keystore.NewKey{}, apierr.Invalid("/expiresAt", "expiresAt must be within 10 years.")
		}
		t = t.UTC().Truncate(time.Millisecond)
		nk.ExpiresAt = &t
	}
	if callerExp != nil && (nk.ExpiresAt == nil || nk.ExpiresAt.After(*callerExp)) {
		return keystore.NewKey{}, apierr.Invalid("/expiresAt",
			"This key expires at %s; a key it creates must expire no later.", callerExp.UTC().Format(time.RFC3339))
	}
	return nk, nil
}

// callerExpiry is when the calling key expires, or nil. A console session
// expires within hours, but acts for the people of the workspace with the
// authority of the non-expiring key that opened it (openConsole), so it
// counts as one that does not.
func callerExpiry(r *httpapi.Request) *time.Time {
	if r.Verdict.KeyExpiresAt == "" || r.Verdict.KeyKind == keystore.Console {
		return nil
	}
	t, err := time.Parse(time.RFC3339, r.Verdict.KeyExpiresAt)
	if err != nil {
		// Unreadable: treat as expiring now, the safe side.
		now := time.Now()
		return &now
	}
	return &t
}

// outlives reports whether a key expiring at exp would outlive the caller:
// a key that expires never hands out a key that lives longer than itself.
func outlives(r *httpapi.Request, exp *time.Time) bool {
	c := callerExpiry(r)
	return c != nil && (exp == nil || exp.After(*c))
}

func roleList() string {
	out := make([]string, len(scopes.Roles))
	for i, r := range scopes.Roles {
		out[i] = string(r)
	}
	return strings.Join(out, ", ")
}

// List is a page of keys.
type List struct {
	Object     string             `json:"object"`
	Data       []View             `json:"data"`
	Pagination httpapi.Pagination `json:"pagination"`
}

func (a *api) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	limit, err := r.IntQuery("limit", 20, 1, 100)
	if err != nil {
		return httpapi.Response{}, err
	}
	cursor := r.Query("cursor")
	if cursor != "" && !validCursor(cursor) {
		return httpapi.Response{}, apierr.Invalid("cursor", "cursor must be a key id from a previous page's next link.")
	}
	status := r.Query("status")
	switch {
	case status == "":
		status = keystore.StatusActive
	case status != keystore.StatusAll && !slices.Contains(keystore.Statuses, status):
		return httpapi.Response{}, apierr.Invalid("status", "status must be one of %s or %s.", strings.Join(keystore.Statuses, ", "), keystore.StatusAll)
	}
	keys, next, err := a.st.ListKeys(ctx, r.Workspace(), r.Env(), cursor, limit, status)
	if err != nil {
		return httpapi.Response{}, err
	}
	out := List{Object: "list", Data: make([]View, 0, len(keys))}
	for _, k := range keys {
		out.Data = append(out.Data, a.view(k, ""))
	}
	if status == keystore.StatusActive {
		status = "" // the default
	}
	out.Pagination = httpapi.Paginate(limit, cursor, next, httpapi.PageLink("/v1/keys", limit, map[string]string{"status": status}))
	return httpapi.Response{Body: out}, nil
}

func validCursor(c string) bool {
	if len(c) > 64 {
		return false
	}
	for _, ch := range c {
		if !(ch == '_' || '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z') {
			return false
		}
	}
	return true
}

func (a *api) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	k, err := a.st.GetKey(ctx, r.Workspace(), r.Env(), r.PathParam("id"))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Body: a.view(k, "")}, nil
}

func (a *api) revoke(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	ch := a.audit.For(audit.FromRequest(r))
	k, err := a.st.RevokeKey(ctx, r.Workspace(), r.Env(), r.PathParam("id"), ch)
	if err != nil {
		return httpapi.Response{}, err
	}
	if len(ch.Done()) > 0 { // not a no-op on a revoked key
		a.events.Revoked(ctx, k, RevokedByRequest)
	}
	return httpapi.Response{Body: a.view(k, "")}, nil
}

// RotateRequest is the body of POST /v1/keys/{id}/rotate.
type RotateRequest struct {
	GracePeriodSeconds *int `json:"gracePeriodSeconds"`
}

func (a *api) rotate(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in RotateRequest
	if err := r.Decode(&in, true); err != nil {
		return httpapi.Response{}, err
	}
	grace := 0
	if in.GracePeriodSeconds != nil {
		grace = *in.GracePeriodSeconds
	}
	if grace < 0 || time.Duration(grace)*time.Second > MaxGrace {
		return httpapi.Response{}, apierr.Invalid("/gracePeriodSeconds", "gracePeriodSeconds must be from 0 to %d.", int(MaxGrace/time.Second))
	}
	// The checks need the old key; the store hands it over from the read
	// the rotation makes anyway.
	var old keystore.Key
	allow := func(k keystore.Key) error {
		old = k
		if !scopes.Subset(old.Scopes, scopes.Split(r.Verdict.Scopes)) {
			return apierr.New(apierr.InsufficientScope, "A key cannot rotate a key with scopes it does not have.")
		}
		if outlives(r, old.ExpiresAt) {
			return apierr.New(apierr.InsufficientScope, "This key expires; it cannot rotate a key that would outlive it.")
		}
		return nil
	}
	nk, plain, err := a.st.RotateKey(ctx, r.Workspace(), r.Env(), r.PathParam("id"), time.Duration(grace)*time.Second, allow, a.audit.For(audit.FromRequest(r)))
	if err != nil {
		return httpapi.Response{}, err
	}
	a.events.Rotated(ctx, old, nk, a.now().Add(time.Duration(grace)*time.Second))
	return httpapi.Response{Status: http.StatusCreated, Body: a.view(nk, plain)}, nil
}

// resetPrimary is for the primary key alone: a reset hands every scope to
// whoever asks and locks the old primary out, so no other key, however
// broad, may do it (an operator with AWS credentials can, with framegate
// workspace reset-primary).
func (a *api) resetPrimary(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	if err := r.Decode(&struct{}{}, true); err != nil {
		return httpapi.Response{}, err
	}
	if r.Verdict.KeyKind != keystore.Primary {
		return httpapi.Response{}, keystore.ErrNotPrimary
	}
	ch := a.audit.For(audit.FromRequest(r))
	k, plain, err := a.st.ResetPrimary(ctx, r.Workspace(), r.Env(), r.Verdict.KeyID, ch)
	if err != nil {
		return httpapi.Response{}, err
	}
	for _, rec := range ch.Done() {
		old := keystore.Key{ID: rec.Target.ID, Workspace: k.Workspace, Env: k.Env, Name: k.Name, Kind: keystore.Primary, Role: k.Role}
		a.events.Revoked(ctx, old, RevokedByReset)
	}
	return httpapi.Response{Status: http.StatusCreated, Body: a.view(k, plain)}, nil
}
