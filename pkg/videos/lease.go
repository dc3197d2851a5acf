package videos

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/framegate/framegate/pkg/dynamo"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apikey"
)

// Render slots are leases, not a counter: slot i of an environment is the
// item SLOT#i, held by a video until its leaseExpiresAt. A worker takes a
// slot with a conditional write that succeeds only when the slot is free,
// expired or already its own; it renews the lease while it renders and
// clears it when done. A worker that dies simply stops renewing, and the
// slot is free again when the lease runs out — no sweeper needed.

// ErrLeaseLost means the slot is no longer held by the caller: the lease
// expired and another render took it.
var ErrLeaseLost = errors.New("render slot lease lost")

// Lease is a held slot.
type Lease struct {
	Workspace string
	Env       apikey.Env
	Slot      int
	Holder    string
	Expires   time.Time
}

func slotKey(ws string, env apikey.Env, i int) map[string]types.AttributeValue {
	return key(ws, env, slotPrefix+strconv.Itoa(i))
}

// AcquireSlot takes one of the environment's limit slots for holder for ttl.
// prefer is tried first (the slot a redelivered render held before; -1 for
// none). It reports false when every slot is held by a live lease. Cost: one
// strongly consistent query of the slots, then usually one write.
func (st *Store) AcquireSlot(ctx context.Context, ws string, env apikey.Env, holder string, limit, prefer int, ttl time.Duration) (Lease, bool, error) {
	now := st.now()
	out, err := st.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              &st.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": dynamo.S(Partition(ws, env)), ":p": dynamo.S(slotPrefix),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Lease{}, false, fmt.Errorf("read render slots: %w", err)
	}
	busy := map[int]bool{}
	for _, it := range out.Items {
		i, err := strconv.Atoi(strings.TrimPrefix(dynamo.Str(it, attrSK), slotPrefix))
		if err != nil {
			continue
		}
		h := dynamo.Str(it, aHolder)
		exp := dynamo.Time(it, aLease)
		if h != "" && h != holder && exp != nil && exp.After(now) {
			busy[i] = true
		}
	}
	order := make([]int, 0, limit)
	if prefer >= 0 && prefer < limit {
		order = append(order, prefer)
	}
	for i := range limit {
		if i != prefer {
			order = append(order, i)
		}
	}
	for _, i := range order {
		if busy[i] {
			continue
		}
		l := Lease{Workspace: ws, Env: env, Slot: i, Holder: holder, Expires: now.Add(ttl)}
		_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &st.table, Key: slotKey(ws, env, i),
			UpdateExpression:          aws.String("SET #h = :h, #l = :l"),
			ConditionExpression:       aws.String("attribute_not_exists(#h) OR #h = :h OR #l <= :now"),
			ExpressionAttributeNames:  map[string]string{"#h": aHolder, "#l": aLease},
			ExpressionAttributeValues: map[string]types.AttributeValue{":h": dynamo.S(holder), ":l": dynamo.Millis(l.Expires), ":now": dynamo.Millis(now)},
		})
		if dynamo.IsConditionFailed(err) {
			continue // taken between the query and the write
		}
		if err != nil {
			return Lease{}, false, fmt.Errorf("acquire render slot %d: %w", i, err)
		}
		return l, true, nil
	}
	return Lease{}, false, nil
}

// RenewSlot extends a held lease by ttl from now; ErrLeaseLost when another
// holder has it.
func (st *Store) RenewSlot(ctx context.Context, l *Lease, ttl time.Duration) error {
	exp := st.now().Add(ttl)
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: slotKey(l.Workspace, l.Env, l.Slot),
		UpdateExpression:          aws.String("SET #l = :l"),
		ConditionExpression:       aws.String("#h = :h"),
		ExpressionAttributeNames:  map[string]string{"#h": aHolder, "#l": aLease},
		ExpressionAttributeValues: map[string]types.AttributeValue{":h": dynamo.S(l.Holder), ":l": dynamo.Millis(exp)},
	})
	if dynamo.IsConditionFailed(err) {
		return ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("renew render slot %d: %w", l.Slot, err)
	}
	l.Expires = exp
	return nil
}

// ReleaseSlot frees a slot if holder still holds it.
func (st *Store) ReleaseSlot(ctx context.Context, ws string, env apikey.Env, slot int, holder string) error {
	if slot < 0 {
		return nil
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: slotKey(ws, env, slot),
		UpdateExpression:          aws.String("REMOVE #h, #l"),
		ConditionExpression:       aws.String("#h = :h"),
		ExpressionAttributeNames:  map[string]string{"#h": aHolder, "#l": aLease},
		ExpressionAttributeValues: map[string]types.AttributeValue{":h": dynamo.S(holder)},
	})
	if err != nil && !dynamo.IsConditionFailed(err) {
		return fmt.Errorf("release render slot %d: %w", slot, err)
	}
	return nil
}

// Holders lists the live leases of an environment, for tests and operators.
func (st *Store) Holders(ctx context.Context, ws string, env apikey.Env) (map[int]string, error) {
	out, err := st.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              &st.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": dynamo.S(Partition(ws, env)), ":p": dynamo.S(slotPrefix),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read render slots: %w", err)
	}
	now := st.now()
	held := map[int]string{}
	for _, it := range out.Items {
		i, err := strconv.Atoi(strings.TrimPrefix(dynamo.Str(it, attrSK), slotPrefix))
		exp := dynamo.Time(it, aLease)
		if err == nil && dynamo.Str(it, aHolder) != "" && exp != nil && exp.After(now) {
			held[i] = dynamo.Str(it, aHolder)
		}
	}
	return held, nil
}
