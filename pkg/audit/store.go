package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/ids"
)

// Querier is the part of the DynamoDB client the reader uses.
type Querier interface {
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Reader lists the log.
type Reader struct {
	db    Querier
	table string
	now   func() time.Time
}

// NewReader returns a reader of table.
func NewReader(db Querier, table string, now func() time.Time) (*Reader, error) {
	if db == nil || table == "" {
		return nil, errors.New("audit reader: db and table are required")
	}
	if now == nil {
		now = time.Now
	}
	return &Reader{db: db, table: table, now: now}, nil
}

// Filter selects records; zero fields select everything.
type Filter struct {
	Action string
	Actor  string // actor id
	Target string // target id
	Since  time.Time
	Until  time.Time
}

// maxPages bounds the reads of one page of a filtered list: a filter that
// matches rarely returns a short page with a cursor instead of reading the
// whole log in one request.
const maxPages = 8

// List returns up to limit records of ws/env matching f, newest first,
// older than the record id after (none: from the newest), and the id to
// continue after ("" at the end).
func (rd *Reader) List(ctx context.Context, ws, env string, f Filter, after string, limit int) ([]Record, string, error) {
	lo, hi := boundID(f.Since, false), boundID(f.Until, true)
	if f.Since.IsZero() {
		lo = IDPrefix + "_"
	}
	if f.Until.IsZero() {
		hi = IDPrefix + "_~"
	}
	if after != "" && after < hi {
		hi = after
	}
	values := map[string]types.AttributeValue{
		":pk": dynamo.S(partition(ws, env)), ":lo": dynamo.S(lo), ":hi": dynamo.S(hi), ":now": dynamo.N(rd.now().Unix()),
	}
	names := map[string]string{"#ttl": attrTTL}
	conds := []string{"#ttl > :now"}
	for i, c := range []struct{ attr, v string }{{attrAction, f.Action}, {attrAct, f.Actor}, {attrTarget, f.Target}} {
		if c.v == "" {
			continue
		}
		n, v := fmt.Sprintf("#f%d", i), fmt.Sprintf(":f%d", i)
		names[n], values[v] = c.attr, dynamo.S(c.v)
		conds = append(conds, n+" = "+v)
	}
	in := &dynamodb.QueryInput{
		TableName:                 &rd.table,
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		FilterExpression:          aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(max(limit+1, 25))),
	}
	var out []Record
	for page := 0; ; page++ {
		res, err := rd.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list audit records of %s/%s: %w", ws, env, err)
		}
		for _, it := range res.Items {
			r := decode(it)
			if r.ID == after {
				continue // BETWEEN is inclusive
			}
			out = append(out, r)
		}
		if len(out) > limit {
			return out[:limit], out[limit-1].ID, nil
		}
		if res.LastEvaluatedKey == nil {
			return out, "", nil
		}
		if page+1 >= maxPages {
			// Stop reading: the next page starts after the last record read.
			return out, dynamo.Str(res.LastEvaluatedKey, attrSK), nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// boundID is the smallest (or, with upper, the largest) record id of the
// millisecond t.
func boundID(t time.Time, upper bool) string {
	fill := byte(0)
	if upper {
		fill = 0xff
	}
	id, _ := ids.New(IDPrefix, t, bytes.NewReader(bytes.Repeat([]byte{fill}, 16)))
	return id
}
