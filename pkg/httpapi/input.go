package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/framegate/framegate/pkg/apierr"
)

// MaxBody is the largest JSON body a handler reads.
const MaxBody = 256 << 10

// Header returns a request header, matched case-insensitively.
func (r *Request) Header(name string) string {
	for k, v := range r.Event.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Decode reads the JSON body into dst strictly: unknown fields, trailing
// data and wrong types are a 400 naming the field as a JSON pointer. An
// empty body decodes as {} when emptyOK.
func (r *Request) Decode(dst any, emptyOK bool) error {
	body := []byte(r.Event.Body)
	if r.Event.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Event.Body)
		if err != nil {
			return apierr.Invalid("", "The body is not valid base64.")
		}
		body = b
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return apierr.Invalid("", "A JSON body is required.")
	}
	if len(body) > MaxBody {
		return apierr.New(apierr.PayloadTooLarge, "The body is larger than %d bytes.", MaxBody)
	}
	if ct := r.Header("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return apierr.New(apierr.UnsupportedMediaType, "Send the body as application/json.")
		}
	}
	return DecodeJSON(body, dst)
}

// DecodeJSON is Decode's strict parser, exported for fuzzing and reuse.
func DecodeJSON(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.Invalid("", "The body must hold exactly one JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apierr.Invalid("", "The body is not valid JSON (at byte %d).", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apierr.Invalid("", "The body must be a JSON object.")
		}
		return apierr.Invalid(pointer(typ.Field), "%s must be a %s.", pointer(typ.Field), typ.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if len(name) > 64 || !utf8.ValidString(name) {
			name = strings.ToValidUTF8(name[:min(len(name), 64)], "") + "…"
		}
		return apierr.Invalid("/"+name, "Unknown field %q.", name)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return apierr.Invalid("", "The body is truncated JSON.")
	}
	var fe *apierr.Error
	if errors.As(err, &fe) { // from a field's UnmarshalJSON
		return fe
	}
	return apierr.Invalid("", "The body is not valid JSON.")
}

// pointer turns encoding/json's "a.b" field path into a JSON pointer "/a/b".
func pointer(field string) string { return "/" + strings.ReplaceAll(field, ".", "/") }

// Query returns a query string parameter.
func (r *Request) Query(name string) string { return r.Event.QueryStringParameters[name] }

// IntQuery parses an integer query parameter within [lo, hi], def when absent.
func (r *Request) IntQuery(name string, def, lo, hi int) (int, error) {
	s := r.Query(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, apierr.Invalid(name, "%s must be an integer from %d to %d.", name, lo, hi)
	}
	return v, nil
}

// PathParam returns a path parameter.
func (r *Request) PathParam(name string) string { return r.Event.PathParameters[name] }
