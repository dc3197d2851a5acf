package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/dynamo"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/audit"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store keeps publications in the data table, one partition per workspace
// and environment, sorted by video and then by id (which is time-ordered):
//
//	PUB#<ws>#<env>   V#<videoId>#<pubId>   a publication
//
// so one Query lists a video's publications newest first.
type Store struct {
	db    DB
	table string
	now   func() time.Time
}

// NewStore returns a store over table. Every argument is required.
func NewStore(db DB, table string, now func() time.Time) (*Store, error) {
	if db == nil || table == "" || now == nil {
		return nil, errors.New("publish store: db, table and clock are required")
	}
	return &Store{db: db, table: table, now: now}, nil
}

const (
	aPK, aSK, aTTL                  = "pk", "sk", "ttl"
	aID, aWS, aEnv, aVideo          = "id", "ws", "env", "videoId"
	aConn, aConnType, aStatus       = "connectionId", "connectionType", "status"
	aPublishAt, aCreated, aAttempts = "publishAt", "createdAt", "attempts"
	aNext, aExecuted, aCancelled    = "nextAttemptAt", "executedAt", "cancelledAt"
	aErrCode, aErrMsg, aDest        = "errorCode", "errorMessage", "destination"
	aLease, aEventSent              = "leaseUntil", "eventSent"
)

func partition(ws, env string) string { return "PUB#" + ws + "#" + env }

func key(ws, env, videoID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: dynamo.S(partition(ws, env)), aSK: dynamo.S("V#" + videoID + "#" + id)}
}

func decode(it map[string]types.AttributeValue) Publication {
	p := Publication{ID: dynamo.Str(it, aID), Workspace: dynamo.Str(it, aWS), Env: dynamo.Str(it, aEnv), VideoID: dynamo.Str(it, aVideo),
		ConnectionID: dynamo.Str(it, aConn), ConnectionType: dynamo.Str(it, aConnType), Status: dynamo.Str(it, aStatus),
		NextAttemptAt: dynamo.Time(it, aNext), ExecutedAt: dynamo.Time(it, aExecuted), CancelledAt: dynamo.Time(it, aCancelled),
		Destination: dynamo.Str(it, aDest)}
	if t := dynamo.Time(it, aPublishAt); t != nil {
		p.PublishAt = *t
	}
	if t := dynamo.Time(it, aCreated); t != nil {
		p.CreatedAt = *t
	}
	a, _ := dynamo.Int(it, aAttempts)
	p.Attempts = int(a)
	if c := dynamo.Str(it, aErrCode); c != "" {
		p.Error = &Error{Code: c, Message: dynamo.Str(it, aErrMsg)}
	}
	if b, ok := it[aEventSent].(*types.AttributeValueMemberBOOL); ok {
		p.EventSent = b.Value
	}
	return p
}

func notFound() error {
	return apierr.New(apierr.NotFound, "No publication with this id for this video.")
}

func target(id string) audit.Target { return audit.Target{Type: audit.TargetPublication, ID: id} }

// Create stores a new scheduled publication with its audit record.
func (st *Store) Create(ctx context.Context, p Publication, ch *audit.Change) error {
	it := key(p.Workspace, p.Env, p.VideoID, p.ID)
	it[aID], it[aWS], it[aEnv], it[aVideo] = dynamo.S(p.ID), dynamo.S(p.Workspace), dynamo.S(p.Env), dynamo.S(p.VideoID)
	it[aConn], it[aConnType], it[aStatus] = dynamo.S(p.ConnectionID), dynamo.S(p.ConnectionType), dynamo.S(Scheduled)
	it[aPublishAt], it[aCreated], it[aAttempts] = dynamo.Millis(p.PublishAt), dynamo.Millis(p.CreatedAt), dynamo.N(0)
	it[aTTL] = dynamo.N(p.PublishAt.Add(Retention).Unix())
	err := ch.Transact(ctx, st.db, p.Env, audit.PublicationCreated, target(p.ID),
		map[string]string{"videoId": p.VideoID, "connectionId": p.ConnectionID, "publishAt": p.PublishAt.UTC().Format(time.RFC3339)},
		types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(pk)")}})
	if err != nil {
		return fmt.Errorf("create publication %s: %w", p.ID, err)
	}
	return nil
}

// expired reports whether the item outlived its TTL: DynamoDB deletes
// late (moto never), so reads treat it as gone themselves.
func expired(it map[string]types.AttributeValue, now time.Time) bool {
	t, ok := dynamo.Int(it, aTTL)
	return ok && t <= now.Unix()
}

// Get reads one publication of a video of ws/env.
func (st *Store) Get(ctx context.Context, ws, env, videoID, id string) (Publication, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: key(ws, env, videoID, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Publication{}, fmt.Errorf("get publication %s: %w", id, err)
	}
	if out.Item == nil || expired(out.Item, st.now()) {
		return Publication{}, notFound()
	}
	return decode(out.Item), nil
}

// List pages through a video's publications, newest first, after (older
// than) the id given; next is the last id of a full page.
func (st *Store) List(ctx context.Context, ws, env, videoID, after string, limit int) ([]Publication, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              &st.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :v)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": dynamo.S(partition(ws, env)), ":v": dynamo.S("V#" + videoID + "#")},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(limit)),
	}
	if after != "" {
		in.ExclusiveStartKey = key(ws, env, videoID, after)
	}
	out, err := st.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list publications of %s: %w", videoID, err)
	}
	now := st.now()
	ps := make([]Publication, 0, len(out.Items))
	for _, it := range out.Items {
		if !expired(it, now) {
			ps = append(ps, decode(it))
		}
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 && len(out.Items) == limit {
		next = dynamo.Str(out.Items[len(out.Items)-1], aID)
	}
	return ps, next, nil
}

// Cancel moves a scheduled publication that has not started to cancelled,
// with its audit record. Cancelling a cancelled one is a no-op that
// returns it; one that started or finished is a conflict.
func (st *Store) Cancel(ctx context.Context, ws, env, videoID, id string, ch *audit.Change) (Publication, error) {
	p, err := st.Get(ctx, ws, env, videoID, id)
	if err != nil {
		return Publication{}, err
	}
	for attempt := 0; ; attempt++ {
		switch {
		case p.Status == Cancelled:
			return p, nil
		case p.Status != Scheduled || p.Attempts != 0:
			return Publication{}, apierr.New(apierr.Conflict, "Publication %s is %s; only a scheduled publication can be cancelled.", id, p.Status)
		}
		now := st.now().UTC().Truncate(time.Millisecond)
		err = ch.Transact(ctx, st.db, env, audit.PublicationCanceled, target(id), map[string]string{"videoId": videoID},
			types.TransactWriteItem{Update: &types.Update{
				TableName: &st.table, Key: key(ws, env, videoID, id),
				UpdateExpression:         aws.String("SET #st = :c, #ca = :now REMOVE #n"),
				ConditionExpression:      aws.String("attribute_exists(pk) AND #st = :s AND #a = :zero"),
				ExpressionAttributeNames: map[string]string{"#st": aStatus, "#ca": aCancelled, "#a": aAttempts, "#n": aNext},
				ExpressionAttributeValues: map[string]types.AttributeValue{":c": dynamo.S(Cancelled), ":s": dynamo.S(Scheduled),
					":zero": dynamo.N(0), ":now": dynamo.Millis(now)},
			}})
		if err == nil {
			p.Status, p.CancelledAt, p.NextAttemptAt = Cancelled, &now, nil
			return p, nil
		}
		if r := dynamo.CancelReasons(err); len(r) == 0 || r[0] != "ConditionalCheckFailed" || attempt > 0 {
			return Publication{}, fmt.Errorf("cancel publication %s: %w", id, err)
		}
		// It changed since it was read (a worker claimed it): judge again.
		if p, err = st.Get(ctx, ws, env, videoID, id); err != nil {
			return Publication{}, err
		}
	}
}

// Claim leases the publication for attempt number attempt (0-based). It
// succeeds only if exactly attempt attempts are behind it and it is
// scheduled, or executing with no live lease (a worker died mid-attempt,
// or it waits for a retry). A cancelled, finished, duplicate or superseded
// message claims nothing.
func (st *Store) Claim(ctx context.Context, m Message) (Publication, bool, error) {
	now := st.now()
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: key(m.Workspace, m.Environment, m.VideoID, m.PublicationID),
		UpdateExpression: aws.String("SET #st = :x, #l = :lease"),
		ConditionExpression: aws.String("attribute_exists(pk) AND #a = :a AND " +
			"(#st = :s OR (#st = :x AND (attribute_not_exists(#l) OR #l < :now)))"),
		ExpressionAttributeNames: map[string]string{"#st": aStatus, "#l": aLease, "#a": aAttempts},
		ExpressionAttributeValues: map[string]types.AttributeValue{":x": dynamo.S(Executing), ":s": dynamo.S(Scheduled),
			":a": dynamo.N(int64(m.Attempt)), ":now": dynamo.Millis(now), ":lease": dynamo.Millis(now.Add(Lease))},
		ReturnValues: types.ReturnValueAllNew,
	})
	if _, ok := dynamo.ConditionFailed(err); ok {
		return Publication{}, false, nil
	}
	if err != nil {
		return Publication{}, false, fmt.Errorf("claim publication %s: %w", m.PublicationID, err)
	}
	return decode(out.Attributes), true, nil
}

// Outcome is how an attempt ended.
type Outcome struct {
	Status      string     // Executed, Failed, or Executing when a retry is scheduled
	Error       *Error     // why it failed (or why the attempt did, before a retry)
	Next        *time.Time // the retry's time, with Status Executing
	Destination string
}

// Record writes the outcome of a claimed attempt and releases the lease.
// The condition on the attempt count makes a worker whose lease lapsed
// (and whose publication another worker took over) unable to overwrite it.
func (st *Store) Record(ctx context.Context, p Publication, o Outcome) (Publication, error) {
	now := st.now().UTC()
	sets := []string{"#st = :st", "#a = :a1"}
	removes := []string{"#l"}
	names := map[string]string{"#st": aStatus, "#a": aAttempts, "#l": aLease, "#n": aNext, "#ec": aErrCode, "#em": aErrMsg}
	vals := map[string]types.AttributeValue{":st": dynamo.S(o.Status), ":a0": dynamo.N(int64(p.Attempts)), ":a1": dynamo.N(int64(p.Attempts + 1)), ":x": dynamo.S(Executing)}
	if o.Next != nil {
		sets, vals[":n"] = append(sets, "#n = :n"), dynamo.Millis(*o.Next)
	} else {
		removes = append(removes, "#n")
	}
	if o.Error != nil {
		sets, vals[":ec"], vals[":em"] = append(sets, "#ec = :ec", "#em = :em"), dynamo.S(o.Error.Code), dynamo.S(o.Error.Message)
	} else {
		removes = append(removes, "#ec", "#em")
	}
	if o.Status == Executed || o.Status == Failed {
		sets, names["#ex"], vals[":ex"] = append(sets, "#ex = :ex"), aExecuted, dynamo.Millis(now)
	}
	if o.Destination != "" {
		sets, names["#d"], vals[":d"] = append(sets, "#d = :d"), aDest, dynamo.S(o.Destination)
	}
	expr := "SET " + strings.Join(sets, ", ") + " REMOVE " + strings.Join(removes, ", ")
	out, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: key(p.Workspace, p.Env, p.VideoID, p.ID),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("#a = :a0 AND #st = :x"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals, ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return Publication{}, fmt.Errorf("record attempt %d of %s: %w", p.Attempts+1, p.ID, err)
	}
	return decode(out.Attributes), nil
}

// MarkEventSent records that the terminal event went out.
func (st *Store) MarkEventSent(ctx context.Context, p Publication) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: key(p.Workspace, p.Env, p.VideoID, p.ID),
		UpdateExpression:          aws.String("SET #e = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#e": aEventSent},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if _, ok := dynamo.ConditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark event of %s sent: %w", p.ID, err)
	}
	return nil
}
