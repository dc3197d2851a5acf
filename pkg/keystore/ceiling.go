package keystore

// The workspace ceiling (requests per minute across all keys of a workspace
// and environment) costs the authorizer a second counting write per request.
// That write is only worth paying when the ceiling can bind: when the keys of
// the workspace could, together, send more than it allows. With the default
// plan (100/min per key, 5 keys, 1000/min per workspace) they cannot, so each
// request is one write to one item.
//
// The decision is the workspace's "counting mode", kept on its environment
// record and copied onto every key record (with the limits), so the
// authorizer learns it from the very write that counts the request:
//
//   - counted: keyRpm × maxKeys > wsRpm. The authorizer counts the key and
//     the workspace records in parallel.
//   - key only: otherwise. The key's own limit is the tighter one for every
//     request, so the workspace record is not written.
//
// A key in its rotation grace period adds no capacity: its requests count on
// its successor's record (AttrSuccessor), against one shared key limit.
//
// Keys are listed in the roster record (hash → when the key stopped
// authenticating, in ms; 0 while it does, a future time during a grace
// period), written in the same transaction as every key it lists. A plan
// change recomputes the mode and copies it and the limits to every key, by
// syncCeiling. Every transaction that mints a key checks the environment
// record's policy version ("lver"), so no key can be minted with a mode or
// limits that are being changed.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/ratelimit"
)

const (
	// AttrCounted is true on an environment record and its key records
	// when the authorizer must count the workspace ceiling too. A key
	// record without it (written before the mode existed) counts.
	AttrCounted = "wsc"
	// AttrSuccessor, on a key in its rotation grace period, is the hash of
	// the key whose record counts its requests (the newest of its line).
	AttrSuccessor = "succ"
	// attrPolicyVersion changes whenever the mode or limits change.
	attrPolicyVersion = "lver"
	// attrInherited holds the counts a rotated key took over from its
	// predecessor, which also still holds them.
	attrInherited, attrInheritedFrom = "inh", "inhFrom"
	// attrRoster is the roster record's map of key hashes.
	attrRoster = "k"
	rosterSK   = "ROSTER#"
)

func rosterKey(ws string, env apikey.Env) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamo.S(WorkspacePKPrefix + ws), attrSK: dynamo.S(rosterSK + string(env))}
}

// policy is what an environment record says about counting.
type policy struct {
	ver                    int64
	keyRPM, wsRPM, maxKeys int64
	counted                bool
	workspace              string
	env                    apikey.Env
	primaryID, primaryHash string
	activeKeys             int64
	exists                 bool
}

func policyOf(ws string, env apikey.Env, it map[string]types.AttributeValue) policy {
	p := policy{workspace: ws, env: env, exists: it != nil}
	p.ver, _ = dynamo.Int(it, attrPolicyVersion)
	p.keyRPM, _ = dynamo.Int(it, AttrKeyRPM)
	p.wsRPM, _ = dynamo.Int(it, AttrWorkspaceRPM)
	p.maxKeys, _ = dynamo.Int(it, AttrMaxKeys)
	p.activeKeys, _ = dynamo.Int(it, AttrActiveKeys)
	p.counted = countedOf(it)
	p.primaryID, p.primaryHash = dynamo.Str(it, attrPrimaryID), dynamo.Str(it, attrPrimaryHash)
	return p
}

// countedOf reads the mode of a record; records without one count.
func countedOf(it map[string]types.AttributeValue) bool {
	v, ok := it[AttrCounted].(*types.AttributeValueMemberBOOL)
	return !ok || v.Value
}

// needsCeiling reports whether the workspace ceiling can bind: whether the
// plan's maximum of active keys, each at its limit, could exceed it.
func needsCeiling(keyRPM, wsRPM, maxKeys int64) bool {
	return keyRPM*maxKeys > wsRPM
}

func (st *Store) readPolicy(ctx context.Context, ws string, env apikey.Env) (policy, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: EnvKey(ws, env), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return policy{}, fmt.Errorf("read limits of %s/%s: %w", ws, env, err)
	}
	if out.Item == nil {
		return policy{}, apierr.New(apierr.NotFound, "No workspace %s.", ws)
	}
	return policyOf(ws, env, out.Item), nil
}

// stamp copies the policy onto a new key record.
func (p policy) stamp(it map[string]types.AttributeValue) {
	it[AttrKeyRPM] = dynamo.N(p.keyRPM)
	it[AttrWorkspaceRPM] = dynamo.N(p.wsRPM)
	it[AttrCounted] = dynamo.B(p.counted)
	it[attrPolicyVersion] = dynamo.N(p.ver)
}

// guard is the condition, on the environment record, that its policy is
// still the one read; names and values get its placeholders.
func (p policy) guard(names map[string]string, values map[string]types.AttributeValue) string {
	names["#lv"] = attrPolicyVersion
	if p.ver == 0 {
		return "attribute_not_exists(#lv)"
	}
	values[":lv"] = dynamo.N(p.ver)
	return "#lv = :lv"
}

// check is a transaction item that only checks the policy is unchanged.
func (p policy) check(table string) types.TransactWriteItem {
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	cond := p.guard(names, values)
	c := &types.ConditionCheck{TableName: &table, Key: EnvKey(p.workspace, p.env), ConditionExpression: &cond, ExpressionAttributeNames: names}
	if len(values) > 0 {
		c.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{ConditionCheck: c}
}

// rosterUpdate lists add (active) and grace (hash → end) in the roster and
// drops the hashes in drop, as one transaction item.
func (st *Store) rosterUpdate(ws string, env apikey.Env, add []string, grace map[string]time.Time, drop []string) types.TransactWriteItem {
	names := map[string]string{"#k": attrRoster}
	values := map[string]types.AttributeValue{}
	var sets, removes []string
	i := 0
	ph := func(h string) string {
		p := "#h" + strconv.Itoa(i)
		names[p] = h
		i++
		return p
	}
	for _, h := range add {
		sets = append(sets, "#k."+ph(h)+" = :zero")
		values[":zero"] = dynamo.N(0)
	}
	for h, end := range grace {
		v := ":g" + strconv.Itoa(i)
		sets = append(sets, "#k."+ph(h)+" = "+v)
		values[v] = dynamo.Millis(end)
	}
	for _, h := range drop {
		removes = append(removes, "#k."+ph(h))
	}
	var expr string
	if len(sets) > 0 {
		expr = "SET " + strings.Join(sets, ", ")
	}
	if len(removes) > 0 {
		expr = strings.TrimSpace(expr + " REMOVE " + strings.Join(removes, ", "))
	}
	u := &types.Update{
		TableName: &st.table, Key: rosterKey(ws, env), UpdateExpression: &expr,
		ConditionExpression: aws.String("attribute_exists(#k)"), ExpressionAttributeNames: names,
	}
	if len(values) > 0 {
		u.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{Update: u}
}

// roster reads the roster of ws/env: key hash → when it stopped
// authenticating (ms; 0 while it still does with no end set, and a future
// time for a key in its rotation grace period).
func (st *Store) roster(ctx context.Context, ws string, env apikey.Env) (map[string]int64, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: rosterKey(ws, env), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read keys of %s/%s: %w", ws, env, err)
	}
	r := map[string]int64{}
	if m, ok := out.Item[attrRoster].(*types.AttributeValueMemberM); ok {
		for h := range m.Value {
			r[h], _ = dynamo.Int(m.Value, h)
		}
	}
	return r, nil
}

// syncCeiling recomputes the counting mode of ws/env from its limits and
// copies the mode and limits to every key that can authenticate. When the
// workspace starts counting, its record is seeded with the counts its keys
// hold in the current window, so no request admitted before goes uncounted
// (a request in flight during the switch may be counted twice: stricter,
// never looser). It returns the policy now in force.
func (st *Store) syncCeiling(ctx context.Context, ws string, env apikey.Env) (policy, error) {
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		p, err := st.readPolicy(ctx, ws, env)
		if err != nil {
			return policy{}, err
		}
		now := st.now()
		want := needsCeiling(p.keyRPM, p.wsRPM, p.maxKeys)
		seed := want && !p.counted
		names, values := map[string]string{"#wsc": AttrCounted}, map[string]types.AttributeValue{":want": dynamo.B(want), ":nv": dynamo.N(p.ver + 1)}
		cond := p.guard(names, values)
		expr := "SET #wsc = :want, #lv = :nv"
		if seed {
			// Counts left from an earlier counted period, or written by a
			// container that had not yet seen the key-only mode, are all
			// in the key records too: start from those alone.
			w := ratelimit.PerMinute
			cur := w.Cell(now)
			var rm []string
			for i := cur - int64(w.Cells) - int64(w.Stale()); i <= cur+1; i++ {
				ph := "#c" + strconv.Itoa(len(rm))
				names[ph] = ratelimit.Attr(i)
				rm = append(rm, ph)
			}
			expr += " REMOVE " + strings.Join(rm, ", ")
		}
		_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &st.table, Key: EnvKey(ws, env), UpdateExpression: &expr,
			ConditionExpression: aws.String("attribute_exists(pk) AND " + cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
		if dynamo.IsConditionFailed(err) {
			continue // another change of policy won: read again
		}
		if err != nil {
			return policy{}, fmt.Errorf("set counting mode of %s/%s: %w", ws, env, err)
		}
		p.ver, p.counted = p.ver+1, want
		// Every key minted before the version changed is in the roster now.
		sums, err := st.windowCounts(ctx, ws, env, now, &p)
		if err != nil {
			return policy{}, err
		}
		if seed {
			if err := st.seed(ctx, ws, env, sums); err != nil {
				return policy{}, err
			}
		}
		return p, nil
	}
	return policy{}, apierr.New(apierr.Conflict, "The workspace's limits kept changing; retry.")
}

// stampKey writes policy p onto key record h unless it already has a newer
// one, returning the record as it is after the write (nil when skipped).
func (st *Store) stampKey(ctx context.Context, h string, p policy, withItem bool) (map[string]types.AttributeValue, error) {
	in := &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: KeyKey(h),
		UpdateExpression:         aws.String("SET #wsc = :wsc, #k = :k, #w = :w, #lv = :lv"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND (attribute_not_exists(#lv) OR #lv < :lv)"),
		ExpressionAttributeNames: map[string]string{"#wsc": AttrCounted, "#k": AttrKeyRPM, "#w": AttrWorkspaceRPM, "#lv": attrPolicyVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":wsc": dynamo.B(p.counted), ":k": dynamo.N(p.keyRPM), ":w": dynamo.N(p.wsRPM), ":lv": dynamo.N(p.ver),
		},
	}
	if withItem {
		in.ReturnValues = types.ReturnValueAllNew
	}
	out, err := st.db.UpdateItem(ctx, in)
	if dynamo.IsConditionFailed(err) {
		return nil, nil // gone (TTL) or already stamped by a newer change
	}
	if err != nil {
		return nil, fmt.Errorf("set counting mode of a key of %s/%s: %w", p.workspace, p.env, err)
	}
	return out.Attributes, nil
}

// windowCounts sums, per cell of the window at now, the requests counted on
// the keys of ws/env: every key in the roster that authenticated within the
// window, each with its own counts only (a rotated key's inherited counts
// are its predecessor's, summed there while that one is listed). With stamp
// set, it also writes that policy onto every key that still authenticates.
func (st *Store) windowCounts(ctx context.Context, ws string, env apikey.Env, now time.Time, stamp *policy) (map[string]int64, error) {
	r, err := st.roster(ctx, ws, env)
	if err != nil {
		return nil, err
	}
	sums := map[string]int64{}
	stale := staleEntries(r, now)
	for h, end := range r {
		if slices.Contains(stale, h) {
			continue
		}
		var it map[string]types.AttributeValue
		if stamp != nil && (end == 0 || end > now.UnixMilli()) {
			it, err = st.stampKey(ctx, h, *stamp, true)
		}
		if err == nil && it == nil {
			// Not stamped here (it no longer authenticates, or a newer
			// change stamped it): read its counts.
			it, err = st.keyRecord(ctx, h)
		}
		if err != nil {
			return nil, fmt.Errorf("read the counts of a key of %s/%s: %w", ws, env, err)
		}
		inh, _ := it[attrInherited].(*types.AttributeValueMemberM)
		from := dynamo.Str(it, attrInheritedFrom)
		if _, listed := r[from]; !listed {
			inh = nil
		}
		for name := range counterCells(it, now) {
			n, _ := dynamo.Int(it, name)
			if inh != nil {
				v, _ := dynamo.Int(inh.Value, name)
				n -= v
			}
			if n > 0 {
				sums[name] += n
			}
		}
	}
	if stamp != nil {
		st.prune(ctx, ws, env, stale)
	}
	return sums, nil
}

// keyRecord reads the record of the key with hash h (nil when gone).
func (st *Store) keyRecord(ctx context.Context, h string) (map[string]types.AttributeValue, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: KeyKey(h), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// staleEntries lists the keys of roster r that stopped authenticating more
// than a window before now: none of their counts is in the window.
func staleEntries(r map[string]int64, now time.Time) []string {
	since := now.Add(-ratelimit.PerMinute.Length).UnixMilli()
	var stale []string
	for h, end := range r {
		if end != 0 && end < since {
			stale = append(stale, h)
		}
	}
	return stale
}

// pruneRoster drops the stale entries of the roster of ws/env; revocations
// call it so the roster holds about the keys that can still authenticate.
func (st *Store) pruneRoster(ctx context.Context, ws string, env apikey.Env) {
	r, err := st.roster(ctx, ws, env)
	if err == nil {
		st.prune(ctx, ws, env, staleEntries(r, st.now()))
	}
}

// prune drops from the roster keys that stopped authenticating more than a
// window ago. It is housekeeping: a failure is left for the next call.
func (st *Store) prune(ctx context.Context, ws string, env apikey.Env, stale []string) {
	if len(stale) == 0 {
		return
	}
	u := st.rosterUpdate(ws, env, nil, nil, stale[:min(len(stale), 50)]).Update
	_, _ = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
	})
}

// seed adds the keys' counts to the workspace record's cells.
func (st *Store) seed(ctx context.Context, ws string, env apikey.Env, sums map[string]int64) error {
	if len(sums) == 0 {
		return nil
	}
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	var adds []string
	for cell, n := range sums {
		i := strconv.Itoa(len(adds))
		names["#c"+i], values[":n"+i] = cell, dynamo.N(n)
		adds = append(adds, "#c"+i+" :n"+i)
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: EnvKey(ws, env),
		UpdateExpression:    aws.String("ADD " + strings.Join(adds, ", ")),
		ConditionExpression: aws.String("attribute_exists(pk)"), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("seed the workspace counts of %s/%s: %w", ws, env, err)
	}
	return nil
}

// Usage reads where a workspace stands against its ceiling; it needs no
// pepper and only reads.
type Usage struct{ st *Store }

// NewUsage returns a Usage over table.
func NewUsage(db DB, table string, now func() time.Time) *Usage {
	if now == nil {
		now = time.Now
	}
	return &Usage{st: &Store{db: db, table: table, now: now}}
}

// Workspace is the state of the ceiling of ws/env in key-only mode, when no
// record counts it: the sum of its keys' own counts in the window.
func (u *Usage) Workspace(ctx context.Context, ws string, env apikey.Env) (ratelimit.State, error) {
	p, err := u.st.readPolicy(ctx, ws, env)
	if err != nil {
		return ratelimit.State{}, err
	}
	now := u.st.now()
	sums, err := u.st.windowCounts(ctx, ws, env, now, nil)
	if err != nil {
		return ratelimit.State{}, err
	}
	item := make(map[string]types.AttributeValue, len(sums))
	for cell, n := range sums {
		item[cell] = dynamo.N(n)
	}
	return ratelimit.PerMinute.Evaluate(item, now, int(p.wsRPM)), nil
}
