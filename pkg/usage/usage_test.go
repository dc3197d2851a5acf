package usage_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
	"github.com/framegate/framegate/pkg/usage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type counts struct{ Admitted, RateLimited, Forbidden int64 }

type report struct {
	Granularity string
	From, To    string
	StepSeconds int
	Requests    counts
	Series      struct{ Admitted, RateLimited, Forbidden []int64 }
	Keys        []struct {
		KeyID      string
		LastUsedAt *string
		Requests   counts
	}
	RenderSeconds struct {
		Total  float64
		Series []float64
	}
}

func (r report) key(id string) (counts, *string) {
	for _, k := range r.Keys {
		if k.KeyID == id {
			return k.Requests, k.LastUsedAt
		}
	}
	return counts{}, nil
}

// TestUsageIsExactUnderABurst: a concurrent burst past a key's limit, and
// requests the key's scopes refuse, show in GET /v1/usage as the clients
// saw them: admitted (2xx) and forbidden (403) exactly, rate limited (429)
// as the refusals that reached DynamoDB (at least one; those a container
// answers from memory cost no call and are not counted), per minute, hour
// and day, the same while the minute is open (from the key's record) and
// after the sweep moved it into the history; lastUsedAt is the last
// request's time; a render's seconds are counted once.
func TestUsageIsExactUnderABurst(t *testing.T) {
	t0 := time.Date(2027, 6, 1, 10, 15, 3, 0, time.UTC)
	clock := testenv.NewClock(t0)
	s := testenv.NewStack(t, testenv.WithClock(clock.Now))
	ws, keys := s.Workspace("Usage", ratelimit.Plan{KeyRequestsPerMinute: 12})
	primary := keys[apikey.Live]
	c := testenv.NewAPIClient(t, s.URL())
	r := c.Expect(c.Do("POST", "/keys", primary, map[string]any{"name": "burst", "role": "render"}), 201)
	burst, burstID := r.Str("key"), r.Str("id")
	ro := c.Expect(c.Do("POST", "/keys", primary, map[string]any{"name": "reader", "role": "read_only"}), 201)
	reader := ro.Str("key")

	// Two requests the key's scopes refuse (they count against its limit
	// too), then 30 concurrent ones (10 in flight: the emulator is slow, and
	// the authorizer's timeouts are Lambda's) from a key allowed 12 a minute.
	got := map[int]int64{}
	for range 2 {
		got[c.Do("GET", "/keys", burst, nil).Status]++ // a render key lacks keys:manage
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	inFlight := make(chan struct{}, 10)
	for range 30 {
		wg.Go(func() {
			inFlight <- struct{}{}
			defer func() { <-inFlight }()
			r := c.Do("GET", "/auth", burst, nil)
			mu.Lock()
			got[r.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[403] != 2 || got[200] != 10 || got[429] != 20 {
		t.Fatalf("statuses %v", got)
	}
	want := counts{Admitted: got[200], RateLimited: -1, Forbidden: got[403]} // RateLimited: as first reported
	lastUse := clock.Now().UTC().Format(usage.TimeFormat)

	check := func(when, gran string) report {
		t.Helper()
		r := c.Expect(c.Do("GET", "/usage?granularity="+gran, reader, nil), 200)
		var rep report
		if err := json.Unmarshal([]byte(r.Raw), &rep); err != nil {
			t.Fatal(err)
		}
		k, lu := rep.key(burstID)
		if want.RateLimited < 0 && k.RateLimited >= 1 && k.RateLimited <= got[429] {
			want.RateLimited = k.RateLimited
		}
		if k != want {
			t.Errorf("%s, by %s: key %+v, want %+v (rate limited: 1 to %d, the same in every report)", when, gran, k, want, got[429])
		}
		if lu == nil || *lu != lastUse {
			t.Errorf("%s: lastUsedAt %v, want %s", when, lu, lastUse)
		}
		return rep
	}
	for _, g := range []string{"minute", "hour", "day"} {
		rep := check("open minute", g)
		if g == "minute" && (len(rep.Series.Admitted) != 60 || rep.StepSeconds != 60) {
			t.Errorf("minute series: %d buckets of %d s", len(rep.Series.Admitted), rep.StepSeconds)
		}
	}
	// The workspace totals hold the reader's own admitted requests too.
	if rep := check("totals", "hour"); rep.Requests.Admitted < want.Admitted+3 || rep.Requests.RateLimited != want.RateLimited {
		t.Errorf("workspace totals %+v", rep.Requests)
	}

	// Later: the sweep moves the minute into the history; nothing changes.
	clock.Advance(3 * time.Minute)
	sweep, err := usage.NewWorker(context.Background(), s.Deps("UsageSweepFunction"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sweep(context.Background(), events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"minute", "hour", "day"} {
		check("after the sweep", g)
	}
	// A second sweep has nothing to move: still the same.
	if err := sweep(context.Background(), events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	check("after a second sweep", "minute")

	// A key record that still shows moved cells, as a copy of the key index
	// trailing the move would, does not count them twice: the key's note
	// of how far it was moved excludes them.
	ctx := context.Background()
	hasher, err := keystore.OpenHasher(ctx, s.Deps("KeysFunction"))
	if err != nil {
		t.Fatal(err)
	}
	table := s.Getenv("KeysFunction")("KEYS_TABLE")
	if _, err := dynamodb.NewFromConfig(s.AWS()).UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &table, Key: keystore.KeyKey(hasher.Hash(burst)),
		UpdateExpression:          aws.String("ADD #u :n"),
		ExpressionAttributeNames:  map[string]string{"#u": keystore.UsageAttr(keystore.UsageCounted, keystore.UsageMinute(t0))},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "32"}},
	}); err != nil {
		t.Fatal(err)
	}
	check("with a stale copy of moved cells", "minute")

	// A render's seconds count once, in its environment only.
	testenv.SucceededVideo(t, s.AWS(), s.Getenv("VideosFunction"), ws.ID, apikey.Live, clock.Now, []byte("mp4"))
	rep := check("renders", "day")
	if rep.RenderSeconds.Total != 1.5 {
		t.Errorf("render seconds %v, want 1.5", rep.RenderSeconds.Total)
	}
	sandbox := c.Expect(c.Do("GET", "/usage?granularity=day", keys[apikey.Test], nil), 200)
	if sandbox.Get("renderSeconds", "total") != 0.0 {
		t.Errorf("the sandbox sees live render seconds: %s", sandbox.Raw)
	}
}

func TestUsageQueryValidation(t *testing.T) {
	t0 := time.Date(2027, 6, 1, 10, 15, 3, 0, time.UTC)
	s := testenv.NewStack(t, testenv.WithClock(func() time.Time { return t0 }))
	_, keys := s.Workspace("Usage", ratelimit.Plan{})
	c := testenv.NewAPIClient(t, s.URL())
	key := keys[apikey.Live]
	for q, field := range map[string]string{
		"granularity=week": "granularity",
		"from=yesterday":   "from",
		"granularity=minute&from=2027-05-29T00:00:00Z":      "from", // past 48 h
		"granularity=hour&from=2027-04-01T00:00:00Z":        "from", // past 31 days
		"from=2027-06-01T12:00:00Z&to=2027-06-01T11:00:00Z": "to",
		"keyId=nope": "keyId",
	} {
		r := c.Expect(c.Do("GET", "/usage?"+q, key, nil), http.StatusBadRequest)
		if r.Str("error", "field") != field {
			t.Errorf("%s: %s", q, r.Raw)
		}
	}
	r := c.Expect(c.Do("GET", "/usage?granularity=day&from=2027-05-01T06:00:00Z&to=2027-05-03T00:00:01Z", key, nil), 200)
	if r.Str("from") != "2027-05-01T00:00:00.000Z" || r.Str("to") != "2027-05-04T00:00:00.000Z" || len(r.Get("series", "admitted").([]any)) != 3 {
		t.Errorf("whole buckets: %s", r.Raw)
	}
	// read_only reads usage; render keys do not.
	ro := c.Expect(c.Do("POST", "/keys", key, map[string]any{"name": "ro", "role": "read_only"}), 201).Str("key")
	rd := c.Expect(c.Do("POST", "/keys", key, map[string]any{"name": "rd", "role": "render"}), 201).Str("key")
	c.Expect(c.Do("GET", "/usage", ro, nil), 200)
	c.Expect(c.Do("GET", "/usage", rd, nil), http.StatusForbidden)
	c.Expect(c.Do("GET", "/audit-events", ro, nil), http.StatusForbidden)
}
