package keystore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is the keys table.
type Store struct {
	db     DB
	table  string
	hasher *apikey.Hasher
	now    func() time.Time
	rand   io.Reader

	// hashes maps key ids to key hashes, which never change: a key read
	// by id whose hash this container has seen costs one read, not two.
	mu     sync.Mutex
	hashes map[string]string
}

// hashCacheSize bounds the id → hash cache (about 100 bytes an entry).
const hashCacheSize = 10000

func (st *Store) rememberHash(id, hash string) {
	if id == "" || hash == "" {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.hashes == nil || len(st.hashes) >= hashCacheSize {
		st.hashes = map[string]string{}
	}
	st.hashes[id] = hash
}

func (st *Store) knownHash(id string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.hashes[id]
}

// getItems reads items of the table by primary key in one consistent
// BatchGetItem (one round trip), returned in the order asked, nil where
// absent.
func (st *Store) getItems(ctx context.Context, keys ...map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	id := func(k map[string]types.AttributeValue) string {
		return dynamo.Str(k, attrPK) + "\x00" + dynamo.Str(k, attrSK)
	}
	found := map[string]map[string]types.AttributeValue{}
	pending := keys
	for attempt := 0; len(pending) > 0; attempt++ {
		out, err := st.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			st.table: {Keys: pending, ConsistentRead: aws.Bool(true)},
		}})
		if err != nil {
			return nil, fmt.Errorf("read %d records: %w", len(pending), err)
		}
		for _, it := range out.Responses[st.table] {
			found[id(it)] = it
		}
		pending = out.UnprocessedKeys[st.table].Keys
		if len(pending) > 0 {
			if attempt >= dynamo.Attempts {
				return nil, fmt.Errorf("read %d records: throttled", len(pending))
			}
			if err := dynamo.Backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
	}
	items := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		items[i] = found[id(k)]
	}
	return items, nil
}

// Options are the store's optional dependencies.
type Options struct {
	Now  func() time.Time
	Rand io.Reader // entropy for keys and ids; crypto/rand when nil
}

// New returns a store over table. Every dependency is required.
func New(db DB, table string, hasher *apikey.Hasher, o Options) (*Store, error) {
	if db == nil || table == "" || hasher == nil {
		return nil, errors.New("keystore: db, table and hasher are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{db: db, table: table, hasher: hasher, now: o.Now, rand: o.Rand}, nil
}

// How long revoked and expired key records stay readable before DynamoDB's
// TTL removes them.
const retention = 30 * 24 * time.Hour

// Item keys and attribute names. Counter cells ("c<n>") belong to package
// ratelimit.
const (
	attrPK, attrSK         = "pk", "sk"
	attrGSI1PK, attrGSI1SK = "gsi1pk", "gsi1sk"
	attrTTL                = "ttl"

	// KeyPKPrefix + hash is a key record's partition key; the authorizer
	// counts requests on it.
	KeyPKPrefix = "KEY#"
	// KeySK is the sort key of key records.
	KeySK = "KEY"
	// EnvSKPrefix + env is the sort key of a workspace's per-environment
	// record: limits, active-key count and workspace-wide counters.
	EnvSKPrefix = "ENV#"
	// WorkspacePKPrefix + id is a workspace's partition key.
	WorkspacePKPrefix = "WS#"

	idPKPrefix = "KEYID#"
	wsSK       = "WS"

	// Attribute names the authorizer reads from the items it counts on.
	AttrID, AttrWorkspace, AttrEnv = "id", "ws", "env"
	AttrKind, AttrRole             = "kind", "role" // scopes are the role's, derived when read
	AttrExpiresAt, AttrRevokedAt   = "expiresAt", "revokedAt"
	AttrLastUsed                   = "lu"
	AttrKeyRPM, AttrWorkspaceRPM   = "keyRpm", "wsRpm"
	AttrActiveKeys, AttrMaxKeys    = "activeKeys", "maxKeys"

	attrName, attrPreview, attrCreated = "name", "preview", "createdAt"
	attrRotatedTo, attrSlot            = "rotatedTo", "slot"
	attrHash                           = "h"
	attrPlan, attrOverrides            = "plan", "overrides"
	attrPrimaryID, attrPrimaryHash     = "primaryId", "primaryHash"
)

// EnvKey is the primary key of a workspace's record for env.
func EnvKey(ws string, env apikey.Env) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamo.S(WorkspacePKPrefix + ws), attrSK: dynamo.S(EnvSKPrefix + string(env))}
}

// KeyKey is the primary key of the record of the key with this hash.
func KeyKey(hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamo.S(KeyPKPrefix + hash), attrSK: dynamo.S(KeySK)}
}

func idKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamo.S(idPKPrefix + id), attrSK: dynamo.S(KeySK)}
}

func listPK(ws string, env apikey.Env) string { return WorkspacePKPrefix + ws + "#" + string(env) }

// keyItem is the record of a new key. Counter cells are added by the caller
// when a rotation carries them over.
func (st *Store) keyItem(k Key) map[string]types.AttributeValue {
	it := KeyKey(k.hash)
	it[AttrID] = dynamo.S(k.ID)
	it[AttrWorkspace] = dynamo.S(k.Workspace)
	it[AttrEnv] = dynamo.S(string(k.Env))
	it[attrName] = dynamo.S(k.Name)
	it[AttrRole] = dynamo.S(string(k.Role))
	it[AttrKind] = dynamo.S(k.Kind)
	it[attrPreview] = dynamo.S(k.Preview)
	it[attrCreated] = dynamo.Millis(k.CreatedAt)
	it[attrGSI1PK] = dynamo.S(listPK(k.Workspace, k.Env))
	it[attrGSI1SK] = dynamo.S(KeySK + "#" + k.ID)
	if k.HoldsSlot {
		it[attrSlot] = &types.AttributeValueMemberBOOL{Value: true}
	}
	gf := make(map[string]types.AttributeValue, len(k.graceFrom))
	for h, end := range k.graceFrom {
		gf[h] = dynamo.N(end)
	}
	it[attrGraceFrom] = &types.AttributeValueMemberM{Value: gf}
	if k.ExpiresAt != nil {
		it[AttrExpiresAt] = dynamo.Millis(*k.ExpiresAt)
		it[attrTTL] = dynamo.N(k.ExpiresAt.Add(retention).Unix())
	}
	return it
}

func idItem(k Key) map[string]types.AttributeValue {
	it := idKey(k.ID)
	it[AttrWorkspace] = dynamo.S(k.Workspace)
	it[AttrEnv] = dynamo.S(string(k.Env))
	it[attrHash] = dynamo.S(k.hash)
	if k.ExpiresAt != nil {
		it[attrTTL] = dynamo.N(k.ExpiresAt.Add(retention).Unix())
	}
	return it
}

// DecodeKey reads a key record.
func DecodeKey(it map[string]types.AttributeValue) Key {
	k := Key{
		ID:         dynamo.Str(it, AttrID),
		Workspace:  dynamo.Str(it, AttrWorkspace),
		Env:        apikey.Env(dynamo.Str(it, AttrEnv)),
		Name:       dynamo.Str(it, attrName),
		Role:       scopes.Role(dynamo.Str(it, AttrRole)),
		Kind:       dynamo.Str(it, AttrKind),
		Preview:    dynamo.Str(it, attrPreview),
		ExpiresAt:  dynamo.Time(it, AttrExpiresAt),
		RevokedAt:  dynamo.Time(it, AttrRevokedAt),
		LastUsedAt: dynamo.Time(it, AttrLastUsed),
		RotatedTo:  dynamo.Str(it, attrRotatedTo),
		hash:       strings.TrimPrefix(dynamo.Str(it, attrPK), KeyPKPrefix),
	}
	if c := dynamo.Time(it, attrCreated); c != nil {
		k.CreatedAt = *c
	}
	// A key's scopes are its role's as the role is now, not as it was when
	// the key was made: keys older than a scope (audit:read, usage:read)
	// get it like new ones. An unknown role has none.
	k.Scopes = scopes.Of(k.Role)
	if v, ok := it[attrSlot].(*types.AttributeValueMemberBOOL); ok {
		k.HoldsSlot = v.Value
	}
	if m, ok := it[attrGraceFrom].(*types.AttributeValueMemberM); ok {
		k.graceFrom = make(map[string]int64, len(m.Value))
		for h := range m.Value {
			k.graceFrom[h], _ = dynamo.Int(m.Value, h)
		}
	}
	return k
}

// mint makes a new key of kind for ws/env with a fresh plaintext and id.
func (st *Store) mint(ws string, env apikey.Env, kind, name string, role scopes.Role, expires *time.Time) (Key, string, error) {
	now := st.now().UTC()
	plain, err := apikey.New(env, st.rand)
	if err != nil {
		return Key{}, "", err
	}
	id, err := ids.New("key", now, st.rand)
	if err != nil {
		return Key{}, "", err
	}
	return Key{
		ID: id, Workspace: ws, Env: env, Name: name, Role: role, Scopes: scopes.Of(role),
		Kind: kind, Preview: apikey.Preview(plain), CreatedAt: now.Truncate(time.Millisecond),
		ExpiresAt: expires, HoldsSlot: true, hash: st.hasher.Hash(plain),
	}, plain, nil
}

// CreateWorkspace creates a workspace with its two environments and a primary
// key in each, in one transaction. It returns the plaintext primary keys,
// which exist nowhere else.
func (st *Store) CreateWorkspace(ctx context.Context, name, planName string, overrides ratelimit.Plan) (Workspace, map[apikey.Env]string, error) {
	if strings.TrimSpace(name) == "" {
		return Workspace{}, nil, apierr.Invalid("name", "name must not be empty")
	}
	if err := apierr.Text("name", name, 200, false); err != nil {
		return Workspace{}, nil, err
	}
	if planName == "" {
		planName = ratelimit.DefaultPlan
	}
	if _, err := ratelimit.LookupPlan(planName); err != nil {
		return Workspace{}, nil, apierr.Invalid("plan", "%v", err)
	}
	if err := overrides.Validate(); err != nil {
		return Workspace{}, nil, apierr.Invalid("overrides", "%v", err)
	}
	now := st.now().UTC()
	id, err := ids.New("ws", now, st.rand)
	if err != nil {
		return Workspace{}, nil, err
	}
	w := Workspace{ID: id, Name: name, Plan: planName, Overrides: overrides, CreatedAt: now.Truncate(time.Millisecond)}
	lim := w.Limits()
	wsItem := map[string]types.AttributeValue{
		attrPK: dynamo.S(WorkspacePKPrefix + id), attrSK: dynamo.S(wsSK),
		attrName: dynamo.S(name), attrPlan: dynamo.S(planName), attrCreated: dynamo.Millis(now),
		attrOverrides: limitsAttr(overrides),
		attrGSI1PK:    dynamo.S("WORKSPACES"), attrGSI1SK: dynamo.S(id),
	}
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: &st.table, Item: wsItem, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}}
	plains := map[apikey.Env]string{}
	for _, env := range []apikey.Env{apikey.Live, apikey.Test} {
		k, plain, err := st.mint(id, env, Primary, "Primary key", scopes.Manager, nil)
		if err != nil {
			return Workspace{}, nil, err
		}
		plains[env] = plain
		p := policy{ver: 1, keyRPM: int64(lim.KeyRequestsPerMinute), wsRPM: int64(lim.WorkspaceRequestsPerMinute), maxKeys: int64(lim.MaxActiveKeys)}
		p.counted = p.needsCeiling(1)
		envItem := EnvKey(id, env)
		envItem[AttrActiveKeys] = dynamo.N(1)
		envItem[attrPrimaryID] = dynamo.S(k.ID)
		envItem[attrPrimaryHash] = dynamo.S(k.hash)
		for name, v := range limitAttrs(lim) {
			envItem[name] = v
		}
		envItem[AttrCounted], envItem[attrPolicyVersion] = dynamo.B(p.counted), dynamo.N(p.ver)
		keyItem := st.keyItem(k)
		p.stamp(keyItem)
		roster := rosterKey(id, env)
		roster[attrRoster] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{k.hash: dynamo.N(0)}}
		roster[attrLineCount] = dynamo.N(1)
		items = append(items,
			types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: envItem, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: roster, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: keyItem, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: idItem(k), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		)
	}
	if err := st.transact(ctx, items); err != nil && !landed(err, 0) {
		return Workspace{}, nil, fmt.Errorf("create workspace %s: %w", id, err)
	}
	return w, plains, nil
}

// limitAttrs are the limits the authorizer and the key cap read from a
// workspace's per-environment record.
func limitAttrs(l ratelimit.Plan) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrKeyRPM:          dynamo.N(int64(l.KeyRequestsPerMinute)),
		AttrWorkspaceRPM:    dynamo.N(int64(l.WorkspaceRequestsPerMinute)),
		AttrMaxKeys:         dynamo.N(int64(l.MaxActiveKeys)),
		"concurrentRenders": dynamo.N(int64(l.ConcurrentRenders)),
		"queuedRenders":     dynamo.N(int64(l.QueuedRenders)),
		"maxVideoSeconds":   dynamo.N(int64(l.MaxVideoSeconds)),
		"maxStorageGB":      dynamo.N(int64(l.MaxStorageGB)),
	}
}

func limitsAttr(l ratelimit.Plan) types.AttributeValue {
	m := map[string]types.AttributeValue{}
	for name, v := range map[string]int{
		"keyRpm": l.KeyRequestsPerMinute, "wsRpm": l.WorkspaceRequestsPerMinute,
		"concurrentRenders": l.ConcurrentRenders, "queuedRenders": l.QueuedRenders,
		"maxKeys": l.MaxActiveKeys, "maxVideoSeconds": l.MaxVideoSeconds, "maxStorageGB": l.MaxStorageGB,
	} {
		if v > 0 {
			m[name] = dynamo.N(int64(v))
		}
	}
	return &types.AttributeValueMemberM{Value: m}
}

func decodeLimits(av types.AttributeValue) ratelimit.Plan {
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return ratelimit.Plan{}
	}
	get := func(k string) int { v, _ := dynamo.Int(m.Value, k); return int(v) }
	return ratelimit.Plan{
		KeyRequestsPerMinute: get("keyRpm"), WorkspaceRequestsPerMinute: get("wsRpm"),
		ConcurrentRenders: get("concurrentRenders"), QueuedRenders: get("queuedRenders"),
		MaxActiveKeys: get("maxKeys"), MaxVideoSeconds: get("maxVideoSeconds"), MaxStorageGB: get("maxStorageGB"),
	}
}

func decodeWorkspace(it map[string]types.AttributeValue) Workspace {
	w := Workspace{
		ID:        strings.TrimPrefix(dynamo.Str(it, attrPK), WorkspacePKPrefix),
		Name:      dynamo.Str(it, attrName),
		Plan:      dynamo.Str(it, attrPlan),
		Overrides: decodeLimits(it[attrOverrides]),
	}
	if c := dynamo.Time(it, attrCreated); c != nil {
		w.CreatedAt = *c
	}
	return w
}

// GetWorkspace reads a workspace.
func (st *Store) GetWorkspace(ctx context.Context, id string) (Workspace, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{attrPK: dynamo.S(WorkspacePKPrefix + id), attrSK: dynamo.S(wsSK)},
	})
	if err != nil {
		return Workspace{}, fmt.Errorf("get workspace %s: %w", id, err)
	}
	if out.Item == nil {
		return Workspace{}, apierr.New(apierr.NotFound, "No workspace %s.", id)
	}
	return decodeWorkspace(out.Item), nil
}

// ListWorkspaces lists every workspace, for operators.
func (st *Store) ListWorkspaces(ctx context.Context) ([]Workspace, error) {
	var out []Workspace
	var start map[string]types.AttributeValue
	for {
		page, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &st.table, IndexName: aws.String("gsi1"),
			KeyConditionExpression:    aws.String("gsi1pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": dynamo.S("WORKSPACES")},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("list workspaces: %w", err)
		}
		for _, it := range page.Items {
			out = append(out, decodeWorkspace(it))
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// SetPlan changes a workspace's plan and overrides; the per-environment
// records the authorizer reads, and the change's audit record in the log
// of each environment, are written in the same transaction, so the next
// request sees the new limits.
func (st *Store) SetPlan(ctx context.Context, id, planName string, overrides ratelimit.Plan, ch *audit.Change) (Workspace, error) {
	defer ch.Discard()
	if _, err := ratelimit.LookupPlan(planName); err != nil {
		return Workspace{}, apierr.Invalid("plan", "%v", err)
	}
	if err := overrides.Validate(); err != nil {
		return Workspace{}, apierr.Invalid("overrides", "%v", err)
	}
	w, err := st.GetWorkspace(ctx, id)
	if err != nil {
		return Workspace{}, err
	}
	prev := w.Plan
	w.Plan, w.Overrides = planName, overrides
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName: &st.table, Key: map[string]types.AttributeValue{attrPK: dynamo.S(WorkspacePKPrefix + id), attrSK: dynamo.S(wsSK)},
		UpdateExpression:          aws.String("SET #p = :p, #o = :o"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#p": attrPlan, "#o": attrOverrides},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": dynamo.S(planName), ":o": limitsAttr(overrides)},
	}}}
	for _, env := range []apikey.Env{apikey.Live, apikey.Test} {
		names, values := map[string]string{}, map[string]types.AttributeValue{}
		var sets []string
		i := 0
		for name, v := range limitAttrs(w.Limits()) {
			names[fmt.Sprintf("#a%d", i)] = name
			values[fmt.Sprintf(":a%d", i)] = v
			sets = append(sets, fmt.Sprintf("#a%d = :a%d", i, i))
			i++
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: EnvKey(id, env),
			UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}})
	}
	details := map[string]string{"plan": planName, "previousPlan": prev}
	for name, v := range map[string]int{
		"keyRpm": overrides.KeyRequestsPerMinute, "workspaceRpm": overrides.WorkspaceRequestsPerMinute,
		"concurrentRenders": overrides.ConcurrentRenders, "queuedRenders": overrides.QueuedRenders,
		"maxKeys": overrides.MaxActiveKeys, "maxVideoSeconds": overrides.MaxVideoSeconds,
	} {
		if v > 0 {
			details[name] = strconv.Itoa(v)
		}
	}
	for _, env := range []apikey.Env{apikey.Live, apikey.Test} {
		rec, err := ch.Put(string(env), audit.WorkspacePlanChanged, audit.Target{Type: audit.TargetWorkspace, ID: id}, details)
		if err != nil {
			return Workspace{}, err
		}
		items = append(items, rec)
	}
	if _, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		return Workspace{}, fmt.Errorf("set plan of %s: %w", id, err)
	}
	ch.Committed(ctx)
	// The keys carry their limits and counting mode: bring them up to date.
	for _, env := range []apikey.Env{apikey.Live, apikey.Test} {
		if _, err := st.syncCeiling(ctx, id, env, 0); err != nil {
			return Workspace{}, err
		}
	}
	return w, nil
}
