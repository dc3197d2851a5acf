package videos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/framegate/framegate/pkg/attr"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
)

// Idempotency record states.
const (
	idemPending = "pending"
	idemDone    = "done"
)

// Replay is a stored answer to an idempotent request.
type Replay struct {
	Status int
	Body   []byte
}

func idemKey(ws string, env apikey.Env, k string) map[string]types.AttributeValue {
	h := sha256.Sum256([]byte(k))
	return key(ws, env, idemPrefix+hex.EncodeToString(h[:]))
}

// Claim reserves an idempotency key for a request whose body hashes to
// hash and that will create videoID. The conditional put comes first, so of
// two concurrent requests with the same key exactly one proceeds. The
// others get the stored answer (same body, first request done), 409
// idempotency_mismatch (other body), or 409 conflict (first request still
// running). A record past its TTL is free again.
func (st *Store) Claim(ctx context.Context, ws string, env apikey.Env, k, hash, videoID string) (*Replay, error) {
	now := st.now()
	it := idemKey(ws, env, k)
	it[aHash] = attr.S(hash)
	it[aState] = attr.S(idemPending)
	it[aVideo] = attr.S(videoID)
	it[aCreated] = attr.Millis(now)
	it[attrTTL] = attr.N(now.Add(IdempotencyWindow).Unix())
	_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &st.table, Item: it,
		ConditionExpression:                 aws.String("attribute_not_exists(pk) OR #ttl <= :now"),
		ExpressionAttributeNames:            map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": attr.N(now.Unix())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil, nil
	}
	var cf *types.ConditionalCheckFailedException
	if !errors.As(err, &cf) {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	old := cf.Item
	if old == nil { // an emulator that does not return the item: read it
		out, gerr := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: idemKey(ws, env, k), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return nil, fmt.Errorf("read idempotency key: %w", gerr)
		}
		old = out.Item
	}
	switch {
	case attr.Str(old, aHash) != hash:
		return nil, apierr.New(apierr.IdempotencyMismatch,
			"This Idempotency-Key was used with a different request body in the last 24 hours; use a new key for a new request.")
	case attr.Str(old, aState) == idemDone:
		return &Replay{Status: int(integer(old, "httpStatus")), Body: []byte(attr.Str(old, aResponse))}, nil
	}
	return nil, apierr.New(apierr.Conflict, "A request with this Idempotency-Key is still being processed; retry in a moment.")
}

// Complete stores the answer to the request that claimed k.
func (st *Store) Complete(ctx context.Context, ws string, env apikey.Env, k string, status int, body []byte) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: idemKey(ws, env, k),
		UpdateExpression:          aws.String("SET #st = :d, #r = :r, #h = :h"),
		ExpressionAttributeNames:  map[string]string{"#st": aState, "#r": aResponse, "#h": "httpStatus"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": attr.S(idemDone), ":r": attr.S(string(body)), ":h": attr.N(int64(status))},
	})
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseClaim forgets a claim whose request failed, so a retry can succeed.
func (st *Store) ReleaseClaim(ctx context.Context, ws string, env apikey.Env, k string) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &st.table, Key: idemKey(ws, env, k),
		ConditionExpression:       aws.String("#st = :p"),
		ExpressionAttributeNames:  map[string]string{"#st": aState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": attr.S(idemPending)},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
