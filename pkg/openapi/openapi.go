// Package openapi serves the API contract, openapi.yaml at the repository
// root, as JSON at GET /v1/openapi.json. The conversion happens once per cold
// start; package contract checks responses against the same document.
package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/framegate/framegate"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/lambdas"
)

// YAML is the document as written.
func YAML() []byte { return framegate.OpenAPIYAML }

// JSON is the document as JSON, keys in the order openapi.yaml has them.
var JSON = sync.OnceValues(func() ([]byte, error) { return ToJSON(framegate.OpenAPIYAML) })

// New is the constructor of functions/openapi: a public route, so errors
// still come in the shared envelope but no key is needed.
func New(_ context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	doc, err := JSON()
	if err != nil {
		return nil, err
	}
	return Handler(httpapi.NewServer(d), doc), nil
}

// Handler serves doc.
func Handler(srv httpapi.Server, doc []byte) lambdas.HTTPFunc {
	return srv.Public(httpapi.Routes{
		"GET /openapi.json": func(context.Context, *httpapi.Request) (httpapi.Response, error) {
			return httpapi.Response{Raw: doc, Headers: map[string]string{
				"Content-Type": "application/json",
				// The document changes only with a deployment.
				"Cache-Control": "public, max-age=300",
			}}, nil
		},
	})
}

// ToJSON converts a YAML document to JSON, following aliases and keeping
// the order of keys, so the served document reads like the written one.
func ToJSON(y []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(y, &root); err != nil {
		return nil, fmt.Errorf("openapi: parse YAML: %w", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &root, 0); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	if !json.Valid(buf.Bytes()) {
		return nil, fmt.Errorf("openapi: conversion produced invalid JSON")
	}
	return buf.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > 100 {
		return fmt.Errorf("line %d: nested too deep (alias loop?)", n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("want one YAML document")
		}
		return writeJSON(buf, n.Content[0], depth+1)
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias, depth+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
			}
			if k.Value == "<<" {
				return fmt.Errorf("line %d: merge keys are not supported", k.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeJSON(buf, v, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	default:
		return fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	return nil
}

func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		buf.WriteString("null")
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.WriteString(strconv.FormatBool(b))
	case "!!int", "!!float":
		var f any
		if err := n.Decode(&f); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
	default:
		b, _ := json.Marshal(n.Value)
		buf.Write(b)
	}
	return nil
}
