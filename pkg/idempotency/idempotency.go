// Package idempotency makes creating POSTs safe to repeat under an
// Idempotency-Key header. The first request with a key claims a record in
// the data table (one conditional put, so of concurrent duplicates exactly
// one proceeds); its answer is stored there for Window; a repeat with the
// same key and the same request gets that answer again and creates
// nothing, a repeat with another request is 409 idempotency_mismatch, and
// one that arrives while the first is still running is 409 conflict. A
// request that fails releases its claim, so the key is not poisoned.
//
// Records live in the caller's partition of the workspace's environment,
// so a key never reaches across workspaces, environments or routes that
// keep their items in different partitions (POST /v1/videos in WS#…,
// publishing in PUB#…):
//
//	<partition>   IDEM#<sha256 of the key>   hash, state, response, httpStatus, createdAt, ttl
package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/dynamo"
)

// Header is the request header that carries the key; ReplayedHeader marks
// a stored answer.
const (
	Header         = "Idempotency-Key"
	ReplayedHeader = "Idempotent-Replayed"
)

// Window is how long a key is remembered.
const Window = 24 * time.Hour

// MaxLen is the longest key accepted.
const MaxLen = 255

// Check validates a key: 1 to MaxLen printable ASCII characters. Callers
// skip it (and idempotency) when the header is absent.
func Check(k string) error {
	if len(k) > MaxLen || !utf8.ValidString(k) {
		return apierr.Invalid(Header, "Idempotency-Key must be at most 255 characters.")
	}
	for _, r := range k {
		if r < 0x20 || r > 0x7e {
			return apierr.Invalid(Header, "Idempotency-Key must be printable ASCII.")
		}
	}
	return nil
}

// BodyHash identifies a request body; insignificant whitespace does not count.
func BodyHash(body []byte) string {
	var c bytes.Buffer
	if json.Compact(&c, body) == nil {
		body = c.Bytes()
	}
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Store keeps idempotency records in a table whose TTL attribute is "ttl".
type Store struct {
	db    DB
	table string
	now   func() time.Time
}

// NewStore returns a store over table. Every argument is required.
func NewStore(db DB, table string, now func() time.Time) (*Store, error) {
	if db == nil || table == "" || now == nil {
		return nil, errors.New("idempotency store: db, table and clock are required")
	}
	return &Store{db: db, table: table, now: now}, nil
}

// Record states.
const (
	pending = "pending"
	done    = "done"
)

const (
	aPK, aSK, aTTL          = "pk", "sk", "ttl"
	aHash, aState, aCreated = "hash", "state", "createdAt"
	aResponse, aStatus      = "response", "httpStatus"
	aClaim                  = "claim"
	sortPrefix              = "IDEM#"
)

// Key is where one Idempotency-Key's record lives.
type Key struct{ Partition, Sort string }

// KeyOf is the record of key k in partition: the sort key is a hash of k,
// so keys of any content have the same length and are not stored.
func KeyOf(partition, k string) Key {
	h := sha256.Sum256([]byte(k))
	return Key{Partition: partition, Sort: sortPrefix + hex.EncodeToString(h[:])}
}

func (k Key) item() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: dynamo.S(k.Partition), aSK: dynamo.S(k.Sort)}
}

// Response is an answer to a creating request: what was sent the first
// time, and what a replay sends again.
type Response struct {
	Status int
	Body   []byte
}

// Claim reserves k for a request whose body hashes to hash; attrs (say, the
// id of what the request creates) are stored with it for operators. A nil
// response means the caller proceeds and must then Complete or Release.
// Otherwise it is the stored answer (same body, first request done), or
// the error is 409 idempotency_mismatch (another body) or 409 conflict
// (first request still running). A record past its TTL is free again.
func (st *Store) Claim(ctx context.Context, k Key, hash string, attrs map[string]types.AttributeValue) (*Response, error) {
	now := st.now()
	// The claim names itself, so that when its write went through but the
	// answer was lost and the SDK retried it into its own condition, it
	// knows the record it finds is its own.
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	claim := hex.EncodeToString(nonce[:])
	it := k.item()
	maps.Copy(it, attrs)
	it[aClaim] = dynamo.S(claim)
	it[aHash] = dynamo.S(hash)
	it[aState] = dynamo.S(pending)
	it[aCreated] = dynamo.Millis(now)
	it[aTTL] = dynamo.N(now.Add(Window).Unix())
	_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &st.table, Item: it,
		ConditionExpression:                 aws.String("attribute_not_exists(pk) OR #ttl <= :now"),
		ExpressionAttributeNames:            map[string]string{"#ttl": aTTL},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": dynamo.N(now.Unix())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil, nil
	}
	old, ok := dynamo.ConditionFailed(err)
	if !ok {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if old == nil { // an emulator that does not return the item: read it
		out, gerr := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: k.item(), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return nil, fmt.Errorf("read idempotency key: %w", gerr)
		}
		old = out.Item
	}
	switch {
	case dynamo.Str(old, aClaim) == claim:
		return nil, nil
	case dynamo.Str(old, aHash) != hash:
		return nil, apierr.New(apierr.IdempotencyMismatch,
			"This Idempotency-Key was used with a different request body in the last 24 hours; use a new key for a new request.")
	case dynamo.Str(old, aState) == done:
		status, _ := dynamo.Float(old, aStatus)
		return &Response{Status: int(status), Body: []byte(dynamo.Str(old, aResponse))}, nil
	}
	return nil, apierr.New(apierr.Conflict, "A request with this Idempotency-Key is still being processed; retry in a moment.")
}

// Complete stores the answer to the request that claimed k.
func (st *Store) Complete(ctx context.Context, k Key, r Response) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: k.item(),
		UpdateExpression:         aws.String("SET #st = :d, #r = :r, #h = :h"),
		ExpressionAttributeNames: map[string]string{"#st": aState, "#r": aResponse, "#h": aStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": dynamo.S(done), ":r": dynamo.S(string(r.Body)),
			":h": dynamo.N(int64(r.Status))},
	})
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// Release forgets a claim whose request failed, so a retry can succeed. A
// record already done is kept.
func (st *Store) Release(ctx context.Context, k Key) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &st.table, Key: k.item(),
		ConditionExpression:       aws.String("#st = :p"),
		ExpressionAttributeNames:  map[string]string{"#st": aState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": dynamo.S(pending)},
	})
	if err != nil && !dynamo.IsConditionFailed(err) {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// Request is one creating request.
type Request struct {
	// Partition is the workspace's environment's partition of the caller.
	Partition string
	// Key is the Idempotency-Key, already Checked; "" means none.
	Key string
	// Hash identifies what must be equal for a replay (BodyHash of the
	// body, and of whatever else the route depends on, such as a path id).
	Hash string
	// Attrs are stored with the claim.
	Attrs map[string]types.AttributeValue
}

// Do runs create once per key: without a key it just runs it; with one it
// claims the key first, returns the stored answer (replayed true) or the
// claim's 409 instead of running create, releases the claim when create
// fails (nothing is remembered of a failure), and stores create's answer
// when it succeeds. A lost answer is only logged: what create made exists
// either way, and a retry with the key gets 409 conflict until the record
// expires, never a second creation.
func (st *Store) Do(ctx context.Context, log *slog.Logger, r Request, create func(context.Context) (Response, error)) (resp Response, replayed bool, err error) {
	if r.Key == "" {
		resp, err = create(ctx)
		return resp, false, err
	}
	if log == nil {
		log = slog.Default()
	}
	k := KeyOf(r.Partition, r.Key)
	rep, err := st.Claim(ctx, k, r.Hash, r.Attrs)
	if err != nil {
		return Response{}, false, err
	}
	if rep != nil {
		return *rep, true, nil
	}
	resp, err = create(ctx)
	if err != nil {
		if rerr := st.Release(context.WithoutCancel(ctx), k); rerr != nil {
			log.ErrorContext(ctx, "release idempotency key", "partition", r.Partition, "err", rerr)
		}
		return Response{}, false, err
	}
	if cerr := st.Complete(context.WithoutCancel(ctx), k, resp); cerr != nil {
		log.ErrorContext(ctx, "store idempotent answer", "partition", r.Partition, "err", cerr)
	}
	return resp, false, nil
}
