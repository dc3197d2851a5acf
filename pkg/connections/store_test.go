package connections_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func openStore(t *testing.T) (*connections.Store, *testenv.Env) {
	t.Helper()
	env := testenv.New(t)
	st, err := connections.OpenStore(context.Background(), env.Deps("ConnectionsFunction", nil), true)
	if err != nil {
		t.Fatal(err)
	}
	return st, env
}

func code(err error) apierr.Code {
	var e *apierr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

var hook = connections.Spec{Type: connections.TypeWebhook, URL: "https://example.com/catch"}

func count(t *testing.T, st *connections.Store, ws, env string) int {
	t.Helper()
	cs, _, err := st.List(context.Background(), ws, env, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func TestConnectionCapIsAtomic(t *testing.T) {
	st, env := openStore(t)
	ctx := context.Background()
	const ws = "ws_cap"
	var mu sync.Mutex
	var created []connections.Connection
	limited := 0
	var wg sync.WaitGroup
	for range connections.MaxPerEnvironment + 15 {
		wg.Go(func() {
			c, _, err := st.Create(ctx, ws, "live", hook, env.Operator(ws))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created = append(created, c)
			case code(err) == apierr.ConnectionLimitReached:
				limited++
				if msg := apierr.From(err).Message; !strings.Contains(msg, "25") || !strings.Contains(msg, "DELETE /v1/connections/{id}") {
					t.Errorf("limit message %q says neither the maximum nor what to do", msg)
				}
			default:
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	if len(created) != connections.MaxPerEnvironment || limited != 15 {
		t.Fatalf("created %d, limited %d; want %d and 15", len(created), limited, connections.MaxPerEnvironment)
	}
	if n := count(t, st, ws, "live"); n != connections.MaxPerEnvironment {
		t.Fatalf("%d stored, want %d", n, connections.MaxPerEnvironment)
	}
	// Each environment has its own cap.
	if _, _, err := st.Create(ctx, ws, "test", hook, env.Operator(ws)); err != nil {
		t.Fatalf("test environment: %v", err)
	}
	// A delete repeated concurrently succeeds once and frees one place.
	var deleted, missing int
	for range 3 {
		wg.Go(func() {
			err := st.Delete(ctx, ws, "live", created[0].ID, env.Operator(ws))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				deleted++
			case code(err) == apierr.NotFound:
				missing++
			default:
				t.Errorf("delete: %v", err)
			}
		})
	}
	wg.Wait()
	if deleted != 1 || missing != 2 {
		t.Fatalf("delete ×3: %d deleted, %d not found; want 1 and 2", deleted, missing)
	}
	if _, _, err := st.Create(ctx, ws, "live", hook, env.Operator(ws)); err != nil {
		t.Fatalf("after delete: %v", err)
	}
	if _, _, err := st.Create(ctx, ws, "live", hook, env.Operator(ws)); code(err) != apierr.ConnectionLimitReached {
		t.Fatalf("a repeated delete freed more than one place: %v", err)
	}
}

// TestConnectionsOlderThanTheCap: a partition without its count (stored
// before the cap existed) gets it from the connections it holds.
func TestConnectionsOlderThanTheCap(t *testing.T) {
	st, env := openStore(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(env.AWS)
	table := env.Getenv("ConnectionsFunction")("DATA_TABLE")
	dropCount := func(ws string) {
		t.Helper()
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "CONN#" + ws + "#live"}, "sk": &types.AttributeValueMemberS{Value: "COUNT"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	fill := func(ws string) int {
		t.Helper()
		for n := 0; ; n++ {
			_, _, err := st.Create(ctx, ws, "live", hook, env.Operator(ws))
			if code(err) == apierr.ConnectionLimitReached {
				return n
			}
			if err != nil || n > connections.MaxPerEnvironment {
				t.Fatalf("fill after %d: %v", n, err)
			}
		}
	}

	// Created first, then delete: the count is rebuilt by the next create.
	var old []connections.Connection
	for range 3 {
		c, _, err := st.Create(ctx, "ws_old", "live", hook, env.Operator("ws_old"))
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, c)
	}
	dropCount("ws_old")
	if n := fill("ws_old"); n != connections.MaxPerEnvironment-3 {
		t.Fatalf("created %d more after 3 uncounted ones, want %d", n, connections.MaxPerEnvironment-3)
	}

	// ... or by the next delete.
	dropCount("ws_old")
	if err := st.Delete(ctx, "ws_old", "live", old[0].ID, env.Operator("ws_old")); err != nil {
		t.Fatal(err)
	}
	if n := fill("ws_old"); n != 1 {
		t.Fatalf("created %d after deleting one of a full, uncounted partition, want 1", n)
	}
	if n := count(t, st, "ws_old", "live"); n != connections.MaxPerEnvironment {
		t.Fatalf("%d stored, want %d", n, connections.MaxPerEnvironment)
	}
}
