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
