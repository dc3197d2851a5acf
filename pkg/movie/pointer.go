package movie

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// UnknownField finds an object key in body that type t has no JSON field
// for and returns its JSON pointer and its name; keys are visited in sorted
// order so the answer is deterministic. It matches names the way
// encoding/json does (case-insensitively), so it agrees with a strict
// decoder about what is unknown. Templates reuse it for their specs.
func UnknownField(body []byte, t reflect.Type) (pointer, name string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", "", false
	}
	return unknownIn(v, t, "")
}

func unknownIn(v any, t reflect.Type, at string) (string, string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, isObj := v.(map[string]any)
		if !isObj {
			return "", "", false
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, found := jsonField(t, k)
			if !found {
				return at + "/" + escapeToken(k), k, true
			}
			if p, n, bad := unknownIn(obj[k], f.Type, at+"/"+escapeToken(k)); bad {
				return p, n, true
			}
		}
	case reflect.Slice, reflect.Array:
		arr, isArr := v.([]any)
		if !isArr {
			return "", "", false
		}
		for i, e := range arr {
			if p, n, bad := unknownIn(e, t.Elem(), at+"/"+strconv.Itoa(i)); bad {
				return p, n, true
			}
		}
	case reflect.Map:
		if obj, isObj := v.(map[string]any); isObj {
			for k, e := range obj {
				if p, n, bad := unknownIn(e, t.Elem(), at+"/"+escapeToken(k)); bad {
					return p, n, true
				}
			}
		}
	}
	return "", "", false
}

// jsonField finds the struct field a JSON key decodes into: an exact tag
// match first, then a case-insensitive one, as encoding/json does.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold *reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
		if fold == nil && strings.EqualFold(name, key) {
			fold = &f
		}
	}
	if fold != nil {
		return *fold, true
	}
	return reflect.StructField{}, false
}

// escapeToken escapes a JSON pointer reference token (RFC 6901).
func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// TypeMismatch finds a value in body whose JSON type cannot decode into the
// Go type at its place in t, and returns its JSON pointer and what was
// expected ("an integer", "a string"…). encoding/json reports such errors
// with a dotted path that leaves out array indexes; this finds the exact one.
func TypeMismatch(body []byte, t reflect.Type) (pointer, want string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", "", false
	}
	return mismatchIn(v, t, "")
}

func mismatchIn(v any, t reflect.Type, at string) (string, string, bool) {
	if v == nil { // null decodes into anything as the zero value
		return "", "", false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, isObj := v.(map[string]any)
		if !isObj {
			return at, "an object", true
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if f, found := jsonField(t, k); found {
				if p, w, bad := mismatchIn(obj[k], f.Type, at+"/"+escapeToken(k)); bad {
					return p, w, true
				}
			}
		}
	case reflect.Slice:
		arr, isArr := v.([]any)
		if !isArr {
			return at, "an array", true
		}
		for i, e := range arr {
			if p, w, bad := mismatchIn(e, t.Elem(), at+"/"+strconv.Itoa(i)); bad {
				return p, w, true
			}
		}
	case reflect.String:
		if _, isStr := v.(string); !isStr {
			return at, "a string", true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, isNum := v.(json.Number)
		if !isNum {
			return at, "an integer", true
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			return at, "an integer", true
		}
	case reflect.Float32, reflect.Float64:
		n, isNum := v.(json.Number)
		if !isNum {
			return at, "a number", true
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			return at, "a number within range", true
		}
	case reflect.Bool:
		if _, isBool := v.(bool); !isBool {
			return at, "true or false", true
		}
	}
	return "", "", false
}
