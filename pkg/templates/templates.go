// Package templates is the template resource: movie specs with variables
// (a client posts {templateId, variables} and gets a movie built from a
// template), the built-ins, the rules user-defined ones follow, the catalog
// of each workspace's own templates in the data table, and the
// /v1/templates routes. The videos API and the intake instantiate template
// calls through the catalog.
//
// A template's spec is JSON whose string values may contain {{name}}
// placeholders. Substitution happens on the decoded values, never on JSON
// text: a variable's value cannot close a string, add a field or bring in
// another placeholder, whatever characters it holds.
package templates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/ids"
	"github.com/framegate/framegate/pkg/movie"
)

// Variable types.
const (
	TypeString = "string"
	TypeNumber = "number"
	TypeColor  = "color"
	TypeURL    = "url"
)

// Orientations, derived from the spec's resolution.
const (
	Landscape = "landscape"
	Portrait  = "portrait"
	Square    = "square"
)

// Variable is one input of a template.
type Variable struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // string | number | color | url
	Description string `json:"description,omitempty"`
	Default     any    `json:"default,omitempty"`
	Required    bool   `json:"required,omitempty"`
}

// Template is a movie spec with placeholders.
type Template struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Category    string     `json:"category,omitempty"`
	Orientation string     `json:"orientation"` // landscape | portrait | square
	Variables   []Variable `json:"variables"`
	// Spec is a movie spec whose string values may hold {{name}}; a string
	// that is exactly "{{name}}" of a number variable, where the movie spec
	// expects a number, becomes that number.
	Spec json.RawMessage `json:"spec"`
}

// placeholder matches {{name}}, spaces allowed inside the braces.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}\s]*)\s*\}\}`)

// validName is what a variable may be called: short, and safe in a JSON
// pointer and a URL query.
var validName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`)

const (
	maxVariables     = 30
	maxStringVarLen  = 2000 // runes; the spec's own limits apply after substitution
	maxNameLen       = 100
	maxDescLen       = 500
	maxCategoryLen   = 40
	generousSeconds  = 3600 // template validation is about shape; plans cap length at instantiation
	generousScenes   = 200
	generousElements = 100
)

// Instantiate checks vars against the template's variables, substitutes
// them and validates the result as a movie under l. Errors are 400s naming
// "/variables/<name>" when a variable is at fault, else the spec field.
func (t Template) Instantiate(vars map[string]any, l movie.Limits) (movie.Spec, error) {
	values, err := t.resolve(vars)
	if err != nil {
		return movie.Spec{}, err
	}
	return t.build(values, l)
}

// resolve type-checks vars and fills defaults.
func (t Template) resolve(vars map[string]any) (map[string]any, error) {
	declared := make(map[string]Variable, len(t.Variables))
	for _, v := range t.Variables {
		declared[v.Name] = v
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names) // deterministic: the first bad one by name
	for _, n := range names {
		if _, ok := declared[n]; !ok {
			return nil, apierr.Invalid("/variables/"+escapeToken(clip(n)), "Unknown variable %q; this template takes %s.", clip(n), t.variableNames())
		}
	}
	values := make(map[string]any, len(t.Variables))
	for _, v := range t.Variables {
		raw, given := vars[v.Name]
		if !given || raw == nil {
			if v.Required {
				return nil, apierr.Invalid("/variables/"+v.Name, "Variable %q (%s) is required.", v.Name, v.Type)
			}
			raw = v.Default
		}
		val, err := checkValue(v, raw)
		if err != nil {
			return nil, apierr.Invalid("/variables/"+v.Name, "Variable %q %s.", v.Name, err)
		}
		values[v.Name] = val
	}
	return values, nil
}

func (t Template) variableNames() string {
	if len(t.Variables) == 0 {
		return "no variables"
	}
	n := make([]string, len(t.Variables))
	for i, v := range t.Variables {
		n[i] = v.Name
	}
	return strings.Join(n, ", ")
}

// checkValue returns the value in canonical form: string, or float64 for
// numbers.
func checkValue(v Variable, raw any) (any, error) {
	switch v.Type {
	case TypeNumber:
		var f float64
		switch n := raw.(type) {
		case float64:
			f = n
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		case json.Number:
			var err error
			if f, err = n.Float64(); err != nil {
				return nil, errors.New("must be a number")
			}
		default:
			return nil, errors.New("must be a number")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("must be a finite number")
		}
		return f, nil
	case TypeString, TypeColor, TypeURL:
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("must be a %s given as a JSON string", v.Type)
		}
		if !utf8.ValidString(s) {
			return nil, errors.New("must be valid UTF-8")
		}
		switch v.Type {
		case TypeString:
			if utf8.RuneCountInString(s) > maxStringVarLen {
				return nil, fmt.Errorf("is longer than %d characters", maxStringVarLen)
			}
			if apierr.Text("/", s, maxStringVarLen, true) != nil {
				return nil, errors.New("must not contain control characters other than newline and tab")
			}
		case TypeColor:
			if !isColor(s) {
				return nil, errors.New("must be a color #rrggbb")
			}
		case TypeURL:
			if ids.Valid("ast", s) { // an uploaded asset stands in for a URL
				break
			}
			u, err := url.Parse(s)
			if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || len(s) > movie.MaxURLLen {
				return nil, errors.New("must be an absolute https URL or an asset id (ast_…)")
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("has unknown type %q", v.Type)
}

// build substitutes values into the spec and parses the result.
func (t Template) build(values map[string]any, l movie.Limits) (movie.Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(t.Spec))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return movie.Spec{}, fmt.Errorf("template %s: spec is not JSON: %w", t.ID, err)
	}
	usedAt := map[string][]string{} // JSON pointer → variables substituted there
	tree = substitute(tree, reflect.TypeOf(movie.Spec{}), "", values, usedAt)
	body, err := json.Marshal(tree)
	if err != nil {
		return movie.Spec{}, fmt.Errorf("template %s: encode spec: %w", t.ID, err)
	}
	spec, err := movie.Parse(body, l)
	if err != nil {
		return movie.Spec{}, blame(err, usedAt)
	}
	return spec, nil
}

// blame moves a spec error onto the variable whose value caused it, so a
// client who only sent variables is told which one to fix.
func blame(err error, usedAt map[string][]string) error {
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		return err
	}
	vars := usedAt[ae.Field]
	if len(vars) == 0 && ae.Field == "/scenes" {
		// The total length is wrong: blame a variable that sets a duration.
		ptrs := make([]string, 0, len(usedAt))
		for p := range usedAt {
			if durationField.MatchString(p) {
				ptrs = append(ptrs, p)
			}
		}
		sort.Strings(ptrs)
		for _, p := range ptrs {
			vars = append(vars, usedAt[p]...)
		}
	}
	if len(vars) == 0 {
		return err
	}
	out := *ae
	out.Field = "/variables/" + vars[0]
	out.Message = fmt.Sprintf("Variable %q makes %s invalid: %s", vars[0], ae.Field, ae.Message)
	return &out
}

var durationField = regexp.MustCompile(`^/scenes/\d+/(duration|transition/duration)$`)

// substitute replaces placeholders in the decoded spec tree. typ is the Go
// type the value at this position decodes into (nil when unknown), so a
// whole-value number placeholder becomes a JSON number only where the spec
// wants a number: "{{seconds}}" in a text stays text.
func substitute(v any, typ reflect.Type, at string, values map[string]any, usedAt map[string][]string) any {
	for typ != nil && typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = substitute(e, fieldType(typ, k), at+"/"+escapeToken(k), values, usedAt)
		}
		// A url variable given an asset id makes the media an asset.
		if u, ok := x["url"].(string); ok && ids.Valid("ast", u) {
			if _, set := x["asset"]; !set {
				delete(x, "url")
				x["asset"] = u
			}
		}
	case []any:
		var elem reflect.Type
		if typ != nil && typ.Kind() == reflect.Slice {
			elem = typ.Elem()
		}
		for i, e := range x {
			x[i] = substitute(e, elem, at+"/"+strconv.Itoa(i), values, usedAt)
		}
	case string:
		if m := placeholder.FindStringSubmatch(x); m != nil && m[0] == x && typ != nil && isNumeric(typ.Kind()) {
			if f, isNum := values[m[1]].(float64); isNum {
				usedAt[at] = append(usedAt[at], m[1])
				return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
			}
		}
		// One pass over the original string: replaced text is never
		// scanned again, so a value holding "{{x}}" stays literal.
		return placeholder.ReplaceAllStringFunc(x, func(p string) string {
			name := placeholder.FindStringSubmatch(p)[1]
			val, ok := values[name]
			if !ok {
				return p
			}
			usedAt[at] = append(usedAt[at], name)
			if f, isNum := val.(float64); isNum {
				return strconv.FormatFloat(f, 'f', -1, 64)
			}
			return val.(string)
		})
	}
	return v
}

func isNumeric(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// fieldType is the type of the struct field a JSON key decodes into,
// matched as encoding/json does; nil when there is none.
func fieldType(t reflect.Type, key string) reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var fold reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f.Type
		}
		if fold == nil && strings.EqualFold(name, key) {
			fold = f.Type
		}
	}
	return fold
}

// Validate checks a user-defined template (POST/PUT /v1/templates):
// metadata, variable declarations and their defaults, that every
// placeholder is declared, and that the spec is a valid movie once
// instantiated with the defaults and sample values for required variables.
// Fields are JSON pointers into the template document.
func (t Template) Validate() error {
	if strings.TrimSpace(t.Name) == "" {
		return apierr.Invalid("/name", "name is required, at most %d characters.", maxNameLen)
	}
	if err := apierr.Text("/name", t.Name, maxNameLen, false); err != nil {
		return err
	}
	if err := apierr.Text("/description", t.Description, maxDescLen, true); err != nil {
		return err
	}
	if len(t.Category) > maxCategoryLen || !validCategory(t.Category) {
		return apierr.Invalid("/category", "category is at most %d lowercase letters, digits and dashes.", maxCategoryLen)
	}
	if len(t.Variables) > maxVariables {
		return apierr.Invalid("/variables", "At most %d variables are allowed.", maxVariables)
	}
	seen := map[string]bool{}
	samples := map[string]any{}
	for i, v := range t.Variables {
		p := fmt.Sprintf("/variables/%d", i)
		if !validName.MatchString(v.Name) {
			return apierr.Invalid(p+"/name", "Variable names are 1 to 40 letters, digits and underscores, starting with a letter.")
		}
		if seen[v.Name] {
			return apierr.Invalid(p+"/name", "Variable %q is declared twice.", v.Name)
		}
		seen[v.Name] = true
		if _, ok := sampleValues[v.Type]; !ok {
			return apierr.Invalid(p+"/type", "type must be string, number, color or url.")
		}
		if err := apierr.Text(p+"/description", v.Description, maxDescLen, true); err != nil {
			return err
		}
		if v.Default != nil {
			if _, err := checkValue(v, v.Default); err != nil {
				return apierr.Invalid(p+"/default", "The default of %q %s.", v.Name, err)
			}
		} else if !v.Required {
			return apierr.Invalid(p+"/default", "Variable %q needs a default or required: true.", v.Name)
		}
		if v.Required || v.Default == nil {
			samples[v.Name] = sampleValues[v.Type]
		}
	}
	if len(bytes.TrimSpace(t.Spec)) == 0 {
		return apierr.Invalid("/spec", "spec is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(t.Spec))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return apierr.Invalid("/spec", "spec is not valid JSON.")
	}
	if _, isObj := tree.(map[string]any); !isObj {
		return apierr.Invalid("/spec", "spec must be a JSON object.")
	}
	if p, name, ok := undeclared(tree, "/spec", seen); ok {
		return apierr.Invalid(p, "Placeholder {{%s}} is not a declared variable.", clip(name))
	}
	limits := movie.Limits{MaxSeconds: generousSeconds, MaxScenes: generousScenes, MaxElements: generousElements, MaxTextLen: maxStringVarLen}
	spec, err := t.Instantiate(samples, limits)
	if err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) {
			out := *ae
			if !strings.HasPrefix(out.Field, "/variables/") {
				out.Field = "/spec" + out.Field
			}
			out.Message = "With its default values the template is not a valid movie: " + ae.Message
			return &out
		}
		return err
	}
	if want := OrientationOf(spec.Resolution); t.Orientation != want {
		return apierr.Invalid("/orientation", "orientation must be %s for resolution %s.", want, spec.Resolution)
	}
	return nil
}

// sampleValues stand in for required variables when a template is checked.
var sampleValues = map[string]any{
	TypeString: "Sample text",
	TypeNumber: 1.0,
	TypeColor:  "#808080",
	TypeURL:    "https://example.com/sample.png",
}

// OrientationOf is the orientation of a resolution.
func OrientationOf(resolution string) string {
	w, h := movie.Spec{Resolution: resolution}.Size()
	switch {
	case w == h:
		return Square
	case h > w:
		return Portrait
	}
	return Landscape
}

// undeclared finds a {{placeholder}} naming no declared variable, or a
// malformed one.
func undeclared(v any, at string, declared map[string]bool) (string, string, bool) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.Contains(k, "{{") {
				return at + "/" + escapeToken(k), k, true
			}
			if p, n, bad := undeclared(x[k], at+"/"+escapeToken(k), declared); bad {
				return p, n, true
			}
		}
	case []any:
		for i, e := range x {
			if p, n, bad := undeclared(e, at+"/"+strconv.Itoa(i), declared); bad {
				return p, n, true
			}
		}
	case string:
		for _, m := range placeholder.FindAllStringSubmatch(x, -1) {
			if !declared[m[1]] {
				return at, m[1], true
			}
		}
		// "{{" left after removing well-formed placeholders is a typo such
		// as "{{ title }" that would otherwise render literally.
		if strings.Contains(placeholder.ReplaceAllString(x, ""), "{{") {
			return at, x, true
		}
	}
	return "", "", false
}

func validCategory(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func isColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// clip keeps client-chosen names short in messages.
func clip(s string) string {
	if len(s) > 64 || !utf8.ValidString(s) {
		return strings.ToValidUTF8(s[:min(len(s), 64)], "") + "…"
	}
	return s
}
