package apierr

import (
	"errors"
	"testing"
)

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"name":"a","role":"render","expiresAt":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"gracePeriodSeconds": 1e400}`))
	f.Add([]byte(`{"a":{"b":[1,2,{"c":null}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			Name      *string `json:"name"`
			Role      string  `json:"role"`
			ExpiresAt *string `json:"expiresAt"`
			Grace     *int    `json:"gracePeriodSeconds"`
		}
		err := DecodeJSON(body, &v)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != InvalidRequest {
			t.Fatalf("decode error is not a 400: %v", err)
		}
		if len(e.Message) > 300 {
			t.Fatalf("message grows with input: %d bytes", len(e.Message))
		}
	})
}

// TestDecodeJSONSpeaksJSON: a type mismatch names the field and the JSON
// type it wants, never a Go type (no "must be a scopes.Role", no "int").
func TestDecodeJSONSpeaksJSON(t *testing.T) {
	type role string
	var v struct {
		Role  role              `json:"role"`
		N     int               `json:"n"`
		F     *float64          `json:"f"`
		Tags  []string          `json:"tags"`
		Meta  map[string]string `json:"meta"`
		Flag  bool              `json:"flag"`
		Inner struct {
			X uint8 `json:"x"`
		} `json:"inner"`
	}
	cases := map[string]string{
		`{"role":1}`:          "/role must be a string.",
		`{"n":"1"}`:           "/n must be an integer.",
		`{"n":1.5}`:           "/n must be an integer.",
		`{"f":"x"}`:           "/f must be a number.",
		`{"tags":"x"}`:        "/tags must be an array.",
		`{"meta":[]}`:         "/meta must be an object.",
		`{"flag":"yes"}`:      "/flag must be true or false.",
		`{"inner":{"x":300}}`: "/inner/x must be an integer.",
	}
	for body, want := range cases {
		err := DecodeJSON([]byte(body), &v)
		var e *Error
		if !errors.As(err, &e) || e.Message != want {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
