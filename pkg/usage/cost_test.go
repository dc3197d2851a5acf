package usage_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/dynamo"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/usage"
)

// sizes records the size of every key record the authorizer's writes
// return (ALL_NEW), and the write units of every transaction.
type sizes struct {
	*dynamodb.Client
	mu        sync.Mutex
	maxRecord int
	txUnits   int
	txs       int
}

func (s *sizes) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := s.Client.UpdateItem(ctx, in, o...)
	if err == nil && strings.HasPrefix(dynamo.Str(in.Key, "pk"), keystore.KeyPKPrefix) && out.Attributes != nil {
		s.mu.Lock()
		s.maxRecord = max(s.maxRecord, dynamo.Size(out.Attributes))
		s.mu.Unlock()
	}
	return out, err
}

// TransactWriteItems bills each item at twice the units of the larger of
// its sizes before and after.
func (s *sizes) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	read := func() []int {
		out := make([]int, len(in.TransactItems))
		for i, it := range in.TransactItems {
			if u := it.Update; u != nil {
				r, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: u.TableName, Key: u.Key, ConsistentRead: aws.Bool(true)})
				if err == nil {
					out[i] = dynamo.Size(r.Item)
				}
			}
		}
		return out
	}
	before := read()
	out, err := s.Client.TransactWriteItems(ctx, in, o...)
	if err == nil {
		after := read()
		s.mu.Lock()
		for i := range before {
			s.txUnits += 2 * dynamo.WriteUnits(max(before[i], after[i]))
		}
		s.txs++
		s.mu.Unlock()
	}
	return out, err
}

// TestUsageCostBound holds the cost claims of docs/operating.md: with the
// usage cells of the longest stretch between two sweeps on it (12 minutes,
// each with admitted, rate-limited and forbidden requests: the worst
// case), a key's record stays under 1 KB, so the authorizer's write still
// costs one write unit (and its index copy one); and moving those minutes
// into the history is one transaction per key per sweep, whose units it
// prints for the arithmetic.
func TestUsageCostBound(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	t0 := time.Date(2027, 6, 1, 10, 0, 5, 0, time.UTC)
	clock := testenv.NewClock(t0)
	st, err := keystore.Open(ctx, env.Deps("KeysFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := st.CreateWorkspace(ctx, "Cost", "business", ratelimit.Plan{KeyRequestsPerMinute: 4})
	if err != nil {
		t.Fatal(err)
	}
	// A long name and an expiry: the largest records keys have.
	exp := t0.Add(365 * 24 * time.Hour)
	_, plain, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: strings.Repeat("n", 100), Role: scopes.Render, ExpiresAt: &exp}, env.Operator(ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	d := env.Deps("AuthorizerFunction", clock.Now)
	hasher, _ := keystore.OpenHasher(ctx, d)
	db := &sizes{Client: dynamodb.NewFromConfig(env.AWS)}
	a, err := authorizer.NewAuthorizer(authorizer.Config{DB: db, Table: d.Getenv("KEYS_TABLE"), Hasher: hasher, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Wait)
	call := func(resource string) {
		_, err := a.Handle(ctx, events.APIGatewayCustomAuthorizerRequestTypeRequest{
			MethodArn: "arn:aws:execute-api:us-east-1:123456789012:abc/v1/GET" + resource, Resource: resource, HTTPMethod: "GET",
			Headers: map[string]string{"Authorization": "Bearer " + plain},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 12 {
		call("/keys") // forbidden: a render key
		for range 4 { // 3 admitted, 1 over the limit of 4
			call("/auth")
		}
		clock.Advance(time.Minute)
	}
	if db.maxRecord > 1024 {
		t.Errorf("a key record with 12 minutes of usage is %d bytes: over 1 KB, every counting write would cost %d units", db.maxRecord, dynamo.WriteUnits(db.maxRecord))
	}

	u, err := usage.NewStore(db, d.Getenv("KEYS_TABLE"), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	n, err := u.Sweep(ctx, ws.ID, apikey.Live)
	if err != nil || n != 1 || db.txs != 1 {
		t.Fatalf("sweep: %d keys, %d transactions, %v", n, db.txs, err)
	}
	t.Logf("largest key record: %d bytes (%d unit per counting write); moving 12 minutes of one key: %d units in %d transaction",
		db.maxRecord, dynamo.WriteUnits(db.maxRecord), db.txUnits, db.txs)
	if db.txUnits > 10 {
		t.Errorf("moving a key's 12 minutes cost %d units, more than docs/operating.md allows for (it states 10)", db.txUnits)
	}
}
