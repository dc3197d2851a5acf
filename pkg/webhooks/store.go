package webhooks

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/dynamo"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store keeps endpoints and deliveries in the data table:
//
//	WH#<ws>#<env>            EP#<id>     an endpoint (sealed secrets inside)
//	WH#<ws>#<env>            META        the endpoint count, for the cap
//	WHD#<ws>#<env>#<ep>      D#<id>      a delivery and its attempts
//
// Delivery ids start with their event's time, so a Query in reverse lists
// an endpoint's deliveries newest first.
type Store struct {
	db     DB
	table  string
	cipher *Cipher
	now    func() time.Time
	rand   io.Reader
	max    int
}

// StoreOptions are the store's optional dependencies.
type StoreOptions struct {
	Now  func() time.Time
	Rand io.Reader // entropy for ids and secrets; crypto/rand when nil
	// MaxEndpoints caps endpoints per workspace and environment (fan-out
	// cost per event); 0 means DefaultMaxEndpoints.
	MaxEndpoints int
}

// DefaultMaxEndpoints is the endpoint cap per workspace and environment.
const DefaultMaxEndpoints = 20

// Retention is how long deliveries stay in the log.
const Retention = 30 * 24 * time.Hour

// RotationOverlap is how long the replaced secret keeps signing after a
// rotation, so receivers can switch without dropping a delivery.
const RotationOverlap = 24 * time.Hour

// NewStore returns a store over table. Every dependency is required.
func NewStore(db DB, table string, c *Cipher, o StoreOptions) (*Store, error) {
	if db == nil || table == "" || c == nil {
		return nil, errors.New("delivery store: db, table and cipher are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = DefaultMaxEndpoints
	}
	return &Store{db: db, table: table, cipher: c, now: o.Now, rand: o.Rand, max: o.MaxEndpoints}, nil
}

const (
	aPK, aSK, aTTL                = "pk", "sk", "ttl"
	aID, aWS, aEnv, aKind         = "id", "ws", "env", "kind"
	aURL, aDesc, aEvents, aEnable = "url", "description", "events", "enabled"
	aDisabled, aCreated, aUpdated = "disabledReason", "createdAt", "updatedAt"
	aFailing, aSecret, aPrev      = "failingSince", "secret", "prevSecret"
	aPrevUntil, aPreview, aUnrev  = "prevUntil", "secretPreview", "unrevealed"
	aCount                        = "endpoints"
	aEndpoint, aEvent, aType      = "endpointId", "eventId", "eventType"
	aPayload, aStatus, aAttempts  = "payload", "status", "attempts"
	aLog, aNext, aLease           = "attemptLog", "nextAttemptAt", "leaseUntil"
	aDest, aRole, aExternal       = "destination", "roleArn", "externalId"
	aScheme, aPub, aPrevPub       = "scheme", "publicKey", "prevPublicKey"
	aLinks, aRecovery             = "links", "recovery"
	aClaim                        = "claim"
	aRedelivery                   = "redeliveryRequestedAt"

	metaSK = "META"
)

func endpointPK(ws, env string) string { return "WH#" + ws + "#" + env }
func endpointKey(ws, env, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: dynamo.S(endpointPK(ws, env)), aSK: dynamo.S("EP#" + id)}
}
func metaKey(ws, env string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: dynamo.S(endpointPK(ws, env)), aSK: dynamo.S(metaSK)}
}
func deliveryPK(ws, env, ep string) string { return "WHD#" + ws + "#" + env + "#" + ep }
func deliveryKey(ws, env, ep, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: dynamo.S(deliveryPK(ws, env, ep)), aSK: dynamo.S("D#" + id)}
}

// aad binds a sealed secret to its endpoint.
func aad(ws, env, id string) string { return ws + "/" + env + "/" + id }

func notFound(what string) error { return apierr.New(apierr.NotFound, "No %s with this id.", what) }

// ------------------------------------------------------------------ endpoints

// NewEndpoint is what POST /v1/webhooks asks for, validated by the caller.
type NewEndpoint struct {
	Type        string // "" is TypeHTTP
	URL         string // or the queue URL, or the event bus ARN
	RoleARN     string // AWS destinations
	Events      []string
	Description string
	Scheme      string // "" is webhooksig.SchemeV1
}

func (st *Store) endpointItem(e Endpoint) map[string]types.AttributeValue {
	it := endpointKey(e.Workspace, e.Env, e.ID)
	it[aID], it[aWS], it[aEnv], it[aKind] = dynamo.S(e.ID), dynamo.S(e.Workspace), dynamo.S(e.Env), dynamo.S(e.Kind)
	set := func(name, v string) {
		if v != "" {
			it[name] = dynamo.S(v)
		}
	}
	set(aURL, e.URL)
	set(aDesc, e.Description)
	set(aDest, e.Type)
	set(aRole, e.RoleARN)
	set(aExternal, e.ExternalID)
	set(aScheme, e.Scheme)
	set(aPub, e.PublicKey)
	it[aEvents] = &types.AttributeValueMemberSS{Value: e.Events}
	it[aEnable] = &types.AttributeValueMemberBOOL{Value: e.Enabled}
	it[aCreated], it[aUpdated] = dynamo.Millis(e.CreatedAt), dynamo.Millis(e.UpdatedAt)
	it[aSecret] = dynamo.S(e.secret)
	set(aPreview, e.SecretPreview)
	if e.unrevealed {
		it[aUnrev] = &types.AttributeValueMemberBOOL{Value: true}
	}
	return it
}

func decodeEndpoint(it map[string]types.AttributeValue) Endpoint {
	e := Endpoint{
		ID: dynamo.Str(it, aID), Workspace: dynamo.Str(it, aWS), Env: dynamo.Str(it, aEnv), Kind: dynamo.Str(it, aKind),
		URL: dynamo.Str(it, aURL), Description: dynamo.Str(it, aDesc), Enabled: dynamo.Bool(it, aEnable),
		DisabledReason: dynamo.Str(it, aDisabled), FailingSince: dynamo.Time(it, aFailing),
		SecretPreview: dynamo.Str(it, aPreview), PreviousSecretUntil: dynamo.Time(it, aPrevUntil),
		secret: dynamo.Str(it, aSecret), prevSecret: dynamo.Str(it, aPrev), unrevealed: dynamo.Bool(it, aUnrev),
		Type: dynamo.Str(it, aDest), RoleARN: dynamo.Str(it, aRole), ExternalID: dynamo.Str(it, aExternal),
		Scheme: dynamo.Str(it, aScheme), PublicKey: dynamo.Str(it, aPub), PreviousPublicKey: dynamo.Str(it, aPrevPub),
	}
	if e.Type == "" {
		e.Type = TypeHTTP // endpoints stored before AWS destinations
	}
	if e.Scheme == "" {
		e.Scheme = webhooksig.SchemeV1
	}
	if v, ok := it[aEvents].(*types.AttributeValueMemberSS); ok {
		e.Events = slices.Sorted(slices.Values(v.Value))
	}
	if t := dynamo.Time(it, aCreated); t != nil {
		e.CreatedAt = *t
	}
	if t := dynamo.Time(it, aUpdated); t != nil {
		e.UpdatedAt = *t
	}
	return e
}

// signingKey is a new signing key of an endpoint.
type signingKey struct {
	plain  string // the whsec_ secret or the whsk_ private key
	sealed string // plain, sealed for the table
	public string // the whpk_ key of a v1a endpoint
}

// newKey makes a signing key of scheme for endpoint id: a secret (v1) or
// an ed25519 key pair (v1a), the private part sealed like secrets are.
func (st *Store) newKey(ws, env, id, scheme string) (signingKey, error) {
	var k signingKey
	var err error
	if scheme == webhooksig.SchemeV1a {
		k.plain, k.public, err = webhooksig.NewKeyPair(st.rand)
	} else {
		k.plain, err = webhooksig.NewSecret(st.rand)
	}
	if err != nil {
		return signingKey{}, err
	}
	if k.sealed, err = st.cipher.Seal(k.plain, aad(ws, env, id)); err != nil {
		return signingKey{}, fmt.Errorf("seal signing key of %s: %w", id, err)
	}
	return k, nil
}

// preview is the masked secret reads show; v1a endpoints show their public
// key instead.
func (k signingKey) preview() string {
	if k.public != "" {
		return ""
	}
	return webhooksig.Mask(k.plain)
}

// revealed is what the API may show of a new key once: the secret of a v1
// endpoint; nothing of a v1a one, whose private key never leaves the store.
func (k signingKey) revealed() string {
	if k.public != "" {
		return ""
	}
	return k.plain
}

// CreateEndpoint stores a new endpoint under the per-environment cap, in
// one transaction, and returns it with its secret in plaintext: the only
// time anyone sees it ("" for a v1a endpoint, which shows its public key).
func (st *Store) CreateEndpoint(ctx context.Context, ws, env string, ne NewEndpoint, ch *audit.Change) (Endpoint, string, error) {
	now := st.now().UTC().Truncate(time.Millisecond)
	id, err := ids.New("we", now, st.rand)
	if err != nil {
		return Endpoint{}, "", err
	}
	if ne.Type == "" {
		ne.Type = TypeHTTP
	}
	if ne.Scheme == "" {
		ne.Scheme = webhooksig.SchemeV1
	}
	k, err := st.newKey(ws, env, id, ne.Scheme)
	if err != nil {
		return Endpoint{}, "", err
	}
	e := Endpoint{ID: id, Workspace: ws, Env: env, Kind: KindEndpoint, Type: ne.Type, URL: ne.URL, Description: ne.Description,
		Events: slices.Sorted(slices.Values(ne.Events)), Enabled: true, CreatedAt: now, UpdatedAt: now,
		Scheme: ne.Scheme, PublicKey: k.public, SecretPreview: k.preview(), secret: k.sealed}
	if ne.RoleARN != "" {
		e.RoleARN, e.ExternalID = ne.RoleARN, ExternalID(st.cipher, ws, env, ne.RoleARN)
	}
	err = ch.Transact(ctx, st.db, env, audit.WebhookCreated, endpointTarget(id), endpointDetails(e),
		types.TransactWriteItem{Update: &types.Update{
			TableName:                 &st.table,
			Key:                       metaKey(ws, env),
			UpdateExpression:          aws.String("ADD #c :one"),
			ConditionExpression:       aws.String("attribute_not_exists(#c) OR #c < :max"),
			ExpressionAttributeNames:  map[string]string{"#c": aCount},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": dynamo.N(1), ":max": dynamo.N(int64(st.max))},
		}},
		types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: st.endpointItem(e), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	)
	if err != nil {
		var tce *types.TransactionCanceledException
		if errors.As(err, &tce) && len(tce.CancellationReasons) > 0 && aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
			return Endpoint{}, "", apierr.New(apierr.Conflict, "This environment already has %d webhook endpoints, the limit; delete one first.", st.max)
		}
		return Endpoint{}, "", fmt.Errorf("create endpoint: %w", err)
	}
	return e, k.revealed(), nil
}

// GetEndpoint reads one endpoint of ws/env; another tenant's id is not found.
func (st *Store) GetEndpoint(ctx context.Context, ws, env, id string) (Endpoint, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: endpointKey(ws, env, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Endpoint{}, fmt.Errorf("get endpoint %s: %w", id, err)
	}
	if out.Item == nil {
		return Endpoint{}, notFound("webhook endpoint")
	}
	return decodeEndpoint(out.Item), nil
}

// ListEndpoints pages through the endpoints of ws/env in id (creation)
// order, after the id given; next is the last id of a full page.
func (st *Store) ListEndpoints(ctx context.Context, ws, env, after string, limit int) ([]Endpoint, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :ep)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": dynamo.S(endpointPK(ws, env)), ":ep": dynamo.S("EP#")},
		Limit:                     aws.Int32(int32(limit)),
	}
	if after != "" {
		in.ExclusiveStartKey = endpointKey(ws, env, after)
	}
	out, err := st.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list endpoints: %w", err)
	}
	eps := make([]Endpoint, 0, len(out.Items))
	for _, it := range out.Items {
		eps = append(eps, decodeEndpoint(it))
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 && len(eps) == limit {
		next = eps[len(eps)-1].ID
	}
	return eps, next, nil
}

// AllEndpoints reads every endpoint of ws/env (at most the cap, so one page).
func (st *Store) AllEndpoints(ctx context.Context, ws, env string) ([]Endpoint, error) {
	var all []Endpoint
	after := ""
	for {
		eps, next, err := st.ListEndpoints(ctx, ws, env, after, 100)
		if err != nil {
			return nil, err
		}
		all = append(all, eps...)
		if next == "" {
			return all, nil
		}
		after = next
	}
}

// Patch is a partial update of an endpoint; nil fields stay as they are.
type Patch struct {
	URL         *string // or the queue URL, or the event bus ARN
	RoleARN     *string
	Events      []string
	Enabled     *bool
	Description *string
}

// UpdateEndpoint applies p to cur, with its audit record, and returns the
// endpoint as it now is. Enabling an endpoint forgets why it was disabled
// and its failure streak, so the 5-day clock starts afresh.
func (st *Store) UpdateEndpoint(ctx context.Context, cur Endpoint, p Patch, ch *audit.Change) (Endpoint, error) {
	now := st.now().UTC().Truncate(time.Millisecond)
	e := cur
	sets := []string{"#upd = :now"}
	var removes []string
	names := map[string]string{"#upd": aUpdated}
	vals := map[string]types.AttributeValue{":now": dynamo.Millis(now)}
	changed := map[string]string{}
	if p.URL != nil {
		sets, names["#url"], vals[":url"] = append(sets, "#url = :url"), aURL, dynamo.S(*p.URL)
		e.URL, changed["url"] = *p.URL, *p.URL
	}
	if p.RoleARN != nil {
		sets, names["#role"], vals[":role"] = append(sets, "#role = :role"), aRole, dynamo.S(*p.RoleARN)
		e.RoleARN, e.ExternalID, changed["roleArn"] = *p.RoleARN, ExternalID(st.cipher, cur.Workspace, cur.Env, *p.RoleARN), *p.RoleARN
		sets, names["#ext"], vals[":ext"] = append(sets, "#ext = :ext"), aExternal, dynamo.S(e.ExternalID)
	}
	if p.Events != nil {
		sets, names["#ev"], vals[":ev"] = append(sets, "#ev = :ev"), aEvents, &types.AttributeValueMemberSS{Value: p.Events}
		e.Events, changed["events"] = slices.Sorted(slices.Values(p.Events)), strings.Join(p.Events, " ")
	}
	if p.Description != nil {
		names["#d"] = aDesc
		if *p.Description == "" {
			removes = append(removes, "#d")
		} else {
			sets, vals[":d"] = append(sets, "#d = :d"), dynamo.S(*p.Description)
		}
		e.Description, changed["description"] = *p.Description, *p.Description
	}
	if p.Enabled != nil {
		sets, names["#en"], vals[":en"] = append(sets, "#en = :en"), aEnable, &types.AttributeValueMemberBOOL{Value: *p.Enabled}
		names["#dr"] = aDisabled
		if *p.Enabled {
			names["#fs"] = aFailing
			removes = append(removes, "#dr", "#fs")
			e.DisabledReason, e.FailingSince = DisabledByDefault, nil
		} else {
			sets, vals[":dr"] = append(sets, "#dr = :dr"), dynamo.S(DisabledByUser)
			e.DisabledReason = DisabledByUser
		}
		e.Enabled, changed["enabled"] = *p.Enabled, strconv.FormatBool(*p.Enabled)
	}
	e.UpdatedAt = now
	expr := "SET " + strings.Join(sets, ", ")
	if len(removes) > 0 {
		expr += " REMOVE " + strings.Join(removes, ", ")
	}
	err := ch.Transact(ctx, st.db, cur.Env, audit.WebhookUpdated, endpointTarget(cur.ID), changed, types.TransactWriteItem{Update: &types.Update{
		TableName: &st.table, Key: endpointKey(cur.Workspace, cur.Env, cur.ID),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	}})
	if conditionFailed(err) {
		return Endpoint{}, notFound("webhook endpoint")
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("update endpoint %s: %w", cur.ID, err)
	}
	return e, nil
}

// conditionFailed reports whether a transaction failed on its first item's
// condition.
func conditionFailed(err error) bool {
	r := dynamo.CancelReasons(err)
	return len(r) > 0 && r[0] == "ConditionalCheckFailed"
}

func endpointTarget(id string) audit.Target { return audit.Target{Type: audit.TargetWebhook, ID: id} }

func endpointDetails(e Endpoint) map[string]string {
	return map[string]string{"url": e.URL, "events": strings.Join(e.Events, " ")}
}

// DeleteEndpoint removes an endpoint and frees its place under the cap.
// Its deliveries stay in the log until they expire.
func (st *Store) DeleteEndpoint(ctx context.Context, ws, env, id string, ch *audit.Change) error {
	err := ch.Transact(ctx, st.db, env, audit.WebhookDeleted, endpointTarget(id), nil,
		types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table, Key: endpointKey(ws, env, id),
			ConditionExpression:      aws.String("attribute_exists(pk) AND #k = :k"),
			ExpressionAttributeNames: map[string]string{"#k": aKind}, ExpressionAttributeValues: map[string]types.AttributeValue{":k": dynamo.S(KindEndpoint)}}},
		types.TransactWriteItem{Update: &types.Update{TableName: &st.table, Key: metaKey(ws, env), UpdateExpression: aws.String("ADD #c :m"),
			ExpressionAttributeNames: map[string]string{"#c": aCount}, ExpressionAttributeValues: map[string]types.AttributeValue{":m": dynamo.N(-1)}}},
	)
	if conditionFailed(err) {
		return notFound("webhook endpoint")
	}
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	return nil
}

// RotateSecret gives the endpoint cur (as just read) a new signing key of
// its scheme and keeps the current one signing for RotationOverlap, with
// its audit record. It returns the new secret in plaintext, once ("" for
// v1a: the new public key is on the endpoint, the previous one in
// PreviousPublicKey). A rotation during an overlap drops the oldest key at
// once.
func (st *Store) RotateSecret(ctx context.Context, cur Endpoint, ch *audit.Change) (Endpoint, string, error) {
	ws, env, id := cur.Workspace, cur.Env, cur.ID
	k, err := st.newKey(ws, env, id, cur.Scheme)
	if err != nil {
		return Endpoint{}, "", err
	}
	now := st.now().UTC().Truncate(time.Millisecond)
	until := now.Add(RotationOverlap)
	names := map[string]string{"#s": aSecret, "#p": aPrev, "#pu": aPrevUntil, "#upd": aUpdated, "#un": aUnrev}
	vals := map[string]types.AttributeValue{":new": dynamo.S(k.sealed), ":old": dynamo.S(cur.secret),
		":until": dynamo.Millis(until), ":now": dynamo.Millis(now)}
	expr := "SET #s = :new, #p = :old, #pu = :until, #upd = :now"
	e := cur
	e.prevSecret, e.secret, e.PreviousSecretUntil, e.UpdatedAt, e.unrevealed = cur.secret, k.sealed, &until, now, false
	if k.public != "" {
		expr += ", #pk = :pk, #ppk = :ppk"
		names["#pk"], names["#ppk"] = aPub, aPrevPub
		vals[":pk"], vals[":ppk"] = dynamo.S(k.public), dynamo.S(cur.PublicKey)
		e.PublicKey, e.PreviousPublicKey = k.public, cur.PublicKey
	} else {
		expr += ", #pv = :pv"
		names["#pv"], vals[":pv"] = aPreview, dynamo.S(k.preview())
		e.SecretPreview = k.preview()
	}
	err = ch.Transact(ctx, st.db, env, audit.WebhookSecretRotated, endpointTarget(id), nil, types.TransactWriteItem{Update: &types.Update{
		TableName: &st.table, Key: endpointKey(ws, env, id),
		UpdateExpression:          aws.String(expr + " REMOVE #un"),
		ConditionExpression:       aws.String("#s = :old"), // no concurrent rotation lost its key
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	}})
	if conditionFailed(err) {
		return Endpoint{}, "", apierr.New(apierr.Conflict, "The secret was rotated concurrently; retry.")
	}
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("rotate secret of %s: %w", id, err)
	}
	return e, k.revealed(), nil
}

// RequestRedelivery records that delivery d is to be attempted again, with
// the request's audit record, before the caller queues the attempt.
func (st *Store) RequestRedelivery(ctx context.Context, d Delivery, ch *audit.Change) error {
	err := ch.Transact(ctx, st.db, d.Env, audit.DeliveryRedelivered, audit.Target{Type: audit.TargetDelivery, ID: d.ID},
		map[string]string{"endpointId": d.EndpointID, "eventId": d.EventID},
		types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: deliveryKey(d.Workspace, d.Env, d.EndpointID, d.ID),
			UpdateExpression:          aws.String("SET #r = :now"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeNames:  map[string]string{"#r": aRedelivery},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": dynamo.Millis(st.now())},
		}})
	if conditionFailed(err) {
		return notFound("delivery")
	}
	if err != nil {
		return fmt.Errorf("request redelivery of %s: %w", d.ID, err)
	}
	return nil
}

// Secrets opens the secrets that sign deliveries to e at now: the current
// one, and the one it replaced while the rotation overlap lasts.
func (st *Store) Secrets(e Endpoint, now time.Time) ([]string, error) {
	cur, err := st.cipher.Open(e.secret, aad(e.Workspace, e.Env, e.ID))
	if err != nil {
		return nil, fmt.Errorf("secret of endpoint %s: %w", e.ID, err)
	}
	out := []string{cur}
	if e.prevSecret != "" && e.PreviousSecretUntil != nil && now.Before(*e.PreviousSecretUntil) {
		prev, err := st.cipher.Open(e.prevSecret, aad(e.Workspace, e.Env, e.ID))
		if err != nil {
			return nil, fmt.Errorf("previous secret of endpoint %s: %w", e.ID, err)
		}
		out = append(out, prev)
	}
	return out, nil
}

// VideoURLs returns the reserved endpoint whose secret signs deliveries to
// per-video webhookUrls, creating it on first need (by the worker or the
// API, whichever comes first; a conditional put settles a race).
func (st *Store) VideoURLs(ctx context.Context, ws, env string) (Endpoint, error) {
	e, err := st.GetEndpoint(ctx, ws, env, VideoURLsID)
	if err == nil || apierr.From(err).Code != apierr.NotFound {
		return e, err
	}
	now := st.now().UTC().Truncate(time.Millisecond)
	k, err := st.newKey(ws, env, VideoURLsID, webhooksig.SchemeV1)
	if err != nil {
		return Endpoint{}, err
	}
	e = Endpoint{ID: VideoURLsID, Workspace: ws, Env: env, Kind: KindVideoURLs, Type: TypeHTTP, Scheme: webhooksig.SchemeV1,
		Events: []string{RenderSucceeded, RenderFailed}, Enabled: true, CreatedAt: now, UpdatedAt: now,
		SecretPreview: k.preview(), secret: k.sealed, unrevealed: true}
	_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: st.endpointItem(e),
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if dynamo.IsConditionFailed(err) {
		return st.GetEndpoint(ctx, ws, env, VideoURLsID)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("create video-URLs endpoint: %w", err)
	}
	return e, nil
}

// RevealOnce returns the plaintext secret of the video-URLs endpoint if
// nobody has seen it yet, and marks it seen; "" otherwise. Like every
// secret, it is shown exactly once; rotate-secret shows a new one.
func (st *Store) RevealOnce(ctx context.Context, e Endpoint) (string, error) {
	if !e.unrevealed {
		return "", nil
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: endpointKey(e.Workspace, e.Env, e.ID),
		UpdateExpression: aws.String("REMOVE #un"), ConditionExpression: aws.String("#un = :t AND #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#un": aUnrev, "#s": aSecret},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":s": dynamo.S(e.secret)},
	})
	if dynamo.IsConditionFailed(err) {
		return "", nil // a concurrent read got it
	}
	if err != nil {
		return "", fmt.Errorf("reveal secret: %w", err)
	}
	return st.cipher.Open(e.secret, aad(e.Workspace, e.Env, e.ID))
}

// EndpointFailing records a failed attempt on an endpoint and returns the
// start of its failure streak and whether it must now be disabled: gone
// (a 410) at once, otherwise once it has failed without a success for
// limit. The streak start is written once (the first failure wins), so
// every caller of one streak sees the same time. Per-video URLs differ per
// video: one failing says nothing of the rest, so the video-urls endpoint
// is never disabled this way.
func (st *Store) EndpointFailing(ctx context.Context, e Endpoint, gone bool, limit time.Duration) (time.Time, bool, error) {
	now := st.now().UTC()
	if e.Kind != KindEndpoint {
		return now, false, nil
	}
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: endpointKey(e.Workspace, e.Env, e.ID),
		UpdateExpression: aws.String("SET #fs = if_not_exists(#fs, :now)"), ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames: map[string]string{"#fs": aFailing}, ExpressionAttributeValues: map[string]types.AttributeValue{":now": dynamo.Millis(now)},
		// ALL_NEW: UPDATED_NEW may omit an attribute if_not_exists left alone.
		ReturnValues: types.ReturnValueAllNew,
	})
	if dynamo.IsConditionFailed(err) {
		return now, false, nil // deleted since
	}
	if err != nil {
		return now, false, fmt.Errorf("record failure of endpoint %s: %w", e.ID, err)
	}
	since := now
	if t := dynamo.Time(out.Attributes, aFailing); t != nil {
		since = *t
	}
	return since, gone || now.Sub(since) >= limit, nil
}

// Disable turns an enabled endpoint off for reason (DisabledGone,
// DisabledFailing). It reports false when it was off (or deleted) already.
func (st *Store) Disable(ctx context.Context, e Endpoint, reason string) (bool, error) {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: endpointKey(e.Workspace, e.Env, e.ID),
		UpdateExpression:         aws.String("SET #en = :f, #dr = :r, #upd = :now"),
		ConditionExpression:      aws.String("#en = :t"),
		ExpressionAttributeNames: map[string]string{"#en": aEnable, "#dr": aDisabled, "#upd": aUpdated},
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false},
			":t": &types.AttributeValueMemberBOOL{Value: true}, ":r": dynamo.S(reason), ":now": dynamo.Millis(st.now())},
	})
	if dynamo.IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("disable endpoint %s: %w", e.ID, err)
	}
	return true, nil
}

// EndpointSucceeded ends an endpoint's failure streak.
func (st *Store) EndpointSucceeded(ctx context.Context, e Endpoint) error {
	if e.Kind != KindEndpoint || e.FailingSince == nil {
		return nil // nothing to clear: no write on the common path
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: endpointKey(e.Workspace, e.Env, e.ID),
		UpdateExpression: aws.String("REMOVE #fs"), ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames: map[string]string{"#fs": aFailing},
	})
	if err != nil && !dynamo.IsConditionFailed(err) {
		return fmt.Errorf("clear failures of endpoint %s: %w", e.ID, err)
	}
	return nil
}

// ------------------------------------------------------------------ deliveries

// DeliveryID derives the id of the delivery of eventID to target (an
// endpoint id, or the per-video URL): the same event reaching the worker
// twice maps to the same delivery, which is what makes fan-out idempotent.
// It starts with the event id's time digits when there are some, so
// deliveries sort by event time.
func DeliveryID(eventID, target string) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + target))
	const crockford = "0123456789abcdefghjkmnpqrstvwxyz"
	digits := make([]byte, 0, 26)
	if ids.Valid(IDPrefix, eventID) {
		digits = append(digits, eventID[len(IDPrefix)+1:][:10]...)
	}
	for i := 0; len(digits) < 26; i++ {
		digits = append(digits, crockford[sum[i]&31])
	}
	return "dlv_" + string(digits)
}

func (st *Store) deliveryItem(d Delivery, lease time.Time) map[string]types.AttributeValue {
	it := deliveryKey(d.Workspace, d.Env, d.EndpointID, d.ID)
	it[aID], it[aWS], it[aEnv], it[aEndpoint] = dynamo.S(d.ID), dynamo.S(d.Workspace), dynamo.S(d.Env), dynamo.S(d.EndpointID)
	it[aEvent], it[aType], it[aPayload] = dynamo.S(d.EventID), dynamo.S(d.EventType), &types.AttributeValueMemberB{Value: d.Payload}
	if d.URL != "" {
		it[aURL] = dynamo.S(d.URL)
	}
	if len(d.Links) > 0 {
		links, _ := json.Marshal(d.Links) // plain strings: cannot fail
		it[aLinks] = dynamo.S(string(links))
	}
	it[aStatus], it[aAttempts], it[aCreated] = dynamo.S(Pending), dynamo.N(0), dynamo.Millis(d.CreatedAt)
	it[aLease] = dynamo.Millis(lease)
	it[aTTL] = dynamo.N(d.CreatedAt.Add(Retention).Unix())
	return it
}

func decodeDelivery(it map[string]types.AttributeValue) (Delivery, error) {
	d := Delivery{ID: dynamo.Str(it, aID), Workspace: dynamo.Str(it, aWS), Env: dynamo.Str(it, aEnv), EndpointID: dynamo.Str(it, aEndpoint),
		EventID: dynamo.Str(it, aEvent), EventType: dynamo.Str(it, aType), URL: dynamo.Str(it, aURL), Status: dynamo.Str(it, aStatus),
		NextAttemptAt: dynamo.Time(it, aNext)}
	if b, ok := it[aPayload].(*types.AttributeValueMemberB); ok {
		d.Payload = b.Value
	}
	c, _ := dynamo.Int(it, aAttempts)
	d.AttemptCount = int(c)
	if t := dynamo.Time(it, aCreated); t != nil {
		d.CreatedAt = *t
	}
	if raw := dynamo.Str(it, aLog); raw != "" {
		if err := json.Unmarshal([]byte(raw), &d.Attempts); err != nil {
			return Delivery{}, fmt.Errorf("decode attempts of %s: %w", d.ID, err)
		}
	}
	if raw := dynamo.Str(it, aLinks); raw != "" {
		if err := json.Unmarshal([]byte(raw), &d.Links); err != nil {
			return Delivery{}, fmt.Errorf("decode links of %s: %w", d.ID, err)
		}
	}
	return d, nil
}

// expired reports whether the item outlived its TTL: DynamoDB deletes
// late (moto never), so reads treat it as gone themselves.
func expired(it map[string]types.AttributeValue, now time.Time) bool {
	t, ok := dynamo.Int(it, aTTL)
	return ok && t <= now.Unix()
}

// appendLive decodes the deliveries among items that have not expired
// and appends them to ds.
func (st *Store) appendLive(ds []Delivery, items []map[string]types.AttributeValue) ([]Delivery, error) {
	now := st.now()
	for _, it := range items {
		if expired(it, now) {
			continue
		}
		d, err := decodeDelivery(it)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// CreateDelivery stores a new pending delivery leased to the caller until
// lease. It reports false when the delivery already exists: another copy
// of the event message got there first.
func (st *Store) CreateDelivery(ctx context.Context, d Delivery, lease time.Time) (bool, error) {
	claim, err := st.claimToken()
	if err != nil {
		return false, err
	}
	it := st.deliveryItem(d, lease)
	it[aClaim] = dynamo.S(claim)
	_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: it,
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if dynamo.IsConditionFailed(err) {
		_, own, err := st.ownClaim(ctx, deliveryKey(d.Workspace, d.Env, d.EndpointID, d.ID), claim)
		return own, err
	}
	if err != nil {
		return false, fmt.Errorf("create delivery %s: %w", d.ID, err)
	}
	return true, nil
}

// Claim leases a delivery for its next attempt. It succeeds only if the
// delivery has exactly attempts attempts behind it, is pending (any status
// when manual) and no live lease is held: a duplicate or superseded
// message claims nothing and sends nothing.
func (st *Store) Claim(ctx context.Context, ws, env, ep, id string, attempts int, manual bool, lease time.Time) (Delivery, bool, error) {
	claim, err := st.claimToken()
	if err != nil {
		return Delivery{}, false, err
	}
	cond := "#a = :a AND (attribute_not_exists(#l) OR #l < :now)"
	names := map[string]string{"#a": aAttempts, "#l": aLease, "#c": aClaim}
	vals := map[string]types.AttributeValue{":a": dynamo.N(int64(attempts)), ":now": dynamo.Millis(st.now()), ":lease": dynamo.Millis(lease),
		":c": dynamo.S(claim)}
	if !manual {
		cond += " AND #st = :p"
		names["#st"] = aStatus
		vals[":p"] = dynamo.S(Pending)
	}
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: deliveryKey(ws, env, ep, id),
		UpdateExpression: aws.String("SET #l = :lease, #c = :c"), ConditionExpression: aws.String("attribute_exists(pk) AND " + cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ReturnValues: types.ReturnValueAllNew,
	})
	if dynamo.IsConditionFailed(err) {
		it, own, err := st.ownClaim(ctx, deliveryKey(ws, env, ep, id), claim)
		if !own || err != nil {
			return Delivery{}, false, err
		}
		d, err := decodeDelivery(it)
		return d, err == nil, err
	}
	if err != nil {
		return Delivery{}, false, fmt.Errorf("claim delivery %s: %w", id, err)
	}
	d, err := decodeDelivery(out.Attributes)
	return d, err == nil, err
}

// claimToken names one claim of a delivery (its creation, or a Claim): a
// claim whose write went through but whose answer was lost, so that the
// SDK retried it into its own condition, then knows the delivery is its
// own instead of leaving it leased to nobody, never attempted.
func (st *Store) claimToken() (string, error) {
	r := st.rand
	if r == nil {
		r = rand.Reader
	}
	var b [12]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("delivery claim token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ownClaim reads a delivery whose claim failed its condition: it is the
// caller's own when it carries the caller's claim token.
func (st *Store) ownClaim(ctx context.Context, key map[string]types.AttributeValue, claim string) (map[string]types.AttributeValue, bool, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, false, fmt.Errorf("read back a claimed delivery: %w", err)
	}
	return out.Item, out.Item != nil && dynamo.Str(out.Item, aClaim) == claim, nil
}

// unsuccessful is the condition of a delivery recovery sends again: it
// failed for good (retries exhausted, or refused), or it has failed
// attempts and waits for its next retry.
const unsuccessful = "(#st = :failed OR (#st = :pending AND #a > :zero))"

func unsuccessfulValues() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{":failed": dynamo.S(Failed), ":pending": dynamo.S(Pending), ":zero": dynamo.N(0)}
}

// ClaimRecovery leases an unsuccessful delivery for the one attempt
// recovery rcv makes of it: it succeeds only if the delivery is still
// unsuccessful, is not leased, and rcv has not attempted it yet, so a
// duplicate recovery message sends nothing twice. The attempt moves the
// delivery's attempt count on, so a retry it was waiting for finds itself
// superseded and sends nothing either.
func (st *Store) ClaimRecovery(ctx context.Context, d Delivery, rcv string, lease time.Time) (Delivery, bool, error) {
	vals := unsuccessfulValues()
	vals[":now"], vals[":lease"], vals[":rc"] = dynamo.Millis(st.now()), dynamo.Millis(lease), dynamo.S(rcv)
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: deliveryKey(d.Workspace, d.Env, d.EndpointID, d.ID),
		UpdateExpression: aws.String("SET #l = :lease"),
		ConditionExpression: aws.String("attribute_exists(pk) AND " + unsuccessful + " AND (attribute_not_exists(#l) OR #l < :now) " +
			"AND (attribute_not_exists(#rc) OR #rc <> :rc)"),
		ExpressionAttributeNames:  map[string]string{"#st": aStatus, "#a": aAttempts, "#l": aLease, "#rc": aRecovery},
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if dynamo.IsConditionFailed(err) {
		return Delivery{}, false, nil
	}
	if err != nil {
		return Delivery{}, false, fmt.Errorf("claim delivery %s for recovery %s: %w", d.ID, rcv, err)
	}
	c, err := decodeDelivery(out.Attributes)
	c.recovering = rcv
	return c, err == nil, err
}

// FailedSince pages through the unsuccessful deliveries of an endpoint
// (failed, or waiting to retry a failed attempt) whose events happened from
// since to until, oldest first, after the delivery id given; next is where
// the following page starts ("" after the last). Delivery ids start with
// their event's time, so the range is a key range.
func (st *Store) FailedSince(ctx context.Context, ws, env, ep string, since, until time.Time, after string, limit int) ([]Delivery, string, error) {
	vals := unsuccessfulValues()
	vals[":pk"] = dynamo.S(deliveryPK(ws, env, ep))
	vals[":lo"], vals[":hi"] = dynamo.S("D#dlv_"+ids.TimePrefix(since)), dynamo.S("D#dlv_"+ids.TimePrefix(until)+"~")
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		FilterExpression:          aws.String(unsuccessful),
		ExpressionAttributeNames:  map[string]string{"#st": aStatus, "#a": aAttempts},
		ExpressionAttributeValues: vals,
		Limit:                     aws.Int32(int32(limit)),
	}
	if after != "" {
		in.ExclusiveStartKey = deliveryKey(ws, env, ep, after)
	}
	var ds []Delivery
	for {
		out, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("failed deliveries of %s: %w", ep, err)
		}
		if ds, err = st.appendLive(ds, out.Items); err != nil {
			return nil, "", err
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ds, "", nil
		}
		if len(ds) >= limit {
			return ds, strings.TrimPrefix(dynamo.Str(out.LastEvaluatedKey, aSK), "D#"), nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Record appends an attempt to a claimed delivery and sets its status and
// next attempt time (nil: none), releasing the lease.
func (st *Store) Record(ctx context.Context, d Delivery, a Attempt, status string, next *time.Time) (Delivery, error) {
	log := append(slices.Clone(d.Attempts), a)
	if len(log) > MaxLoggedAttempts {
		log = log[len(log)-MaxLoggedAttempts:]
	}
	raw, err := json.Marshal(log)
	if err != nil {
		return Delivery{}, fmt.Errorf("encode attempts: %w", err)
	}
	expr := "SET #a = :a1, #st = :st, #log = :log"
	names := map[string]string{"#a": aAttempts, "#st": aStatus, "#log": aLog, "#l": aLease, "#n": aNext}
	vals := map[string]types.AttributeValue{":a0": dynamo.N(int64(d.AttemptCount)), ":a1": dynamo.N(int64(d.AttemptCount + 1)),
		":st": dynamo.S(status), ":log": dynamo.S(string(raw))}
	if d.recovering != "" {
		expr += ", #rc = :rc"
		names["#rc"], vals[":rc"] = aRecovery, dynamo.S(d.recovering)
	}
	if next != nil {
		expr += ", #n = :n REMOVE #l"
		vals[":n"] = dynamo.Millis(*next)
	} else {
		expr += " REMOVE #l, #n"
	}
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: deliveryKey(d.Workspace, d.Env, d.EndpointID, d.ID),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("#a = :a0"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("record attempt %d of %s: %w", d.AttemptCount+1, d.ID, err)
	}
	d.AttemptCount++
	d.Attempts, d.Status, d.NextAttemptAt = log, status, next
	return d, nil
}

// GetDelivery reads one delivery of an endpoint.
func (st *Store) GetDelivery(ctx context.Context, ws, env, ep, id string) (Delivery, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: deliveryKey(ws, env, ep, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Delivery{}, fmt.Errorf("get delivery %s: %w", id, err)
	}
	if out.Item == nil || expired(out.Item, st.now()) {
		return Delivery{}, notFound("delivery")
	}
	return decodeDelivery(out.Item)
}

// ListDeliveries pages through an endpoint's deliveries, newest first,
// after (older than) the delivery id given.
func (st *Store) ListDeliveries(ctx context.Context, ws, env, ep, after string, limit int) ([]Delivery, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": dynamo.S(deliveryPK(ws, env, ep))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	if after != "" {
		in.ExclusiveStartKey = deliveryKey(ws, env, ep, after)
	}
	out, err := st.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries of %s: %w", ep, err)
	}
	ds, err := st.appendLive(make([]Delivery, 0, len(out.Items)), out.Items)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 && len(out.Items) == limit {
		next = dynamo.Str(out.Items[len(out.Items)-1], aID)
	}
	return ds, next, nil
}
