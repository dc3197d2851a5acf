package keystore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

func errKeyNotFound(id string) error { return apierr.New(apierr.NotFound, "No API key %s.", id) }

// CreateKey creates a secondary key in ws/env under the active-key cap: the
// count and the key are written in one transaction whose condition is the
// cap, so concurrent creates can never overshoot it. Expired keys are
// released from the cap before the caller is told it is full.
func (st *Store) CreateKey(ctx context.Context, ws string, env apikey.Env, nk NewKey) (Key, string, error) {
	k, plain, err := st.mint(ws, env, Secondary, nk.Name, nk.Role, nk.ExpiresAt)
	if err != nil {
		return Key{}, "", err
	}
	swept := false
	for attempt := 0; ; attempt++ {
		p, err := st.readPolicy(ctx, ws, env)
		if err != nil {
			return Key{}, "", err
		}
		item := st.keyItem(k)
		p.stamp(item)
		names := map[string]string{"#a": AttrActiveKeys, "#m": AttrMaxKeys}
		values := map[string]types.AttributeValue{":one": dynamo.N(1)}
		guard := p.guard(names, values)
		_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: &st.table, Key: EnvKey(ws, env),
				UpdateExpression:          aws.String("ADD #a :one"),
				ConditionExpression:       aws.String("attribute_exists(pk) AND #a < #m AND " + guard),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
			}},
			{Put: &types.Put{TableName: &st.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Put: &types.Put{TableName: &st.table, Item: idItem(k), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			st.rosterUpdate(ws, env, []string{k.hash}, nil, nil),
		}})
		if err == nil {
			return k, plain, nil
		}
		reasons := dynamo.CancelReasons(err)
		switch {
		case reasons == nil:
			return Key{}, "", fmt.Errorf("create key in %s/%s: %w", ws, env, err)
		case dynamo.Conflicted(reasons) && attempt < dynamo.Attempts:
			if err := dynamo.Backoff(ctx, attempt); err != nil {
				return Key{}, "", err
			}
		case reasons[0] == "ConditionalCheckFailed" && attempt < dynamo.Attempts && st.policyChanged(ctx, p):
			// The limits or counting mode changed meanwhile: mint under the new ones.
		case reasons[0] == "ConditionalCheckFailed" && !swept:
			swept = true
			released, err := st.releaseExpired(ctx, ws, env)
			if err != nil {
				return Key{}, "", err
			}
			if released == 0 {
				return Key{}, "", st.limitError(ctx, ws, env)
			}
		case reasons[0] == "ConditionalCheckFailed":
			return Key{}, "", st.limitError(ctx, ws, env)
		default:
			return Key{}, "", fmt.Errorf("create key in %s/%s: %w", ws, env, err)
		}
	}
}

func (st *Store) limitError(ctx context.Context, ws string, env apikey.Env) error {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: EnvKey(ws, env)})
	if err != nil {
		return fmt.Errorf("read key cap of %s/%s: %w", ws, env, err)
	}
	if out.Item == nil {
		return apierr.New(apierr.NotFound, "No workspace %s.", ws)
	}
	max, _ := dynamo.Int(out.Item, AttrMaxKeys)
	return apierr.New(apierr.KeyLimitReached,
		"This workspace already has %d active %s keys, its plan's maximum. Revoke one (DELETE /v1/keys/{id}) or upgrade the plan.", max, env)
}

// releaseExpired marks expired keys that still hold a cap slot as revoked
// and frees their slots. It returns how many it freed.
func (st *Store) releaseExpired(ctx context.Context, ws string, env apikey.Env) (int, error) {
	now := st.now()
	freed := 0
	var start map[string]types.AttributeValue
	for {
		page, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName: &st.table, IndexName: aws.String("gsi1"),
			KeyConditionExpression:    aws.String("gsi1pk = :p"),
			FilterExpression:          aws.String("attribute_exists(#slot) AND attribute_not_exists(#rev) AND #exp <= :now"),
			ExpressionAttributeNames:  map[string]string{"#slot": attrSlot, "#rev": AttrRevokedAt, "#exp": AttrExpiresAt},
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": dynamo.S(listPK(ws, env)), ":now": dynamo.Millis(now)},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return freed, fmt.Errorf("find expired keys of %s/%s: %w", ws, env, err)
		}
		for _, it := range page.Items {
			k := DecodeKey(it)
			ok, err := st.retire(ctx, k, *k.ExpiresAt, true)
			if err != nil {
				return freed, err
			}
			if ok {
				freed++
			}
		}
		if page.LastEvaluatedKey == nil {
			return freed, nil
		}
		start = page.LastEvaluatedKey
	}
}

// retire revokes k at "at" and, if it still holds a cap slot, frees it, in
// one transaction. It reports false when k was already revoked.
func (st *Store) retire(ctx context.Context, k Key, at time.Time, holdsSlot bool) (bool, error) {
	keyUpdate := &types.Update{
		TableName: &st.table, Key: KeyKey(k.hash),
		UpdateExpression:         aws.String("SET #rev = :at, #ttl = :ttl REMOVE #slot"),
		ExpressionAttributeNames: map[string]string{"#rev": AttrRevokedAt, "#ttl": attrTTL, "#slot": attrSlot},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": dynamo.Millis(at), ":ttl": dynamo.N(at.Add(retention).Unix()),
		},
	}
	items := []types.TransactWriteItem{{Update: keyUpdate}, st.rosterUpdate(k.Workspace, k.Env, nil, map[string]time.Time{k.hash: at}, nil)}
	if holdsSlot {
		keyUpdate.ConditionExpression = aws.String("attribute_exists(pk) AND attribute_not_exists(#rev) AND attribute_exists(#slot)")
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: EnvKey(k.Workspace, k.Env),
			UpdateExpression:          aws.String("ADD #a :minus"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeNames:  map[string]string{"#a": AttrActiveKeys},
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": dynamo.N(-1)},
		}})
	} else {
		keyUpdate.ConditionExpression = aws.String("attribute_exists(pk) AND attribute_not_exists(#rev) AND attribute_not_exists(#slot)")
	}
	for attempt := 0; ; attempt++ {
		_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return true, nil
		}
		reasons := dynamo.CancelReasons(err)
		switch {
		case reasons == nil:
			return false, fmt.Errorf("revoke key %s: %w", k.ID, err)
		case dynamo.Conflicted(reasons) && attempt < dynamo.Attempts:
			if err := dynamo.Backoff(ctx, attempt); err != nil {
				return false, err
			}
		case reasons[0] == "ConditionalCheckFailed":
			return false, nil // already revoked, or its slot changed hands: the caller re-reads
		default:
			return false, fmt.Errorf("revoke key %s: %w", k.ID, err)
		}
	}
}

// getRaw reads the record of key id if it belongs to ws/env. Ids of other
// workspaces and environments are indistinguishable from unknown ones.
func (st *Store) getRaw(ctx context.Context, ws string, env apikey.Env, id string) (map[string]types.AttributeValue, error) {
	if !ids.Valid("key", id) {
		return nil, errKeyNotFound(id)
	}
	ref, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: idKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	if ref.Item == nil || dynamo.Str(ref.Item, AttrWorkspace) != ws || dynamo.Str(ref.Item, AttrEnv) != string(env) {
		return nil, errKeyNotFound(id)
	}
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: KeyKey(dynamo.Str(ref.Item, attrHash)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	if out.Item == nil || st.pastTTL(out.Item) {
		return nil, errKeyNotFound(id)
	}
	return out.Item, nil
}

// pastTTL reports whether DynamoDB's TTL may delete it already: AWS deletes
// expired items up to days late (the emulator never does), so reads must
// treat them as gone.
func (st *Store) pastTTL(it map[string]types.AttributeValue) bool {
	ttl, ok := dynamo.Int(it, attrTTL)
	return ok && ttl <= st.now().Unix()
}

// GetKey returns key id of ws/env.
func (st *Store) GetKey(ctx context.Context, ws string, env apikey.Env, id string) (Key, error) {
	it, err := st.getRaw(ctx, ws, env, id)
	if err != nil {
		return Key{}, err
	}
	return DecodeKey(it), nil
}

// ListKeys returns up to limit keys of ws/env with ids after "after", oldest
// first, and the id to continue after ("" at the end). Revoked keys are
// left out unless withRevoked.
func (st *Store) ListKeys(ctx context.Context, ws string, env apikey.Env, after string, limit int, withRevoked bool) ([]Key, string, error) {
	values := map[string]types.AttributeValue{":p": dynamo.S(listPK(ws, env)), ":after": dynamo.S(KeySK + "#" + after)}
	in := &dynamodb.QueryInput{
		TableName: &st.table, IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p AND gsi1sk > :after"),
		ExpressionAttributeValues: values,
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	values[":nowSec"] = dynamo.N(st.now().Unix())
	in.FilterExpression = aws.String("(attribute_not_exists(#ttl) OR #ttl > :nowSec)")
	in.ExpressionAttributeNames = map[string]string{"#ttl": attrTTL}
	if !withRevoked {
		in.FilterExpression = aws.String(*in.FilterExpression + " AND attribute_not_exists(#rev)")
		in.ExpressionAttributeNames["#rev"] = AttrRevokedAt
	}
	var keys []Key
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list keys of %s/%s: %w", ws, env, err)
		}
		for _, it := range page.Items {
			keys = append(keys, DecodeKey(it))
		}
		if len(keys) > limit {
			return keys[:limit], keys[limit-1].ID, nil
		}
		if page.LastEvaluatedKey == nil {
			return keys, "", nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// RevokeKey revokes key id of ws/env at once. Revoking a revoked key is a
// no-op that returns it. The primary key cannot be revoked, only reset.
func (st *Store) RevokeKey(ctx context.Context, ws string, env apikey.Env, id string) (Key, error) {
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		k, err := st.GetKey(ctx, ws, env, id)
		if err != nil {
			return Key{}, err
		}
		if k.RevokedAt != nil {
			return k, nil
		}
		if k.Kind == Primary && k.RotatedTo == "" {
			return Key{}, apierr.New(apierr.Conflict, "The primary key cannot be revoked; reset it with POST /v1/keys/primary/reset.")
		}
		now := st.now().UTC().Truncate(time.Millisecond)
		ok, err := st.retire(ctx, k, now, k.HoldsSlot)
		if err != nil {
			return Key{}, err
		}
		if ok {
			k.RevokedAt, k.HoldsSlot = &now, false
			st.pruneRoster(ctx, ws, env)
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("revoke key %s: kept racing with other changes", id)
}

// counterCells returns the rate-limit cells of a key record still inside
// the window, so a rotated key keeps its counts.
func counterCells(it map[string]types.AttributeValue, now time.Time) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	w := ratelimit.PerMinute
	first := w.Cell(now) - int64(w.Cells) + 1
	for name, v := range it {
		if !strings.HasPrefix(name, "c") {
			continue
		}
		if idx, err := parseCell(name); err == nil && idx >= first {
			out[name] = v
		}
	}
	return out
}

func parseCell(name string) (int64, error) {
	var idx int64
	_, err := fmt.Sscanf(name, "c%d", &idx)
	if err == nil && ratelimit.Attr(idx) != name {
		err = errors.New("not a cell")
	}
	return idx, err
}

// RotateKey replaces key id with a new key of the same role, expiry and
// rate-limit counts. The old key keeps working for grace (0 revokes it at
// once) and stops counting against the active-key cap now.
func (st *Store) RotateKey(ctx context.Context, ws string, env apikey.Env, id string, grace time.Duration) (Key, string, error) {
	it, err := st.getRaw(ctx, ws, env, id)
	if err != nil {
		return Key{}, "", err
	}
	old := DecodeKey(it)
	now := st.now().UTC().Truncate(time.Millisecond)
	switch old.Status(now) {
	case StatusRevoked, StatusExpired:
		return Key{}, "", apierr.New(apierr.Conflict, "Key %s is %s and cannot be rotated.", id, old.Status(now))
	case StatusRotating:
		return Key{}, "", apierr.New(apierr.Conflict, "Key %s was already rotated to %s.", id, old.RotatedTo)
	}
	p, err := st.readPolicy(ctx, ws, env)
	if err != nil {
		return Key{}, "", err
	}
	nk, plain, err := st.mint(ws, env, old.Kind, old.Name, old.Role, old.ExpiresAt)
	if err != nil {
		return Key{}, "", err
	}
	nk.HoldsSlot = old.HoldsSlot
	newItem := st.keyItem(nk)
	p.stamp(newItem)
	inherited := counterCells(it, now)
	for name, v := range inherited {
		newItem[name] = v
	}
	newItem[attrInherited] = &types.AttributeValueMemberM{Value: inherited}
	newItem[attrInheritedFrom] = dynamo.S(old.hash)
	end := now.Add(grace)
	if old.ExpiresAt != nil && old.ExpiresAt.Before(end) {
		end = *old.ExpiresAt
	}
	var oldUpdate *types.Update
	if grace == 0 {
		oldUpdate = &types.Update{
			UpdateExpression:         aws.String("SET #rev = :now, #to = :to, #ttl = :ttl REMOVE #slot"),
			ExpressionAttributeNames: map[string]string{"#rev": AttrRevokedAt, "#to": attrRotatedTo, "#ttl": attrTTL, "#slot": attrSlot},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": dynamo.Millis(now), ":to": dynamo.S(nk.ID), ":ttl": dynamo.N(now.Add(retention).Unix()),
			},
		}
	} else {
		// Through its grace period the old key counts on the new key's
		// record: one key limit for both.
		oldUpdate = &types.Update{
			UpdateExpression:         aws.String("SET #exp = :end, #to = :to, #succ = :succ, #ttl = :ttl REMOVE #slot"),
			ExpressionAttributeNames: map[string]string{"#exp": AttrExpiresAt, "#to": attrRotatedTo, "#succ": AttrSuccessor, "#ttl": attrTTL, "#slot": attrSlot},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":end": dynamo.Millis(end), ":to": dynamo.S(nk.ID), ":succ": dynamo.S(nk.hash), ":ttl": dynamo.N(end.Add(retention).Unix()),
			},
		}
	}
	oldUpdate.TableName, oldUpdate.Key = &st.table, KeyKey(old.hash)
	oldUpdate.ConditionExpression = aws.String("attribute_exists(pk) AND attribute_not_exists(#rev2) AND attribute_not_exists(#to)")
	oldUpdate.ExpressionAttributeNames["#rev2"] = AttrRevokedAt
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: newItem, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &st.table, Item: idItem(nk), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: oldUpdate},
		st.rosterUpdate(ws, env, []string{nk.hash}, map[string]time.Time{old.hash: end}, nil),
	}
	if old.Kind == Primary {
		items = append(items, st.movePrimary(p, old, nk))
	} else {
		items = append(items, p.check(st.table))
	}
	// Older keys still in a grace period that count on the old key's record
	// move on to the new one, so a lineage always shares one counter.
	ancestors, err := st.graceAncestors(ctx, ws, env, old.hash, now)
	if err != nil {
		return Key{}, "", err
	}
	if len(items)+len(ancestors) > 100 {
		return Key{}, "", apierr.New(apierr.Conflict, "Key %s has too many earlier versions still in their grace period; revoke some first.", id)
	}
	for _, h := range ancestors {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: KeyKey(h),
			UpdateExpression:          aws.String("SET #succ = :new"),
			ConditionExpression:       aws.String("#succ = :old"),
			ExpressionAttributeNames:  map[string]string{"#succ": AttrSuccessor},
			ExpressionAttributeValues: map[string]types.AttributeValue{":new": dynamo.S(nk.hash), ":old": dynamo.S(old.hash)},
		}})
	}
	if err := st.transact(ctx, items); err != nil {
		if reasons := dynamo.CancelReasons(err); reasons != nil {
			return Key{}, "", apierr.New(apierr.Conflict, "Key %s changed while it was being rotated; retry.", id)
		}
		return Key{}, "", fmt.Errorf("rotate key %s: %w", id, err)
	}
	return nk, plain, nil
}

// movePrimary points the environment record at a new primary key, if the
// old one and the policy p are still current.
// graceAncestors lists the keys of ws/env in a grace period at now whose
// requests count on the record of the key with hash succ.
func (st *Store) graceAncestors(ctx context.Context, ws string, env apikey.Env, succ string, now time.Time) ([]string, error) {
	r, err := st.roster(ctx, ws, env)
	if err != nil {
		return nil, err
	}
	var out []string
	for h, end := range r {
		if end <= now.UnixMilli() || h == succ {
			continue
		}
		it, err := st.keyRecord(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("read a key of %s/%s: %w", ws, env, err)
		}
		if dynamo.Str(it, AttrSuccessor) == succ {
			out = append(out, h)
		}
	}
	return out, nil
}

func (st *Store) movePrimary(p policy, from, to Key) types.TransactWriteItem {
	names := map[string]string{"#pid": attrPrimaryID, "#ph": attrPrimaryHash}
	values := map[string]types.AttributeValue{":new": dynamo.S(to.ID), ":newh": dynamo.S(to.hash), ":old": dynamo.S(from.ID)}
	guard := p.guard(names, values)
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &st.table, Key: EnvKey(p.workspace, p.env),
		UpdateExpression:          aws.String("SET #pid = :new, #ph = :newh"),
		ConditionExpression:       aws.String("#pid = :old AND " + guard),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// policyChanged reports whether the environment record's policy is no
// longer p (so a transaction guarded by p failed for that reason).
func (st *Store) policyChanged(ctx context.Context, p policy) bool {
	now, err := st.readPolicy(ctx, p.workspace, p.env)
	return err == nil && now.ver != p.ver
}

// transact runs a transaction, retrying only transaction conflicts.
func (st *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	for attempt := 0; ; attempt++ {
		_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil || !dynamo.Conflicted(dynamo.CancelReasons(err)) || attempt >= dynamo.Attempts {
			return err
		}
		if err := dynamo.Backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// ResetPrimary replaces the primary key of ws/env; the old one stops at once.
func (st *Store) ResetPrimary(ctx context.Context, ws string, env apikey.Env) (Key, string, error) {
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: EnvKey(ws, env), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return Key{}, "", fmt.Errorf("reset primary of %s/%s: %w", ws, env, err)
		}
		if out.Item == nil {
			return Key{}, "", apierr.New(apierr.NotFound, "No workspace %s.", ws)
		}
		p := policyOf(ws, env, out.Item)
		old := Key{ID: p.primaryID, Workspace: ws, Env: env, hash: p.primaryHash}
		nk, plain, err := st.mint(ws, env, Primary, "Primary key", scopes.Manager, nil)
		if err != nil {
			return Key{}, "", err
		}
		now := st.now().UTC()
		item := st.keyItem(nk)
		p.stamp(item)
		items := []types.TransactWriteItem{
			{Put: &types.Put{TableName: &st.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Put: &types.Put{TableName: &st.table, Item: idItem(nk), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			// The old primary stops at once, even if it was in a rotation grace period.
			{Update: &types.Update{
				TableName: &st.table, Key: KeyKey(old.hash),
				UpdateExpression:         aws.String("SET #rev = if_not_exists(#rev, :now), #ttl = :ttl REMOVE #slot"),
				ConditionExpression:      aws.String("attribute_exists(pk)"),
				ExpressionAttributeNames: map[string]string{"#rev": AttrRevokedAt, "#ttl": attrTTL, "#slot": attrSlot},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":now": dynamo.Millis(now), ":ttl": dynamo.N(now.Add(retention).Unix()),
				},
			}},
			st.movePrimary(p, old, nk),
			st.rosterUpdate(ws, env, []string{nk.hash}, map[string]time.Time{old.hash: now}, nil),
		}
		err = st.transact(ctx, items)
		if err == nil {
			return nk, plain, nil
		}
		if dynamo.CancelReasons(err) == nil {
			return Key{}, "", fmt.Errorf("reset primary of %s/%s: %w", ws, env, err)
		}
		// Someone else reset or rotated it meanwhile: read again.
	}
	return Key{}, "", apierr.New(apierr.Conflict, "The primary key kept changing while it was being reset; retry.")
}
