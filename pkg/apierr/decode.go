package apierr

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeJSON reads one JSON document into dst strictly: unknown fields,
// trailing data and type mismatches are 400s naming the field by JSON
// pointer, in the API's own words (JSON type names, never Go's). Every
// request body and every stored document a client wrote goes through it.
func DecodeJSON(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Invalid("", "The body must hold exactly one JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return Invalid("", "The body is not valid JSON (at byte %d).", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return Invalid("", "The body must be a JSON object.")
		}
		return Invalid(pointer(typ.Field), "%s must be %s.", pointer(typ.Field), jsonType(typ.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if len(name) > 64 || !utf8.ValidString(name) {
			name = strings.ToValidUTF8(name[:min(len(name), 64)], "") + "…"
		}
		return Invalid("/"+name, "Unknown field %q.", name)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return Invalid("", "The body is truncated JSON.")
	}
	var fe *Error
	if errors.As(err, &fe) { // from a field's UnmarshalJSON
		return fe
	}
	return Invalid("", "The body is not valid JSON.")
}

// pointer turns encoding/json's "a.b" field path into a JSON pointer "/a/b".
func pointer(field string) string { return "/" + strings.ReplaceAll(field, ".", "/") }

// jsonType names what a Go type accepts in JSON terms.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a valid value"
}
