package keystore

// Usage cells: how a key was used, per minute, on its own record. The
// authorizer's counting write adds to the minute's counted cell; a request
// it then rejects adds to the rate-limited cell (in the write that takes
// the count back), and one the key's scopes do not allow to the forbidden
// cell. Admitted = counted - rate limited - forbidden. Package usage moves
// completed minutes from the record to the usage history, so a record
// holds at most a quarter of an hour of them.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/dynamo"
)

// Outcomes a usage cell counts.
const (
	UsageCounted   = 'u'
	UsageLimited   = 'q'
	UsageForbidden = 'f'
)

// UsageMinute is the minute t falls in, as usage cells number them.
func UsageMinute(t time.Time) int64 { return t.Unix() / 60 }

// UsageAttr is the attribute of outcome's cell of minute.
func UsageAttr(outcome byte, minute int64) string {
	return string(outcome) + strconv.FormatInt(minute, 10)
}

// ParseUsageAttr reads a usage cell's attribute name.
func ParseUsageAttr(name string) (outcome byte, minute int64, ok bool) {
	if len(name) < 2 || (name[0] != UsageCounted && name[0] != UsageLimited && name[0] != UsageForbidden) {
		return 0, 0, false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		minute = minute*10 + int64(c-'0')
	}
	return name[0], minute, true
}

// Records reads the key records of ws/env, revoked and expired ones
// included (their last minutes of usage may still be on them), from the
// list index: eventually consistent, so a caller that needs a record's
// latest cells reads it again with Record.
func (u *Usage) Records(ctx context.Context, ws string, env apikey.Env) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	in := &dynamodb.QueryInput{
		TableName: &u.table, IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p AND begins_with(gsi1sk, :k)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": dynamo.S(listPK(ws, env)), ":k": dynamo.S(KeySK + "#")},
	}
	for {
		page, err := u.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list the keys of %s/%s: %w", ws, env, err)
		}
		out = append(out, page.Items...)
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Record reads the record of the key with hash h, consistently (nil when
// it is gone).
func (u *Usage) Record(ctx context.Context, h string) (map[string]types.AttributeValue, error) {
	out, err := u.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &u.table, Key: KeyKey(h), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// HashOf is the hash of a key record, the key to read it again by.
func HashOf(it map[string]types.AttributeValue) string {
	return strings.TrimPrefix(dynamo.Str(it, attrPK), KeyPKPrefix)
}

// Workspaces lists every workspace.
func (u *Usage) Workspaces(ctx context.Context) ([]Workspace, error) {
	return (&Store{db: u.db, table: u.table, now: u.now}).ListWorkspaces(ctx)
}
