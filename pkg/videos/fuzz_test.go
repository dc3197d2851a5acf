package videos_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/ratelimit"
)

// jsonNumber writes f as a JSON number; NaN and infinities, which JSON has
// no number for, are written as Go prints them, making the body invalid
// JSON, which must be a 400 like any other.
func jsonNumber(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// numericBody is a spec using every number a spec has.
func numericBody(scene, trans, start, end, volume float64, fps, width, height, fontSize int) string {
	return fmt.Sprintf(`{"spec":{"resolution":"hd","fps":%d,"scenes":[`+
		`{"duration":%s,"background":{"color":"#102030"},"transition":{"type":"fade","duration":%s},"elements":[`+
		`{"type":"text","text":"Hi","fontSize":%d,"start":%s,"end":%s},`+
		`{"type":"image","url":"https://cdn.example/a.png","width":%d,"height":%d,"start":%s}]},`+
		`{"duration":%s,"background":{"gradient":{"from":"#000000","to":"#ffffff"}}}],`+
		`"audio":{"url":"https://cdn.example/a.mp3","volume":%s}}}`,
		fps, jsonNumber(scene), jsonNumber(trans), fontSize, jsonNumber(start), jsonNumber(end),
		width, height, jsonNumber(start), jsonNumber(scene), jsonNumber(volume))
}

// createsOrRefuses sends body to POST /v1/videos through the handler, its
// store and its queue on the emulator: whatever the body, the answer is a
// 202 or a 4xx, never a 5xx (DynamoDB refuses numbers beyond its range,
// 1e-130 to 1e+126 with 38 digits, and any such number reaching it would
// be one); an accepted video reads back.
func createsOrRefuses(t *testing.T, f *apiFixture, c caller, body string) {
	r := f.do(t, c, "POST", "/videos", "", nil, nil, body)
	switch {
	case r.status >= 500:
		t.Fatalf("%d for %s: %s", r.status, body, r.raw)
	case r.status == 202:
		got := f.do(t, c, "GET", "/videos/{id}", r.str("id"), nil, nil, "")
		d, _ := got.body["durationSeconds"].(float64)
		if got.status != 200 || d <= 0 || math.IsInf(d, 0) {
			t.Fatalf("accepted video reads back %d %s", got.status, got.raw)
		}
	case r.status >= 400:
		if r.code() == "" {
			t.Fatalf("%d outside the envelope: %s", r.status, r.raw)
		}
	default:
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
}

// FuzzCreateNumbers fuzzes every number of a spec through the create path.
//
//	go test -run '^$' -fuzz '^FuzzCreateNumbers$' -fuzztime 30s ./pkg/videos
func FuzzCreateNumbers(f *testing.F) {
	fx := setupAPI(f)
	live := caller{fx.workspace(f, ratelimit.Plan{QueuedRenders: 1 << 30}), apikey.Live}
	sandbox := caller{live.ws, apikey.Test}
	f.Add(2.0, 0.5, 0.0, 1.0, 0.5, 25, 320, 180, 64, false)
	f.Add(1e-300, 1e-300, 0.0, 1e-300, 1e-300, 25, 0, 0, 8, false)      // under DynamoDB's range
	f.Add(1e300, 1e299, 1e298, 1e300, 1.0, 60, 1280, 720, 400, false)   // over it
	f.Add(0.04, 0.02, 0.0, 0.04, 0.0, 25, 1, 1, 8, true)                // one frame
	f.Add(0.039999, 0.01, 0.0, 0.02, 1e-7, 25, -1, 1<<40, 401, false)   // under a frame
	f.Add(86400.0, 1.0, 86399.9, 86400.0, 1.0, 1, 1280, 720, 64, false) // a day at 1 fps
	f.Add(-0.0, -1.0, -1.0, -0.0, -1.0, -25, -320, -180, -64, true)
	f.Add(1.0000000000000002, 0.9999999999999999, 5e-324, 1.0, 0.1, 61, 1281, 721, 7, false)
	f.Add(math.NaN(), math.Inf(1), math.Inf(-1), math.NaN(), math.NaN(), 0, 0, 0, 0, false)
	f.Fuzz(func(t *testing.T, scene, trans, start, end, volume float64, fps, width, height, fontSize int, test bool) {
		c := live
		if test {
			c = sandbox
		}
		createsOrRefuses(t, fx, c, numericBody(scene, trans, start, end, volume, fps, width, height, fontSize))
	})
}

// FuzzCreateBody fuzzes whole bodies through the create path, seeded with
// the examples the docs use.
//
//	go test -run '^$' -fuzz '^FuzzCreateBody$' -fuzztime 30s ./pkg/videos
func FuzzCreateBody(f *testing.F) {
	fx := setupAPI(f)
	c := caller{fx.workspace(f, ratelimit.Plan{QueuedRenders: 1 << 30}), apikey.Live}
	examples, _ := filepath.Glob("../../examples/*.json")
	for _, path := range examples {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"spec":{"resolution":"sd","scenes":[{"duration":1e-131,"background":{"color":"#000000"}}]}}`,
		`{"spec":{"resolution":"sd","scenes":[{"duration":1.00000000000000000000000000000000000001,"background":{"color":"#000000"}}]}}`,
		`{"spec":{"resolution":"sd","scenes":[{"duration":1e127,"background":{"color":"#000000"}}]}}`,
		`{"templateId":"tpl_title_card","variables":{"title":1e308}}`,
		`{"spec":{"resolution":"sd","fps":1e400,"scenes":[]}}`,
		`{"spec":null}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		createsOrRefuses(t, fx, c, string(body))
	})
}

// TestNumericBodyReachesTheStore: the fuzzed body is accepted with sane
// numbers, so the fuzzers exercise the writes, not only the refusals.
func TestNumericBodyReachesTheStore(t *testing.T) {
	fx := setupAPI(t)
	c := caller{fx.workspace(t, ratelimit.Plan{}), apikey.Live}
	if r := fx.do(t, c, "POST", "/videos", "", nil, nil, numericBody(2, 0.5, 0, 1, 0.5, 25, 320, 180, 64)); r.status != 202 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}
