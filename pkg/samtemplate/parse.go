package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads and parses a SAM template file.
func Load(file string) (*Template, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return t, nil
}

// Parse parses a SAM template. Short-form intrinsics (!Ref, !GetAtt, !Sub …)
// are normalised to their long forms first, so the rest of the parser sees
// one shape whichever the author wrote.
func Parse(b []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty template")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("template is not a mapping")
	}
	p := &parser{t: &Template{Parameters: map[string]string{}}, types: map[string]string{}}
	var resources *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		switch key {
		case "Resources":
			resources = val
		case "Globals", "Parameters":
			g, err := generic(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			m, _ := g.(map[string]any)
			if key == "Globals" {
				p.globals = m
			} else {
				p.params = m
			}
		}
	}
	if resources == nil || resources.Kind != yaml.MappingNode {
		return nil, errors.New("template has no Resources mapping")
	}
	if err := p.parseParameters(); err != nil {
		return nil, err
	}
	// Resources are read in template order: Functions keep it, and the
	// second pass can check references against every logical ID.
	type res struct {
		id   string
		typ  string
		body map[string]any
	}
	var all []res
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id := resources.Content[i].Value
		g, err := generic(resources.Content[i+1])
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", id, err)
		}
		body, ok := g.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource %s: not a mapping", id)
		}
		typ, _ := body["Type"].(string)
		if typ == "" {
			return nil, fmt.Errorf("resource %s: missing Type", id)
		}
		p.types[id] = typ
		all = append(all, res{id, typ, body})
	}
	for _, r := range all {
		props, _ := r.body["Properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
		}
		var err error
		switch r.typ {
		case "AWS::Serverless::Api":
			err = p.parseApi(r.id, props)
		case "AWS::ApiGateway::GatewayResponse":
			err = p.parseRawGatewayResponse(r.id, props)
		case "AWS::Serverless::Function":
			err = p.parseFunction(r.id, props)
		case "AWS::DynamoDB::Table":
			err = p.parseTable(r.id, props)
		case "AWS::SQS::Queue":
			err = p.parseQueue(r.id, props)
		case "AWS::S3::Bucket":
			err = p.parseBucket(r.id, props)
		case "AWS::SecretsManager::Secret":
			err = p.parseSecret(r.id, props)
		}
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", r.id, err)
		}
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p.t, nil
}

type parser struct {
	t       *Template
	globals map[string]any
	params  map[string]any
	types   map[string]string // logical ID -> resource type
	rawGR   map[string]GatewayResponse
}

// generic turns a YAML node into maps, slices and strings, rewriting every
// short-form intrinsic tag into its long-form mapping.
func generic(n *yaml.Node) (any, error) {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return generic(n.Content[0])
	}
	if n.Kind == yaml.AliasNode {
		return generic(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if k == "<<" { // merge key
				mv, err := generic(n.Content[i+1])
				if err != nil {
					return nil, err
				}
				if mm, ok := mv.(map[string]any); ok {
					for kk, vv := range mm {
						if _, set := m[kk]; !set {
							m[kk] = vv
						}
					}
				}
				continue
			}
			val, err := generic(n.Content[i+1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			m[k] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			val, err := generic(c)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			v = nil
		} else {
			v = n.Value
		}
	default:
		return nil, fmt.Errorf("line %d: unsupported yaml node", n.Line)
	}
	tag := n.Tag
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return v, nil
	}
	name := strings.TrimPrefix(tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			id, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want LogicalID.Attribute", n.Line, s)
			}
			v = []any{id, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + name: v}, nil
	}
}

// ---------------------------------------------------------------- values

// value reads a scalar or an intrinsic into a Value.
func value(v any) (Value, error) {
	switch x := v.(type) {
	case string:
		return Value{Literal: x}, nil
	case nil:
		return Value{}, nil
	case map[string]any:
		if len(x) != 1 {
			return Value{}, errors.New("want a scalar or one intrinsic function")
		}
		for k, arg := range x {
			switch k {
			case "Ref":
				s, ok := arg.(string)
				if !ok || s == "" {
					return Value{}, errors.New("Ref: want a logical ID")
				}
				return Value{Ref: s}, nil
			case "Fn::GetAtt":
				l, ok := arg.([]any)
				if !ok || len(l) != 2 {
					return Value{}, errors.New("Fn::GetAtt: want [LogicalID, Attribute]")
				}
				id, _ := l[0].(string)
				attr, _ := l[1].(string)
				if id == "" || attr == "" {
					return Value{}, errors.New("Fn::GetAtt: want [LogicalID, Attribute]")
				}
				return Value{GetAtt: [2]string{id, attr}}, nil
			case "Fn::Sub":
				switch a := arg.(type) {
				case string:
					return Value{Sub: a}, nil
				case []any:
					if len(a) != 2 {
						return Value{}, errors.New("Fn::Sub: want a string or [string, {variables}]")
					}
					s, ok := a[0].(string)
					vars, ok2 := a[1].(map[string]any)
					if !ok || !ok2 {
						return Value{}, errors.New("Fn::Sub: want a string or [string, {variables}]")
					}
					out := Value{Sub: s, SubVars: map[string]Value{}}
					for name, vv := range vars {
						val, err := value(vv)
						if err != nil {
							return Value{}, fmt.Errorf("Fn::Sub variable %s: %w", name, err)
						}
						out.SubVars[name] = val
					}
					return out, nil
				}
				return Value{}, errors.New("Fn::Sub: want a string or [string, {variables}]")
			default:
				return Value{}, fmt.Errorf("%s is not supported here (only Ref, Fn::GetAtt and Fn::Sub)", k)
			}
		}
	}
	return Value{}, fmt.Errorf("want a scalar, got %T", v)
}

// String renders a Value the way it was written, for messages.
func (v Value) String() string {
	switch {
	case v.Ref != "":
		return "!Ref " + v.Ref
	case v.GetAtt[0] != "":
		return "!GetAtt " + v.GetAtt[0] + "." + v.GetAtt[1]
	case v.Sub != "":
		return "!Sub " + strconv.Quote(v.Sub)
	}
	return strconv.Quote(v.Literal)
}

// get walks a property path through nested maps.
func get(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func str(m map[string]any, keys ...string) (string, error) {
	v := get(m, keys...)
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a literal string", strings.Join(keys, "."))
	}
	return s, nil
}

func integer(m map[string]any, def int, keys ...string) (int, error) {
	v := get(m, keys...)
	if v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%s: want a literal number", strings.Join(keys, "."))
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not an integer", strings.Join(keys, "."), s)
	}
	return n, nil
}

func boolean(m map[string]any, keys ...string) (bool, error) {
	v := get(m, keys...)
	if v == nil {
		return false, nil
	}
	s, ok := v.(string)
	if !ok {
		return false, fmt.Errorf("%s: want true or false", strings.Join(keys, "."))
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not a boolean", strings.Join(keys, "."), s)
	}
	return b, nil
}

// getAttTarget reads a property that must be !GetAtt X.<attr> and returns X.
func getAttTarget(m map[string]any, attr string, keys ...string) (string, error) {
	v, err := value(get(m, keys...))
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Join(keys, "."), err)
	}
	if v.GetAtt[0] == "" || v.GetAtt[1] != attr {
		return "", fmt.Errorf("%s: want !GetAtt <LogicalID>.%s, got %s", strings.Join(keys, "."), attr, v)
	}
	return v.GetAtt[0], nil
}

// ---------------------------------------------------------------- resources

func (p *parser) parseParameters() error {
	for name, def := range p.params {
		m, ok := def.(map[string]any)
		if !ok {
			return fmt.Errorf("parameter %s: not a mapping", name)
		}
		d, err := str(m, "Default")
		if err != nil {
			return fmt.Errorf("parameter %s: %w", name, err)
		}
		p.t.Parameters[name] = d
	}
	return nil
}

func (p *parser) parseApi(id string, props map[string]any) error {
	if p.t.Api.LogicalID != "" {
		return fmt.Errorf("second AWS::Serverless::Api (first is %s): the local stack serves one API", p.t.Api.LogicalID)
	}
	a := Api{LogicalID: id, GatewayResponses: map[string]GatewayResponse{}}
	var err error
	if a.StageName, err = str(props, "StageName"); err != nil {
		return err
	}
	if a.StageName == "" {
		return errors.New("StageName: required")
	}
	if a.DefaultAuthorizer, err = str(props, "Auth", "DefaultAuthorizer"); err != nil {
		return err
	}
	if a.DefaultAuthorizer != "" && a.DefaultAuthorizer != "AWS_IAM" {
		az, ok := get(props, "Auth", "Authorizers", a.DefaultAuthorizer).(map[string]any)
		if !ok {
			return fmt.Errorf("Auth.DefaultAuthorizer: %s is not declared in Auth.Authorizers", a.DefaultAuthorizer)
		}
		base := "Auth.Authorizers." + a.DefaultAuthorizer
		if a.AuthorizerFunction, err = getAttTarget(az, "Arn", "FunctionArn"); err != nil {
			return fmt.Errorf("%s.%w", base, err)
		}
		pt, err := str(az, "FunctionPayloadType")
		if err != nil {
			return fmt.Errorf("%s.%w", base, err)
		}
		if pt != "REQUEST" {
			return fmt.Errorf("%s.FunctionPayloadType: %q, the local stack supports REQUEST authorizers only", base, pt)
		}
		// SAM's default result TTL is 300 s.
		if a.ReauthorizeEvery, err = integer(az, 300, "Identity", "ReauthorizeEvery"); err != nil {
			return fmt.Errorf("%s.%w", base, err)
		}
		if hs, ok := get(az, "Identity", "Headers").([]any); ok {
			for _, h := range hs {
				s, ok := h.(string)
				if !ok {
					return fmt.Errorf("%s.Identity.Headers: want strings", base)
				}
				a.IdentityHeaders = append(a.IdentityHeaders, s)
			}
		}
	}
	grs, _ := get(props, "GatewayResponses").(map[string]any)
	for typ, raw := range grs {
		m, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("GatewayResponses.%s: not a mapping", typ)
		}
		gr := GatewayResponse{Type: typ, Headers: map[string]string{}, Templates: map[string]string{}}
		if gr.StatusCode, err = integer(m, 0, "StatusCode"); err != nil {
			return fmt.Errorf("GatewayResponses.%s.%w", typ, err)
		}
		hs, _ := get(m, "ResponseParameters", "Headers").(map[string]any)
		for h, v := range hs {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("GatewayResponses.%s.ResponseParameters.Headers.%s: want a string", typ, h)
			}
			gr.Headers[h] = s
		}
		ts, _ := get(m, "ResponseTemplates").(map[string]any)
		for ct, v := range ts {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("GatewayResponses.%s.ResponseTemplates.%s: want a string", typ, ct)
			}
			gr.Templates[ct] = s
		}
		a.GatewayResponses[typ] = gr
	}
	p.t.Api = a
	return nil
}

// parseRawGatewayResponse reads an AWS::ApiGateway::GatewayResponse resource,
// the CloudFormation form of the same thing; check merges them into the Api.
func (p *parser) parseRawGatewayResponse(id string, props map[string]any) error {
	typ, err := str(props, "ResponseType")
	if err != nil || typ == "" {
		return errors.New("ResponseType: required literal string")
	}
	gr := GatewayResponse{Type: typ, Headers: map[string]string{}, Templates: map[string]string{}}
	if gr.StatusCode, err = integer(props, 0, "StatusCode"); err != nil {
		return err
	}
	ps, _ := get(props, "ResponseParameters").(map[string]any)
	for k, v := range ps {
		s, ok := v.(string)
		h, isHeader := strings.CutPrefix(k, "gatewayresponse.header.")
		if !ok || !isHeader {
			return fmt.Errorf("ResponseParameters.%s: want gatewayresponse.header.<name>: <string>", k)
		}
		gr.Headers[h] = s
	}
	ts, _ := get(props, "ResponseTemplates").(map[string]any)
	for ct, v := range ts {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("ResponseTemplates.%s: want a string", ct)
		}
		gr.Templates[ct] = s
	}
	if p.rawGR == nil {
		p.rawGR = map[string]GatewayResponse{}
	}
	p.rawGR[typ] = gr
	return nil
}

func (p *parser) parseFunction(id string, props map[string]any) error {
	f := Function{LogicalID: id, Environment: map[string]Value{}}
	g, _ := get(p.globals, "Function").(map[string]any)
	var err error
	if f.CodeURI, err = str(props, "CodeUri"); err != nil {
		return err
	}
	if f.CodeURI == "" {
		if f.CodeURI, err = str(g, "CodeUri"); err != nil {
			return fmt.Errorf("Globals.Function.%w", err)
		}
	}
	if f.CodeURI == "" {
		return errors.New("CodeUri: required (functions/<name>/)")
	}
	f.Name = path.Base(strings.TrimSuffix(f.CodeURI, "/"))
	// Lambda's defaults: 3 s and 128 MB.
	if f.Timeout, err = integer(g, 3, "Timeout"); err != nil {
		return fmt.Errorf("Globals.Function.%w", err)
	}
	if f.Timeout, err = integer(props, f.Timeout, "Timeout"); err != nil {
		return err
	}
	if f.MemorySize, err = integer(g, 128, "MemorySize"); err != nil {
		return fmt.Errorf("Globals.Function.%w", err)
	}
	if f.MemorySize, err = integer(props, f.MemorySize, "MemorySize"); err != nil {
		return err
	}
	// Function variables override Globals key by key, as SAM merges them.
	for _, src := range []struct {
		where string
		m     map[string]any
	}{{"Globals.Function.", g}, {"", props}} {
		vars, _ := get(src.m, "Environment", "Variables").(map[string]any)
		for k, v := range vars {
			val, err := value(v)
			if err != nil {
				return fmt.Errorf("%sEnvironment.Variables.%s: %w", src.where, k, err)
			}
			f.Environment[k] = val
			if src.where == "" {
				f.OwnEnvironment = append(f.OwnEnvironment, k)
			}
		}
	}
	slices.Sort(f.OwnEnvironment)
	events, _ := get(props, "Events").(map[string]any)
	names := make([]string, 0, len(events))
	for n := range events {
		names = append(names, n)
	}
	slices.Sort(names) // map order is random; keep the model deterministic
	for _, name := range names {
		ev, ok := events[name].(map[string]any)
		if !ok {
			return fmt.Errorf("Events.%s: not a mapping", name)
		}
		typ, _ := ev["Type"].(string)
		ep, _ := ev["Properties"].(map[string]any)
		where := "Events." + name + ".Properties"
		switch typ {
		case "Api":
			r, err := p.parseRoute(name, ep)
			if err != nil {
				return fmt.Errorf("%s.%w", where, err)
			}
			f.Routes = append(f.Routes, r)
		case "SQS":
			s, err := parseSQSEvent(name, ep)
			if err != nil {
				return fmt.Errorf("%s.%w", where, err)
			}
			f.SQSEvents = append(f.SQSEvents, s)
		case "Schedule":
			expr, err := str(ep, "Schedule")
			if err != nil {
				return fmt.Errorf("%s.%w", where, err)
			}
			every, err := ParseRate(expr)
			if err != nil {
				return fmt.Errorf("%s.Schedule: %w", where, err)
			}
			f.Schedules = append(f.Schedules, Schedule{EventName: name, Every: every})
		default:
			return fmt.Errorf("Events.%s.Type: %q is not supported by the local stack (Api, SQS, Schedule)", name, typ)
		}
	}
	p.t.Functions = append(p.t.Functions, f)
	return nil
}

func (p *parser) parseRoute(name string, ep map[string]any) (Route, error) {
	r := Route{EventName: name}
	var err error
	if r.Method, err = str(ep, "Method"); err != nil {
		return r, err
	}
	r.Method = strings.ToUpper(r.Method)
	if r.Method == "" {
		return r, errors.New("Method: required")
	}
	if r.Path, err = str(ep, "Path"); err != nil {
		return r, err
	}
	if !strings.HasPrefix(r.Path, "/") {
		return r, fmt.Errorf("Path: %q must start with /", r.Path)
	}
	api, err := value(get(ep, "RestApiId"))
	if err != nil {
		return r, fmt.Errorf("RestApiId: %w", err)
	}
	if api.Ref == "" {
		// Without RestApiId SAM creates a second, implicit API that has
		// neither our authorizer nor our gateway responses.
		return r, errors.New("RestApiId: required (!Ref the AWS::Serverless::Api)")
	}
	if p.types[api.Ref] != "AWS::Serverless::Api" {
		return r, fmt.Errorf("RestApiId: %s is not an AWS::Serverless::Api", api.Ref)
	}
	authz, err := str(ep, "Auth", "Authorizer")
	if err != nil {
		return r, err
	}
	// Whether the API has a default authorizer is known once the Api is
	// parsed; check() settles routes that inherit it.
	r.Authorized = authz != "NONE"
	return r, nil
}

// ParseRate reads an EventBridge rate expression: "rate(1 hour)",
// "rate(15 minutes)", "rate(1 day)".
func ParseRate(expr string) (time.Duration, error) {
	inner, ok := strings.CutPrefix(expr, "rate(")
	if inner, ok = strings.CutSuffix(inner, ")"); !ok {
		return 0, fmt.Errorf("%q: want rate(N unit); cron() is not supported by the local stack", expr)
	}
	n, unit, _ := strings.Cut(strings.TrimSpace(inner), " ")
	v, err := strconv.Atoi(n)
	units := map[string]time.Duration{"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour}
	d, known := units[unit]
	if err != nil || v < 1 || v > 1_000_000 || !known || (v == 1) != (unit == "minute" || unit == "hour" || unit == "day") {
		return 0, fmt.Errorf("%q: want rate(1 minute|hour|day) or rate(N minutes|hours|days)", expr)
	}
	return time.Duration(v) * d, nil
}

func parseSQSEvent(name string, ep map[string]any) (SQSEvent, error) {
	s := SQSEvent{EventName: name}
	var err error
	if s.Queue, err = getAttTarget(ep, "Arn", "Queue"); err != nil {
		return s, err
	}
	if s.BatchSize, err = integer(ep, 10, "BatchSize"); err != nil {
		return s, err
	}
	if s.MaxBatchingWindow, err = integer(ep, 0, "MaximumBatchingWindowInSeconds"); err != nil {
		return s, err
	}
	if l, ok := get(ep, "FunctionResponseTypes").([]any); ok {
		for _, t := range l {
			if t == "ReportBatchItemFailures" {
				s.ReportBatchItemFailures = true
			}
		}
	}
	return s, nil
}

func (p *parser) parseTable(id string, props map[string]any) error {
	t := Table{LogicalID: id}
	types := map[string]string{}
	defs, _ := get(props, "AttributeDefinitions").([]any)
	for i, d := range defs {
		m, _ := d.(map[string]any)
		n, _ := m["AttributeName"].(string)
		ty, _ := m["AttributeType"].(string)
		if n == "" || ty == "" {
			return fmt.Errorf("AttributeDefinitions[%d]: want AttributeName and AttributeType", i)
		}
		types[n] = ty
	}
	keys := func(where string, v any) (KeyAttr, *KeyAttr, error) {
		var hash KeyAttr
		var rng *KeyAttr
		l, _ := v.([]any)
		for i, k := range l {
			m, _ := k.(map[string]any)
			n, _ := m["AttributeName"].(string)
			kt, _ := m["KeyType"].(string)
			ty, ok := types[n]
			if !ok {
				return hash, nil, fmt.Errorf("%s[%d]: attribute %q has no AttributeDefinition", where, i, n)
			}
			switch kt {
			case "HASH":
				hash = KeyAttr{n, ty}
			case "RANGE":
				rng = &KeyAttr{n, ty}
			default:
				return hash, nil, fmt.Errorf("%s[%d].KeyType: %q", where, i, kt)
			}
		}
		if hash.Name == "" {
			return hash, nil, fmt.Errorf("%s: no HASH key", where)
		}
		return hash, rng, nil
	}
	var err error
	if t.HashKey, t.RangeKey, err = keys("KeySchema", props["KeySchema"]); err != nil {
		return err
	}
	gsis, _ := get(props, "GlobalSecondaryIndexes").([]any)
	for i, g := range gsis {
		m, _ := g.(map[string]any)
		where := fmt.Sprintf("GlobalSecondaryIndexes[%d]", i)
		ix := Index{}
		ix.Name, _ = m["IndexName"].(string)
		if ix.Name == "" {
			return fmt.Errorf("%s.IndexName: required", where)
		}
		if ix.HashKey, ix.RangeKey, err = keys(where+".KeySchema", m["KeySchema"]); err != nil {
			return err
		}
		if ix.ProjectionType, err = str(m, "Projection", "ProjectionType"); err != nil {
			return fmt.Errorf("%s.%w", where, err)
		}
		if ix.ProjectionType == "" {
			ix.ProjectionType = "ALL"
		}
		nk, _ := get(m, "Projection", "NonKeyAttributes").([]any)
		for _, a := range nk {
			s, _ := a.(string)
			ix.NonKeyAttrs = append(ix.NonKeyAttrs, s)
		}
		t.GlobalSecondaryIndex = append(t.GlobalSecondaryIndex, ix)
	}
	on, err := boolean(props, "TimeToLiveSpecification", "Enabled")
	if err != nil {
		return err
	}
	if on {
		if t.TTLAttribute, err = str(props, "TimeToLiveSpecification", "AttributeName"); err != nil {
			return err
		}
	}
	if t.PointInTimeRecovery, err = boolean(props, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); err != nil {
		return err
	}
	p.t.Tables = append(p.t.Tables, t)
	return nil
}

func (p *parser) parseQueue(id string, props map[string]any) error {
	q := Queue{LogicalID: id}
	var err error
	if q.FIFO, err = boolean(props, "FifoQueue"); err != nil {
		return err
	}
	if q.VisibilityTimeout, err = integer(props, 0, "VisibilityTimeout"); err != nil {
		return err
	}
	if q.MessageRetentionPeriod, err = integer(props, 0, "MessageRetentionPeriod"); err != nil {
		return err
	}
	if q.DelaySeconds, err = integer(props, 0, "DelaySeconds"); err != nil {
		return err
	}
	if get(props, "RedrivePolicy") != nil {
		if q.DeadLetterQueue, err = getAttTarget(props, "Arn", "RedrivePolicy", "deadLetterTargetArn"); err != nil {
			return err
		}
		if q.MaxReceiveCount, err = integer(props, 0, "RedrivePolicy", "maxReceiveCount"); err != nil {
			return err
		}
		if q.MaxReceiveCount < 1 {
			return errors.New("RedrivePolicy.maxReceiveCount: required, at least 1")
		}
	}
	p.t.Queues = append(p.t.Queues, q)
	return nil
}

func (p *parser) parseBucket(id string, props map[string]any) error {
	b := Bucket{LogicalID: id, ExpireAfterDays: map[string]int{}}
	rules, _ := get(props, "LifecycleConfiguration", "Rules").([]any)
	for i, r := range rules {
		m, _ := r.(map[string]any)
		where := fmt.Sprintf("LifecycleConfiguration.Rules[%d].", i)
		if st, _ := m["Status"].(string); st != "Enabled" {
			continue
		}
		prefix, err := str(m, "Prefix")
		if err != nil {
			return fmt.Errorf("%s%w", where, err)
		}
		if prefix == "" {
			if prefix, err = str(m, "Filter", "Prefix"); err != nil {
				return fmt.Errorf("%s%w", where, err)
			}
		}
		days, err := integer(m, 0, "ExpirationInDays")
		if err != nil {
			return fmt.Errorf("%s%w", where, err)
		}
		if days > 0 {
			b.ExpireAfterDays[prefix] = days
		}
		abort, err := integer(m, 0, "AbortIncompleteMultipartUpload", "DaysAfterInitiation")
		if err != nil {
			return fmt.Errorf("%s%w", where, err)
		}
		if abort > 0 {
			b.AbortIncompleteUploadDays = abort
		}
	}
	qcs, _ := get(props, "NotificationConfiguration", "QueueConfigurations").([]any)
	for i, q := range qcs {
		m, _ := q.(map[string]any)
		where := fmt.Sprintf("NotificationConfiguration.QueueConfigurations[%d].", i)
		n := QueueNotification{}
		var err error
		if n.Event, err = str(m, "Event"); err != nil || n.Event == "" {
			return fmt.Errorf("%sEvent: required", where)
		}
		v, err := value(m["Queue"])
		if err != nil || v.GetAtt[0] == "" || v.GetAtt[1] != "Arn" {
			return fmt.Errorf("%sQueue: want !GetAtt <Queue>.Arn", where)
		}
		n.Queue = v.GetAtt[0]
		rules, _ := get(m, "Filter", "S3Key", "Rules").([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			name, _ := str(rm, "Name")
			val, _ := str(rm, "Value")
			switch strings.ToLower(name) {
			case "prefix":
				n.Prefix = val
			case "suffix":
				n.Suffix = val
			default:
				return fmt.Errorf("%sFilter.S3Key.Rules: unknown rule %q", where, name)
			}
		}
		b.QueueNotifications = append(b.QueueNotifications, n)
	}
	p.t.Buckets = append(p.t.Buckets, b)
	return nil
}

func (p *parser) parseSecret(id string, props map[string]any) error {
	s := Secret{LogicalID: id}
	if get(props, "GenerateSecretString") == nil {
		return errors.New("GenerateSecretString: required (the local stack generates every secret)")
	}
	var err error
	// Secrets Manager's default length is 32.
	if s.PasswordLength, err = integer(props, 32, "GenerateSecretString", "PasswordLength"); err != nil {
		return err
	}
	if s.ExcludePunctuation, err = boolean(props, "GenerateSecretString", "ExcludePunctuation"); err != nil {
		return err
	}
	p.t.Secrets = append(p.t.Secrets, s)
	return nil
}

// check merges raw gateway responses and validates cross references, so a
// typo in template.yaml fails at load time, naming the resource.
func (p *parser) check() error {
	a := &p.t.Api
	for typ, gr := range p.rawGR {
		if a.GatewayResponses == nil {
			a.GatewayResponses = map[string]GatewayResponse{}
		}
		a.GatewayResponses[typ] = gr
	}
	if a.AuthorizerFunction != "" && p.types[a.AuthorizerFunction] != "AWS::Serverless::Function" {
		return fmt.Errorf("resource %s: authorizer function %s is not an AWS::Serverless::Function", a.LogicalID, a.AuthorizerFunction)
	}
	queues := map[string]bool{}
	for _, q := range p.t.Queues {
		queues[q.LogicalID] = true
	}
	for _, q := range p.t.Queues {
		if q.DeadLetterQueue != "" && !queues[q.DeadLetterQueue] {
			return fmt.Errorf("resource %s: RedrivePolicy.deadLetterTargetArn: %s is not an AWS::SQS::Queue", q.LogicalID, q.DeadLetterQueue)
		}
	}
	for _, b := range p.t.Buckets {
		for _, n := range b.QueueNotifications {
			if !queues[n.Queue] {
				return fmt.Errorf("resource %s: NotificationConfiguration: %s is not an AWS::SQS::Queue", b.LogicalID, n.Queue)
			}
		}
	}
	for i := range p.t.Functions {
		f := &p.t.Functions[i]
		for j := range f.Routes {
			// A route is authorized when it did not opt out and the API has
			// a (Lambda) default authorizer.
			if f.Routes[j].Authorized && a.AuthorizerFunction == "" {
				f.Routes[j].Authorized = false
			}
		}
		for _, s := range f.SQSEvents {
			if !queues[s.Queue] {
				return fmt.Errorf("resource %s: event %s: Queue: %s is not an AWS::SQS::Queue", f.LogicalID, s.EventName, s.Queue)
			}
		}
		for k, v := range f.Environment {
			if err := p.checkRefs(v); err != nil {
				return fmt.Errorf("resource %s: Environment.Variables.%s: %w", f.LogicalID, k, err)
			}
		}
	}
	return nil
}

func (p *parser) checkRefs(v Value) error {
	known := func(id string) bool {
		if _, ok := p.types[id]; ok {
			return true
		}
		if _, ok := p.t.Parameters[id]; ok {
			return true
		}
		return strings.HasPrefix(id, "AWS::")
	}
	switch {
	case v.Ref != "":
		if !known(v.Ref) {
			return fmt.Errorf("!Ref %s: no such resource or parameter", v.Ref)
		}
	case v.GetAtt[0] != "":
		if _, ok := p.types[v.GetAtt[0]]; !ok {
			return fmt.Errorf("!GetAtt %s.%s: no such resource", v.GetAtt[0], v.GetAtt[1])
		}
	case v.Sub != "":
		for _, name := range SubVariables(v.Sub) {
			if _, ok := v.SubVars[name]; ok {
				continue
			}
			id, _, _ := strings.Cut(name, ".")
			if !known(id) {
				return fmt.Errorf("!Sub ${%s}: no such resource or parameter", name)
			}
		}
		for _, sv := range v.SubVars {
			if err := p.checkRefs(sv); err != nil {
				return err
			}
		}
	}
	return nil
}

// SubVariables lists the ${…} names in a !Sub string, skipping the ${!…}
// escapes.
func SubVariables(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return out
		}
		name := s[i+2 : i+j]
		if !strings.HasPrefix(name, "!") {
			out = append(out, name)
		}
		s = s[i+j+1:]
	}
}

// Function returns the function with the given logical ID.
func (t *Template) Function(logicalID string) (Function, bool) {
	for _, f := range t.Functions {
		if f.LogicalID == logicalID {
			return f, true
		}
	}
	return Function{}, false
}

// Queue returns the queue with the given logical ID.
func (t *Template) Queue(logicalID string) (Queue, bool) {
	for _, q := range t.Queues {
		if q.LogicalID == logicalID {
			return q, true
		}
	}
	return Queue{}, false
}
