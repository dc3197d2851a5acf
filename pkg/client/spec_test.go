package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/testenv"
)

// TestEveryOperationHasAMethod walks openapi.yaml: every operation must be
// called by some exported method of *client.Client, and every request a
// method sends must be an operation of the document. The methods are not
// listed by hand: each is called with placeholder arguments against a
// server that records what arrives, so a route added to the spec without a
// client method fails here, naming its operationId. Only the browser's
// routes (notClient) have none, each with its reason.
func TestEveryOperationHasAMethod(t *testing.T) {
	v, err := testenv.DefaultValidator()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string // "METHOD /path" without the stage
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+strings.TrimPrefix(r.URL.Path, "/v1"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c := client.New(srv.URL+"/v1", "fg_test_x", client.WithRetries(1, 0))

	called := map[string][]string{} // operationId → methods
	rv := reflect.ValueOf(c)
	for i := range rv.NumMethod() {
		m, name := rv.Method(i), rv.Type().Method(i).Name
		// A helper that polls (WaitAsset) stops at the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		args, ok := placeholders(ctx, m.Type())
		if !ok {
			cancel()
			continue // not a call of the API (BaseURL, say)
		}
		mu.Lock()
		got = got[:0]
		mu.Unlock()
		if m.Type().IsVariadic() {
			m.CallSlice(args)
		} else {
			m.Call(args)
		}
		cancel()
		mu.Lock()
		reqs := slices.Clone(got)
		mu.Unlock()
		if len(reqs) == 0 {
			// A helper whose first step is local (UploadAsset reads a
			// file first): the operations it calls have methods of their own.
			t.Logf("%s sent no request with placeholder arguments", name)
		}
		for _, req := range reqs {
			method, path, _ := strings.Cut(req, " ")
			op, ok := v.Operation(method, path)
			if !ok {
				t.Errorf("%s sends %s, which openapi.yaml does not declare", name, req)
				continue
			}
			if !slices.Contains(called[op.OperationID], name) {
				called[op.OperationID] = append(called[op.OperationID], name)
			}
		}
	}
	inSpec := map[string]bool{}
	for path, item := range v.Doc().Paths.Map() {
		for method, op := range item.Operations() {
			inSpec[op.OperationID] = true
			_, excused := notClient[op.OperationID]
			switch {
			case len(called[op.OperationID]) == 0 && !excused:
				t.Errorf("operation %s (%s %s) has no method in pkg/client", op.OperationID, method, path)
			case len(called[op.OperationID]) > 0 && excused:
				t.Errorf("operation %s has methods %v and is listed in notClient", op.OperationID, called[op.OperationID])
			}
		}
	}
	for op := range notClient {
		if !inSpec[op] {
			t.Errorf("notClient lists %s, which openapi.yaml does not have", op)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d operations, each called by a method: %v", len(called), called)
}

// notClient are the operations of openapi.yaml a program has no use for,
// and why: the console's page, its files and its cookie sign-in are for a
// browser (CreateConsoleSession gives the link that opens them); the leak
// report is GitHub's.
var notClient = map[string]string{
	"reportLeakedKeys": "called by GitHub's secret scanning with GitHub's signature, never with a key",
	"getConsole":       "the console's HTML page, rendered by a browser",
	"getConsoleAsset":  "a script or style sheet of the console page, fetched by the browser",
	"signInToConsole":  "exchanges a one-time link for an HttpOnly session cookie that only a browser holds",
}

// placeholders builds arguments for a method of the client: a context,
// ids, zero request bodies, no options. false: the method takes something
// else and is not an API call.
func placeholders(ctx context.Context, ft reflect.Type) ([]reflect.Value, bool) {
	if ft.NumIn() == 0 || ft.In(0) != reflect.TypeFor[context.Context]() {
		return nil, false
	}
	args := []reflect.Value{reflect.ValueOf(ctx)}
	for i := 1; i < ft.NumIn(); i++ {
		in := ft.In(i)
		switch {
		case ft.IsVariadic() && i == ft.NumIn()-1:
			args = append(args, reflect.MakeSlice(in, 0, 0))
		case in.Kind() == reflect.String:
			args = append(args, reflect.ValueOf("id_1").Convert(in))
		case in == reflect.TypeFor[io.Writer]():
			args = append(args, reflect.ValueOf(io.Discard))
		default:
			args = append(args, reflect.Zero(in))
		}
	}
	return args, true
}
