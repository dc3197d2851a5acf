package keystore

// Expiry reminders: a key with an expiry gets two reminder items, due 7
// days and 1 day before it expires, written in the transaction that mints
// it. They sit in hourly buckets (pk REMIND#<hour since the epoch>), so the
// scheduled sweep (keysapi.NewExpiryWorker) reads only the buckets that
// came due since its last run, never the keys themselves.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/dynamo"
)

// ReminderLeads are how long before its expiry a key's owner is told.
var ReminderLeads = []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}

const (
	remindPKPrefix = "REMIND#"
	attrDue        = "due"
	// maxBucketsPerSweep bounds one sweep after a long outage; the next
	// sweep carries on from the cursor.
	maxBucketsPerSweep = 24 * 8
)

func bucketOf(t time.Time) int64 { return t.Unix() / 3600 }

func reminderPK(bucket int64) string { return remindPKPrefix + strconv.FormatInt(bucket, 10) }

var cursorKey = map[string]types.AttributeValue{attrPK: dynamo.S(remindPKPrefix + "CURSOR"), attrSK: dynamo.S("CURSOR")}

// reminders are the transaction items that schedule k's reminders: those
// still ahead of now.
func (st *Store) reminders(k Key, now time.Time) []types.TransactWriteItem {
	if k.ExpiresAt == nil {
		return nil
	}
	var out []types.TransactWriteItem
	for _, lead := range ReminderLeads {
		due := k.ExpiresAt.Add(-lead)
		if !due.After(now) {
			continue
		}
		out = append(out, types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: map[string]types.AttributeValue{
			attrPK: dynamo.S(reminderPK(bucketOf(due))), attrSK: dynamo.S(k.ID + "#" + lead.String()),
			attrHash: dynamo.S(k.hash), attrDue: dynamo.Millis(due), AttrExpiresAt: dynamo.Millis(*k.ExpiresAt),
			attrTTL: dynamo.N(k.ExpiresAt.Add(retention).Unix()),
		}}})
	}
	return out
}

// Reminder is a key whose expiry is near, as a due reminder found it.
type Reminder struct {
	Key Key
	// Lead is how long before the expiry the reminder was due.
	Lead time.Duration
	Due  time.Time
}

// Reminders sweeps the expiry reminders; it needs no pepper.
type Reminders struct{ st *Store }

// NewReminders returns the sweeper of table's reminders.
func NewReminders(db DB, table string, now func() time.Time) (*Reminders, error) {
	if db == nil || table == "" {
		return nil, fmt.Errorf("reminders: db and table are required")
	}
	if now == nil {
		now = time.Now
	}
	return &Reminders{st: &Store{db: db, table: table, now: now}}, nil
}

// Sweep calls remind for every reminder due by now whose key still
// authenticates and still expires when the reminder was set for (a rotated
// or revoked key is not reminded of), then deletes the reminder. A reminder
// whose call fails stays for the next sweep. Buckets wholly in the past
// move the cursor, so every sweep reads from where the last one ended.
func (r *Reminders) Sweep(ctx context.Context, remind func(context.Context, Reminder) error) error {
	st := r.st
	now := st.now()
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: cursorKey, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("read the reminder cursor: %w", err)
	}
	cur := bucketOf(now)
	from, ok := dynamo.Int(out.Item, attrDue) // the last bucket wholly swept
	if !ok {
		from = cur - 1
	}
	last := min(cur, from+maxBucketsPerSweep)
	for b := from + 1; b <= last; b++ {
		if err := st.sweepBucket(ctx, b, now, remind); err != nil {
			return err // the cursor stays: the next sweep retries from here
		}
	}
	if done := min(last, cur-1); done != from || !ok {
		if _, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &st.table, Key: cursorKey, UpdateExpression: aws.String("SET #d = :b"),
			ExpressionAttributeNames:  map[string]string{"#d": attrDue},
			ExpressionAttributeValues: map[string]types.AttributeValue{":b": dynamo.N(done)},
		}); err != nil {
			return fmt.Errorf("move the reminder cursor: %w", err)
		}
	}
	return nil
}

func (st *Store) sweepBucket(ctx context.Context, b int64, now time.Time, remind func(context.Context, Reminder) error) error {
	in := &dynamodb.QueryInput{
		TableName: &st.table, KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": dynamo.S(reminderPK(b))}, ConsistentRead: aws.Bool(true),
	}
	var failed error
	for {
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("read reminders: %w", err)
		}
		for _, it := range page.Items {
			due := dynamo.Time(it, attrDue)
			if due == nil || due.After(now) {
				continue // later in this hour
			}
			if err := st.remindOne(ctx, it, *due, now, remind); err != nil {
				failed = err
				continue
			}
			// Done: a TTL in the past hides it from every read until
			// DynamoDB deletes it.
			_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &st.table, Key: map[string]types.AttributeValue{attrPK: it[attrPK], attrSK: it[attrSK]},
				UpdateExpression: aws.String("SET #ttl = :gone"), ExpressionAttributeNames: map[string]string{"#ttl": attrTTL, "#d": attrDue},
				ConditionExpression:       aws.String("attribute_exists(#d)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":gone": dynamo.N(0)},
			})
			if err != nil && !dynamo.IsConditionFailed(err) {
				failed = fmt.Errorf("clear a reminder: %w", err)
			}
		}
		if page.LastEvaluatedKey == nil {
			return failed
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func (st *Store) remindOne(ctx context.Context, it map[string]types.AttributeValue, due, now time.Time, remind func(context.Context, Reminder) error) error {
	if st.pastTTL(it) {
		return nil // handled already
	}
	items, err := st.getItems(ctx, KeyKey(dynamo.Str(it, attrHash)))
	if err != nil {
		return fmt.Errorf("read a key to remind of: %w", err)
	}
	rec := items[0]
	if rec == nil || st.pastTTL(rec) {
		return nil
	}
	k := DecodeKey(rec)
	exp := dynamo.Time(it, AttrExpiresAt)
	if !k.Usable(now) || k.ExpiresAt == nil || exp == nil || !k.ExpiresAt.Equal(*exp) || k.RotatedTo != "" {
		return nil
	}
	lead, err := time.ParseDuration(strings.TrimPrefix(dynamo.Str(it, attrSK), k.ID+"#"))
	if err != nil {
		return nil
	}
	return remind(ctx, Reminder{Key: k, Lead: lead, Due: due})
}
