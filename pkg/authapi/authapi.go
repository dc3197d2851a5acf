// Package authapi serves GET /v1/auth: who the calling key is, what it may
// do and where it stands against its limits. Everything comes from the
// authorizer's verdict, so it costs no database call.
package authapi

import (
	"context"

	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/verdict"
)

// New is the constructor of functions/auth.
func New(_ context.Context, d lambdas.Deps) (any, error) {
	return httpapi.NewServer(d).API(httpapi.Routes{"GET /auth": whoami}), nil
}

// Identity is the body of GET /v1/auth.
type Identity struct {
	Object      string     `json:"object"`
	Workspace   IDRef      `json:"workspace"`
	Environment string     `json:"environment"`
	Key         KeyFacts   `json:"key"`
	RateLimits  RateLimits `json:"rateLimits"`
}

// IDRef names an object by id.
type IDRef struct {
	ID string `json:"id"`
}

// KeyFacts describe the calling key.
type KeyFacts struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	Role      string         `json:"role"`
	Scopes    []scopes.Scope `json:"scopes"`
	ExpiresAt *string        `json:"expiresAt"`
}

// RateLimits is the state of both limits after this request.
type RateLimits struct {
	Key       Limit `json:"key"`
	Workspace Limit `json:"workspace"`
}

// Limit is one limit's state.
type Limit struct {
	Limit     int `json:"limit"`
	Remaining int `json:"remaining"`
	Reset     int `json:"reset"`
	Window    int `json:"window"`
}

func limit(l verdict.Limit) Limit {
	return Limit{Limit: l.Limit, Remaining: l.Remaining, Reset: l.Reset, Window: l.Window}
}

func whoami(_ context.Context, r *httpapi.Request) (httpapi.Response, error) {
	v := r.Verdict
	id := Identity{
		Object: "auth", Workspace: IDRef{ID: v.Workspace}, Environment: v.Env,
		Key:        KeyFacts{ID: v.KeyID, Kind: v.KeyKind, Role: v.Role, Scopes: scopes.Split(v.Scopes)},
		RateLimits: RateLimits{Key: limit(v.KeyLimit), Workspace: limit(v.WorkspaceLimit)},
	}
	if v.KeyExpiresAt != "" {
		id.Key.ExpiresAt = &v.KeyExpiresAt
	}
	return httpapi.Response{Body: id}, nil
}
