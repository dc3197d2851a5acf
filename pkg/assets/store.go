package assets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store is the assets' part of the data table. Every asset of a
// workspace's environment shares that environment's partition (sk
// ASSET#<id>), so no key of another workspace or environment can reach it.
// keysTable, when set, is where the environment's storage quota is read.
type Store struct {
	db        DB
	table     string
	keysTable string
	now       func() time.Time
}

// NewStore returns a store over the data table. keysTable may be empty for
// a store that never reads quotas (the worker).
func NewStore(db DB, table, keysTable string, now func() time.Time) (*Store, error) {
	if db == nil || table == "" || now == nil {
		return nil, errors.New("assets: db, table and clock are required")
	}
	return &Store{db: db, table: table, keysTable: keysTable, now: now}, nil
}

const (
	assetPrefix = "ASSET#"

	aID, aWS, aEnv, aStatus            = "id", "ws", "env", "status"
	aFilename, aType, aDeclared, aSize = "filename", "contentType", "declaredSize", "sizeBytes"
	aKind, aFormat, aDuration          = "kind", "format", "durationSeconds"
	aWidth, aHeight, aVCodec, aACodec  = "width", "height", "videoCodec", "audioCodec"
	aErrCode, aErrMsg, aUploadID       = "errorCode", "errorMessage", "uploadId"
	aCreated, aUploadBy, aFinished     = "createdAt", "uploadBy", "finishedAt"
	aExpires, attrTTL, aETag           = "expiresAt", "ttl", "etag"
	attrQuota                          = "maxStorageGB" // on the keys table's environment record
)

func key(ws string, env apikey.Env, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": dynamo.S(dynamo.WorkspacePartition(ws, string(env))), "sk": dynamo.S(assetPrefix + id),
	}
}

func item(a Asset) map[string]types.AttributeValue {
	it := key(a.Workspace, a.Env, a.ID)
	it[aID], it[aWS], it[aEnv], it[aStatus] = dynamo.S(a.ID), dynamo.S(a.Workspace), dynamo.S(string(a.Env)), dynamo.S(a.Status)
	it[aFilename], it[aType], it[aDeclared] = dynamo.S(a.Filename), dynamo.S(a.ContentType), dynamo.N(a.DeclaredSize)
	it[aCreated], it[aUploadBy] = dynamo.Millis(a.CreatedAt), dynamo.Millis(a.UploadBy)
	if a.UploadID != "" {
		it[aUploadID] = dynamo.S(a.UploadID)
	}
	if a.ExpiresAt != nil {
		it[aExpires], it[attrTTL] = dynamo.Millis(*a.ExpiresAt), dynamo.N(a.ExpiresAt.Unix())
	}
	return it
}

func integer(it dynamo.Item, name string) int64 {
	x, _ := dynamo.Int(it, name)
	return x
}

func decode(it dynamo.Item) Asset {
	a := Asset{
		ID: dynamo.Str(it, aID), Workspace: dynamo.Str(it, aWS), Env: apikey.Env(dynamo.Str(it, aEnv)),
		Status: dynamo.Str(it, aStatus), Filename: dynamo.Str(it, aFilename), ContentType: dynamo.Str(it, aType),
		DeclaredSize: integer(it, aDeclared), SizeBytes: integer(it, aSize), UploadID: dynamo.Str(it, aUploadID), ETag: dynamo.Str(it, aETag),
		Media: Media{
			Kind: dynamo.Str(it, aKind), Format: dynamo.Str(it, aFormat),
			Width: int(integer(it, aWidth)), Height: int(integer(it, aHeight)),
			VideoCodec: dynamo.Str(it, aVCodec), AudioCodec: dynamo.Str(it, aACodec),
		},
		FinishedAt: dynamo.Time(it, aFinished), ExpiresAt: dynamo.Time(it, aExpires),
	}
	a.Media.DurationSeconds, _ = dynamo.Float(it, aDuration)
	if t := dynamo.Time(it, aCreated); t != nil {
		a.CreatedAt = *t
	}
	if t := dynamo.Time(it, aUploadBy); t != nil {
		a.UploadBy = *t
	}
	if c := dynamo.Str(it, aErrCode); c != "" {
		a.Error = &Error{Code: c, Message: dynamo.Str(it, aErrMsg)}
	}
	return a
}

func errNotFound(id string) error { return apierr.New(apierr.NotFound, "No asset %s.", id) }

func target(id string) audit.Target { return audit.Target{Type: audit.TargetAsset, ID: id} }

// Insert writes a new pending asset with its audit record.
func (st *Store) Insert(ctx context.Context, a Asset, ch *audit.Change) error {
	err := ch.Transact(ctx, st.db, string(a.Env), audit.AssetCreated, target(a.ID),
		map[string]string{"filename": a.Filename, "contentType": a.ContentType, "sizeBytes": strconv.FormatInt(a.DeclaredSize, 10)},
		types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: item(a), ConditionExpression: aws.String("attribute_not_exists(pk)")}})
	if err != nil {
		return fmt.Errorf("insert asset %s: %w", a.ID, err)
	}
	return nil
}

// Get reads an asset of a workspace's environment; one that does not
// exist, belongs elsewhere or has expired is not found.
func (st *Store) Get(ctx context.Context, ws string, env apikey.Env, id string) (Asset, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: key(ws, env, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Asset{}, fmt.Errorf("get asset %s: %w", id, err)
	}
	if out.Item == nil {
		return Asset{}, errNotFound(id)
	}
	a := decode(out.Item)
	if a.Expired(st.now()) {
		return Asset{}, errNotFound(id)
	}
	return a, nil
}

// List returns up to limit assets, newest first, older than the cursor id
// (all when empty), optionally of one status, and whether more follow.
func (st *Store) List(ctx context.Context, ws string, env apikey.Env, status, cursor string, limit int) ([]Asset, bool, error) {
	names := map[string]string{"#x": aExpires}
	values := map[string]types.AttributeValue{
		":pk": dynamo.S(dynamo.WorkspacePartition(ws, string(env))), ":p": dynamo.S(assetPrefix), ":now": dynamo.Millis(st.now()),
	}
	filter := "(attribute_not_exists(#x) OR #x > :now)"
	if status != "" {
		filter += " AND #s = :s"
		names["#s"], values[":s"] = aStatus, dynamo.S(status)
	}
	in := &dynamodb.QueryInput{
		TableName: &st.table, KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		FilterExpression: aws.String(filter), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ScanIndexForward: aws.Bool(false), Limit: aws.Int32(int32(max(limit+1, 10))),
	}
	if cursor != "" {
		in.ExclusiveStartKey = key(ws, env, cursor)
	}
	var out []Asset
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("list assets of %s/%s: %w", ws, env, err)
		}
		for _, it := range page.Items {
			out = append(out, decode(it))
		}
		if len(out) > limit || page.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// Usage is the bytes the environment's assets count against its quota:
// ready files, and uploads that can still complete at their declared size.
func (st *Store) Usage(ctx context.Context, ws string, env apikey.Env) (int64, error) {
	in := &dynamodb.QueryInput{
		TableName: &st.table, KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ProjectionExpression:     aws.String("#s, #z, #d, #u, #x"),
		ExpressionAttributeNames: map[string]string{"#s": aStatus, "#z": aSize, "#d": aDeclared, "#u": aUploadBy, "#x": aExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": dynamo.S(dynamo.WorkspacePartition(ws, string(env))), ":p": dynamo.S(assetPrefix),
		},
	}
	now := st.now()
	var total int64
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("storage used by %s/%s: %w", ws, env, err)
		}
		for _, it := range page.Items {
			if a := decode(it); !a.Expired(now) {
				total += a.StorageBytes(now)
			}
		}
		if page.LastEvaluatedKey == nil {
			return total, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Quota is the environment's storage quota in bytes, from its record in
// the keys table (the record SetPlan updates); a record written before
// quotas existed gets the default plan's.
func (st *Store) Quota(ctx context.Context, ws string, env apikey.Env) (int64, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.keysTable, Key: keystore.EnvKey(ws, env),
		ProjectionExpression: aws.String("#q"), ExpressionAttributeNames: map[string]string{"#q": attrQuota},
	})
	if err != nil {
		return 0, fmt.Errorf("read storage quota of %s/%s: %w", ws, env, err)
	}
	if out.Item == nil {
		return 0, apierr.New(apierr.NotFound, "No workspace %s.", ws)
	}
	gb, ok := dynamo.Int(out.Item, attrQuota)
	if !ok || gb <= 0 {
		def, _ := ratelimit.LookupPlan(ratelimit.DefaultPlan)
		gb = int64(def.MaxStorageGB)
	}
	return gb << 30, nil
}

// MarkReady records what probing found in the file with etag. It reports
// false when the asset is no longer pending (a duplicate notification) or
// gone.
func (st *Store) MarkReady(ctx context.Context, a Asset, size int64, etag string, m Media) (bool, error) {
	set := "SET #st = :st, #z = :z, #k = :k, #f = :f, #d = :d, #fin = :fin"
	names := map[string]string{"#st": aStatus, "#z": aSize, "#k": aKind, "#f": aFormat, "#d": aDuration, "#fin": aFinished}
	values := map[string]types.AttributeValue{
		":st": dynamo.S(Ready), ":z": dynamo.N(size), ":k": dynamo.S(m.Kind), ":f": dynamo.S(m.Format),
		":d": dynamo.F(m.DurationSeconds), ":fin": dynamo.Millis(st.now()), ":pending": dynamo.S(Pending),
	}
	for name, v := range map[string]string{aVCodec: m.VideoCodec, aACodec: m.AudioCodec, aETag: etag} {
		if v != "" {
			set += fmt.Sprintf(", #%s = :%s", name, name)
			names["#"+name], values[":"+name] = name, dynamo.S(v)
		}
	}
	if m.Width > 0 {
		set += ", #w = :w, #h = :h"
		names["#w"], names["#h"] = aWidth, aHeight
		values[":w"], values[":h"] = dynamo.N(int64(m.Width)), dynamo.N(int64(m.Height))
	}
	return st.finish(ctx, a, set, names, values)
}

// MarkFailed records why an asset cannot be used. It reports false when
// the asset is no longer pending or gone.
func (st *Store) MarkFailed(ctx context.Context, a Asset, size int64, e Error) (bool, error) {
	return st.finish(ctx, a, "SET #st = :st, #z = :z, #c = :c, #m = :m, #fin = :fin",
		map[string]string{"#st": aStatus, "#z": aSize, "#c": aErrCode, "#m": aErrMsg, "#fin": aFinished},
		map[string]types.AttributeValue{
			":st": dynamo.S(Failed), ":z": dynamo.N(size), ":c": dynamo.S(e.Code), ":m": dynamo.S(e.Message),
			":fin": dynamo.Millis(st.now()), ":pending": dynamo.S(Pending),
		})
}

func (st *Store) finish(ctx context.Context, a Asset, set string, names map[string]string, values map[string]types.AttributeValue) (bool, error) {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: key(a.Workspace, a.Env, a.ID),
		UpdateExpression: aws.String(set), ConditionExpression: aws.String("#st = :pending"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if dynamo.IsConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("finish asset %s: %w", a.ID, err)
	}
	return true, nil
}

// Delete removes an asset's record, with its audit record.
func (st *Store) Delete(ctx context.Context, a Asset, ch *audit.Change) error {
	if err := ch.Transact(ctx, st.db, string(a.Env), audit.AssetDeleted, target(a.ID), map[string]string{"filename": a.Filename},
		types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table, Key: key(a.Workspace, a.Env, a.ID)}}); err != nil {
		return fmt.Errorf("delete asset %s: %w", a.ID, err)
	}
	return nil
}

// Resolve is how a movie spec's "asset" reference is checked when a video
// is created: the asset must be this workspace's and environment's (any
// other is not found) and ready (anything else is a conflict).
func (st *Store) Resolve(ctx context.Context, ws string, env apikey.Env, id string) (Asset, error) {
	if !ids.Valid(IDPrefix, id) {
		return Asset{}, errNotFound(id)
	}
	a, err := st.Get(ctx, ws, env, id)
	if err != nil {
		return Asset{}, err
	}
	if a.Status != Ready {
		msg := fmt.Sprintf("Asset %s is %s; only a ready asset can be used.", id, a.Status)
		if a.Error != nil {
			msg = fmt.Sprintf("Asset %s failed (%s); only a ready asset can be used.", id, a.Error.Code)
		}
		return Asset{}, apierr.New(apierr.Conflict, "%s", msg)
	}
	return a, nil
}
