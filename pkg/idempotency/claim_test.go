package idempotency_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/idempotency"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// lostAnswer is the DynamoDB client as the SDK behaves when a PutItem's
// answer is lost: the write went through, and the SDK sends it again.
type lostAnswer struct{ *dynamodb.Client }

func (l lostAnswer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, err := l.Client.PutItem(ctx, in, o...); err != nil {
		return nil, err
	}
	return l.Client.PutItem(ctx, in, o...)
}

// TestClaimSurvivesItsOwnLostAnswer: a claim whose first write went
// through but whose answer was lost is still the claimant's, not a
// "still being processed" 409 against itself; another request is refused.
func TestClaimSurvivesItsOwnLostAnswer(t *testing.T) {
	env := testenv.New(t)
	table := env.Getenv("VideosFunction")("DATA_TABLE")
	st, err := idempotency.NewStore(lostAnswer{dynamodb.NewFromConfig(env.AWS)}, table, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	k := idempotency.KeyOf("WS#ws_1#live", "key-1")
	if rep, err := st.Claim(context.Background(), k, "h", nil); err != nil || rep != nil {
		t.Fatalf("first claim: %v %v", rep, err)
	}
	if _, err := st.Claim(context.Background(), k, "h", nil); apierr.From(err).Code != apierr.Conflict {
		t.Errorf("another request's claim: %v, want conflict", err)
	}
}
