package usage

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/lambdas"
)

func openStore(d lambdas.Deps) (*Store, error) {
	d = d.WithDefaults()
	table := d.Getenv("KEYS_TABLE")
	if table == "" {
		return nil, errors.New("usage: KEYS_TABLE is not set")
	}
	return NewStore(dynamodb.NewFromConfig(d.AWS), table, d.Now)
}

// New is the constructor of functions/usage: GET /v1/usage.
func New(_ context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	st, err := openStore(d)
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d.WithDefaults()), st, d.WithDefaults().Now), nil
}

// NewWorker is the constructor of functions/usage-sweep: on its schedule it
// moves every key's completed minutes into the history, so no key record
// carries more than a quarter of an hour of them.
func NewWorker(_ context.Context, d lambdas.Deps) (lambdas.ScheduleFunc, error) {
	st, err := openStore(d)
	if err != nil {
		return nil, err
	}
	log := d.WithDefaults().Logger
	return func(ctx context.Context, _ events.EventBridgeEvent) error {
		n, err := st.SweepAll(ctx)
		log.InfoContext(ctx, "usage swept", "keys", n)
		return err
	}, nil
}

// Handler returns the routes of functions/usage.
func Handler(srv httpapi.Server, st *Store, now func() time.Time) lambdas.HTTPFunc {
	return srv.API(httpapi.Routes{"GET /usage": func(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
		q, err := parseQuery(r, now())
		if err != nil {
			return httpapi.Response{}, err
		}
		rep, err := st.Read(ctx, r.Workspace(), r.Env(), q)
		if err != nil {
			return httpapi.Response{}, err
		}
		return httpapi.Response{Body: viewOf(rep, string(r.Env()))}, nil
	}})
}

// defaultSpan is what a granularity shows when from is not given.
var defaultSpan = map[Granularity]time.Duration{Minute: time.Hour, Hour: 24 * time.Hour, Day: 30 * 24 * time.Hour}

// maxBuckets bounds one answer.
var maxBuckets = map[Granularity]int{Minute: 24 * 60, Hour: 31 * 24, Day: 400}

func parseQuery(r *httpapi.Request, now time.Time) (Query, error) {
	q := Query{Granularity: Granularity(r.Query("granularity"))}
	if q.Granularity == "" {
		q.Granularity = Hour
	}
	if _, ok := defaultSpan[q.Granularity]; !ok {
		return Query{}, apierr.Invalid("granularity", "granularity must be minute, hour or day.")
	}
	step := q.Granularity.Step()
	q.To = now.UTC().Truncate(step).Add(step) // the bucket now is in, included
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := r.Query(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return Query{}, apierr.Invalid(name, "%s must be an RFC 3339 time such as 2030-01-31T12:00:00Z.", name)
			}
			*dst = t.UTC()
		}
	}
	// Buckets are whole: from rounds down, to up.
	if t := q.To.Truncate(step); !t.Equal(q.To) {
		q.To = t.Add(step)
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-defaultSpan[q.Granularity])
	}
	q.From = q.From.Truncate(step)
	switch {
	case !q.To.After(q.From):
		return Query{}, apierr.Invalid("to", "to must be after from.")
	case q.From.Before(now.Add(-q.Granularity.Kept())):
		return Query{}, apierr.Invalid("from", "Usage by %s is kept %d days; from must be later.", q.Granularity, int(q.Granularity.Kept()/(24*time.Hour)))
	case int(q.To.Sub(q.From)/step) > maxBuckets[q.Granularity]:
		return Query{}, apierr.Invalid("from", "At most %d buckets by %s in one answer; narrow from and to.", maxBuckets[q.Granularity], q.Granularity)
	}
	if id := r.Query("keyId"); id != "" {
		if !ids.Valid("key", id) {
			return Query{}, apierr.Invalid("keyId", "keyId must be a key id (key_…).")
		}
		q.KeyID = id
	}
	return q, nil
}

// TimeFormat is the API's time format.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// View is GET /v1/usage's answer.
type View struct {
	Object        string      `json:"object"`
	Environment   string      `json:"environment"`
	Granularity   Granularity `json:"granularity"`
	From          string      `json:"from"`
	To            string      `json:"to"`
	StepSeconds   int         `json:"stepSeconds"`
	Requests      Counts      `json:"requests"`
	Series        SeriesView  `json:"series"`
	Keys          []KeyView   `json:"keys"`
	RenderSeconds RenderView  `json:"renderSeconds"`
}

// SeriesView holds one number per bucket, from From, StepSeconds apart.
type SeriesView struct {
	Admitted    []int64 `json:"admitted"`
	RateLimited []int64 `json:"rateLimited"`
	Forbidden   []int64 `json:"forbidden"`
}

// KeyView is one key's usage.
type KeyView struct {
	KeyID      string     `json:"keyId"`
	LastUsedAt *string    `json:"lastUsedAt"`
	Requests   Counts     `json:"requests"`
	Series     SeriesView `json:"series"`
}

// RenderView is the seconds of video rendered in the environment.
type RenderView struct {
	Total  float64   `json:"total"`
	Series []float64 `json:"series"`
}

func seriesView(s Series) SeriesView {
	return SeriesView{Admitted: s.Admitted, RateLimited: s.RateLimited, Forbidden: s.Forbidden}
}

func viewOf(r Report, env string) View {
	v := View{Object: "usage", Environment: env, Granularity: r.Granularity,
		From: r.From.UTC().Format(TimeFormat), To: r.To.UTC().Format(TimeFormat), StepSeconds: int(r.Granularity.Step() / time.Second),
		Requests: r.Total.total(), Series: seriesView(r.Total), Keys: make([]KeyView, 0, len(r.Keys)),
		RenderSeconds: RenderView{Series: r.RenderSeconds}}
	for _, s := range r.RenderSeconds {
		v.RenderSeconds.Total += s
	}
	for _, k := range r.Keys {
		kv := KeyView{KeyID: k.KeyID, Requests: k.Series.total(), Series: seriesView(k.Series)}
		if k.LastUsedAt != nil {
			s := k.LastUsedAt.UTC().Format(TimeFormat)
			kv.LastUsedAt = &s
		}
		v.Keys = append(v.Keys, kv)
	}
	return v
}
