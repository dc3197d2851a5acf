package videos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/framegate/framegate/pkg/dynamo"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/idempotency"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/usage"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is the videos' part of the data table, plus the one read of the
// keys table that gives an environment's limits.
type Store struct {
	db        DB
	table     string
	keysTable string
	now       func() time.Time
	idem      *idempotency.Store
}

// NewStore returns a store over the data table; keysTable is where the
// per-environment limits live. Every argument is required.
func NewStore(db DB, table, keysTable string, now func() time.Time) (*Store, error) {
	if db == nil || table == "" || keysTable == "" || now == nil {
		return nil, errors.New("videos: db, table, keys table and clock are required")
	}
	idem, err := idempotency.NewStore(db, table, now)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, table: table, keysTable: keysTable, now: now, idem: idem}, nil
}

// Item layout. Everything of a workspace's environment shares one partition,
// so no key of another workspace or environment can ever reach it.
const (
	attrPK, attrSK         = "pk", "sk"
	attrTTL                = "ttl"
	attrGSI1PK, attrGSI1SK = "gsi1pk", "gsi1sk" // the expiry index of sandbox videos (sweeper.go)

	videoPrefix = "VIDEO#"
	slotPrefix  = "SLOT#" // idempotency records are IDEM# (package idempotency)
	counterSK   = "COUNTER#renders"

	aID, aWS, aEnv, aStatus, aProgress        = "id", "ws", "env", "status", "progress"
	aSpec, aTemplate, aVars                   = "spec", "templateId", "variables"
	aDuration, aSize, aWidth, aHeight         = "durationSeconds", "sizeBytes", "width", "height"
	aErrCode, aErrMsg                         = "errorCode", "errorMessage"
	aCreated, aStarted, aFinished, aExpires   = "createdAt", "startedAt", "finishedAt", "expiresAt"
	aWebhook, aWatermark, aS3Key, aSlot, aEvt = "webhookUrl", "watermark", "s3Key", "slot", "eventSent"
	aQueued                                   = "queued"
	aThumb                                    = "thumbnailKey"
	aHolder, aLease                           = "holder", "leaseExpiresAt" // of a slot, and of a rendering video
	aAttempts, aToken                         = "attempts", "leaseToken"
	aVideo                                    = "videoId" // of an idempotency record
)

// Partition is the partition key of a workspace's environment.
func Partition(ws string, env apikey.Env) string { return dynamo.WorkspacePartition(ws, string(env)) }

func key(ws string, env apikey.Env, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: dynamo.S(Partition(ws, env)), attrSK: dynamo.S(sk)}
}

func integer(it map[string]types.AttributeValue, name string) int64 {
	x, _ := dynamo.Float(it, name)
	return int64(x)
}

func videoItem(v Video) map[string]types.AttributeValue {
	it := key(v.Workspace, v.Env, videoPrefix+v.ID)
	it[aID] = dynamo.S(v.ID)
	it[aWS] = dynamo.S(v.Workspace)
	it[aEnv] = dynamo.S(string(v.Env))
	it[aStatus] = dynamo.S(v.Status)
	it[aProgress] = dynamo.N(int64(v.Progress))
	it[aDuration] = dynamo.F(v.Duration)
	it[aCreated] = dynamo.Millis(v.CreatedAt)
	it[aWatermark] = dynamo.B(v.Watermark)
	it[aSlot] = dynamo.N(-1)
	if v.Width > 0 {
		it[aWidth], it[aHeight] = dynamo.N(int64(v.Width)), dynamo.N(int64(v.Height))
	}
	if len(v.Spec) > 0 {
		it[aSpec] = dynamo.S(string(v.Spec))
	}
	if v.TemplateID != "" {
		it[aTemplate] = dynamo.S(v.TemplateID)
	}
	if len(v.Variables) > 0 {
		it[aVars] = dynamo.S(string(v.Variables))
	}
	if v.WebhookURL != "" {
		it[aWebhook] = dynamo.S(v.WebhookURL)
	}
	if v.ExpiresAt != nil {
		it[aExpires] = dynamo.Millis(*v.ExpiresAt)
		it[attrTTL] = dynamo.N(v.ExpiresAt.Unix())
		it[attrGSI1PK], it[attrGSI1SK] = dynamo.S(expiryDay(*v.ExpiresAt)), dynamo.S(expirySort(*v.ExpiresAt, v.ID))
	}
	return it
}

func decodeVideo(it map[string]types.AttributeValue) Video {
	v := Video{
		ID: dynamo.Str(it, aID), Workspace: dynamo.Str(it, aWS), Env: apikey.Env(dynamo.Str(it, aEnv)),
		Status: dynamo.Str(it, aStatus), Progress: int(integer(it, aProgress)),
		TemplateID: dynamo.Str(it, aTemplate), SizeBytes: integer(it, aSize),
		Width: int(integer(it, aWidth)), Height: int(integer(it, aHeight)),
		StartedAt: dynamo.Time(it, aStarted), FinishedAt: dynamo.Time(it, aFinished), ExpiresAt: dynamo.Time(it, aExpires),
		WebhookURL: dynamo.Str(it, aWebhook), Watermark: dynamo.Bool(it, aWatermark), S3Key: dynamo.Str(it, aS3Key),
		ThumbnailKey: dynamo.Str(it, aThumb),
		Slot:         int(integer(it, aSlot)), EventSent: dynamo.Bool(it, aEvt),
		Attempts: int(integer(it, aAttempts)), LeaseToken: dynamo.Str(it, aToken), LeaseExpiresAt: dynamo.Time(it, aLease),
	}
	v.Duration, _ = dynamo.Float(it, aDuration)
	if x := dynamo.Str(it, aSpec); x != "" {
		v.Spec = json.RawMessage(x)
	}
	if x := dynamo.Str(it, aVars); x != "" {
		v.Variables = json.RawMessage(x)
	}
	if c := dynamo.Time(it, aCreated); c != nil {
		v.CreatedAt = *c
	}
	if code := dynamo.Str(it, aErrCode); code != "" {
		v.Error = &Error{Code: code, Message: dynamo.Str(it, aErrMsg)}
	}
	return v
}

func errNotFound(id string) error { return apierr.New(apierr.NotFound, "No video %s.", id) }

// EnvLimits reads the render limits of a workspace's environment: one
// GetItem of the record the key store keeps them on (the same record
// SetPlan updates, so a plan change applies to the next request). A
// missing record means the workspace does not exist.
func (st *Store) EnvLimits(ctx context.Context, ws string, env apikey.Env) (Limits, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.keysTable, Key: keystore.EnvKey(ws, env),
		ProjectionExpression:     aws.String("#c, #q, #m"),
		ExpressionAttributeNames: map[string]string{"#c": "concurrentRenders", "#q": "queuedRenders", "#m": "maxVideoSeconds"},
	})
	if err != nil {
		return Limits{}, fmt.Errorf("read limits of %s/%s: %w", ws, env, err)
	}
	if out.Item == nil {
		return Limits{}, apierr.New(apierr.NotFound, "No workspace %s.", ws)
	}
	// A record written before the render limits existed gets the default plan's.
	def, _ := ratelimit.LookupPlan(ratelimit.DefaultPlan)
	get := func(name string, d int) int {
		if x, ok := dynamo.Int(out.Item, name); ok && x > 0 {
			return int(x)
		}
		return d
	}
	return Limits{
		ConcurrentRenders: get("concurrentRenders", def.ConcurrentRenders),
		QueuedRenders:     get("queuedRenders", def.QueuedRenders),
		MaxVideoSeconds:   get("maxVideoSeconds", def.MaxVideoSeconds),
	}, nil
}

// QueueFullRetryAfter is the Retry-After of queue_full: about a short
// render, after which a place may have freed.
const QueueFullRetryAfter = 30 * time.Second

// Insert writes a new queued video and counts it against the environment's
// queue cap in one transaction: either both happen or neither. A full
// queue is apierr.QueueFull.
func (st *Store) Insert(ctx context.Context, v Video, queueCap int) error {
	_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &st.table, Key: key(v.Workspace, v.Env, counterSK),
			UpdateExpression:          aws.String("ADD #q :one"),
			ConditionExpression:       aws.String("attribute_not_exists(#q) OR #q < :cap"),
			ExpressionAttributeNames:  map[string]string{"#q": aQueued},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": dynamo.N(1), ":cap": dynamo.N(int64(queueCap))},
		}},
		{Put: &types.Put{
			TableName: &st.table, Item: videoItem(v),
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}},
	}})
	if err == nil {
		return nil
	}
	if r := dynamo.CancelReasons(err); len(r) == 2 && r[0] == "ConditionalCheckFailed" {
		e := apierr.New(apierr.QueueFull, "This workspace already has %d renders queued or rendering; retry after %d seconds or when one finishes.",
			queueCap, int(QueueFullRetryAfter/time.Second))
		e.RetryAfter = QueueFullRetryAfter
		return e
	}
	if r := dynamo.CancelReasons(err); len(r) == 2 && r[1] == "ConditionalCheckFailed" {
		// The video's id is new: only this insert's own earlier try, whose
		// answer was lost and which the SDK retried, can have written it.
		if _, gerr := st.Get(ctx, v.Workspace, v.Env, v.ID); gerr == nil {
			return nil
		}
	}
	return fmt.Errorf("insert video %s: %w", v.ID, err)
}

// Get reads a video of a workspace's environment; one that does not exist,
// belongs elsewhere or has expired is not found.
func (st *Store) Get(ctx context.Context, ws string, env apikey.Env, id string) (Video, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.table, Key: key(ws, env, videoPrefix+id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Video{}, fmt.Errorf("get video %s: %w", id, err)
	}
	if out.Item == nil {
		return Video{}, errNotFound(id)
	}
	v := decodeVideo(out.Item)
	if v.Expired(st.now()) {
		return Video{}, errNotFound(id)
	}
	return v, nil
}

// Filter narrows a listing.
type Filter struct {
	Status string
	// After lists only videos created after this id (ids sort by creation
	// time, so a time bound is an id bound).
	CreatedAfterID string
}

// List returns up to limit videos, newest first, older than the cursor id
// (all when empty), and whether more follow.
func (st *Store) List(ctx context.Context, ws string, env apikey.Env, flt Filter, cursor string, limit int) ([]Video, bool, error) {
	return st.list(ctx, ws, env, flt, cursor, limit+1, false, limit)
}

// Oldest returns up to n matching videos, oldest first: the reverse query
// that finds the last page.
func (st *Store) Oldest(ctx context.Context, ws string, env apikey.Env, flt Filter, n int) ([]Video, error) {
	out, _, err := st.list(ctx, ws, env, flt, "", n, true, n)
	return out, err
}

func (st *Store) list(ctx context.Context, ws string, env apikey.Env, flt Filter, cursor string, want int, forward bool, keep int) ([]Video, bool, error) {
	lo := videoPrefix
	if flt.CreatedAfterID != "" {
		lo = videoPrefix + flt.CreatedAfterID
	}
	values := map[string]types.AttributeValue{
		":pk": dynamo.S(Partition(ws, env)), ":lo": dynamo.S(lo), ":hi": dynamo.S(videoPrefix + "~"),
		":now": dynamo.Millis(st.now()),
	}
	names := map[string]string{"#x": aExpires}
	filter := "(attribute_not_exists(#x) OR #x > :now)"
	if flt.Status != "" {
		filter += " AND #s = :s"
		names["#s"] = aStatus
		values[":s"] = dynamo.S(flt.Status)
	}
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		FilterExpression:          aws.String(filter),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(forward),
		Limit:                     aws.Int32(int32(max(want, 10))),
	}
	if cursor != "" {
		in.ExclusiveStartKey = key(ws, env, videoPrefix+cursor)
	}
	var out []Video
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("list videos of %s/%s: %w", ws, env, err)
		}
		for _, it := range page.Items {
			v := decodeVideo(it)
			if v.ID == flt.CreatedAfterID { // BETWEEN is inclusive; "after" is not
				continue
			}
			out = append(out, v)
		}
		if len(out) >= want || page.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	more := len(out) > keep
	if more {
		out = out[:keep]
	}
	return out, more, nil
}

// transition moves a non-terminal video to a terminal status with set
// applied, and releases its place in the queue counter in the same
// transaction, so the counter drops exactly once per video whatever
// retries and races happen. cond, when set, must hold too (a fence). It
// reports false when the video was already terminal, gone, or cond failed.
func (st *Store) transition(ctx context.Context, v Video, from []string, cond, set string, names map[string]string, values map[string]types.AttributeValue, also ...types.TransactWriteItem) (bool, error) {
	names["#st"] = aStatus
	c := "#st IN ("
	for i, x := range from {
		k := fmt.Sprintf(":from%d", i)
		values[k] = dynamo.S(x)
		if i > 0 {
			c += ", "
		}
		c += k
	}
	c += ")"
	if cond != "" {
		c += " AND (" + cond + ")"
	}
	_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append([]types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &st.table, Key: key(v.Workspace, v.Env, videoPrefix+v.ID),
			UpdateExpression: aws.String(set), ConditionExpression: aws.String(c),
			ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		}},
		{Update: &types.Update{
			TableName: &st.table, Key: key(v.Workspace, v.Env, counterSK),
			UpdateExpression:          aws.String("ADD #q :minus"),
			ExpressionAttributeNames:  map[string]string{"#q": aQueued},
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": dynamo.N(-1)},
		}},
	}, also...)})
	if err == nil {
		return true, nil
	}
	if r := dynamo.CancelReasons(err); len(r) >= 2 && r[0] == "ConditionalCheckFailed" {
		return false, nil
	}
	return false, fmt.Errorf("finish video %s: %w", v.ID, err)
}

// fence is the condition that the attempt holding token still holds v.
func fence(names map[string]string, values map[string]types.AttributeValue, token string) string {
	names["#tok"] = aToken
	values[":tok"] = dynamo.S(token)
	return "#tok = :tok"
}

// Rendered is what a successful attempt records.
type Rendered struct {
	Duration      float64
	SizeBytes     int64
	Width, Height int
	S3Key         string
	// ThumbnailKey is the attempt's JPEG poster, beside S3Key; "" for
	// none.
	ThumbnailKey string
}

// Succeed records the render of the attempt holding token: fenced, so only
// the attempt that holds the video can make it succeed, and only once.
func (st *Store) Succeed(ctx context.Context, v Video, token string, r Rendered) (bool, error) {
	now := st.now()
	names := map[string]string{"#p": aProgress, "#d": aDuration, "#z": aSize, "#w": aWidth, "#h": aHeight, "#k": aS3Key, "#f": aFinished, "#le": aLease}
	values := map[string]types.AttributeValue{
		":st": dynamo.S(Succeeded), ":hundred": dynamo.N(100), ":d": dynamo.F(r.Duration), ":z": dynamo.N(r.SizeBytes),
		":w": dynamo.N(int64(r.Width)), ":h": dynamo.N(int64(r.Height)), ":k": dynamo.S(r.S3Key), ":f": dynamo.Millis(now),
	}
	set := "SET #st = :st, #p = :hundred, #d = :d, #z = :z, #w = :w, #h = :h, #k = :k, #f = :f"
	if r.ThumbnailKey != "" {
		set += ", #tk = :tk"
		names["#tk"], values[":tk"] = aThumb, dynamo.S(r.ThumbnailKey)
	}
	return st.transition(ctx, v, []string{Rendering}, fence(names, values, token), set+" REMOVE #le", names, values,
		usage.RenderSeconds(st.keysTable, v.Workspace, v.Env, r.Duration, now)...)
}

// Fail records a failed render, from queued or rendering, whoever holds it
// (the dead-letter handler, a render that could not be queued).
func (st *Store) Fail(ctx context.Context, v Video, e Error) (bool, error) {
	return st.fail(ctx, v, "", e, map[string]string{}, map[string]types.AttributeValue{})
}

// FailAttempt records the failure of the attempt holding token.
func (st *Store) FailAttempt(ctx context.Context, v Video, token string, e Error) (bool, error) {
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	return st.fail(ctx, v, fence(names, values, token), e, names, values)
}

// GiveUp fails a video no attempt holds any more (queued, or rendering
// under an expired lease) once it has had its attempts.
func (st *Store) GiveUp(ctx context.Context, v Video, e Error) (bool, error) {
	names := map[string]string{"#le": aLease}
	values := map[string]types.AttributeValue{":q": dynamo.S(Queued), ":now": dynamo.Millis(st.now())}
	return st.fail(ctx, v, "#st = :q OR attribute_not_exists(#le) OR #le <= :now", e, names, values)
}

func (st *Store) fail(ctx context.Context, v Video, cond string, e Error, names map[string]string, values map[string]types.AttributeValue) (bool, error) {
	names["#c"], names["#m"], names["#f"], names["#le"] = aErrCode, aErrMsg, aFinished, aLease
	values[":st"], values[":c"], values[":m"], values[":f"] = dynamo.S(Failed), dynamo.S(e.Code), dynamo.S(e.Message), dynamo.Millis(st.now())
	return st.transition(ctx, v, []string{Queued, Rendering}, cond, "SET #st = :st, #c = :c, #m = :m, #f = :f REMOVE #le", names, values)
}

// Cancel stops a queued or rendering video; the worker skips it or stops.
func (st *Store) Cancel(ctx context.Context, v Video) (bool, error) {
	return st.transition(ctx, v, []string{Queued, Rendering}, "",
		"SET #st = :st, #f = :f REMOVE #le",
		map[string]string{"#f": aFinished, "#le": aLease},
		map[string]types.AttributeValue{":st": dynamo.S(Cancelled), ":f": dynamo.Millis(st.now())})
}

// StartRendering starts an attempt: the video moves to rendering under
// token, leased for ttl, holding slot, with its attempts counted. Only a
// queued video, or one whose last attempt's lease ran out (its worker died
// without a word), can start: two deliveries of one message never both
// render. It returns the video as stored, and false when it could not
// start (finished, gone, or held by a live attempt).
func (st *Store) StartRendering(ctx context.Context, v Video, slot int, token string, ttl time.Duration) (Video, bool, error) {
	now := st.now()
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: key(v.Workspace, v.Env, videoPrefix+v.ID),
		UpdateExpression: aws.String("SET #st = :r, #s = if_not_exists(#s, :now), #p = :zero, #slot = :slot, " +
			"#tok = :tok, #le = :exp, #a = if_not_exists(#a, :zero) + :one"),
		ConditionExpression: aws.String("#st = :q OR (#st = :r AND (attribute_not_exists(#le) OR #le <= :now))"),
		ExpressionAttributeNames: map[string]string{
			"#st": aStatus, "#s": aStarted, "#p": aProgress, "#slot": aSlot, "#tok": aToken, "#le": aLease, "#a": aAttempts,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":q": dynamo.S(Queued), ":r": dynamo.S(Rendering), ":now": dynamo.Millis(now), ":zero": dynamo.N(0), ":one": dynamo.N(1),
			":slot": dynamo.N(int64(slot)), ":tok": dynamo.S(token), ":exp": dynamo.Millis(now.Add(ttl)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if dynamo.IsConditionFailed(err) {
		return Video{}, false, nil
	}
	if err != nil {
		return Video{}, false, fmt.Errorf("start rendering %s: %w", v.ID, err)
	}
	return decodeVideo(out.Attributes), true, nil
}

// Retry ends the attempt holding token without finishing the video: it is
// queued again, its attempts kept, for a later delivery to start.
func (st *Store) Retry(ctx context.Context, v Video, token string) (bool, error) {
	err := st.fenced(ctx, v, token, "SET #st = :q, #p = :zero REMOVE #le, #tok",
		map[string]string{"#p": aProgress, "#le": aLease},
		map[string]types.AttributeValue{":q": dynamo.S(Queued), ":zero": dynamo.N(0)})
	if errors.Is(err, ErrNotRendering) {
		return false, nil
	}
	return err == nil, err
}

// RenewLease extends the lease of the attempt holding token by ttl from
// now; ErrNotRendering when it no longer holds the video.
func (st *Store) RenewLease(ctx context.Context, v Video, token string, ttl time.Duration) error {
	return st.fenced(ctx, v, token, "SET #le = :exp",
		map[string]string{"#le": aLease}, map[string]types.AttributeValue{":exp": dynamo.Millis(st.now().Add(ttl))})
}

// fenced applies set to a video still rendering under token.
func (st *Store) fenced(ctx context.Context, v Video, token, set string, names map[string]string, values map[string]types.AttributeValue) error {
	names["#st"] = aStatus
	values[":r"] = dynamo.S(Rendering)
	cond := "#st = :r AND " + fence(names, values, token)
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: key(v.Workspace, v.Env, videoPrefix+v.ID),
		UpdateExpression: aws.String(set), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if dynamo.IsConditionFailed(err) {
		return ErrNotRendering
	}
	if err != nil {
		return fmt.Errorf("update rendering video %s: %w", v.ID, err)
	}
	return nil
}

// ErrNotRendering means the attempt no longer holds the video: it was
// cancelled, deleted, or taken over by another attempt, and the render
// should stop.
var ErrNotRendering = errors.New("video is no longer rendering under this attempt")

// SetProgress records progress percent of the attempt holding token.
func (st *Store) SetProgress(ctx context.Context, v Video, token string, pct int) error {
	return st.fenced(ctx, v, token, "SET #p = :p", map[string]string{"#p": aProgress}, map[string]types.AttributeValue{":p": dynamo.N(int64(pct))})
}

// MarkEventSent records that the video's terminal event is on the events queue.
func (st *Store) MarkEventSent(ctx context.Context, v Video) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: key(v.Workspace, v.Env, videoPrefix+v.ID),
		UpdateExpression:          aws.String("SET #e = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#e": aEvt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": dynamo.B(true)},
	})
	if err != nil && !dynamo.IsConditionFailed(err) {
		return fmt.Errorf("mark event of %s: %w", v.ID, err)
	}
	return nil
}

// Delete removes a finished video's record. It fails with conflict when
// the video is not finished (it must be cancelled first).
func (st *Store) Delete(ctx context.Context, v Video) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &st.table, Key: key(v.Workspace, v.Env, videoPrefix+v.ID),
		ConditionExpression:       aws.String("#st IN (:a, :b, :c)"),
		ExpressionAttributeNames:  map[string]string{"#st": aStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": dynamo.S(Succeeded), ":b": dynamo.S(Failed), ":c": dynamo.S(Cancelled)},
	})
	if dynamo.IsConditionFailed(err) {
		return apierr.New(apierr.Conflict, "Video %s changed while it was being deleted; retry.", v.ID)
	}
	if err != nil {
		return fmt.Errorf("delete video %s: %w", v.ID, err)
	}
	return nil
}

// QueuedCount is the environment's counter of unfinished renders.
func (st *Store) QueuedCount(ctx context.Context, ws string, env apikey.Env) (int, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.table, Key: key(ws, env, counterSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("read queue counter: %w", err)
	}
	return int(integer(out.Item, aQueued)), nil
}
