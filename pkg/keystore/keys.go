package keystore

// Key operations, each one read round trip and one transaction in the
// common case: the records a change depends on are read together
// (BatchGetItem), and a key read by id costs one read once this container
// knows the id's hash (ids and hashes never change).

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
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
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

func errKeyNotFound(id string) error { return apierr.New(apierr.NotFound, "No API key %s.", id) }

// target names k in the audit log.
func target(k Key) audit.Target { return audit.Target{Type: audit.TargetKey, ID: k.ID} }

func errKeptChanging() error {
	return apierr.New(apierr.Conflict, "The workspace's keys kept changing while this request ran; retry.")
}

// CreateKey creates a secondary key in ws/env under the active-key cap: the
// count and the key are written in one transaction whose condition is the
// cap, so concurrent creates can never overshoot it. Expired keys are
// released from the cap (left expired) before the caller is told it is
// full. A key whose new line makes the workspace ceiling reachable first
// switches the workspace to counting it. The key's audit record and its
// expiry reminders are written in the same transaction.
func (st *Store) CreateKey(ctx context.Context, ws string, env apikey.Env, nk NewKey, ch *audit.Change) (Key, string, error) {
	k, plain, err := st.mint(ws, env, Secondary, nk.Name, nk.Role, nk.ExpiresAt)
	if err != nil {
		return Key{}, "", err
	}
	defer ch.Discard() // whatever did not commit
	swept := false
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		p, r, err := st.readState(ctx, ws, env)
		if err != nil {
			return Key{}, "", err
		}
		now := st.now()
		switch {
		case !p.counted && p.needsCeiling(r.lines(now)+1):
			// The ceiling must be counted before the key exists.
			if _, err := st.syncCeiling(ctx, ws, env, 1); err != nil {
				return Key{}, "", err
			}
			continue
		case p.activeKeys >= p.maxKeys && swept:
			return Key{}, "", limitError(p)
		case p.activeKeys >= p.maxKeys:
			swept = true
			if _, err := st.releaseExpired(ctx, ws, env); err != nil {
				return Key{}, "", err
			}
			continue
		}
		item := st.keyItem(k)
		p.stamp(item)
		names := map[string]string{"#a": AttrActiveKeys, "#m": AttrMaxKeys}
		values := map[string]types.AttributeValue{":one": dynamo.N(1)}
		guard := p.guard(names, values)
		rec, err := ch.Put(string(env), audit.KeyCreated, target(k), map[string]string{"name": k.Name, "role": string(k.Role)})
		if err != nil {
			return Key{}, "", err
		}
		items := []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: &st.table, Key: EnvKey(ws, env),
				UpdateExpression:          aws.String("ADD #a :one"),
				ConditionExpression:       aws.String("attribute_exists(pk) AND #a < #m AND " + guard),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
			}},
			{Put: &types.Put{TableName: &st.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Put: &types.Put{TableName: &st.table, Item: idItem(k), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			st.rosterUpdate(ws, env, map[string]int64{k.hash: 0}, r.stale(now), p.lineRoom(r, now)),
			rec,
		}
		err = st.transact(ctx, append(items, st.reminders(k, now)...))
		if err == nil || landed(err, 1) {
			ch.Committed(ctx)
			st.rememberHash(k.ID, k.hash)
			return k, plain, nil
		}
		ch.Discard()
		if dynamo.CancelReasons(err) == nil {
			return Key{}, "", fmt.Errorf("create key in %s/%s: %w", ws, env, err)
		}
		// The cap filled, or the limits, mode or lines changed: read again.
	}
	return Key{}, "", errKeptChanging()
}

func limitError(p policy) error {
	return apierr.New(apierr.KeyLimitReached,
		"This workspace already has %d active %s keys, its plan's maximum. Revoke one (DELETE /v1/keys/{id}) or upgrade the plan.", p.maxKeys, p.env)
}

// releaseExpired frees the cap slots of keys of ws/env that reached their
// expiresAt. The keys themselves stay as they are: expired, answering
// api_key_expired. It returns how many it freed.
func (st *Store) releaseExpired(ctx context.Context, ws string, env apikey.Env) (int, error) {
	now := st.now()
	freed := 0
	in := &dynamodb.QueryInput{
		TableName: &st.table, IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		FilterExpression:          aws.String("attribute_exists(#slot) AND attribute_not_exists(#rev) AND #exp <= :now"),
		ExpressionAttributeNames:  map[string]string{"#slot": attrSlot, "#rev": AttrRevokedAt, "#exp": AttrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": dynamo.S(listPK(ws, env)), ":now": dynamo.Millis(now)},
	}
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return freed, fmt.Errorf("find expired keys of %s/%s: %w", ws, env, err)
		}
		for _, it := range page.Items {
			k := DecodeKey(it)
			err := st.transact(ctx, []types.TransactWriteItem{
				{Update: &types.Update{
					TableName: &st.table, Key: KeyKey(k.hash),
					UpdateExpression:          aws.String("REMOVE #slot"),
					ConditionExpression:       aws.String("attribute_exists(#slot) AND attribute_not_exists(#rev) AND #exp <= :now"),
					ExpressionAttributeNames:  map[string]string{"#slot": attrSlot, "#rev": AttrRevokedAt, "#exp": AttrExpiresAt},
					ExpressionAttributeValues: map[string]types.AttributeValue{":now": dynamo.Millis(now)},
				}},
				releaseSlot(st.table, ws, env),
				st.rosterUpdate(ws, env, map[string]int64{k.hash: k.ExpiresAt.UnixMilli()}, nil, lineAdd{}),
			})
			switch {
			case err == nil:
				freed++
			case dynamo.CancelReasons(err) == nil:
				return freed, fmt.Errorf("release expired key %s: %w", k.ID, err)
			}
			// Cancelled: released meanwhile by someone else.
		}
		if page.LastEvaluatedKey == nil {
			return freed, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func releaseSlot(table, ws string, env apikey.Env) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &table, Key: EnvKey(ws, env),
		UpdateExpression:          aws.String("ADD #a :minus"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#a": AttrActiveKeys},
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": dynamo.N(-1)},
	}}
}

// keyRecord reads the record of key id of ws/env, together with the
// records in more, in one round trip when the id's hash is known (two when
// this container has not seen it yet). Ids of other workspaces and
// environments are indistinguishable from unknown ones.
func (st *Store) keyRecord(ctx context.Context, ws string, env apikey.Env, id string, more ...map[string]types.AttributeValue) (map[string]types.AttributeValue, []map[string]types.AttributeValue, error) {
	if !ids.Valid("key", id) {
		return nil, nil, errKeyNotFound(id)
	}
	hash := st.knownHash(id)
	if hash == "" {
		ref, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: idKey(id), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, nil, fmt.Errorf("get key %s: %w", id, err)
		}
		if ref.Item == nil || dynamo.Str(ref.Item, AttrWorkspace) != ws || dynamo.Str(ref.Item, AttrEnv) != string(env) {
			return nil, nil, errKeyNotFound(id)
		}
		hash = dynamo.Str(ref.Item, attrHash)
		st.rememberHash(id, hash)
	}
	items, err := st.getItems(ctx, append([]map[string]types.AttributeValue{KeyKey(hash)}, more...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("get key %s: %w", id, err)
	}
	it := items[0]
	if it == nil || st.pastTTL(it) || dynamo.Str(it, AttrID) != id ||
		dynamo.Str(it, AttrWorkspace) != ws || dynamo.Str(it, AttrEnv) != string(env) {
		return nil, nil, errKeyNotFound(id)
	}
	return it, items[1:], nil
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
	it, _, err := st.keyRecord(ctx, ws, env, id)
	if err != nil {
		return Key{}, err
	}
	return DecodeKey(it), nil
}

// StatusAll lists keys of every status.
const StatusAll = "all"

// statusFilter is the filter of the keys in status at now (see
// Key.Status), adding its placeholders to names and values.
func statusFilter(status string, names map[string]string, values map[string]types.AttributeValue, now time.Time) (string, error) {
	var f string
	const live, ended = "(attribute_not_exists(#exp) OR #exp > :nowMs)", "#exp <= :nowMs"
	switch status {
	case StatusActive:
		f = "attribute_not_exists(#rev) AND attribute_not_exists(#to) AND " + live
	case StatusRotating:
		f = "attribute_not_exists(#rev) AND attribute_exists(#to) AND " + live
	case StatusRotated:
		f = "attribute_not_exists(#rev) AND attribute_exists(#to) AND " + ended
	case StatusExpired:
		f = "attribute_not_exists(#rev) AND attribute_not_exists(#to) AND " + ended
	case StatusRevoked:
		f = "attribute_exists(#rev)"
	case StatusAll:
		return "", nil
	default:
		return "", fmt.Errorf("unknown key status %q", status)
	}
	names["#rev"] = AttrRevokedAt
	if strings.Contains(f, "#to") {
		names["#to"], names["#exp"] = attrRotatedTo, AttrExpiresAt
		values[":nowMs"] = dynamo.Millis(now)
	}
	return f, nil
}

// ListKeys returns up to limit keys of ws/env in status (one of Statuses,
// or StatusAll) with ids after "after", oldest first, and the id to
// continue after ("" at the end).
func (st *Store) ListKeys(ctx context.Context, ws string, env apikey.Env, after string, limit int, status string) ([]Key, string, error) {
	now := st.now()
	names := map[string]string{"#ttl": attrTTL}
	values := map[string]types.AttributeValue{":p": dynamo.S(listPK(ws, env)), ":after": dynamo.S(KeySK + "#" + after), ":nowSec": dynamo.N(now.Unix())}
	filter, err := statusFilter(status, names, values, now)
	if err != nil {
		return nil, "", err
	}
	filter = strings.TrimSuffix("(attribute_not_exists(#ttl) OR #ttl > :nowSec) AND "+filter, " AND ")
	in := &dynamodb.QueryInput{
		TableName: &st.table, IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p AND gsi1sk > :after"),
		FilterExpression:          &filter,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	var keys []Key
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list keys of %s/%s: %w", ws, env, err)
		}
		for _, it := range page.Items {
			k := DecodeKey(it)
			st.rememberHash(k.ID, k.hash)
			keys = append(keys, k)
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

// RevokeKey revokes key id of ws/env at once, with its audit record.
// Revoking a revoked key is a no-op that returns it. The primary key
// cannot be revoked, only reset.
func (st *Store) RevokeKey(ctx context.Context, ws string, env apikey.Env, id string, ch *audit.Change) (Key, error) {
	k, _, err := st.revoke(ctx, ws, env, id, nil, audit.KeyRevoked, map[string]string{}, ch)
	return k, err
}

// RevokeLeaked revokes k, found in public, at once, with its audit record
// in the same transaction. Unlike RevokeKey it also revokes a primary key
// (which keeps its place under the key cap until the primary is reset) and
// a key in its rotation grace period. It reports whether this call revoked
// it: false when k no longer authenticated.
func (st *Store) RevokeLeaked(ctx context.Context, k Key, details map[string]string, ch *audit.Change) (bool, error) {
	_, ok, err := st.revoke(ctx, k.Workspace, k.Env, k.ID, k.record, audit.KeyLeakRevoked, details, ch)
	return ok, err
}

// revoke revokes key id of ws/env with the audit record of action; a leak
// revocation (KeyLeakRevoked) also stops a primary key. known, when not
// nil, is the key's record as just read: the first attempt writes at once
// (leaving stale roster entries for the next change to prune). It reports
// whether this call revoked the key.
func (st *Store) revoke(ctx context.Context, ws string, env apikey.Env, id string, known map[string]types.AttributeValue, action string, details map[string]string, ch *audit.Change) (Key, bool, error) {
	defer ch.Discard()
	leak := action == audit.KeyLeakRevoked
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		it, r := known, rosterOf(nil)
		if attempt > 0 || known == nil {
			rec, more, err := st.keyRecord(ctx, ws, env, id, rosterKey(ws, env))
			if err != nil {
				return Key{}, false, err
			}
			it, r = rec, rosterOf(more[0])
		}
		k := DecodeKey(it)
		now := st.now().UTC().Truncate(time.Millisecond)
		if k.RevokedAt != nil || leak && !k.Usable(now) {
			return k, false, nil
		}
		primary := k.Kind == Primary && k.RotatedTo == ""
		if primary && !leak {
			return Key{}, false, apierr.New(apierr.Conflict, "The primary key cannot be revoked; reset it with POST /v1/keys/primary/reset.")
		}
		// The roster's value: a rotated key stays rotated; the head of a
		// line stops it, though not before the keys still in their grace
		// period counting on it.
		v := -now.UnixMilli()
		if k.RotatedTo == "" {
			v = now.UnixMilli()
			for _, end := range k.graceFrom {
				v = max(v, end)
			}
		}
		names := map[string]string{"#rev": AttrRevokedAt, "#ttl": attrTTL, "#slot": attrSlot}
		values := map[string]types.AttributeValue{":at": dynamo.Millis(now), ":ttl": dynamo.N(now.Add(retention).Unix())}
		expr := "SET #rev = :at, #ttl = :ttl REMOVE #slot"
		cond := "attribute_exists(pk) AND attribute_not_exists(#rev) AND attribute_not_exists(#slot)"
		items := []types.TransactWriteItem{{}, st.rosterUpdate(ws, env, map[string]int64{k.hash: v}, r.stale(now), lineAdd{})}
		switch {
		case primary:
			// No TTL and its slot kept: the environment record names it
			// until the primary is reset, which needs the record.
			expr, cond = "SET #rev = :at", "attribute_exists(pk) AND attribute_not_exists(#rev)"
			delete(names, "#ttl")
			delete(names, "#slot")
			delete(values, ":ttl")
		case k.HoldsSlot:
			cond = "attribute_exists(pk) AND attribute_not_exists(#rev) AND attribute_exists(#slot)"
			items = append(items, releaseSlot(st.table, ws, env))
		}
		items[0] = types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: KeyKey(k.hash),
			UpdateExpression: &expr, ConditionExpression: &cond,
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		}}
		if details["name"] == "" {
			details = maps.Clone(details)
			if details == nil {
				details = map[string]string{}
			}
			details["name"] = k.Name
		}
		rec, err := ch.Put(string(env), action, target(k), details)
		if err != nil {
			return Key{}, false, err
		}
		err = st.transact(ctx, append(items, rec))
		if err == nil {
			ch.Committed(ctx)
			k.RevokedAt = &now
			k.HoldsSlot = k.HoldsSlot && primary
			return k, true, nil
		}
		ch.Discard()
		if r := dynamo.CancelReasons(err); len(r) < len(items) || !slices.Contains(r[:len(items)], "ConditionalCheckFailed") {
			// Not the key's state (the audit record's write failed, say).
			return Key{}, false, fmt.Errorf("revoke key %s: %w", id, err)
		}
		// Revoked, released or rotated meanwhile: read again.
	}
	return Key{}, false, errKeptChanging()
}

// LookupKey finds the key whose plaintext is plain, in any workspace: how a
// leaked key reported by a secret-scanning partner is matched. Unknown
// keys, and records past their TTL, are not found.
func (st *Store) LookupKey(ctx context.Context, plain string) (Key, bool, error) {
	if _, err := apikey.Parse(plain); err != nil {
		return Key{}, false, nil
	}
	items, err := st.getItems(ctx, KeyKey(st.hasher.Hash(plain)))
	if err != nil {
		return Key{}, false, fmt.Errorf("look up a reported key: %w", err)
	}
	if it := items[0]; it != nil && !st.pastTTL(it) && dynamo.Str(it, AttrID) != "" {
		k := DecodeKey(it)
		k.record = it
		st.rememberHash(k.ID, k.hash)
		return k, true, nil
	}
	return Key{}, false, nil
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
// rate-limit counts. The old key keeps working for grace (0: it stops at
// once) and stops counting against the active-key cap now. allow, when not
// nil, sees the old key before anything is written and may refuse. The
// rotation's audit record and the new key's expiry reminders are written in
// the same transaction.
func (st *Store) RotateKey(ctx context.Context, ws string, env apikey.Env, id string, grace time.Duration, allow func(Key) error, ch *audit.Change) (Key, string, error) {
	defer ch.Discard()
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		it, more, err := st.keyRecord(ctx, ws, env, id, EnvKey(ws, env))
		if err != nil {
			return Key{}, "", err
		}
		if more[0] == nil {
			return Key{}, "", apierr.New(apierr.NotFound, "No workspace %s.", ws)
		}
		old, p := DecodeKey(it), policyOf(ws, env, more[0])
		now := st.now().UTC().Truncate(time.Millisecond)
		switch old.Status(now) {
		case StatusRevoked, StatusExpired, StatusRotated:
			return Key{}, "", apierr.New(apierr.Conflict, "Key %s is %s and cannot be rotated.", id, old.Status(now))
		case StatusRotating:
			return Key{}, "", apierr.New(apierr.Conflict, "Key %s was already rotated to %s.", id, old.RotatedTo)
		}
		if allow != nil {
			if err := allow(old); err != nil {
				return Key{}, "", err
			}
		}
		items, nk, plain, err := st.rotation(ctx, it, old, p, now, grace)
		if err != nil {
			return Key{}, "", err
		}
		rec, err := ch.Put(string(env), audit.KeyRotated, target(old), map[string]string{
			"newKeyId": nk.ID, "gracePeriodSeconds": strconv.Itoa(int(grace / time.Second)),
		})
		if err != nil {
			return Key{}, "", err
		}
		err = st.transact(ctx, append(append(items, rec), st.reminders(nk, now)...))
		if err == nil || landed(err, 0) {
			ch.Committed(ctx)
			st.rememberHash(nk.ID, nk.hash)
			return nk, plain, nil
		}
		ch.Discard()
		if dynamo.CancelReasons(err) == nil {
			return Key{}, "", fmt.Errorf("rotate key %s: %w", id, err)
		}
		// Rotated, revoked or its limits changed meanwhile: read again.
	}
	return Key{}, "", apierr.New(apierr.Conflict, "Key %s changed while it was being rotated; retry.", id)
}

// rotation is the transaction that rotates old (record it) under policy p.
func (st *Store) rotation(ctx context.Context, it map[string]types.AttributeValue, old Key, p policy, now time.Time, grace time.Duration) ([]types.TransactWriteItem, Key, string, error) {
	ws, env := old.Workspace, old.Env
	nk, plain, err := st.mint(ws, env, old.Kind, old.Name, old.Role, old.ExpiresAt)
	if err != nil {
		return nil, Key{}, "", err
	}
	end := now.Add(grace)
	if old.ExpiresAt != nil && old.ExpiresAt.Before(end) {
		end = *old.ExpiresAt
	}
	// Older keys still in a grace period that count on the old key's record
	// move on to the new one, so a line always shares one counter.
	ancestors := map[string]int64{}
	if old.graceFrom == nil { // a record from before graceFrom was kept
		if ancestors, err = st.graceAncestors(ctx, ws, env, old.hash, now); err != nil {
			return nil, Key{}, "", err
		}
	}
	for h, e := range old.graceFrom {
		if e > now.UnixMilli() {
			ancestors[h] = e
		}
	}
	nk.HoldsSlot = old.HoldsSlot
	nk.graceFrom = maps.Clone(ancestors)
	nk.graceFrom[old.hash] = end.UnixMilli()
	newItem := st.keyItem(nk)
	p.stamp(newItem)
	inherited := counterCells(it, now)
	maps.Copy(newItem, inherited)
	newItem[attrInherited] = &types.AttributeValueMemberM{Value: inherited}
	newItem[attrInheritedFrom] = dynamo.S(old.hash)
	// Through its grace period the old key counts on the new key's
	// record: one key limit for both.
	oldUpdate := &types.Update{
		TableName: &st.table, Key: KeyKey(old.hash),
		UpdateExpression:         aws.String("SET #exp = :end, #to = :to, #succ = :succ, #ttl = :ttl REMOVE #slot"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND attribute_not_exists(#rev) AND attribute_not_exists(#to)"),
		ExpressionAttributeNames: map[string]string{"#exp": AttrExpiresAt, "#to": attrRotatedTo, "#succ": AttrSuccessor, "#ttl": attrTTL, "#slot": attrSlot, "#rev": AttrRevokedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":end": dynamo.Millis(end), ":to": dynamo.S(nk.ID), ":succ": dynamo.S(nk.hash), ":ttl": dynamo.N(end.Add(retention).Unix()),
		},
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: newItem, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &st.table, Item: idItem(nk), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: oldUpdate},
		// The line goes on in the new key: the old one is a rotated key.
		st.rosterUpdate(ws, env, map[string]int64{nk.hash: 0, old.hash: -end.UnixMilli()}, nil, lineAdd{}),
	}
	if old.Kind == Primary {
		items = append(items, st.movePrimary(p, old, nk))
	} else {
		items = append(items, p.check(st.table))
	}
	if len(items)+len(ancestors) > 100-3 { // room for the audit record and two reminders
		return nil, Key{}, "", apierr.New(apierr.Conflict, "Key %s has too many earlier versions still in their grace period; revoke some first.", old.ID)
	}
	for h := range ancestors {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: KeyKey(h),
			UpdateExpression:          aws.String("SET #succ = :new"),
			ConditionExpression:       aws.String("#succ = :old"),
			ExpressionAttributeNames:  map[string]string{"#succ": AttrSuccessor},
			ExpressionAttributeValues: map[string]types.AttributeValue{":new": dynamo.S(nk.hash), ":old": dynamo.S(old.hash)},
		}})
	}
	return items, nk, plain, nil
}

// graceAncestors lists the keys of ws/env in a grace period at now whose
// requests count on the record of the key with hash succ (hash → end of
// grace), walking the roster: for records written before keys listed them.
func (st *Store) graceAncestors(ctx context.Context, ws string, env apikey.Env, succ string, now time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	_, r, err := st.readState(ctx, ws, env)
	if err != nil {
		return nil, err
	}
	for h, v := range r.keys {
		if -v <= now.UnixMilli() || h == succ {
			continue
		}
		items, err := st.getItems(ctx, KeyKey(h))
		if err != nil {
			return nil, err
		}
		if dynamo.Str(items[0], AttrSuccessor) == succ {
			out[h] = -v
		}
	}
	return out, nil
}

// movePrimary points the environment record at a new primary key, if the
// old one and the policy p are still current.
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

// landed reports whether a cancelled transaction failed only because the
// new key it puts (item i, with 178 bits of fresh entropy) is there
// already: an earlier attempt of the same transaction, retried by the SDK
// after a timeout, landed.
func landed(err error, i int) bool {
	reasons := dynamo.CancelReasons(err)
	if len(reasons) <= i || reasons[i] != "ConditionalCheckFailed" {
		return false
	}
	for j, r := range reasons {
		if j != i && r != "None" && r != "ConditionalCheckFailed" {
			return false
		}
	}
	return true
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

// ErrNotPrimary refuses a primary reset asked by another key than the
// primary itself.
var ErrNotPrimary = apierr.New(apierr.InsufficientScope,
	"Only the primary key itself can reset the primary key (an operator can too, with framegate workspace reset-primary).")

// ResetPrimary replaces the primary key of ws/env; the old one stops at
// once. by is the id of the key asking, which must be the primary itself;
// empty for an operator (AWS credentials, no API key). The audit record is
// written in the same transaction.
func (st *Store) ResetPrimary(ctx context.Context, ws string, env apikey.Env, by string, ch *audit.Change) (Key, string, error) {
	defer ch.Discard()
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		p, r, err := st.readState(ctx, ws, env)
		if err != nil {
			return Key{}, "", err
		}
		if by != "" && by != p.primaryID {
			return Key{}, "", ErrNotPrimary
		}
		now := st.now().UTC()
		// The new primary starts a new line (its counts start at zero).
		if !p.counted && p.needsCeiling(r.lines(now)+1) {
			if _, err := st.syncCeiling(ctx, ws, env, 1); err != nil {
				return Key{}, "", err
			}
			continue
		}
		old := Key{ID: p.primaryID, Workspace: ws, Env: env, hash: p.primaryHash}
		nk, plain, err := st.mint(ws, env, Primary, "Primary key", scopes.Manager, nil)
		if err != nil {
			return Key{}, "", err
		}
		item := st.keyItem(nk)
		p.stamp(item)
		// The old line stops now, though not before any rotated key that
		// may still count on it.
		stop := max(now.UnixMilli(), r.lastGraceEnd())
		rec, err := ch.Put(string(env), audit.KeyPrimaryReset, audit.Target{Type: audit.TargetKey, ID: old.ID}, map[string]string{"newKeyId": nk.ID})
		if err != nil {
			return Key{}, "", err
		}
		err = st.transact(ctx, []types.TransactWriteItem{
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
			st.rosterUpdate(ws, env, map[string]int64{nk.hash: 0, old.hash: stop}, r.stale(now), p.lineRoom(r, now)),
			rec,
		})
		if err == nil || landed(err, 0) {
			ch.Committed(ctx)
			st.rememberHash(nk.ID, nk.hash)
			return nk, plain, nil
		}
		ch.Discard()
		if dynamo.CancelReasons(err) == nil {
			return Key{}, "", fmt.Errorf("reset primary of %s/%s: %w", ws, env, err)
		}
		// Someone else reset or rotated it, or the limits changed: read again.
	}
	return Key{}, "", apierr.New(apierr.Conflict, "The primary key kept changing while it was being reset; retry.")
}
