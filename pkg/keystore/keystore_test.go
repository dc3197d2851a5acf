package keystore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/scopes"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t *testing.T) (*keystore.Store, *testenv.Clock, *testenv.Env) {
	t.Helper()
	env := testenv.New(t)
	clock := testenv.NewClock(time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := keystore.Open(context.Background(), env.Deps("KeysFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return st, clock, env
}

func code(err error) apierr.Code {
	var e *apierr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestActiveKeyCapIsAtomic(t *testing.T) {
	st, _, env := open(t)
	ctx := context.Background()
	ws, _, err := st.CreateWorkspace(ctx, "Acme", "business", ratelimit.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var created []keystore.Key
	limited := 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, plain, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "k", Role: scopes.Render}, env.Operator(ws.ID))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && plain != "":
				created = append(created, k)
			case code(err) == apierr.KeyLimitReached:
				limited++
			default:
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(created) != 4 || limited != 16 {
		t.Fatalf("created %d, limited %d; want 4 and 16 (5 with the primary)", len(created), limited)
	}
	// The test environment has its own cap.
	if _, _, err := st.CreateKey(ctx, ws.ID, apikey.Test, keystore.NewKey{Name: "t", Role: scopes.Render}, env.Operator(ws.ID)); err != nil {
		t.Fatalf("test env: %v", err)
	}
	// Revoking one frees a place, exactly one.
	if _, err := st.RevokeKey(ctx, ws.ID, apikey.Live, created[0].ID, env.Operator(ws.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "again", Role: scopes.Render}, env.Operator(ws.ID)); err != nil {
		t.Fatalf("after revoke: %v", err)
	}
	if _, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "over", Role: scopes.Render}, env.Operator(ws.ID)); code(err) != apierr.KeyLimitReached {
		t.Fatalf("over the cap: %v", err)
	}
	// Revoking twice frees nothing more.
	if _, err := st.RevokeKey(ctx, ws.ID, apikey.Live, created[0].ID, env.Operator(ws.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "over", Role: scopes.Render}, env.Operator(ws.ID)); code(err) != apierr.KeyLimitReached {
		t.Fatalf("double revoke freed a slot: %v", err)
	}
}

func TestExpiredKeysReleaseTheirSlot(t *testing.T) {
	st, clock, env := open(t)
	ctx := context.Background()
	ws, _, err := st.CreateWorkspace(ctx, "Acme", "business", ratelimit.Plan{MaxActiveKeys: 2})
	if err != nil {
		t.Fatal(err)
	}
	exp := clock.Now().Add(time.Hour)
	if _, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "short", Role: scopes.Render, ExpiresAt: &exp}, env.Operator(ws.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "x", Role: scopes.Render}, env.Operator(ws.ID)); code(err) != apierr.KeyLimitReached {
		t.Fatalf("cap: %v", err)
	}
	clock.Advance(2 * time.Hour)
	if _, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "x", Role: scopes.Render}, env.Operator(ws.ID)); err != nil {
		t.Fatalf("expired key still holds its slot: %v", err)
	}
}

func TestTenantIsolation(t *testing.T) {
	st, _, env := open(t)
	ctx := context.Background()
	a, _, _ := st.CreateWorkspace(ctx, "A", "business", ratelimit.Plan{})
	b, _, _ := st.CreateWorkspace(ctx, "B", "business", ratelimit.Plan{})
	kb, _, err := st.CreateKey(ctx, b.ID, apikey.Live, keystore.NewKey{Name: "b", Role: scopes.Render}, env.Operator(b.ID))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]func() error{
		"get":    func() error { _, err := st.GetKey(ctx, a.ID, apikey.Live, kb.ID); return err },
		"revoke": func() error { _, err := st.RevokeKey(ctx, a.ID, apikey.Live, kb.ID, env.Operator(a.ID)); return err },
		"rotate": func() error {
			_, _, err := st.RotateKey(ctx, a.ID, apikey.Live, kb.ID, 0, nil, env.Operator(a.ID))
			return err
		},
		"other env": func() error {
			_, err := st.GetKey(ctx, b.ID, apikey.Test, kb.ID)
			return err
		},
		"malformed id": func() error { _, err := st.GetKey(ctx, b.ID, apikey.Live, "key_../../x"); return err },
	}
	for name, f := range checks {
		if err := f(); code(err) != apierr.NotFound {
			t.Errorf("%s: %v, want not_found", name, err)
		}
	}
	// And B's key is untouched.
	if k, err := st.GetKey(ctx, b.ID, apikey.Live, kb.ID); err != nil || k.Status(time.Now()) != keystore.StatusActive {
		t.Fatalf("%+v %v", k, err)
	}
	keys, _, err := st.ListKeys(ctx, a.ID, apikey.Live, "", 100, keystore.StatusAll)
	if err != nil || len(keys) != 1 || keys[0].Kind != keystore.Primary {
		t.Fatalf("A sees %d keys: %v", len(keys), err)
	}
}

func TestListPaginatesInCreationOrder(t *testing.T) {
	st, clock, env := open(t)
	ctx := context.Background()
	ws, _, _ := st.CreateWorkspace(ctx, "A", "enterprise", ratelimit.Plan{})
	var made []string
	for range 7 {
		clock.Advance(time.Millisecond)
		k, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "k", Role: scopes.ReadOnly}, env.Operator(ws.ID))
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, k.ID)
	}
	if _, err := st.RevokeKey(ctx, ws.ID, apikey.Live, made[2], env.Operator(ws.ID)); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		keys, next, err := st.ListKeys(ctx, ws.ID, apikey.Live, after, 3, keystore.StatusActive)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.Kind == keystore.Secondary {
				got = append(got, k.ID)
			}
		}
		if next == "" {
			break
		}
		after = next
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	want := append(append([]string{}, made[:2]...), made[3:]...)
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order: got %v want %v", got, want)
		}
	}
}

func TestPrimaryReset(t *testing.T) {
	st, _, env := open(t)
	ctx := context.Background()
	ws, plains, _ := st.CreateWorkspace(ctx, "A", "business", ratelimit.Plan{})
	keys, _, _ := st.ListKeys(ctx, ws.ID, apikey.Live, "", 10, keystore.StatusActive)
	old := keys[0]
	if _, err := st.RevokeKey(ctx, ws.ID, apikey.Live, old.ID, env.Operator(ws.ID)); code(err) != apierr.Conflict {
		t.Fatalf("revoking the primary: %v", err)
	}
	nk, plain, err := st.ResetPrimary(ctx, ws.ID, apikey.Live, "", env.Operator(ws.ID))
	if err != nil || plain == plains[apikey.Live] || nk.Kind != keystore.Primary {
		t.Fatalf("%+v %v", nk, err)
	}
	got, _ := st.GetKey(ctx, ws.ID, apikey.Live, old.ID)
	if got.Status(time.Now()) != keystore.StatusRevoked {
		t.Fatalf("old primary %s", got.Status(time.Now()))
	}
	// The cap is unchanged: 4 more secondaries fit.
	for i := range 5 {
		_, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "k", Role: scopes.Render}, env.Operator(ws.ID))
		if (i < 4) != (err == nil) {
			t.Fatalf("create %d: %v", i, err)
		}
	}
}

func TestCreateWorkspaceValidates(t *testing.T) {
	st, _, env := open(t)
	ctx := context.Background()
	if _, _, err := st.CreateWorkspace(ctx, " ", "business", ratelimit.Plan{}); code(err) != apierr.InvalidRequest {
		t.Fatal(err)
	}
	if _, _, err := st.CreateWorkspace(ctx, "x", "platinum", ratelimit.Plan{}); code(err) != apierr.InvalidRequest {
		t.Fatal(err)
	}
	ws, _, err := st.CreateWorkspace(ctx, "x", "", ratelimit.Plan{KeyRequestsPerMinute: 7})
	if err != nil || ws.Plan != ratelimit.DefaultPlan || ws.Limits().KeyRequestsPerMinute != 7 {
		t.Fatalf("%+v %v", ws, err)
	}
	ws2, err := st.SetPlan(ctx, ws.ID, "enterprise", ratelimit.Plan{}, env.Operator(ws.ID))
	if err != nil || ws2.Limits().KeyRequestsPerMinute != 500 {
		t.Fatalf("%+v %v", ws2, err)
	}
	got, err := st.GetWorkspace(ctx, ws.ID)
	if err != nil || got.Plan != "enterprise" || got.Name != "x" {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestRecordsPastTheirTTLAreGone(t *testing.T) {
	st, clock, env := open(t)
	ctx := context.Background()
	ws, _, _ := st.CreateWorkspace(ctx, "A", "business", ratelimit.Plan{})
	k, _, err := st.CreateKey(ctx, ws.ID, apikey.Live, keystore.NewKey{Name: "x", Role: scopes.Render}, env.Operator(ws.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RevokeKey(ctx, ws.ID, apikey.Live, k.ID, env.Operator(ws.ID)); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetKey(ctx, ws.ID, apikey.Live, k.ID); err != nil || got.Status(clock.Now()) != keystore.StatusRevoked {
		t.Fatalf("revoked key within retention: %+v %v", got, err)
	}
	// The emulator never deletes TTL-expired items; AWS may take days.
	clock.Advance(31 * 24 * time.Hour)
	if _, err := st.GetKey(ctx, ws.ID, apikey.Live, k.ID); code(err) != apierr.NotFound {
		t.Fatalf("past its TTL: %v", err)
	}
	keys, _, err := st.ListKeys(ctx, ws.ID, apikey.Live, "", 10, keystore.StatusAll)
	if err != nil || len(keys) != 1 {
		t.Fatalf("list with revoked shows %d keys (%v), want the primary only", len(keys), err)
	}
}

// flipOnRead runs flip once, right after the first read of an environment
// record: a plan change landing between CreateKey's read of the limits and
// its transaction.
type flipOnRead struct {
	keystore.DB
	once sync.Once
	flip func()
}

func (f *flipOnRead) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := f.DB.BatchGetItem(ctx, in, o...)
	for _, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			if sk, ok := k["sk"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(sk.Value, keystore.EnvSKPrefix) {
				f.once.Do(f.flip)
			}
		}
	}
	return out, err
}

// TestCountingModeReachesEveryKey: a plan change that makes the workspace
// ceiling reachable lands while a key is being created. The new key must
// still carry the mode and limits the environment record ends with (the
// authorizer reads them from the key's record alone).
func TestCountingModeReachesEveryKey(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	d := env.Deps("KeysFunction", nil)
	admin, err := keystore.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	// 10 keys × 10/min: a 100/min ceiling cannot bind, a 50/min one can.
	limits := func(ws int) ratelimit.Plan {
		return ratelimit.Plan{KeyRequestsPerMinute: 10, WorkspaceRequestsPerMinute: ws, MaxActiveKeys: 10}
	}
	w, _, err := admin.CreateWorkspace(ctx, "Acme", "business", limits(100))
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(env.AWS)
	table := d.Getenv("KEYS_TABLE")
	hooked := &flipOnRead{DB: db, flip: func() {
		if _, err := admin.SetPlan(ctx, w.ID, "business", limits(50), env.Operator(w.ID)); err != nil {
			t.Error(err)
		}
	}}
	hasher, err := keystore.OpenHasher(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	st, err := keystore.New(hooked, table, hasher, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateKey(ctx, w.ID, apikey.Live, keystore.NewKey{Name: "k", Role: scopes.Render}, env.Operator(w.ID)); err != nil {
		t.Fatal(err)
	}

	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: keystore.EnvKey(w.ID, apikey.Live), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := out.Item[keystore.AttrCounted].(*types.AttributeValueMemberBOOL); c == nil || !c.Value {
		t.Fatal("a 50/min ceiling over 10 keys × 10/min must be counted")
	}
	keys, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName: &table, IndexName: aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: keystore.WorkspacePKPrefix + w.ID + "#live"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Items) != 2 {
		t.Fatalf("%d keys, want 2", len(keys.Items))
	}
	for _, k := range keys.Items {
		full, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: map[string]types.AttributeValue{"pk": k["pk"], "sk": k["sk"]}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		it := full.Item
		c, _ := it[keystore.AttrCounted].(*types.AttributeValueMemberBOOL)
		wsRPM, _ := it[keystore.AttrWorkspaceRPM].(*types.AttributeValueMemberN)
		if c == nil || !c.Value || wsRPM == nil || wsRPM.Value != "50" {
			t.Errorf("key %v: counted %v, wsRpm %v; want true and 50", it["id"], c, wsRPM)
		}
	}
}

// TestRevocationsKeepTheRosterSmall: the roster of keys (read when a plan
// changes and by GET /v1/auth) drops revoked keys once their counts have
// left the window, at the next revocation.
func TestRevocationsKeepTheRosterSmall(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := keystore.Open(ctx, env.Deps("KeysFunction", clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	w, _, err := st.CreateWorkspace(ctx, "Acme", "business", ratelimit.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	churn := func(n int) {
		for range n {
			k, _, err := st.CreateKey(ctx, w.ID, apikey.Live, keystore.NewKey{Name: "tmp", Role: scopes.ReadOnly}, env.Operator(w.ID))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.RevokeKey(ctx, w.ID, apikey.Live, k.ID, env.Operator(w.ID)); err != nil {
				t.Fatal(err)
			}
		}
	}
	db := dynamodb.NewFromConfig(env.AWS)
	table := env.Deps("KeysFunction", nil).Getenv("KEYS_TABLE")
	entries := func() int {
		t.Helper()
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: keystore.WorkspacePKPrefix + w.ID}, "sk": &types.AttributeValueMemberS{Value: "ROSTER#live"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := out.Item["k"].(*types.AttributeValueMemberM)
		if m == nil {
			t.Fatal("no roster")
		}
		return len(m.Value)
	}
	churn(4)
	if n := entries(); n != 5 {
		t.Fatalf("%d roster entries, want the primary and 4 keys revoked within the window", n)
	}
	clock.Advance(2 * time.Minute)
	churn(1)
	if n := entries(); n != 2 {
		t.Fatalf("%d roster entries after the window, want the primary and the latest revoked key", n)
	}
}

func FuzzParseLinkToken(f *testing.F) {
	f.Add("cs_01m8ac0tzfqhnptq51g3yd3wq5.0123456789abcdefghijABCDEFGHIJ01")
	f.Add("cs_x.y")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		id, secret, ok := keystore.ParseLinkToken(tok)
		if !ok {
			if id != "" || secret != "" {
				t.Fatalf("rejected %q but returned parts", tok)
			}
			return
		}
		if id+"."+secret != tok || len(secret) != 32 || !strings.HasPrefix(id, "cs_") || !apikey.IsBase62(secret) {
			t.Fatalf("accepted %q as %q . %q", tok, id, secret)
		}
	})
}

// failingDB fails every transaction after its last item, as if the audit
// record had been refused.
type failingDB struct {
	keystore.DB
	table string
}

func (f failingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	bad := *in
	bad.TransactItems = append(append([]types.TransactWriteItem(nil), in.TransactItems...), types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &f.table, ConditionExpression: aws.String("attribute_exists(pk)"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "never"}, "sk": &types.AttributeValueMemberS{Value: "never"}},
	}})
	return f.DB.TransactWriteItems(ctx, &bad, o...)
}

// TestPlanChangeIsAuditedAtomically: an operator's plan change and its
// records (one in each environment's log) commit together or not at all.
func TestPlanChangeIsAuditedAtomically(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	d := env.Deps("KeysFunction", nil)
	st, err := keystore.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := st.CreateWorkspace(ctx, "Plans", "business", ratelimit.Plan{})
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(env.AWS)
	hasher, _ := keystore.OpenHasher(ctx, d)
	broken, err := keystore.New(failingDB{DB: db, table: d.Getenv("AUDIT_TABLE")}, d.Getenv("KEYS_TABLE"), hasher, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := audit.NewReader(db, d.Getenv("AUDIT_TABLE"), nil)
	if err != nil {
		t.Fatal(err)
	}
	records := func(e apikey.Env) int {
		recs, _, err := rd.List(ctx, ws.ID, string(e), audit.Filter{Action: audit.WorkspacePlanChanged}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	if _, err := broken.SetPlan(ctx, ws.ID, "enterprise", ratelimit.Plan{}, env.Operator(ws.ID)); err == nil {
		t.Fatal("the failing transaction succeeded")
	}
	if w, _ := st.GetWorkspace(ctx, ws.ID); w.Plan != "business" || records(apikey.Live)+records(apikey.Test) != 0 {
		t.Fatalf("after a failed change: plan %s, %d+%d records", w.Plan, records(apikey.Live), records(apikey.Test))
	}
	if _, err := st.SetPlan(ctx, ws.ID, "enterprise", ratelimit.Plan{}, nil); err == nil {
		t.Fatal("a plan change without an audit context succeeded")
	}
	if _, err := st.SetPlan(ctx, ws.ID, "enterprise", ratelimit.Plan{KeyRequestsPerMinute: 200}, env.Operator(ws.ID)); err != nil {
		t.Fatal(err)
	}
	recs, _, _ := rd.List(ctx, ws.ID, "test", audit.Filter{}, "", 10)
	if w, _ := st.GetWorkspace(ctx, ws.ID); w.Plan != "enterprise" || records(apikey.Live) != 1 || len(recs) != 1 ||
		recs[0].Details["plan"] != "enterprise" || recs[0].Details["previousPlan"] != "business" || recs[0].Details["keyRpm"] != "200" ||
		recs[0].Context.Actor.Type != audit.ActorOperator {
		t.Fatalf("after the change: plan %s, records %+v", w.Plan, recs)
	}
}
