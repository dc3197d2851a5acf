package openapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"gopkg.in/yaml.v3"

	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/openapi"
	"github.com/framegate/framegate/pkg/testenv"
)

// TestJSONIsTheYAML: the served JSON says exactly what openapi.yaml says.
func TestJSONIsTheYAML(t *testing.T) {
	j, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(openapi.YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	// yaml.v3 decodes numbers as int/float64; compare through JSON.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var norm any
	_ = json.Unmarshal(b, &norm)
	if !reflect.DeepEqual(fromJSON, norm) {
		t.Fatal("openapi.JSON() differs from openapi.yaml")
	}
}

func TestToJSON(t *testing.T) {
	for in, want := range map[string]string{
		"a: 1\nb: [x, 'y', true, null, 1.5]\n":   `{"a":1,"b":["x","y",true,null,1.5]}`,
		"z: &x {k: v}\na: *x\n":                  `{"z":{"k":"v"},"a":{"k":"v"}}`,
		"'200': {description: ok}\n'3.1': 3.1\n": `{"200":{"description":"ok"},"3.1":3.1}`,
	} {
		got, err := openapi.ToJSON([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("ToJSON(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := openapi.ToJSON([]byte("a: [\n")); err == nil {
		t.Error("ToJSON accepted broken YAML")
	}
}

// TestHandler: GET /openapi.json serves the document, publicly, in a
// response the document itself allows.
func TestHandler(t *testing.T) {
	h, err := openapi.New(context.Background(), lambdas.Deps{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h(context.Background(), events.APIGatewayProxyRequest{
		HTTPMethod: "GET", Resource: "/openapi.json", Path: "/openapi.json",
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "req-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	want, _ := openapi.JSON()
	if resp.Body != string(want) {
		t.Error("the body is not openapi.JSON()")
	}
	hdr := http.Header{}
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	v, err := testenv.DefaultValidator()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Response("GET", "/v1/openapi.json", resp.StatusCode, hdr, []byte(resp.Body)); err != nil {
		t.Error(err)
	}
}
