package httpapi

import (
	"bytes"
	"encoding/base64"
	"mime"
	"strconv"
	"strings"

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
	return apierr.DecodeJSON(body, dst)
}

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
