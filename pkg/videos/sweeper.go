package videos

// The sweeper deletes sandbox videos, record and files, when their 24 hours
// are up. It runs on a schedule (template.yaml: rate(5 minutes)), locally
// as on AWS, so a sandbox file lives 24 h and a few minutes: S3 lifecycle
// rules round expiry up to the next midnight UTC (up to 48 h) and DynamoDB
// deletes TTL items up to days late. Both stay, as backstops.
//
// Sandbox videos are indexed by expiry in the data table's gsi1: the
// partition is the UTC day of expiry, the sort key the expiry in
// milliseconds, so a run reads only what is due.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/lambdas"
)

const expiryPrefix = "EXPIRES#"

func expiryDay(t time.Time) string { return expiryPrefix + t.UTC().Format("2006-01-02") }

func expirySort(t time.Time, id string) string { return fmt.Sprintf("%013d#%s", t.UnixMilli(), id) }

// SweepLookback is how many days before today a run looks for sandbox
// videos it missed (a sweeper that was down); older ones are left to the
// backstops.
const SweepLookback = 2

// Due returns up to limit sandbox videos whose expiry has passed, from the
// index, oldest first.
func (st *Store) Due(ctx context.Context, limit int) ([]Video, error) {
	now := st.now()
	var out []Video
	for d := SweepLookback; d >= 0 && len(out) < limit; d-- {
		in := &dynamodb.QueryInput{
			TableName: &st.table, IndexName: aws.String("gsi1"),
			KeyConditionExpression: aws.String("gsi1pk = :p AND gsi1sk <= :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":p": dynamo.S(expiryDay(now.AddDate(0, 0, -d))), ":now": dynamo.S(fmt.Sprintf("%013d~", now.UnixMilli())),
			},
			Limit: aws.Int32(int32(limit - len(out))),
		}
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("read due sandbox videos: %w", err)
		}
		for _, it := range page.Items {
			out = append(out, decodeVideo(it))
		}
	}
	return out, nil
}

// DeleteExpired removes the record of a finished video past its expiry.
func (st *Store) DeleteExpired(ctx context.Context, v Video) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &st.table, Key: key(v.Workspace, v.Env, videoPrefix+v.ID),
		ConditionExpression:       aws.String("#x <= :now AND #st IN (:a, :b, :c)"),
		ExpressionAttributeNames:  map[string]string{"#x": aExpires, "#st": aStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": dynamo.Millis(st.now()), ":a": dynamo.S(Succeeded), ":b": dynamo.S(Failed), ":c": dynamo.S(Cancelled)},
	})
	if err != nil && !dynamo.IsConditionFailed(err) {
		return fmt.Errorf("delete expired video %s: %w", v.ID, err)
	}
	return nil
}

// Sweeper deletes expired sandbox videos.
type Sweeper struct {
	Store   *Store
	Objects Objects
	Bucket  string
	Logger  *slog.Logger
	// Batch is how many videos a run reads at a time; default 100.
	Batch int
}

// NewSweeper is the constructor of functions/render-sweeper (DATA_TABLE,
// KEYS_TABLE, RENDERS_BUCKET).
func NewSweeper(_ context.Context, d lambdas.Deps) (lambdas.ScheduleFunc, error) {
	d = d.WithDefaults()
	env, err := d.Require("RENDERS_BUCKET")
	if err != nil {
		return nil, fmt.Errorf("render sweeper: %w", err)
	}
	st, err := OpenStore(d)
	if err != nil {
		return nil, err
	}
	s := &Sweeper{Store: st, Objects: S3Client(d.AWS), Bucket: env["RENDERS_BUCKET"], Logger: d.Logger}
	return s.Handle, nil
}

// Handle is the Schedule handler: one sweep.
func (s *Sweeper) Handle(ctx context.Context, _ events.EventBridgeEvent) error {
	n, err := s.Sweep(ctx)
	s.Logger.InfoContext(ctx, "swept expired sandbox videos", "deleted", n)
	return err
}

// Sweep deletes every sandbox video that is due, files first, and returns
// how many it deleted. A video still queued or rendering at its expiry is
// cancelled first, which frees its place in the queue.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	batch := s.Batch
	if batch <= 0 {
		batch = 100
	}
	deleted := 0
	for ctx.Err() == nil {
		due, err := s.Store.Due(ctx, batch)
		if err != nil {
			return deleted, err
		}
		var errs []error
		before := deleted
		for _, v := range due {
			if err := s.delete(ctx, v); err != nil {
				errs = append(errs, err)
				continue
			}
			deleted++
		}
		// A short page is the last; a page that deleted nothing would
		// only come back the same.
		if err := errors.Join(errs...); err != nil || len(due) < batch || deleted == before {
			return deleted, err
		}
	}
	return deleted, ctx.Err()
}

func (s *Sweeper) delete(ctx context.Context, v Video) error {
	if !Terminal(v.Status) {
		if _, err := s.Store.Cancel(ctx, v); err != nil {
			return err
		}
		v.Status = Cancelled
	}
	if err := DeleteFiles(ctx, s.Objects, s.Bucket, v); err != nil {
		return err
	}
	return s.Store.DeleteExpired(ctx, v)
}
