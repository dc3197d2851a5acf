// Package usage is what keys and renders used: requests per key by outcome
// (admitted, rate limited, forbidden) per minute for two days, per hour for
// 31 days and per day for 400, and render seconds per environment at the
// same resolutions, served by GET /v1/usage.
//
// Requests are counted by the authorizer's own counting write, in per-minute
// cells on the key's record (package keystore): no call of their own. This
// package moves completed minutes from the record into the history, each
// move one transaction that removes the cells it read (on the condition that
// they still hold what was read) and adds them to the minute, hour and day
// items: exactly once, whoever moves them. The scheduled sweep (NewWorker)
// moves them every ten minutes, so a record holds at most a quarter of an
// hour of cells. The same transaction notes, per key, the minute before
// which everything was moved. A read (one round trip: three queries in
// parallel) takes the history, those notes, and the cells still on the key
// records from the key index, counting a record's cell only from its key's
// note on: a copy of the index that trails a move by a moment cannot count
// a minute twice. Render seconds are added to the history by the
// transaction that records a render as succeeded (package videos).
package usage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/keystore"
)

// Granularities, and how long each is kept.
type Granularity string

// The three.
const (
	Minute Granularity = "minute"
	Hour   Granularity = "hour"
	Day    Granularity = "day"
)

// Kept is how far back a granularity reaches.
func (g Granularity) Kept() time.Duration {
	switch g {
	case Minute:
		return 48 * time.Hour
	case Hour:
		return 31 * 24 * time.Hour
	}
	return 400 * 24 * time.Hour
}

// Step is a bucket's length (a day is 24 hours: usage is in UTC).
func (g Granularity) Step() time.Duration {
	switch g {
	case Minute:
		return time.Minute
	case Hour:
		return time.Hour
	}
	return 24 * time.Hour
}

// History items in the keys table, one partition per workspace and
// environment. Each holds the cells of one period at the next resolution
// down (an hour's minutes, a day's hours, a month's days), named by outcome
// and index: a07 (admitted in minute 7), q07, f07, s07 (render seconds).
//
//	USAGE#<ws>#<env>  M#<hour>#<keyId>   H#<day>#<keyId>   D#<month>#<keyId>
//	                  M#<hour>#~render   H#<day>#~render   D#<month>#~render
//
// hour and day count from the Unix epoch, month is year*12 + month-1 (UTC).
const (
	renderID  = "~render" // sorts after every key id
	attrPK    = "pk"
	attrSK    = "sk"
	attrTTL   = "ttl"
	admitted  = 'a'
	limited   = 'q'
	forbidden = 'f'
	seconds   = 's'
)

func partition(ws string, env apikey.Env) string { return "USAGE#" + ws + "#" + string(env) }

// movedSK is the key of a key's note of how far its usage was moved.
func movedSK(keyID string) string { return movedPrefix + keyID }

const (
	movedPrefix = "K#"
	attrMoved   = "movedBefore"
)

// period is one history item's period: its level, its number and the index
// of a time within it.
type period struct {
	level byte // 'M', 'H' or 'D'
	n     int64
}

func (p period) sk(id string) string { return fmt.Sprintf("%c#%08d#%s", p.level, p.n, id) }

// end is when the period ends, for its TTL.
func (p period) end() time.Time {
	switch p.level {
	case 'M':
		return time.Unix((p.n+1)*3600, 0)
	case 'H':
		return time.Unix((p.n+1)*86400, 0)
	}
	y, m := int(p.n/12), time.Month(p.n%12+1)
	return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}

// keep is how long after its period an item stays.
func (p period) keep() time.Duration {
	switch p.level {
	case 'M':
		return Minute.Kept()
	case 'H':
		return Hour.Kept()
	}
	return Day.Kept()
}

// periods are the three items a time falls in, each with the index of the
// time within it.
func periods(t time.Time) [3]struct {
	p   period
	idx int
} {
	t = t.UTC()
	return [3]struct {
		p   period
		idx int
	}{
		{period{'M', t.Unix() / 3600}, t.Minute()},
		{period{'H', t.Unix() / 86400}, t.Hour()},
		{period{'D', int64(t.Year())*12 + int64(t.Month()) - 1}, t.Day() - 1},
	}
}

func cell(kind byte, idx int) string { return fmt.Sprintf("%c%02d", kind, idx) }

// adds gathers the ADDs of one transaction by item.
type adds map[string]map[string]float64 // sk → cell → amount

func (a adds) add(at time.Time, id string, kind byte, v float64) {
	if v == 0 {
		return
	}
	for _, pi := range periods(at) {
		sk := pi.p.sk(id)
		if a[sk] == nil {
			a[sk] = map[string]float64{}
		}
		a[sk][cell(kind, pi.idx)] += v
	}
}

// items are the Update items that apply a to the history of ws/env.
func (a adds) items(table, ws string, env apikey.Env) []types.TransactWriteItem {
	sks := make([]string, 0, len(a))
	for sk := range a {
		sks = append(sks, sk)
	}
	sort.Strings(sks)
	out := make([]types.TransactWriteItem, 0, len(sks))
	for _, sk := range sks {
		names, values := map[string]string{"#ttl": attrTTL}, map[string]types.AttributeValue{}
		var parts []string
		cells := make([]string, 0, len(a[sk]))
		for c := range a[sk] {
			cells = append(cells, c)
		}
		sort.Strings(cells)
		for i, c := range cells {
			n, v := "#c"+strconv.Itoa(i), ":v"+strconv.Itoa(i)
			names[n], values[v] = c, dynamo.F(a[sk][c])
			parts = append(parts, n+" "+v)
		}
		p := periodOf(sk)
		values[":ttl"] = dynamo.N(p.end().Add(p.keep()).Unix())
		out = append(out, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(table),
			Key:       map[string]types.AttributeValue{attrPK: dynamo.S(partition(ws, env)), attrSK: dynamo.S(sk)},
			// The TTL is the same on every write of the item.
			UpdateExpression:          aws.String("ADD " + strings.Join(parts, ", ") + " SET #ttl = :ttl"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}})
	}
	return out
}

func periodOf(sk string) period {
	var p period
	p.level = sk[0]
	p.n, _ = strconv.ParseInt(sk[2:10], 10, 64)
	return p
}

// RenderSeconds are the transaction items that add a render of secs
// seconds, finished at, to the history of ws/env: the videos store writes
// them with the render's success, so each render counts once.
func RenderSeconds(table, ws string, env apikey.Env, secs float64, at time.Time) []types.TransactWriteItem {
	a := adds{}
	a.add(at, renderID, seconds, secs)
	return a.items(table, ws, env)
}

// DB is the part of the DynamoDB client the store uses.
type DB = keystore.DB

// Store reads and moves usage in the keys table.
type Store struct {
	db    DB
	table string
	keys  *keystore.Usage
	now   func() time.Time
}

// NewStore returns the usage store of the keys table.
func NewStore(db DB, table string, now func() time.Time) (*Store, error) {
	if db == nil || table == "" {
		return nil, errors.New("usage: db and table are required")
	}
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, table: table, keys: keystore.NewUsage(db, table, now), now: now}, nil
}

// counts are one key record's cells, by minute.
type counts map[int64]*[3]int64 // minute → counted, rate limited, forbidden

func cellsOf(it map[string]types.AttributeValue) (counts, map[string]string) {
	c, raw := counts{}, map[string]string{}
	for name, av := range it {
		o, m, ok := keystore.ParseUsageAttr(name)
		if !ok {
			continue
		}
		n, ok := av.(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			continue
		}
		if c[m] == nil {
			c[m] = &[3]int64{}
		}
		switch o {
		case keystore.UsageCounted:
			c[m][0] = v
		case keystore.UsageLimited:
			c[m][1] = v
		case keystore.UsageForbidden:
			c[m][2] = v
		}
		raw[name] = n.Value
	}
	return c, raw
}

var errChanged = errors.New("the key's usage cells changed while they were moved")

// open is the first minute still open at now: the authorizer may still
// add to it and to the one before (a request that started then).
func open(now time.Time) int64 { return keystore.UsageMinute(now) - 1 }

// move moves the completed minutes of key record it into the history, in
// one transaction whose condition is that the cells still hold what was
// read. It reports whether it moved any; errChanged when they changed.
func (st *Store) move(ctx context.Context, it map[string]types.AttributeValue, now time.Time) (bool, error) {
	c, raw := cellsOf(it)
	before := open(now)
	ws, env, id := dynamo.Str(it, keystore.AttrWorkspace), apikey.Env(dynamo.Str(it, keystore.AttrEnv)), dynamo.Str(it, keystore.AttrID)
	a := adds{}
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	var conds, removes []string
	for name, v := range raw {
		_, m, _ := keystore.ParseUsageAttr(name)
		if m >= before {
			continue
		}
		i := strconv.Itoa(len(removes))
		names["#u"+i], values[":u"+i] = name, &types.AttributeValueMemberN{Value: v}
		conds = append(conds, "#u"+i+" = :u"+i)
		removes = append(removes, "#u"+i)
	}
	if len(removes) == 0 {
		return false, nil
	}
	for m, v := range c {
		if m >= before {
			continue
		}
		at := time.Unix(m*60, 0)
		a.add(at, id, admitted, float64(v[0]-v[1]-v[2]))
		a.add(at, id, limited, float64(v[1]))
		a.add(at, id, forbidden, float64(v[2]))
	}
	items := append([]types.TransactWriteItem{{Update: &types.Update{
		TableName: &st.table, Key: map[string]types.AttributeValue{attrPK: it[attrPK], attrSK: it[attrSK]},
		UpdateExpression:          aws.String("REMOVE " + strings.Join(removes, ", ")),
		ConditionExpression:       aws.String("attribute_exists(pk) AND " + strings.Join(conds, " AND ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}, {Update: &types.Update{
		// The key's note: its cells before this minute are in the history.
		TableName: &st.table, Key: map[string]types.AttributeValue{attrPK: dynamo.S(partition(ws, env)), attrSK: dynamo.S(movedSK(id))},
		UpdateExpression:          aws.String("SET #mv = :mv, #ttl = :ttl"),
		ExpressionAttributeNames:  map[string]string{"#mv": attrMoved, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":mv": dynamo.N(before), ":ttl": dynamo.N(now.Add(Day.Kept()).Unix())},
	}}}, a.items(st.table, ws, env)...)
	_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if r := dynamo.CancelReasons(err); r != nil {
		return false, errChanged
	}
	if err != nil {
		return false, fmt.Errorf("move the usage of key %s: %w", id, err)
	}
	return true, nil
}

// settle moves the completed minutes of the key with hash h, reading its
// record again until they are moved (by this call or by another), and
// returns the record as it is left: with only open minutes.
func (st *Store) settle(ctx context.Context, h string, now time.Time) (map[string]types.AttributeValue, error) {
	for attempt := 0; attempt < dynamo.Attempts; attempt++ {
		it, err := st.keys.Record(ctx, h)
		if err != nil || it == nil {
			return it, err
		}
		moved, err := st.move(ctx, it, now)
		if errors.Is(err, errChanged) {
			continue
		}
		if err != nil || !moved {
			return it, err
		}
	}
	return nil, fmt.Errorf("move the usage of a key: %w", errChanged)
}

// Sweep moves the completed minutes of every key of ws/env that has any.
// It returns how many keys it moved usage of.
func (st *Store) Sweep(ctx context.Context, ws string, env apikey.Env) (int, error) {
	recs, err := st.keys.Records(ctx, ws, env)
	if err != nil {
		return 0, err
	}
	now := st.now()
	n := 0
	for _, it := range recs {
		if !hasClosed(it, now) {
			continue
		}
		if _, err := st.settle(ctx, keystore.HashOf(it), now); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func hasClosed(it map[string]types.AttributeValue, now time.Time) bool {
	before := open(now)
	for name := range it {
		if _, m, ok := keystore.ParseUsageAttr(name); ok && m < before {
			return true
		}
	}
	return false
}

// SweepAll sweeps every workspace's environments.
func (st *Store) SweepAll(ctx context.Context) (int, error) {
	wss, err := st.keys.Workspaces(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, w := range wss {
		for _, env := range []apikey.Env{apikey.Live, apikey.Test} {
			n, err := st.Sweep(ctx, w.ID, env)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// Counts are requests by outcome.
type Counts struct {
	Admitted    int64 `json:"admitted"`
	RateLimited int64 `json:"rateLimited"`
	Forbidden   int64 `json:"forbidden"`
}

// Series are the requests of each bucket by outcome.
type Series struct {
	Admitted, RateLimited, Forbidden []int64
}

func newSeries(n int) Series {
	return Series{Admitted: make([]int64, n), RateLimited: make([]int64, n), Forbidden: make([]int64, n)}
}

func (s Series) total() Counts {
	var c Counts
	for i := range s.Admitted {
		c.Admitted += s.Admitted[i]
		c.RateLimited += s.RateLimited[i]
		c.Forbidden += s.Forbidden[i]
	}
	return c
}

// KeyUsage is one key's usage.
type KeyUsage struct {
	KeyID      string
	LastUsedAt *time.Time
	Series     Series
}

// Report is the usage of a workspace's environment over [From, To).
type Report struct {
	Granularity   Granularity
	From, To      time.Time
	Total         Series
	Keys          []KeyUsage
	RenderSeconds []float64
}

// Query selects a report.
type Query struct {
	Granularity Granularity
	From, To    time.Time // aligned to the granularity
	KeyID       string    // only this key ("" for all)
}

// Read reports the usage of ws/env: the history, after moving what has
// completed into it, and the minutes still open on the keys' records.
func (st *Store) Read(ctx context.Context, ws string, env apikey.Env, q Query) (Report, error) {
	now := st.now()
	step := q.Granularity.Step()
	n := int(q.To.Sub(q.From) / step)
	rep := Report{Granularity: q.Granularity, From: q.From, To: q.To, Total: newSeries(n), RenderSeconds: make([]float64, n)}
	byKey := map[string]*KeyUsage{}
	key := func(id string) *KeyUsage {
		k := byKey[id]
		if k == nil {
			k = &KeyUsage{KeyID: id, Series: newSeries(n)}
			byKey[id] = k
		}
		return k
	}
	bucket := func(at time.Time) int {
		if at.Before(q.From) || !at.Before(q.To) {
			return -1
		}
		return int(at.Sub(q.From) / step)
	}
	put := func(id string, at time.Time, kind byte, v float64) {
		i := bucket(at)
		if i < 0 || (q.KeyID != "" && id != q.KeyID && id != renderID) {
			return
		}
		if id == renderID {
			rep.RenderSeconds[i] += v
			return
		}
		s := key(id).Series
		for _, dst := range []Series{s, rep.Total} {
			switch kind {
			case admitted:
				dst.Admitted[i] += int64(v)
			case limited:
				dst.RateLimited[i] += int64(v)
			case forbidden:
				dst.Forbidden[i] += int64(v)
			}
		}
	}

	// One round trip: the key records (cells not yet moved), the history
	// and the notes of how far each key's cells were moved, in parallel.
	level := map[Granularity]byte{Minute: 'M', Hour: 'H', Day: 'D'}[q.Granularity]
	first, last := periods(q.From)[levelIndex(level)].p, periods(q.To.Add(-time.Nanosecond))[levelIndex(level)].p
	var records, history, notes []map[string]types.AttributeValue
	err := dynamo.Together(
		func() (err error) { records, err = st.keys.Records(ctx, ws, env); return err },
		func() (err error) {
			history, err = st.query(ctx, partition(ws, env), first.sk(""), last.sk("~~"))
			return err
		},
		func() (err error) {
			notes, err = st.query(ctx, partition(ws, env), movedPrefix, movedPrefix+"~")
			return err
		})
	if err != nil {
		return Report{}, fmt.Errorf("read the usage of %s/%s: %w", ws, env, err)
	}
	moved := map[string]int64{}
	for _, it := range notes {
		moved[strings.TrimPrefix(dynamo.Str(it, attrSK), movedPrefix)], _ = dynamo.Int(it, attrMoved)
	}
	for _, k := range records {
		id := dynamo.Str(k, keystore.AttrID)
		if lu := dynamo.Time(k, keystore.AttrLastUsed); lu != nil && (q.KeyID == "" || id == q.KeyID) {
			key(id).LastUsedAt = lu
		}
		c, _ := cellsOf(k)
		for m, v := range c {
			if m < moved[id] {
				continue // in the history already (the index trails the move)
			}
			at := time.Unix(m*60, 0)
			put(id, at, admitted, float64(v[0]-v[1]-v[2]))
			put(id, at, limited, float64(v[1]))
			put(id, at, forbidden, float64(v[2]))
		}
	}
	for _, it := range history {
		sk := dynamo.Str(it, attrSK)
		p := periodOf(sk)
		id := sk[11:]
		if ttl, ok := dynamo.Int(it, attrTTL); ok && ttl <= now.Unix() {
			continue
		}
		for name := range it {
			if len(name) != 3 || strings.IndexByte("aqfs", name[0]) < 0 {
				continue
			}
			idx, err := strconv.Atoi(name[1:])
			if err != nil {
				continue
			}
			v, _ := dynamo.Float(it, name)
			put(id, p.at(idx), name[0], v)
		}
	}
	ids := make([]string, 0, len(byKey))
	for id := range byKey {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rep.Keys = append(rep.Keys, *byKey[id])
	}
	return rep, nil
}

func levelIndex(level byte) int { return strings.IndexByte("MHD", level) }

// at is the start of index idx within the period.
func (p period) at(idx int) time.Time {
	switch p.level {
	case 'M':
		return time.Unix(p.n*3600+int64(idx)*60, 0).UTC()
	case 'H':
		return time.Unix(p.n*86400+int64(idx)*3600, 0).UTC()
	}
	return time.Date(int(p.n/12), time.Month(p.n%12+1), idx+1, 0, 0, 0, 0, time.UTC)
}

// query reads the items of partition pk with sort keys from lo to hi,
// consistently.
func (st *Store) query(ctx context.Context, pk, lo, hi string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName: &st.table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": dynamo.S(pk), ":lo": dynamo.S(lo), ":hi": dynamo.S(hi),
		},
	}
	var out []map[string]types.AttributeValue
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
