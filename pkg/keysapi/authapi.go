package keysapi

// GET /v1/auth. Everything comes from the authorizer's verdict, except the
// workspace ceiling of a workspace whose keys cannot reach it (keystore's
// key-only mode): no write counted it, so it is summed from the keys' own
// counts, in one query.

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

// NewAuth is the constructor of functions/auth.
func NewAuth(_ context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	table := d.Getenv("KEYS_TABLE")
	if table == "" {
		return nil, errors.New("auth: KEYS_TABLE is not set")
	}
	u := keystore.NewUsage(dynamodb.NewFromConfig(d.AWS), table, d.Now)
	return httpapi.NewServer(d).API(httpapi.Routes{"GET /auth": func(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
		return whoami(ctx, r, u)
	}}), nil
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

func limit(l ratelimit.Limit) Limit {
	return Limit{Limit: l.Limit, Remaining: l.Remaining, Reset: l.Reset, Window: l.Window}
}

func whoami(ctx context.Context, r *httpapi.Request, u *keystore.Usage) (httpapi.Response, error) {
	v := r.Verdict
	id := Identity{
		Object: "auth", Workspace: IDRef{ID: v.Workspace}, Environment: v.Env,
		Key:        KeyFacts{ID: v.KeyID, Kind: v.KeyKind, Role: v.Role, Scopes: scopes.Split(v.Scopes)},
		RateLimits: RateLimits{Key: limit(v.KeyLimit), Workspace: limit(v.WorkspaceLimit)},
	}
	if v.WorkspaceLimit.Remaining == ratelimit.Uncounted {
		caller := keystore.Caller{KeyID: v.KeyID, Count: v.KeyLimit.Limit - v.KeyLimit.Remaining}
		st, err := u.Workspace(ctx, v.Workspace, apikey.Env(v.Env), v.WorkspaceLimit.Limit, caller)
		if err != nil {
			return httpapi.Response{}, fmt.Errorf("workspace usage: %w", err)
		}
		id.RateLimits.Workspace = Limit{Limit: st.Limit, Remaining: st.Remaining, Reset: ratelimit.Seconds(st.Reset), Window: v.KeyLimit.Window}
	}
	if v.KeyExpiresAt != "" {
		id.Key.ExpiresAt = &v.KeyExpiresAt
	}
	return httpapi.Response{Body: id}, nil
}
