package keystore

// Console sessions: how a person signs in to the console without a
// long-lived secret in the browser.
//
// A one-time link (OpenConsoleLink) is a console record, CONSOLE#<id>, that
// holds the hash of the link's secret. Signing in with it (SignInConsole)
// removes that hash and writes the session in one transaction whose
// condition is the hash, so a link works once. The session is a record of
// the keys table like a key's (KEY#<hash of the session token>, kind
// "console", every scope, expiring within 12 hours, revocable), so the
// authorizer checks and counts it with the same single write as a key, and
// every console action goes through the same scopes, limits and handlers as
// the API. It holds no slot under the active-key cap.
//
// Its requests count on one budget record per workspace and environment
// (AttrSuccessor points there, as a key in its grace period points at its
// replacement): every console session of a workspace shares one key limit,
// however many are open, and the budget is listed in the roster like a key,
// so the workspace's counts include the console's. Sessions always count
// the workspace ceiling too, and carry no limits of their own: the
// authorizer reads them from the workspace record that write returns, so a
// plan change applies to open sessions at once.

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/scopes"
)

// Console is the kind of a console session's record.
const Console = "console"

// How long a console link can be used, and how long the session it opens
// lasts.
const (
	ConsoleLinkTTL    = 15 * time.Minute
	ConsoleSessionTTL = 12 * time.Hour
)

// Console session statuses.
const (
	ConsolePending = "pending" // the link was not used yet
	ConsoleActive  = "active"
	ConsoleExpired = "expired"
	ConsoleRevoked = "revoked"
)

const (
	consolePKPrefix, consoleSK = "CONSOLE#", "CONSOLE"
	consoleIDPrefix            = "cs"
	linkSecretLen              = 32
	attrLinkHash, attrLinkExp  = "lh", "linkExp"
	attrUsedAt, attrCreatedBy  = "usedAt", "createdBy"
	consoleRetention           = 7 * 24 * time.Hour
)

// ConsoleSession is a console sign-in: a link until it is used, then a
// session.
type ConsoleSession struct {
	ID            string
	Workspace     string
	Env           apikey.Env
	CreatedAt     time.Time
	CreatedBy     string // the id of the key that asked for the link, or "operator"
	LinkExpiresAt time.Time
	UsedAt        *time.Time
	ExpiresAt     *time.Time // the session's end, once signed in
	RevokedAt     *time.Time
}

// Status is the session's state at now.
func (c ConsoleSession) Status(now time.Time) string {
	switch {
	case c.RevokedAt != nil:
		return ConsoleRevoked
	case c.UsedAt == nil && !now.Before(c.LinkExpiresAt):
		return ConsoleExpired
	case c.UsedAt == nil:
		return ConsolePending
	case c.ExpiresAt != nil && !now.Before(*c.ExpiresAt):
		return ConsoleExpired
	}
	return ConsoleActive
}

// ConsoleLink is a new one-time link's secret part: Token goes into the
// link, and exists nowhere else.
type ConsoleLink struct {
	ConsoleSession
	Token string
}

func consoleKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamo.S(consolePKPrefix + id), attrSK: dynamo.S(consoleSK)}
}

func consoleListPK(ws string, env apikey.Env) string { return listPK(ws, env) + "#CONSOLE" }

// ConsoleBudget is the hash under which the console sessions of ws/env
// count their requests (the record KeyKey(ConsoleBudget(ws, env))). It
// cannot be the hash of any token.
func ConsoleBudget(ws string, env apikey.Env) string { return "console." + ws + "." + string(env) }

func errLinkInvalid() error {
	return apierr.New(apierr.InvalidConsoleLink,
		"This sign-in link is not valid: it was already used, it expired, or it was revoked. Ask for a new one (POST /v1/console/sessions, or `framegate console`).")
}

// OpenConsoleLink makes a one-time link that signs in to the console of
// ws/env. createdBy names who asked for it.
func (st *Store) OpenConsoleLink(ctx context.Context, ws string, env apikey.Env, createdBy string, ch *audit.Change) (ConsoleLink, error) {
	now := st.now().UTC().Truncate(time.Millisecond)
	id, err := ids.New(consoleIDPrefix, now, st.rand)
	if err != nil {
		return ConsoleLink{}, err
	}
	secret, err := apikey.Secret(linkSecretLen, st.rand)
	if err != nil {
		return ConsoleLink{}, err
	}
	c := ConsoleSession{ID: id, Workspace: ws, Env: env, CreatedAt: now, CreatedBy: createdBy, LinkExpiresAt: now.Add(ConsoleLinkTTL)}
	item := consoleKey(id)
	item[AttrWorkspace], item[AttrEnv] = dynamo.S(ws), dynamo.S(string(env))
	item[attrCreated], item[attrCreatedBy] = dynamo.Millis(now), dynamo.S(createdBy)
	item[attrLinkHash], item[attrLinkExp] = dynamo.S(st.hasher.Hash(secret)), dynamo.Millis(c.LinkExpiresAt)
	item[attrTTL] = dynamo.N(c.LinkExpiresAt.Add(consoleRetention).Unix())
	item[attrGSI1PK], item[attrGSI1SK] = dynamo.S(consoleListPK(ws, env)), dynamo.S(id)
	err = ch.Transact(ctx, st.db, string(env), audit.ConsoleSessionCreated, consoleTarget(id), map[string]string{"createdBy": createdBy},
		types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: &st.table, Key: EnvKey(ws, env), ConditionExpression: aws.String("attribute_exists(pk)")}},
		types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	)
	if err != nil {
		if r := dynamo.CancelReasons(err); len(r) > 0 && r[0] == "ConditionalCheckFailed" {
			return ConsoleLink{}, apierr.New(apierr.NotFound, "No workspace %s.", ws)
		}
		return ConsoleLink{}, fmt.Errorf("open console link for %s/%s: %w", ws, env, err)
	}
	return ConsoleLink{ConsoleSession: c, Token: id + "." + secret}, nil
}

func consoleTarget(id string) audit.Target { return audit.Target{Type: audit.TargetConsole, ID: id} }

// ParseLinkToken splits a console link's token, "<session id>.<secret>",
// and checks its shape, so a malformed one costs no database call.
func ParseLinkToken(token string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(token, ".")
	if !ok || !ids.Valid(consoleIDPrefix, id) || len(secret) != linkSecretLen || !apikey.IsBase62(secret) {
		return "", "", false
	}
	return id, secret, true
}

// SignInConsole uses a link's token, once: it returns the session it opens
// and the session's token (for the cookie; it exists nowhere else).
func (st *Store) SignInConsole(ctx context.Context, token string) (ConsoleSession, string, error) {
	id, secret, ok := ParseLinkToken(token)
	if !ok {
		return ConsoleSession{}, "", errLinkInvalid()
	}
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: consoleKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return ConsoleSession{}, "", fmt.Errorf("read console link %s: %w", id, err)
	}
	now := st.now().UTC().Truncate(time.Millisecond)
	lh := dynamo.Str(out.Item, attrLinkHash)
	want := st.hasher.Hash(secret)
	c := decodeConsole(out.Item)
	if lh == "" || subtle.ConstantTimeCompare([]byte(lh), []byte(want)) != 1 || c.Status(now) != ConsolePending {
		return ConsoleSession{}, "", errLinkInvalid()
	}
	plain, err := apikey.NewSession(c.Env, st.rand)
	if err != nil {
		return ConsoleSession{}, "", err
	}
	h, exp := st.hasher.Hash(plain), now.Add(ConsoleSessionTTL)
	ttl := dynamo.N(exp.Add(consoleRetention).Unix())
	budget := ConsoleBudget(c.Workspace, c.Env)

	// The session's record, shaped like a key's for the authorizer.
	sess := KeyKey(h)
	sess[AttrID], sess[AttrWorkspace], sess[AttrEnv] = dynamo.S(id), dynamo.S(c.Workspace), dynamo.S(string(c.Env))
	sess[AttrKind], sess[AttrRole], sess[attrName] = dynamo.S(Console), dynamo.S(string(scopes.Manager)), dynamo.S("Console session")
	sess[attrCreated], sess[AttrExpiresAt], sess[attrTTL] = dynamo.Millis(now), dynamo.Millis(exp), ttl
	sess[AttrCounted], sess[AttrSuccessor] = dynamo.B(true), dynamo.S(budget)

	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &st.table, Key: consoleKey(id),
			UpdateExpression:         aws.String("SET #h = :h, #exp = :exp, #used = :now, #ttl = :ttl REMOVE #lh"),
			ConditionExpression:      aws.String("#lh = :lh AND attribute_not_exists(#rev)"),
			ExpressionAttributeNames: map[string]string{"#h": attrHash, "#exp": AttrExpiresAt, "#used": attrUsedAt, "#ttl": attrTTL, "#lh": attrLinkHash, "#rev": AttrRevokedAt},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":h": dynamo.S(h), ":exp": dynamo.Millis(exp), ":now": dynamo.Millis(now), ":ttl": ttl, ":lh": dynamo.S(lh),
			},
		}},
		{Put: &types.Put{TableName: &st.table, Item: sess, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		// The budget record exists from the first sign-in on, and is listed.
		{Update: &types.Update{
			TableName: &st.table, Key: KeyKey(budget),
			UpdateExpression:          aws.String("SET #c = if_not_exists(#c, :now), #ws = :ws, #env = :env, #kind = :kind"),
			ExpressionAttributeNames:  map[string]string{"#c": attrCreated, "#ws": AttrWorkspace, "#env": AttrEnv, "#kind": AttrKind},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": dynamo.Millis(now), ":ws": dynamo.S(c.Workspace), ":env": dynamo.S(string(c.Env)), ":kind": dynamo.S(Console)},
		}},
		{Update: &types.Update{
			TableName: &st.table, Key: rosterKey(c.Workspace, c.Env),
			UpdateExpression:          aws.String("SET #k.#b = if_not_exists(#k.#b, :zero)"),
			ConditionExpression:       aws.String("attribute_exists(#k)"),
			ExpressionAttributeNames:  map[string]string{"#k": attrRoster, "#b": budget},
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": dynamo.N(0)},
		}},
	}})
	if err != nil {
		if r := dynamo.CancelReasons(err); r != nil {
			if r[0] == "ConditionalCheckFailed" {
				return ConsoleSession{}, "", errLinkInvalid() // used or revoked meanwhile
			}
			if len(r) > 3 && r[3] == "ConditionalCheckFailed" {
				return ConsoleSession{}, "", apierr.New(apierr.NotFound, "No workspace %s.", c.Workspace)
			}
		}
		return ConsoleSession{}, "", fmt.Errorf("sign in to the console with link %s: %w", id, err)
	}
	c.UsedAt, c.ExpiresAt = &now, &exp
	return c, plain, nil
}

func decodeConsole(it map[string]types.AttributeValue) ConsoleSession {
	c := ConsoleSession{
		ID:        strings.TrimPrefix(dynamo.Str(it, attrPK), consolePKPrefix),
		Workspace: dynamo.Str(it, AttrWorkspace),
		Env:       apikey.Env(dynamo.Str(it, AttrEnv)),
		CreatedBy: dynamo.Str(it, attrCreatedBy),
		UsedAt:    dynamo.Time(it, attrUsedAt),
		ExpiresAt: dynamo.Time(it, AttrExpiresAt),
		RevokedAt: dynamo.Time(it, AttrRevokedAt),
	}
	if t := dynamo.Time(it, attrCreated); t != nil {
		c.CreatedAt = *t
	}
	if t := dynamo.Time(it, attrLinkExp); t != nil {
		c.LinkExpiresAt = *t
	}
	return c
}

// getConsole reads console record id of ws/env; others' are unknown.
func (st *Store) getConsole(ctx context.Context, ws string, env apikey.Env, id string) (map[string]types.AttributeValue, error) {
	notFound := apierr.New(apierr.NotFound, "No console session %s.", id)
	if !ids.Valid(consoleIDPrefix, id) {
		return nil, notFound
	}
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: consoleKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read console session %s: %w", id, err)
	}
	if out.Item == nil || st.pastTTL(out.Item) || dynamo.Str(out.Item, AttrWorkspace) != ws || dynamo.Str(out.Item, AttrEnv) != string(env) {
		return nil, notFound
	}
	return out.Item, nil
}

// RevokeConsoleSession ends console session id of ws/env at once: an unused
// link stops working, a session's next request is refused. Revoking a
// revoked session returns it.
func (st *Store) RevokeConsoleSession(ctx context.Context, ws string, env apikey.Env, id string, ch *audit.Change) (ConsoleSession, error) {
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		it, err := st.getConsole(ctx, ws, env, id)
		if err != nil {
			return ConsoleSession{}, err
		}
		c := decodeConsole(it)
		if c.RevokedAt != nil {
			return c, nil
		}
		now := st.now().UTC().Truncate(time.Millisecond)
		names := map[string]string{"#rev": AttrRevokedAt, "#lh": attrLinkHash, "#h": attrHash}
		values := map[string]types.AttributeValue{":now": dynamo.Millis(now)}
		// Signed in or not, as read: a sign-in meanwhile makes this fail and
		// the next attempt revoke the session it opened.
		cond := "attribute_not_exists(#rev) AND attribute_not_exists(#h)"
		h := dynamo.Str(it, attrHash)
		if h != "" {
			cond = "attribute_not_exists(#rev) AND #h = :h"
			values[":h"] = dynamo.S(h)
		}
		items := []types.TransactWriteItem{{Update: &types.Update{
			TableName: &st.table, Key: consoleKey(id),
			UpdateExpression:    aws.String("SET #rev = :now REMOVE #lh"),
			ConditionExpression: &cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		}}}
		if h != "" {
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName: &st.table, Key: KeyKey(h),
				UpdateExpression:          aws.String("SET #rev = if_not_exists(#rev, :now)"),
				ConditionExpression:       aws.String("attribute_exists(pk)"),
				ExpressionAttributeNames:  map[string]string{"#rev": AttrRevokedAt},
				ExpressionAttributeValues: map[string]types.AttributeValue{":now": dynamo.Millis(now)},
			}})
		}
		err = ch.Transact(ctx, st.db, string(env), audit.ConsoleSessionRevoked, consoleTarget(id), nil, items...)
		if err == nil {
			c.RevokedAt = &now
			return c, nil
		}
		if dynamo.CancelReasons(err) == nil {
			return ConsoleSession{}, fmt.Errorf("revoke console session %s: %w", id, err)
		}
	}
	return ConsoleSession{}, apierr.New(apierr.Conflict, "Console session %s kept changing while it was being revoked; retry.", id)
}

// ListConsoleSessions returns the console sign-ins of ws/env that are not
// past their retention, newest first, at most 100.
func (st *Store) ListConsoleSessions(ctx context.Context, ws string, env apikey.Env) ([]ConsoleSession, error) {
	out, err := st.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &st.table, IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": dynamo.S(consoleListPK(ws, env))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(100),
	})
	if err != nil {
		return nil, fmt.Errorf("list console sessions of %s/%s: %w", ws, env, err)
	}
	list := make([]ConsoleSession, 0, len(out.Items))
	for _, it := range out.Items {
		if !st.pastTTL(it) {
			list = append(list, decodeConsole(it))
		}
	}
	return list, nil
}
