package keystore

// The workspace ceiling (requests per minute across all keys of a workspace
// and environment) costs the authorizer a second counting write per request.
// That write is only worth paying when the ceiling can bind: when the keys
// of the workspace could, together, send more than it allows.
//
// The decision is the workspace's "counting mode", kept on its environment
// record and copied onto every key record (with the limits), so the
// authorizer learns it from the very write that counts the request:
//
//   - counted: keyRpm × max(lines, maxKeys) > wsRpm. The authorizer counts
//     the key and the workspace records in parallel.
//   - key only: otherwise. Every line is held to keyRpm by its own counter,
//     so all of them together cannot pass wsRpm: the workspace record is not
//     written.
//
// A line is a key and its rotations: a key in its rotation grace period
// counts on its successor's record (AttrSuccessor), so a line has one
// counter and adds no capacity. The lines that matter are those that exist
// (however many the plan's maxKeys allows: a downgrade or an override can
// leave more) and those that stopped within the last window, whose counts
// are still in it: lines(now) in the roster.
//
// The roster record lists every key (hash → a number): 0 for a key whose
// line authenticates, a positive time (ms) for a line that stopped then
// (revoked, expired), and minus a time for a rotated key, whose line goes
// on in its successor, authenticating until that time. It also counts the
// lines ever added (attrLineCount): in key-only mode a transaction adding
// one is conditioned on that count staying under the room it read, so
// concurrent creations cannot overfill it. Every transaction that mints a key checks the environment
// record's policy version (attrPolicyVersion), so no key is minted with a
// mode or limits that are being changed; a creation whose new line makes
// the ceiling reachable switches the mode first.
//
// syncCeiling switches the mode and copies it and the limits to every key,
// in the one order that keeps every window under the ceiling:
//
//   - to counted: the environment record is marked counted and "seeding"
//     (AttrSeeding, until a deadline) and its cells cleared; each key is
//     stamped counted, and its counts read from that same write; their sum
//     is added to the workspace cells and the mark removed. A request counted
//     on a key before its stamp is in the sum; one after it is counted on the
//     workspace record too, and while the mark is there the authorizer
//     refuses it (the record does not hold the sum yet). Stricter for a few
//     milliseconds, never looser.
//   - to key only: first every key is stamped with the new limits while
//     still counted, then the mode is switched: by then every line is held to
//     the keyRpm that makes key-only safe, whatever mode its key reads.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
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
	// AttrSeeding, on an environment record switching to counted, is the
	// time (ms) until which its cells may not yet hold the keys' counts.
	AttrSeeding = "seed"
	// attrPolicyVersion changes whenever the mode or limits change.
	attrPolicyVersion = "lver"
	// attrInherited holds the counts a rotated key took over from its
	// predecessor, which also still holds them.
	attrInherited, attrInheritedFrom = "inh", "inhFrom"
	// attrGraceFrom, on a key record, lists the keys in a grace period
	// counting on it (hash → end of grace, ms).
	attrGraceFrom = "gf"
	// attrRoster is the roster record's map of key hashes; attrLineCount
	// counts the lines ever added.
	attrRoster, attrLineCount = "k", "ln"
	rosterSK                  = "ROSTER#"
)

// seedHold bounds how long a switch to counted may keep the authorizer
// refusing a workspace's counted requests if it dies halfway.
const seedHold = 10 * time.Second

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
}

func policyOf(ws string, env apikey.Env, it map[string]types.AttributeValue) policy {
	p := policy{workspace: ws, env: env}
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

// needsCeiling reports whether the workspace ceiling can bind with this
// many lines: whether they, or the plan's maximum of keys if more, each at
// its limit, could exceed it.
func (p policy) needsCeiling(lines int64) bool {
	return p.keyRPM*max(lines, p.maxKeys) > p.wsRPM
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

// roster is the roster record: key hash → 0 (its line authenticates), a
// positive time (its line stopped then) or minus a time (a rotated key,
// authenticating until then), and how many lines were ever added.
type roster struct {
	keys  map[string]int64
	added int64
}

func rosterOf(it map[string]types.AttributeValue) roster {
	r := roster{keys: map[string]int64{}}
	if m, ok := it[attrRoster].(*types.AttributeValueMemberM); ok {
		for h := range m.Value {
			r.keys[h], _ = dynamo.Int(m.Value, h)
		}
	}
	r.added, _ = dynamo.Int(it, attrLineCount)
	return r
}

// windowStart is the earliest time whose counts can be in the window at now.
func windowStart(now time.Time) int64 { return now.Add(-ratelimit.PerMinute.Length).UnixMilli() }

// lines counts the lines whose counts can be in a window from now on: those
// that authenticate and those that stopped within the last window.
func (r roster) lines(now time.Time) int64 {
	since := windowStart(now)
	n := int64(0)
	for _, v := range r.keys {
		if v == 0 || v > since {
			n++
		}
	}
	return n
}

// stale lists the keys that stopped authenticating more than a window
// before now: none of their counts is in the window.
func (r roster) stale(now time.Time) []string {
	since := windowStart(now)
	var out []string
	for h, v := range r.keys {
		if v != 0 && abs(v) < since {
			out = append(out, h)
		}
	}
	return out
}

// authenticates reports whether key h may still authenticate at now.
func (r roster) authenticates(h string, now time.Time) bool {
	v := r.keys[h]
	return v == 0 || abs(v) > now.UnixMilli()
}

// lastGraceEnd is the latest end of grace of a rotated key in r (ms).
func (r roster) lastGraceEnd() int64 {
	end := int64(0)
	for _, v := range r.keys {
		end = max(end, -v)
	}
	return end
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// readState reads the environment record and the roster of ws/env in one
// round trip.
func (st *Store) readState(ctx context.Context, ws string, env apikey.Env) (policy, roster, error) {
	items, err := st.getItems(ctx, EnvKey(ws, env), rosterKey(ws, env))
	if err != nil {
		return policy{}, roster{}, fmt.Errorf("read limits of %s/%s: %w", ws, env, err)
	}
	if items[0] == nil {
		return policy{}, roster{}, apierr.New(apierr.NotFound, "No workspace %s.", ws)
	}
	return policyOf(ws, env, items[0]), rosterOf(items[1]), nil
}

// lineAdd asks a roster update to count one more line; below, when set,
// is the count of lines ever added that it must stay under: the room a
// key-only workspace had, so concurrent additions cannot overfill it.
type lineAdd struct {
	add   bool
	below int64
}

// lineRoom is the roster's line count the lines added must stay below so
// that, at now, the workspace stays key-only under p: none when p counts.
func (p policy) lineRoom(r roster, now time.Time) lineAdd {
	if p.counted || p.keyRPM <= 0 {
		return lineAdd{add: true}
	}
	return lineAdd{add: true, below: r.added + p.wsRPM/p.keyRPM - r.lines(now)}
}

// rosterUpdate sets the roster values in set and drops the hashes in drop,
// as one transaction item, counting a line added as line says.
func (st *Store) rosterUpdate(ws string, env apikey.Env, set map[string]int64, drop []string, line lineAdd) types.TransactWriteItem {
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
	for h, v := range set {
		val := ":v" + strconv.Itoa(i)
		sets = append(sets, "#k."+ph(h)+" = "+val)
		values[val] = dynamo.N(v)
	}
	for _, h := range drop {
		if _, kept := set[h]; !kept && len(removes) < 50 {
			removes = append(removes, "#k."+ph(h))
		}
	}
	cond := "attribute_exists(#k)"
	if line.add {
		names["#ln"] = attrLineCount
		values[":zero"], values[":one"] = dynamo.N(0), dynamo.N(1)
		sets = append(sets, "#ln = if_not_exists(#ln, :zero) + :one")
		if line.below > 0 {
			values[":below"] = dynamo.N(line.below)
			cond += " AND (attribute_not_exists(#ln) OR #ln < :below)"
		}
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
		ConditionExpression: &cond, ExpressionAttributeNames: names,
	}
	if len(values) > 0 {
		u.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{Update: u}
}

// syncCeiling recomputes the counting mode of ws/env from its limits and
// lines (plus extra lines about to be added) and copies the mode and the
// limits to every key that can authenticate, in the order the file comment
// gives. It returns the policy now in force.
func (st *Store) syncCeiling(ctx context.Context, ws string, env apikey.Env, extra int64) (policy, error) {
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		p, r, err := st.readState(ctx, ws, env)
		if err != nil {
			return policy{}, err
		}
		now := st.now()
		want := p.needsCeiling(r.lines(now) + extra)
		var ok bool
		switch {
		case want && !p.counted:
			p, ok, err = st.startCounting(ctx, p, r, now)
		case !want && p.counted:
			// Every key gets the new limits while still counted; only
			// then may any of them stop counting.
			if p, ok, err = st.restamp(ctx, p, r, now, true); ok && err == nil {
				p, ok, err = st.restamp(ctx, p, r, now, false)
			}
		default:
			p, ok, err = st.restamp(ctx, p, r, now, p.counted)
		}
		if err != nil {
			return policy{}, err
		}
		if !ok {
			continue // another change of policy won: read again
		}
		if stale := r.stale(now); len(stale) > 0 {
			st.updateRoster(ctx, st.rosterUpdate(ws, env, nil, stale, lineAdd{}))
		}
		return p, nil
	}
	return policy{}, apierr.New(apierr.Conflict, "The workspace's limits kept changing; retry.")
}

// setMode moves the environment record from policy p to the next version
// with mode counted, plus extra (an update expression fragment after SET,
// and REMOVE parts). It reports false when p is no longer current.
func (st *Store) setMode(ctx context.Context, p policy, counted bool, set []string, remove []string,
	names map[string]string, values map[string]types.AttributeValue) (policy, bool, error) {
	names["#wsc"] = AttrCounted
	values[":want"], values[":nv"] = dynamo.B(counted), dynamo.N(p.ver+1)
	cond := p.guard(names, values)
	expr := "SET " + strings.Join(append([]string{"#wsc = :want", "#lv = :nv"}, set...), ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: EnvKey(p.workspace, p.env), UpdateExpression: &expr,
		ConditionExpression: aws.String("attribute_exists(pk) AND " + cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if dynamo.IsConditionFailed(err) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("set counting mode of %s/%s: %w", p.workspace, p.env, err)
	}
	p.ver, p.counted = p.ver+1, counted
	return p, true, nil
}

// restamp moves the policy to the next version in mode counted and stamps
// every key that can authenticate with it.
func (st *Store) restamp(ctx context.Context, p policy, r roster, now time.Time, counted bool) (policy, bool, error) {
	p, ok, err := st.setMode(ctx, p, counted, nil, nil, map[string]string{}, map[string]types.AttributeValue{})
	if err != nil || !ok {
		return p, ok, err
	}
	_, err = st.stampAll(ctx, p, r, now, false)
	return p, true, err
}

// startCounting switches ws/env to counted and seeds its cells with the
// counts its keys hold in the window (see the file comment).
func (st *Store) startCounting(ctx context.Context, p policy, r roster, now time.Time) (policy, bool, error) {
	mark := dynamo.N(now.Add(seedHold).UnixMilli())
	names, values := map[string]string{"#seed": AttrSeeding}, map[string]types.AttributeValue{":seed": mark}
	// Cells left from an earlier counted period, or written by a container
	// that had not yet seen the key-only mode, are in the key records too:
	// start from those alone.
	w := ratelimit.PerMinute
	cur := w.Cell(now)
	var rm []string
	for i := cur - int64(w.Cells) - int64(w.Stale()); i <= cur+1; i++ {
		ph := "#c" + strconv.Itoa(len(rm))
		names[ph] = ratelimit.Attr(i)
		rm = append(rm, ph)
	}
	p, ok, err := st.setMode(ctx, p, true, []string{"#seed = :seed"}, rm, names, values)
	if err != nil || !ok {
		return p, ok, err
	}
	sums, err := st.stampAll(ctx, p, r, now, true)
	if err != nil {
		return p, true, err
	}
	names, values = map[string]string{"#seed": AttrSeeding}, map[string]types.AttributeValue{":seed": mark}
	var adds []string
	for cell, n := range sums {
		i := strconv.Itoa(len(adds))
		names["#c"+i], values[":n"+i] = cell, dynamo.N(n)
		adds = append(adds, "#c"+i+" :n"+i)
	}
	expr := "REMOVE #seed"
	if len(adds) > 0 {
		expr = "ADD " + strings.Join(adds, ", ") + " " + expr
	}
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: EnvKey(p.workspace, p.env), UpdateExpression: &expr,
		ConditionExpression: aws.String("#seed = :seed"), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if err != nil && !dynamo.IsConditionFailed(err) { // failed: a newer change of policy took over
		return p, true, fmt.Errorf("seed the workspace counts of %s/%s: %w", p.workspace, p.env, err)
	}
	return p, true, nil
}

// stampAll writes policy p onto every key of roster r that can still
// authenticate, in parallel; with sum, it returns, per cell of the window at
// now, the requests counted on the keys of r whose counts can be in it, each
// record with its own counts only (a rotated key's inherited counts are its
// predecessor's, summed there while that one is listed), read from the very
// write that stamped it.
func (st *Store) stampAll(ctx context.Context, p policy, r roster, now time.Time, sum bool) (map[string]int64, error) {
	stale := map[string]bool{}
	for _, h := range r.stale(now) {
		stale[h] = true
	}
	var (
		mu       sync.Mutex
		records  = map[string]map[string]types.AttributeValue{}
		unread   []map[string]types.AttributeValue
		firstErr error
		wg       sync.WaitGroup
		slots    = make(chan struct{}, 16)
	)
	for h := range r.keys {
		switch {
		case stale[h]:
		case r.authenticates(h, now):
			wg.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				it, err := st.stampKey(ctx, h, p, sum)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
				case it != nil:
					records[h] = it
				case sum: // a newer change stamped it: read its counts
					unread = append(unread, KeyKey(h))
				}
			})
		case sum:
			mu.Lock()
			unread = append(unread, KeyKey(h))
			mu.Unlock()
		}
	}
	wg.Wait()
	if firstErr != nil || !sum {
		return nil, firstErr
	}
	for len(unread) > 0 {
		batch := unread[:min(len(unread), 100)]
		unread = unread[len(batch):]
		items, err := st.getItems(ctx, batch...)
		if err != nil {
			return nil, fmt.Errorf("read the counts of the keys of %s/%s: %w", p.workspace, p.env, err)
		}
		for i, it := range items {
			if it != nil {
				records[strings.TrimPrefix(dynamo.Str(batch[i], attrPK), KeyPKPrefix)] = it
			}
		}
	}
	sums := map[string]int64{}
	for _, it := range records {
		_, listed := r.keys[dynamo.Str(it, attrInheritedFrom)]
		addOwnCounts(sums, it, listed, now)
	}
	return sums, nil
}

// addOwnCounts adds to sums, per cell of the window at now, the requests
// counted on key record it itself: less the counts it inherited from its
// predecessor when that one is summed too (withPredecessor), which holds
// them as well. It returns how many it added.
func addOwnCounts(sums map[string]int64, it map[string]types.AttributeValue, withPredecessor bool, now time.Time) int64 {
	inh, _ := it[attrInherited].(*types.AttributeValueMemberM)
	if !withPredecessor {
		inh = nil
	}
	added := int64(0)
	for name := range counterCells(it, now) {
		n, _ := dynamo.Int(it, name)
		if inh != nil {
			v, _ := dynamo.Int(inh.Value, name)
			n -= v
		}
		if n > 0 {
			sums[name] += n
			added += n
		}
	}
	return added
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

// updateRoster applies a roster update on its own. It is housekeeping
// (dropping stale entries): a failure is left for the next call.
func (st *Store) updateRoster(ctx context.Context, item types.TransactWriteItem) {
	u := item.Update
	_, _ = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
		ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
}

// Usage reads where a workspace stands against its ceiling; it needs no
// pepper and only reads.
type Usage struct {
	db    DB
	table string
	now   func() time.Time
}

// NewUsage returns a Usage over table.
func NewUsage(db DB, table string, now func() time.Time) *Usage {
	if now == nil {
		now = time.Now
	}
	return &Usage{db: db, table: table, now: now}
}

// Caller is the key a Usage read is for, as the authorizer saw it: its id
// and the requests its line has in the window, this one included.
type Caller struct {
	KeyID string
	Count int
}

// Workspace is the state of the ceiling (limit) of ws/env in key-only
// mode, when no record counts it: the sum of its keys' own counts in the
// window, from one query of the key list index (keys that could count
// within the window). The index trails the table by a fraction of a second; the
// caller's own line is counted from the authorizer's figure when the index
// has not caught up with it.
func (u *Usage) Workspace(ctx context.Context, ws string, env apikey.Env, limit int, c Caller) (ratelimit.State, error) {
	now := u.now()
	in := &dynamodb.QueryInput{
		TableName: &u.table, IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		FilterExpression:          aws.String("(attribute_not_exists(#rev) OR #rev >= :since) AND (attribute_not_exists(#exp) OR #exp >= :since)"),
		ExpressionAttributeNames:  map[string]string{"#rev": AttrRevokedAt, "#exp": AttrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": dynamo.S(listPK(ws, env)), ":since": dynamo.N(windowStart(now))},
	}
	var records []map[string]types.AttributeValue
	for {
		page, err := u.db.Query(ctx, in)
		if err != nil {
			return ratelimit.State{}, fmt.Errorf("workspace usage of %s/%s: %w", ws, env, err)
		}
		records = append(records, page.Items...)
		if page.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	present := map[string]bool{}
	counter := "" // the hash of the record the caller's line counts on
	for _, it := range records {
		h := strings.TrimPrefix(dynamo.Str(it, attrPK), KeyPKPrefix)
		present[h] = true
		if dynamo.Str(it, AttrID) == c.KeyID {
			counter = h
			if s := dynamo.Str(it, AttrSuccessor); s != "" {
				counter = s
			}
		}
	}
	sums := map[string]int64{}
	line := int64(0)
	for _, it := range records {
		h := strings.TrimPrefix(dynamo.Str(it, attrPK), KeyPKPrefix)
		n := addOwnCounts(sums, it, present[dynamo.Str(it, attrInheritedFrom)], now)
		if h == counter || (counter != "" && dynamo.Str(it, AttrSuccessor) == counter) {
			line += n
		}
	}
	if missing := int64(c.Count) - line; missing > 0 {
		sums[ratelimit.Attr(ratelimit.PerMinute.Cell(now))] += missing
	}
	item := make(map[string]types.AttributeValue, len(sums))
	for cell, n := range sums {
		item[cell] = dynamo.N(n)
	}
	return ratelimit.PerMinute.Evaluate(item, now, limit), nil
}
