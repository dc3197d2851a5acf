package testenv

// The contract holds responses to openapi.yaml: the status must be declared
// for the operation, every required header present, every header the API
// sets declared, and the body valid against its schema. The local gateway
// runs it on every response of every integration test, so the document
// cannot drift from the code.
//
// kin-openapi loads and validates the OpenAPI 3.1 document and resolves
// operations, responses and headers; the JSON Schema 2020-12 validator it
// uses itself (santhosh-tekuri/jsonschema) checks values, with each schema
// compiled once per process: kin-openapi's own response validation
// recompiles a 3.1 schema on every call.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/framegate/framegate/pkg/openapi"
)

// BasePath is the stage prefix every request path carries (servers' /v1).
const BasePath = "/v1"

// docURL names the document inside the schema compiler.
const docURL = "file:///openapi.json"

// transport are headers that HTTP, API Gateway or the local gateway set on
// every response: they are not part of the API, so not declared.
var transport = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Date": true, "Cache-Control": true,
	"Connection": true, "Transfer-Encoding": true, "Vary": true, "Content-Encoding": true,
	"Via": true, "X-Cache": true, "X-Amz-Cf-Id": true, "X-Amz-Cf-Pop": true,
	"X-Amzn-Requestid": true, "X-Amzn-Errortype": true, "X-Amzn-Trace-Id": true, "X-Amz-Apigw-Id": true,
}

// Validator checks responses against one document. Safe for concurrent use.
type Validator struct {
	doc      *openapi3.T
	compiler *jsonschema.Compiler
	routes   []route

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // by JSON pointer into the document
}

type route struct {
	template string   // "/keys/{id}"
	segs     []string // "keys", "{id}"
	item     *openapi3.PathItem
}

// DefaultValidator is the validator of the embedded openapi.yaml, built once per process.
var DefaultValidator = sync.OnceValues(func() (*Validator, error) {
	doc, err := openapi.JSON()
	if err != nil {
		return nil, err
	}
	return NewValidator(doc)
})

// NewValidator loads a document (JSON, or YAML), validates it as OpenAPI, and
// prepares the schema compiler.
func NewValidator(spec []byte) (*Validator, error) {
	if !json.Valid(spec) {
		j, err := openapi.ToJSON(spec)
		if err != nil {
			return nil, err
		}
		spec = j
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("contract: load openapi document: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("contract: openapi %s: want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("contract: invalid openapi document: %w", err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(spec))
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, raw); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	v := &Validator{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}}
	for _, p := range doc.Paths.InMatchingOrder() {
		v.routes = append(v.routes, route{template: p, segs: split(p), item: doc.Paths.Value(p)})
	}
	// Static segments beat parameters, as in API Gateway's resource tree.
	slices.SortStableFunc(v.routes, func(a, b route) int { return compareRoutes(a.segs, b.segs) })
	return v, nil
}

func split(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isParam(s string) bool { return strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") }

func compareRoutes(a, b []string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		pa, pb := isParam(a[i]), isParam(b[i])
		if pa != pb {
			if pa {
				return 1
			}
			return -1
		}
	}
	return 0
}

// Routes lists the document's operations as "METHOD /path", the way
// template.yaml declares them (without the stage).
func (v *Validator) Routes() []string {
	var out []string
	for _, r := range v.routes {
		for m := range r.item.Operations() {
			out = append(out, strings.ToUpper(m)+" "+r.template)
		}
	}
	slices.Sort(out)
	return out
}

// Doc is the loaded document.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// Operation is the operation a request calls: method and path without the
// stage ("/keys/key_123"); false when the document has none.
func (v *Validator) Operation(method, path string) (*openapi3.Operation, bool) {
	r, ok := v.match(path)
	if !ok {
		return nil, false
	}
	op := r.item.GetOperation(strings.ToUpper(method))
	return op, op != nil
}

// match finds the path template of a request path (without the stage).
func (v *Validator) match(path string) (route, bool) {
	segs := split(path)
	for _, r := range v.routes {
		if len(r.segs) != len(segs) {
			continue
		}
		ok := true
		for i, s := range r.segs {
			if !isParam(s) && s != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return r, true
		}
	}
	return route{}, false
}

// Error is a response that does not match the document.
type Error struct {
	Method, Path string // the request
	Operation    string // "GET /keys/{id}", empty when no route matched
	Status       int
	Problems     []string
}

func (e *Error) Error() string {
	op := e.Operation
	if op == "" {
		op = "no operation"
	}
	return fmt.Sprintf("%s %s (%s) answered %d, which openapi.yaml does not allow:\n  - %s",
		e.Method, e.Path, op, e.Status, strings.Join(e.Problems, "\n  - "))
}

// Response checks one response to method and path (the request path with
// the stage, as clients send it: /v1/keys/key_123).
func (v *Validator) Response(method, path string, status int, header http.Header, body []byte) error {
	e := &Error{Method: method, Path: path, Status: status}
	rest, staged := strings.CutPrefix(path, BasePath)
	if staged && rest == "" {
		rest = "/"
	}
	var op *openapi3.Operation
	if r, ok := v.match(rest); staged && ok && (rest == "/" || strings.HasPrefix(rest, "/")) {
		if op = r.item.GetOperation(strings.ToUpper(method)); op != nil {
			e.Operation = strings.ToUpper(method) + " " + r.template
		}
	}
	if op == nil {
		// No route: API Gateway answers 404 not_found (or 413 for a body
		// too large to route), in the error envelope.
		if status != http.StatusNotFound && status != http.StatusRequestEntityTooLarge {
			e.Problems = append(e.Problems, "no operation in openapi.yaml matches this request, and only 404 not_found (or 413) may answer it")
			return e
		}
		v.checkContent(e, "#/components/responses/GatewayNotFound", v.doc.Components.Responses["GatewayNotFound"].Value, header, body)
		return e.orNil()
	}
	ref, ptr := v.response(op, e.Operation, status)
	if ref == nil {
		e.Problems = append(e.Problems, fmt.Sprintf("status %d is not declared (declared: %s)", status, strings.Join(declared(op), ", ")))
		return e
	}
	resp := ref.Value
	v.checkHeaders(e, ptr, resp, header)
	v.checkContent(e, ptr, resp, header, body)
	return e.orNil()
}

func (e *Error) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

func declared(op *openapi3.Operation) []string {
	var out []string
	for k := range op.Responses.Map() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// response finds the declared response for a status (exact, then 4XX-style
// range, then default) and the JSON pointer of the response object.
func (v *Validator) response(op *openapi3.Operation, opName string, status int) (*openapi3.ResponseRef, string) {
	method, path, _ := strings.Cut(opName, " ")
	base := "#/paths/" + escape(path) + "/" + strings.ToLower(method) + "/responses/"
	for _, k := range []string{strconv.Itoa(status), strconv.Itoa(status/100) + "XX", "default"} {
		if r := op.Responses.Value(k); r != nil {
			if r.Ref != "" {
				return r, r.Ref
			}
			return r, base + escape(k)
		}
	}
	return nil, ""
}

// escape makes a JSON pointer token (RFC 6901) safe in a URL fragment.
func escape(tok string) string {
	tok = strings.ReplaceAll(tok, "~", "~0")
	tok = strings.ReplaceAll(tok, "/", "~1")
	return url.PathEscape(tok)
}

func (v *Validator) checkHeaders(e *Error, ptr string, resp *openapi3.Response, h http.Header) {
	names := make([]string, 0, len(resp.Headers))
	for n := range resp.Headers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		hr := resp.Headers[name]
		if strings.EqualFold(name, "Content-Type") {
			continue
		}
		vals := h.Values(name)
		if len(vals) == 0 {
			if hr.Value.Required {
				e.Problems = append(e.Problems, fmt.Sprintf("required header %s is missing", name))
			}
			continue
		}
		if len(vals) > 1 {
			e.Problems = append(e.Problems, fmt.Sprintf("header %s is sent %d times", name, len(vals)))
			continue
		}
		hptr := ptr + "/headers/" + escape(name)
		if hr.Ref != "" {
			hptr = hr.Ref
		}
		sr := hr.Value.Schema
		if sr == nil || sr.Value == nil {
			continue
		}
		var val any = vals[0]
		if t := sr.Value.Type; t != nil && (t.Is("integer") || t.Is("number")) {
			n, err := strconv.ParseFloat(vals[0], 64)
			if err != nil {
				e.Problems = append(e.Problems, fmt.Sprintf("header %s: %q is not a number", name, vals[0]))
				continue
			}
			val = n
		}
		if err := v.validate(hptr+"/schema", val); err != nil {
			e.Problems = append(e.Problems, fmt.Sprintf("header %s: %q: %s", name, vals[0], describe(err)))
		}
	}
	for name := range h {
		if transport[http.CanonicalHeaderKey(name)] {
			continue
		}
		if !hasHeader(resp.Headers, name) {
			e.Problems = append(e.Problems, fmt.Sprintf("header %s is not declared for this response", name))
		}
	}
	slices.Sort(e.Problems)
}

func hasHeader(hs openapi3.Headers, name string) bool {
	for n := range hs {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

func (v *Validator) checkContent(e *Error, ptr string, resp *openapi3.Response, h http.Header, body []byte) {
	if len(resp.Content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			e.Problems = append(e.Problems, "a body is sent but none is declared")
		}
		return
	}
	ct := h.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		e.Problems = append(e.Problems, fmt.Sprintf("Content-Type %q is not a media type", ct))
		return
	}
	var key string
	for k := range resp.Content {
		if strings.EqualFold(k, mt) {
			key = k
		}
	}
	if key == "" {
		e.Problems = append(e.Problems, fmt.Sprintf("Content-Type %s is not declared", mt))
		return
	}
	if resp.Content[key].Schema == nil || !strings.Contains(mt, "json") {
		return
	}
	val, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		e.Problems = append(e.Problems, fmt.Sprintf("body is not JSON: %v", err))
		return
	}
	if err := v.validate(ptr+"/content/"+escape(key)+"/schema", val); err != nil {
		e.Problems = append(e.Problems, "body: "+describe(err))
	}
}

// Schema checks a value (JSON decoded into any) against the schema the
// document names name under components/schemas: for what the API sends
// other than responses, such as event payloads.
func (v *Validator) Schema(name string, val any) error {
	if err := v.validate("#/components/schemas/"+escape(name), val); err != nil {
		return fmt.Errorf("%s: %s", name, describe(err))
	}
	return nil
}

// validate checks a value against the schema at a JSON pointer of the
// document, compiling it on first use.
func (v *Validator) validate(ptr string, val any) error {
	v.mu.Lock()
	s, ok := v.schemas[ptr]
	if !ok {
		var err error
		s, err = v.compiler.Compile(docURL + ptr)
		if err != nil {
			v.mu.Unlock()
			return fmt.Errorf("compile schema %s: %w", ptr, err)
		}
		v.schemas[ptr] = s
	}
	v.mu.Unlock()
	return s.Validate(val)
}

var english = message.NewPrinter(language.English)

// describe flattens a schema error to its leaves: "at /id: got number, want string".
func describe(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var leaves []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, fmt.Sprintf("at '/%s': %s", strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(english)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return strings.Join(leaves, "; ")
}

// CompareRoutes lists the routes ("METHOD /path") template.yaml serves that
// the document lacks, and those the document describes that the template
// does not serve.
func CompareRoutes(template, spec []string) (notInSpec, notInTemplate []string) {
	for _, r := range template {
		if !slices.Contains(spec, r) {
			notInSpec = append(notInSpec, r)
		}
	}
	for _, r := range spec {
		if !slices.Contains(template, r) {
			notInTemplate = append(notInTemplate, r)
		}
	}
	slices.Sort(notInSpec)
	slices.Sort(notInTemplate)
	return notInSpec, notInTemplate
}
