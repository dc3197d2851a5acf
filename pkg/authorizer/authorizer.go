// Package authorizer is the Lambda REQUEST authorizer: it finds the key in
// the request, rejects malformed ones offline, and counts the request with
// one atomic write on the key's record, whose returned item carries
// everything that can change (revoked, expired, scopes, limits, counts).
// When the workspace ceiling can bind (keystore's counting mode), a second
// write counts it on the workspace's record, in parallel; a key in its
// rotation grace period counts on its replacement's record. Authentication
// failures are a Deny with a code and message for the gateway response;
// authorization and limit verdicts travel in the Allow context to the shared
// handler middleware.
//
// A container that has seen a key (or its workspace) refused remembers it
// until the oldest counted cell of that counter leaves the window, the
// first moment the counter could admit again (for ten seconds at most, so
// that a raised limit shows): meanwhile the key's requests are refused
// with no DynamoDB call (memory.go, docs/rate-limits.md).
package authorizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
)

// atMostOnce turns the SDK's retries off for one call.
func atMostOnce(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

// DB is the one DynamoDB call the authorizer makes.
type DB interface {
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Config wires an Authorizer.
type Config struct {
	DB     DB
	Table  string
	Hasher *apikey.Hasher
	Now    func() time.Time
	Logger *slog.Logger
	// Window is the rate-limit window; ratelimit.PerMinute when zero.
	Window ratelimit.Window
	// CacheSize bounds the per-container cache of what never changes for a
	// key (its workspace); 10 000 when zero.
	CacheSize int
	// RefusalHorizon bounds how long a refusal is remembered, however long
	// the window takes to free capacity: the container learns of a plan
	// change or override raise only from DynamoDB. DefaultRefusalHorizon
	// when zero.
	RefusalHorizon time.Duration
}

// DefaultRefusalHorizon is how long at most a container refuses a full
// counter from memory: a limit raised meanwhile reaches it within that
// (one cell of the window). A client refused all along costs two calls
// per horizon and container.
const DefaultRefusalHorizon = 10 * time.Second

// Authorizer decides requests.
type Authorizer struct {
	db     DB
	table  string
	hasher *apikey.Hasher
	now    func() time.Time
	log    *slog.Logger
	window ratelimit.Window

	mu        sync.Mutex
	workspace map[string]wsEntry // key hash → its workspace
	refusals  map[string]refusal // refused counters, until they can admit again
	cacheSize int
	horizon   time.Duration

	names atomic.Pointer[cellNames]
	bg    sync.WaitGroup
}

// NewAuthorizer returns an Authorizer; DB, Table and Hasher are required.
func NewAuthorizer(c Config) (*Authorizer, error) {
	if c.DB == nil || c.Table == "" || c.Hasher == nil {
		return nil, errors.New("authorizer: DB, Table and Hasher are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Window == (ratelimit.Window{}) {
		c.Window = ratelimit.PerMinute
	}
	if err := c.Window.Validate(); err != nil {
		return nil, err
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10000
	}
	if c.RefusalHorizon <= 0 {
		c.RefusalHorizon = DefaultRefusalHorizon
	}
	return &Authorizer{
		db: c.DB, table: c.Table, hasher: c.Hasher, now: c.Now, log: c.Logger, window: c.Window,
		workspace: map[string]wsEntry{}, refusals: map[string]refusal{}, cacheSize: c.CacheSize, horizon: c.RefusalHorizon,
	}, nil
}

// Wait blocks until background cleanups finish (tests and shutdown).
func (a *Authorizer) Wait() { a.bg.Wait() }

// Prime opens the DynamoDB connection during init with a conditional write
// that can never match, so the first real request does not pay the TLS
// handshake.
func Prime(ctx context.Context, db DB, table string) error {
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &table,
		Key:                       keystore.KeyKey("prime"),
		UpdateExpression:          aws.String("SET #x = :x"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#x": "x"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberN{Value: "0"}},
	})
	if err != nil && !dynamo.IsConditionFailed(err) {
		return fmt.Errorf("prime dynamodb: %w", err)
	}
	return nil
}

// Handle is the Lambda handler.
func (a *Authorizer) Handle(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	key, present := ExtractKey(req.Headers)
	parse := apikey.Parse
	if !present {
		// No key: the console's session, if the page sent one. A session
		// record is shaped like a key's, so the rest is the key's path.
		key, present = ExtractSession(req.Headers, req.MultiValueHeaders)
		parse = apikey.ParseSession
	}
	if !present {
		return deny(req.MethodArn, apierr.MissingAPIKey, "No API key: send it as 'Authorization: Bearer <key>' or in the 'x-api-key' header."), nil
	}
	env, err := parse(key)
	if err != nil {
		return deny(req.MethodArn, apierr.InvalidAPIKey, "The API key is not valid."), nil
	}
	need, ok := scopes.Route(req.HTTPMethod, req.Resource)
	if !ok {
		// A route the scope table does not know is a deployment error: fail closed.
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("no scope rule for %s %s", req.HTTPMethod, req.Resource)
	}
	d, err := a.decide(ctx, key, env)
	if err != nil {
		a.log.ErrorContext(ctx, "authorizer failed closed", "err", err, "route", req.HTTPMethod+" "+req.Resource)
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("authorizer unavailable")
	}
	if d.denyCode != "" {
		return deny(req.MethodArn, d.denyCode, d.denyMessage), nil
	}
	v := d.verdict
	switch {
	case v.Outcome != ratelimit.Allow:
	case need.Scope != "" && !hasScope(v.Scopes, string(need.Scope)):
		v.Outcome, v.RequiredScope = ratelimit.InsufficientScope, string(need.Scope)
		// Counted, but not admitted: its usage says forbidden.
		a.note(ctx, keystore.KeyKey(a.hasher.Hash(key)), keystore.UsageForbidden, d.at)
	}
	return allow(req.MethodArn, v), nil
}

// keyFacts are the parts of a key record a verdict needs, read without the
// full decode (the hot path's allocations are the authorizer's cost).
type keyFacts struct {
	id, ws, env, kind, role, scopes string
	expiresMS                       int64
	expires                         bool
	counted                         bool   // the workspace ceiling is counted too
	succ                            string // in a grace period: the record counting it
}

func factsOf(it map[string]types.AttributeValue) keyFacts {
	f := keyFacts{id: dynamo.Str(it, keystore.AttrID), ws: dynamo.Str(it, keystore.AttrWorkspace), env: dynamo.Str(it, keystore.AttrEnv),
		kind: dynamo.Str(it, keystore.AttrKind), role: dynamo.Str(it, keystore.AttrRole)}
	f.expiresMS, f.expires = dynamo.Int(it, keystore.AttrExpiresAt)
	f.counted = recordCounted(it)
	f.succ = dynamo.Str(it, keystore.AttrSuccessor)
	// The role's scopes as they are now (keys made before a scope existed
	// get it too); the record's stored list is not consulted.
	f.scopes = scopes.Join(scopes.Of(scopes.Role(f.role)))
	return f
}

// hasScope reports whether the space-separated list holds scope.
func hasScope(list, scope string) bool {
	for f := range strings.FieldsSeq(list) {
		if f == scope {
			return true
		}
	}
	return false
}

// ExtractKey finds the key in "Authorization: Bearer <key>" or "x-api-key".
// Header names are matched case-insensitively, as HTTP requires. A present
// but unusable header (another auth scheme) yields an empty key that fails
// the format check.
func ExtractKey(h map[string]string) (string, bool) {
	for name, v := range h {
		if len(name) == len("authorization") && strings.EqualFold(name, "authorization") {
			v = strings.TrimSpace(v)
			if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				return strings.TrimSpace(v[7:]), true
			}
			return "", v != ""
		}
	}
	for name, v := range h {
		if len(name) == len("x-api-key") && strings.EqualFold(name, "x-api-key") {
			v = strings.TrimSpace(v)
			return v, v != ""
		}
	}
	return "", false
}

// ConsoleHeader names the environment whose console session cookie a
// request uses. A cookie alone is never a credential: a page of another
// site can make the browser send cookies, but not this header (a
// cross-origin request with it needs a CORS preflight, which the API never
// grants), so the header is the console's CSRF guard.
const ConsoleHeader = "X-Framegate-Console"

// ConsoleCookie is the name of the cookie holding the console session of env.
func ConsoleCookie(env apikey.Env) string { return "fg_console_" + string(env) }

// ExtractSession finds a console session token: the cookie of the
// environment named by the ConsoleHeader. Browsers send one Cookie header;
// HTTP/2 may split it, so every value is read.
func ExtractSession(h map[string]string, mv map[string][]string) (string, bool) {
	var env apikey.Env
	for name, v := range h {
		if strings.EqualFold(name, ConsoleHeader) {
			env = apikey.Env(strings.TrimSpace(v))
		}
	}
	if !env.Valid() {
		return "", false
	}
	want := ConsoleCookie(env)
	var cookies []string
	for name, vs := range mv {
		if strings.EqualFold(name, "cookie") {
			cookies = append(cookies, vs...)
		}
	}
	if len(cookies) == 0 {
		for name, v := range h {
			if strings.EqualFold(name, "cookie") {
				cookies = append(cookies, v)
			}
		}
	}
	for _, line := range cookies {
		for part := range strings.SplitSeq(line, ";") {
			name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && name == want && val != "" {
				return val, true
			}
		}
	}
	return "", false
}

type decision struct {
	denyCode    apierr.Code
	denyMessage string
	verdict     ratelimit.Verdict
	at          time.Time // the request's time, which its counts are in
}

// cellNames are the expression attribute names of every counting write in
// one cell, shared read-only by all requests of that cell.
type cellNames struct {
	cell   int64
	key    map[string]string
	ws     map[string]string
	undo   map[string]string
	keyUpd *string // the key write's update expression
	wsUpd  *string // the workspace write's
	// check and checkUpd are the key write of a key in its grace period.
	check    map[string]string
	checkUpd *string
	// undoOwn takes a rejected request's count back from the key's own
	// record and counts it as rate limited (keystore's usage cells).
	undoOwn map[string]string
}

// Every counting write on a key's own record also adds the request to the
// minute's usage cell (#u), and lastUsedAt is the request's time: usage
// costs no call of its own.
const (
	keyUpdate = "SET #lu = :now ADD #c :one, #u :one REMOVE "
	keyCond   = "attribute_exists(pk) AND attribute_not_exists(#rev) AND (attribute_not_exists(#exp) OR #exp > :now)"
	wsUpdate  = "ADD #c :one REMOVE "
	undoExpr  = "ADD #c :minus"
	// undoOwnExpr takes the count back from the key's own record and
	// counts the request as rate limited there.
	undoOwnExpr = "ADD #c :minus, #q :one"
	// checkUpdate is the key write of a key in its grace period: it checks
	// the key and keeps lastUsedAt and its usage; the count goes to its
	// successor.
	checkUpdate = "SET #lu = :now ADD #u :one"
	// noteExpr adds a request to an outcome's usage cell.
	noteExpr  = "ADD #o :one"
	existCond = "attribute_exists(pk)"
)

func (a *Authorizer) namesFor(cell int64) *cellNames {
	if c := a.names.Load(); c != nil && c.cell == cell {
		return c
	}
	add, remove := a.window.Names(cell)
	// The minute of the cell's start: cells never straddle minutes when,
	// as in every framegate window, their length divides one.
	minute := keystore.UsageMinute(time.Unix(0, cell*int64(a.window.Length/time.Duration(a.window.Cells))))
	counted := keystore.UsageAttr(keystore.UsageCounted, minute)
	c := &cellNames{cell: cell,
		key:      map[string]string{"#c": add, "#u": counted, "#lu": keystore.AttrLastUsed, "#rev": keystore.AttrRevokedAt, "#exp": keystore.AttrExpiresAt},
		ws:       map[string]string{"#c": add},
		undo:     map[string]string{"#c": add},
		check:    map[string]string{"#u": counted, "#lu": keystore.AttrLastUsed, "#rev": keystore.AttrRevokedAt, "#exp": keystore.AttrExpiresAt},
		checkUpd: checkUpdateP,
		undoOwn:  map[string]string{"#c": add, "#q": keystore.UsageAttr(keystore.UsageLimited, minute)},
	}
	parts := make([]string, len(remove))
	for i, r := range remove {
		ph := "#r" + strconv.Itoa(i)
		parts[i] = ph
		c.key[ph] = r
		c.ws[ph] = r
	}
	clean := strings.Join(parts, ", ")
	c.keyUpd, c.wsUpd = aws.String(keyUpdate+clean), aws.String(wsUpdate+clean)
	a.names.Store(c)
	return c
}

// Read-only request parts shared by every call (the SDK only reads them).
var (
	one          = &types.AttributeValueMemberN{Value: "1"}
	minus        = &types.AttributeValueMemberN{Value: "-1"}
	keyCondP     = aws.String(keyCond)
	existCondP   = aws.String(existCond)
	undoExprP    = aws.String(undoExpr)
	undoOwnP     = aws.String(undoOwnExpr)
	checkUpdateP = aws.String(checkUpdate)
	noteP        = aws.String(noteExpr)
	countValues  = map[string]types.AttributeValue{":one": one}
	undoOwnVals  = map[string]types.AttributeValue{":minus": minus, ":one": one}
	undoValues   = map[string]types.AttributeValue{":minus": minus}
)

// wsEntry is what the container remembers of a key's workspace: its id,
// which never changes, and whether the last write said its ceiling is
// counted, which only decides whether the workspace write goes out in
// parallel, and succ, for a key in its rotation grace period, which record
// its count goes to: the key write's own answer always decides.
type wsEntry struct {
	id      string
	counted bool
	succ    string
	// facts are the key's facts as its last counted request read them;
	// a refusal from memory reports them.
	facts keyFacts
}

func (a *Authorizer) cachedWorkspace(hash string) wsEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.workspace[hash]
}

func (a *Authorizer) remember(hash string, e wsEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.workspace) >= a.cacheSize {
		clear(a.workspace)
	}
	a.workspace[hash] = e
}

type writeResult struct {
	item map[string]types.AttributeValue
	err  error
}

// tally is what one request has counted so far: the records its counting
// writes landed on. It owns the compensating undo, so a request that is
// rejected, or fails halfway, takes back exactly what it added.
type tally struct {
	a     *Authorizer
	names *cellNames
	// At most three records: the key's, its successor's, the workspace's.
	landed [3]map[string]types.AttributeValue
	n      int
}

// add records a write that counted on rec.
func (t *tally) add(rec map[string]types.AttributeValue) {
	t.landed[t.n] = rec
	t.n++
}

// await waits for a background count, recording it if it landed.
func (t *tally) await(ch chan writeResult, rec map[string]types.AttributeValue) writeResult {
	r := <-ch
	if r.err == nil {
		t.add(rec)
	}
	return r
}

// drop takes back the count on rec, if this request made one.
func (t *tally) drop(ctx context.Context, rec map[string]types.AttributeValue) {
	if t.forget(rec) {
		t.a.undo(ctx, rec, t.names)
	}
}

// forget drops rec from the tally without taking its count back, and
// reports whether this request had counted on it.
func (t *tally) forget(rec map[string]types.AttributeValue) bool {
	for i, l := range t.landed[:t.n] {
		if dynamo.Str(l, "pk") == dynamo.Str(rec, "pk") {
			copy(t.landed[i:], t.landed[i+1:t.n])
			t.n--
			return true
		}
	}
	return false
}

// takeBack undoes every count this request made, in parallel.
func (t *tally) takeBack(ctx context.Context) {
	if t.n == 1 {
		t.a.undo(ctx, t.landed[0], t.names)
		t.n = 0
		return
	}
	var wg sync.WaitGroup
	for _, rec := range t.landed[:t.n] {
		wg.Go(func() { t.a.undo(ctx, rec, t.names) })
	}
	wg.Wait()
	t.n = 0
}

// reject takes back every count of a request a limit refused and counts
// it as rate limited on the key's own record: in the write that takes its
// count back there, or, for a key whose count went to its successor, in a
// write of its own. The extra call is paid only by rejected requests.
func (t *tally) reject(ctx context.Context, own map[string]types.AttributeValue, now time.Time) {
	if t.n == 1 && dynamo.Str(t.landed[0], "pk") == dynamo.Str(own, "pk") {
		t.a.update(ctx, t.landed[0], undoOwnP, t.names.undoOwn, undoOwnVals)
		t.n = 0
		return
	}
	var wg sync.WaitGroup
	ownLanded := false
	for _, rec := range t.landed[:t.n] {
		if dynamo.Str(rec, "pk") == dynamo.Str(own, "pk") {
			ownLanded = true
			wg.Go(func() { t.a.update(ctx, rec, undoOwnP, t.names.undoOwn, undoOwnVals) })
			continue
		}
		wg.Go(func() { t.a.undo(ctx, rec, t.names) })
	}
	if !ownLanded {
		wg.Go(func() { t.a.note(ctx, own, keystore.UsageLimited, now) })
	}
	wg.Wait()
	t.n = 0
}

// counted is what the counting writes returned for an authenticated key.
type counted struct {
	stored keyFacts
	ws     string
	own    map[string]types.AttributeValue // the key's own record
	item   map[string]types.AttributeValue // the key's record, ALL_NEW
	// counter is the record the key's count went to (its own, or its
	// successor's in a grace period) and counts that record, ALL_NEW.
	counter, counts map[string]types.AttributeValue
	// wsCounted says the workspace ceiling is counted; wsKey and wsItem
	// are then the workspace's record.
	wsCounted     bool
	wsKey, wsItem map[string]types.AttributeValue
	tally         *tally
}

// decide counts the request, settles it against the limits and returns the
// verdict, or why the key is denied. A key this container knows to be at
// its limit is refused from memory.
func (a *Authorizer) decide(ctx context.Context, key string, env apikey.Env) (decision, error) {
	now := a.now()
	hash := a.hasher.Hash(key)
	if v, ok := a.refusedFromMemory(hash, env, now); ok {
		return decision{verdict: v}, nil
	}
	c, deny, err := a.count(ctx, hash, env, now)
	if err != nil || deny != nil {
		return derefDecision(deny), err
	}
	return decision{verdict: a.settle(ctx, hash, c, env, now), at: now}, nil
}

func derefDecision(d *decision) decision {
	if d == nil {
		return decision{}
	}
	return *d
}

// count makes the request's counting writes: the key write (which also
// checks the key, and returns what can change about it), and in parallel
// the workspace write and, for a key in its rotation grace period, the
// write on its replacement's record. What never changes for a key (its
// workspace) is cached, with what the last write said of what can (whether
// the workspace ceiling is counted, and the successor a key in its grace
// period counts on), so that in steady state every write a request needs
// goes out together: one round trip. The key write's own answer always
// decides; a write sent on stale assumptions is moved or taken back.
func (a *Authorizer) count(ctx context.Context, hash string, env apikey.Env, now time.Time) (counted, *decision, error) {
	names := a.namesFor(a.window.Cell(now))
	t := &tally{a: a, names: names}
	nowMS := &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)}
	keyKey := keystore.KeyKey(hash)
	cached := a.cachedWorkspace(hash)
	ws := cached.id
	var (
		wsCh  chan writeResult
		wsKey map[string]types.AttributeValue
	)
	if ws != "" && cached.counted {
		wsKey = keystore.EnvKey(ws, env)
		wsCh = a.countAsync(ctx, wsKey, names)
	}
	keyIn := &dynamodb.UpdateItemInput{
		TableName:                           &a.table,
		Key:                                 keyKey,
		UpdateExpression:                    names.keyUpd,
		ConditionExpression:                 keyCondP,
		ExpressionAttributeNames:            names.key,
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": nowMS, ":one": one},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	// counter is the record this request's key count goes to; a key in its
	// grace period only has its own record checked.
	counter, counterCh := keyKey, (chan writeResult)(nil)
	if cached.succ != "" {
		counter = keystore.KeyKey(cached.succ)
		counterCh = a.countAsync(ctx, counter, names)
		keyIn.UpdateExpression, keyIn.ExpressionAttributeNames = names.checkUpd, names.check
		keyIn.ExpressionAttributeValues = map[string]types.AttributeValue{":now": nowMS, ":one": one}
	}
	keyOut, keyErr := a.db.UpdateItem(ctx, keyIn)
	if keyErr == nil && counterCh == nil {
		t.add(keyKey)
	}
	// Settle the background writes before anything returns, so the tally
	// knows every count this request made.
	var wr, cr writeResult
	if wsCh != nil {
		wr = t.await(wsCh, wsKey)
	}
	if counterCh != nil {
		cr = t.await(counterCh, counter)
	}
	if keyErr != nil {
		t.takeBack(ctx)
		if old, ok := dynamo.ConditionFailed(keyErr); ok {
			d := a.denyFor(old, now)
			return counted{}, &d, nil
		}
		return counted{}, nil, fmt.Errorf("count key request: %w", keyErr)
	}
	item := keyOut.Attributes
	stored := factsOf(item)
	if stored.env != string(env) || stored.ws == "" || (ws != "" && stored.ws != ws) {
		// The record disagrees with the key's own prefix: treat as unknown.
		t.takeBack(ctx)
		return counted{}, &decision{denyCode: apierr.InvalidAPIKey, denyMessage: "The API key is not valid."}, nil
	}
	if ws == "" || cached.counted != stored.counted || cached.succ != stored.succ || cached.facts != stored {
		ws = stored.ws
		a.remember(hash, wsEntry{id: ws, counted: stored.counted, succ: stored.succ, facts: stored})
	}

	// The key's counts: its own record, or its successor's.
	counts := item
	if counterCh != nil {
		if cr.err != nil {
			t.takeBack(ctx)
			return counted{}, nil, fmt.Errorf("count key request on its successor: %w", cr.err)
		}
		counts = cr.item
	}
	if want := keyKeyOf(hash, stored.succ); dynamo.Str(want, "pk") != dynamo.Str(counter, "pk") {
		// Counted on the wrong record (a cold cache, or a rotation since):
		// move the count.
		t.drop(ctx, counter)
		r := a.countOn(ctx, want, names)
		if r.err != nil {
			t.takeBack(ctx)
			return counted{}, nil, fmt.Errorf("count key request on its successor: %w", r.err)
		}
		t.add(want)
		counter, counts = want, r.item
	}
	// A workspace switching to counted stamps its keys one by one: a key in
	// its grace period counts the ceiling as soon as either its own record
	// or the one counting it says so.
	wsCounted := stored.counted || (counterCh != nil && recordCounted(counts))
	if wsCh == nil && wsCounted {
		wsKey = keystore.EnvKey(ws, env)
		if wr = a.countOn(ctx, wsKey, names); wr.err == nil {
			t.add(wsKey)
		}
	}
	if wsCh != nil && !wsCounted && wr.err == nil {
		// Sent on a stale assumption to a record nothing reads in key-only
		// mode: leave it, so that no undo can land after the record is
		// cleared for counting again.
		t.forget(wsKey)
		wsKey, wr = nil, writeResult{}
	}
	if wr.err != nil {
		t.takeBack(ctx)
		if dynamo.IsConditionFailed(wr.err) {
			return counted{}, &decision{denyCode: apierr.InvalidAPIKey, denyMessage: "The API key's workspace no longer exists."}, nil
		}
		return counted{}, nil, fmt.Errorf("count workspace request: %w", wr.err)
	}
	return counted{stored: stored, ws: ws, own: keyKey, item: item, counter: counter, counts: counts, wsCounted: wsCounted, wsKey: wsKey, wsItem: wr.item, tally: t}, nil, nil
}

// settle evaluates the counts against the limits, takes the request's
// counts back if a limit rejects it (a rejected request is not counted
// against any limit), and returns the verdict.
func (a *Authorizer) settle(ctx context.Context, hash string, c counted, env apikey.Env, now time.Time) ratelimit.Verdict {
	keyLimit, ok := dynamo.Int(c.item, keystore.AttrKeyRPM)
	if !ok {
		keyLimit, _ = dynamo.Int(c.wsItem, keystore.AttrKeyRPM)
	}
	ks := a.window.Evaluate(c.counts, now, int(keyLimit))
	if len(ks.Leftover) >= a.window.Cells {
		a.cleanLater(c.counter, ks.Leftover)
	}
	// Without a workspace write, the key's own limit is the binding one.
	var wss ratelimit.State
	seeding := false
	if c.wsCounted {
		wsLimit, _ := dynamo.Int(c.wsItem, keystore.AttrWorkspaceRPM)
		wss = a.window.Evaluate(c.wsItem, now, int(wsLimit))
		if len(wss.Leftover) >= a.window.Cells {
			a.cleanLater(c.wsKey, wss.Leftover)
		}
		// A workspace switching to counted does not hold its keys' counts
		// yet: refuse until it does (milliseconds), never admit blind.
		until, marked := dynamo.Int(c.wsItem, keystore.AttrSeeding)
		seeding = marked && now.UnixMilli() < until
	}
	v := a.verdict(c, env, ks, wss)
	if ks.Allowed() && wss.Allowed() && !seeding {
		return v
	}
	c.tally.reject(ctx, c.own, now)
	v.Outcome = ratelimit.RateLimited
	v.RetryAfter = ratelimit.Seconds(max(ks.RetryAfter, wss.RetryAfter))
	// The rejected request is not in the counts the client sees either.
	v.KeyLimit.Remaining = max(ks.Limit-ks.Count+1, 0)
	if c.wsCounted {
		v.WorkspaceLimit.Remaining = max(wss.Limit-wss.Count+1, 0)
	}
	if !seeding {
		a.rememberRefusal(hash, c, env, v, ks, wss, now)
	}
	return v
}

// verdict is what the handlers learn of an admitted key: who it is and
// where it stands against each limit.
func (a *Authorizer) verdict(c counted, env apikey.Env, ks, wss ratelimit.State) ratelimit.Verdict {
	v := ratelimit.Verdict{
		Outcome: ratelimit.Allow, Workspace: c.ws, Env: string(env), KeyID: c.stored.id,
		KeyKind: c.stored.kind, Role: c.stored.role, Scopes: c.stored.scopes,
		KeyLimit: limitOf("key", ks, a.window),
	}
	if c.wsCounted {
		v.WorkspaceLimit = limitOf("workspace", wss, a.window)
	} else if wsLimit, ok := dynamo.Int(c.item, keystore.AttrWorkspaceRPM); ok {
		v.WorkspaceLimit = ratelimit.Limit{Name: "workspace", Limit: int(wsLimit), Remaining: ratelimit.Uncounted, Window: int(a.window.Length / time.Second)}
	}
	if c.stored.expires {
		v.KeyExpiresAt = time.UnixMilli(c.stored.expiresMS).UTC().Format(time.RFC3339)
	}
	return v
}

// keyKeyOf is the record a key's requests count on: its successor's while
// it is in a rotation grace period, else its own.
func keyKeyOf(hash, succ string) map[string]types.AttributeValue {
	if succ != "" {
		return keystore.KeyKey(succ)
	}
	return keystore.KeyKey(hash)
}

// countAsync counts on record key in the background.
func (a *Authorizer) countAsync(ctx context.Context, key map[string]types.AttributeValue, names *cellNames) chan writeResult {
	ch := make(chan writeResult, 1)
	go func() { ch <- a.countOn(ctx, key, names) }()
	return ch
}

// countOn adds this request to record key (a workspace record, or the
// successor of a key in its grace period), returning the record.
func (a *Authorizer) countOn(ctx context.Context, key map[string]types.AttributeValue, names *cellNames) writeResult {
	out, err := a.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &a.table,
		Key:                       key,
		UpdateExpression:          names.wsUpd,
		ConditionExpression:       existCondP,
		ExpressionAttributeNames:  names.ws,
		ExpressionAttributeValues: countValues,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return writeResult{err: err}
	}
	return writeResult{item: out.Attributes}
}

// undo takes back one count. It runs only for rejected requests, and a
// failure only makes the limit stricter for the rest of the cell, so it is
// logged, not returned.
func (a *Authorizer) undo(ctx context.Context, key map[string]types.AttributeValue, names *cellNames) {
	a.update(ctx, key, undoExprP, names.undo, undoValues)
}

// note counts a request the key wrote no usage for in the cell of outcome
// (a rejection that took no count back from the key's record, a refusal
// for want of scope), on the key's own record.
func (a *Authorizer) note(ctx context.Context, own map[string]types.AttributeValue, outcome byte, now time.Time) {
	a.update(ctx, own, noteP, map[string]string{"#o": keystore.UsageAttr(outcome, keystore.UsageMinute(now))}, countValues)
}

// update is one write of the rejected path; a failure costs only a
// stricter limit or a usage count, so it is logged, not returned. It is
// sent at most once: an ADD is not idempotent, and an SDK retry of an
// undo whose first attempt landed but timed out would take back two
// counts for one, letting a limit admit more than it allows.
func (a *Authorizer) update(ctx context.Context, key map[string]types.AttributeValue, expr *string, names map[string]string, values map[string]types.AttributeValue) {
	_, err := a.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &a.table,
		Key:                       key,
		UpdateExpression:          expr,
		ConditionExpression:       existCondP,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}, atMostOnce)
	if err != nil && !dynamo.IsConditionFailed(err) {
		a.log.WarnContext(ctx, "a write of the rejected path failed", "err", err)
	}
}

// cleanLater removes counter cells left behind by a long idle period (the
// caller waits until there are a window's worth, so it is rare). It runs off
// the request path; if the container is frozen or dies first, the next
// request that sees them tries again.
func (a *Authorizer) cleanLater(key map[string]types.AttributeValue, leftover []string) {
	names := make(map[string]string, len(leftover))
	parts := make([]string, len(leftover))
	for i, l := range leftover {
		ph := "#l" + strconv.Itoa(i)
		names[ph] = l
		parts[i] = ph
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := a.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                &a.table,
			Key:                      key,
			UpdateExpression:         aws.String("REMOVE " + strings.Join(parts, ", ")),
			ConditionExpression:      aws.String(existCond),
			ExpressionAttributeNames: names,
		})
		if err != nil && !dynamo.IsConditionFailed(err) {
			a.log.Warn("could not remove stale rate-limit cells", "err", err)
		}
	}()
}

// denyFor explains a failed key write from the item as it was (ALL_OLD).
func (a *Authorizer) denyFor(old map[string]types.AttributeValue, now time.Time) decision {
	if old == nil {
		return decision{denyCode: apierr.InvalidAPIKey, denyMessage: "The API key is not valid."}
	}
	k := keystore.DecodeKey(old)
	if k.Kind == keystore.Console {
		return decision{denyCode: apierr.InvalidAPIKey, denyMessage: "The console session has ended (signed out, expired or revoked); sign in again with a new link."}
	}
	if k.RevokedAt == nil && k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		if k.RotatedTo != "" {
			return decision{denyCode: apierr.APIKeyExpired, denyMessage: "The API key was rotated and its grace period has ended; use its replacement."}
		}
		return decision{denyCode: apierr.APIKeyExpired, denyMessage: "The API key has expired."}
	}
	return decision{denyCode: apierr.InvalidAPIKey, denyMessage: "The API key is not valid."}
}

func limitOf(name string, s ratelimit.State, w ratelimit.Window) ratelimit.Limit {
	return ratelimit.Limit{
		Name: name, Limit: s.Limit, Remaining: s.Remaining,
		Reset: ratelimit.Seconds(s.Reset), Window: int(w.Length / time.Second),
	}
}

func policy(effect, methodArn string) events.APIGatewayCustomAuthorizerPolicy {
	return events.APIGatewayCustomAuthorizerPolicy{
		Version: "2012-10-17",
		Statement: []events.IAMPolicyStatement{{
			Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{methodArn},
		}},
	}
}

func allow(methodArn string, v ratelimit.Verdict) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: v.KeyID, PolicyDocument: policy("Allow", methodArn), Context: v.Context(),
	}
}

// deny carries the code and message the ACCESS_DENIED gateway response
// substitutes into the error envelope verbatim, so both must be JSON-safe:
// they are constants of this package, never user input.
func deny(methodArn string, code apierr.Code, message string) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    "anonymous",
		PolicyDocument: policy("Deny", methodArn),
		Context:        map[string]any{"code": string(code), "message": message},
	}
}
