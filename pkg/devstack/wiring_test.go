package devstack_test

import (
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/samtemplate"
)

// funcName is the full name of a function value, e.g.
// "github.com/framegate/framegate/pkg/videos.New".
func funcName(f any) string {
	return runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
}

// constructorOf returns the one constructor an entry has, and how many it has.
func constructorOf(fn lambdas.Function) (any, int) {
	var out any
	n := 0
	if fn.Authorizer != nil {
		out, n = fn.Authorizer, n+1
	}
	if fn.HTTP != nil {
		out, n = fn.HTTP, n+1
	}
	if fn.SQS != nil {
		out, n = fn.SQS, n+1
	}
	if fn.Schedule != nil {
		out, n = fn.Schedule, n+1
	}
	return out, n
}

// TestMainsMatchRegistry: every functions/<name>/main.go is the one line
// lambdas.Start(<constructor>, <options>) with exactly the constructor and
// the AWS client options the registry runs locally, so the local stack
// cannot drift from what Lambda runs.
func TestMainsMatchRegistry(t *testing.T) {
	// Options a main may name besides awsconf.Options{}, by source text.
	named := map[string]awsconf.Options{"authorizer.AWSOptions()": authorizer.AWSOptions()}
	reg := devstack.Registry()
	mains, _ := filepath.Glob("../../functions/*/main.go")
	if len(mains) != len(reg) {
		t.Errorf("%d functions/*/main.go, %d registry entries", len(mains), len(reg))
	}
	for _, path := range mains {
		name := filepath.Base(filepath.Dir(path))
		fn, ok := reg[name]
		if !ok {
			t.Errorf("%s: no registry entry %q", path, name)
			continue
		}
		ctor, n := constructorOf(fn)
		if n != 1 {
			t.Errorf("registry entry %q has %d constructors, want exactly 1", name, n)
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		imports := map[string]string{}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			imports[filepath.Base(p)] = p
		}
		var calls []*ast.CallExpr
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Start" {
					calls = append(calls, c)
				}
			}
			return true
		})
		if len(calls) != 1 || len(calls[0].Args) != 2 {
			t.Errorf("%s: want exactly one lambdas.Start(constructor, options) call", path)
			continue
		}
		src := func(e ast.Expr) string {
			var b strings.Builder
			_ = printExpr(&b, fset, e)
			return b.String()
		}
		sel, ok := calls[0].Args[0].(*ast.SelectorExpr)
		if !ok {
			t.Errorf("%s: the constructor must be a package function, got %s", path, src(calls[0].Args[0]))
			continue
		}
		got := imports[sel.X.(*ast.Ident).Name] + "." + sel.Sel.Name
		if want := funcName(ctor); got != want {
			t.Errorf("%s starts %s; the registry runs %s", path, got, want)
		}
		opts := src(calls[0].Args[1])
		switch v, ok := named[opts]; {
		case opts == "awsconf.Options{}":
			if fn.AWS != (awsconf.Options{}) {
				t.Errorf("%s: main passes default AWS options, the registry %+v", path, fn.AWS)
			}
		case ok:
			if fn.AWS != v {
				t.Errorf("%s: main passes %s = %+v, the registry %+v", path, opts, v, fn.AWS)
			}
		default:
			t.Errorf("%s: options %s: want awsconf.Options{} or a named function's options", path, opts)
		}
	}
}

// TestEnvironmentMatchesTemplate: the variables a registry entry declares
// are all set by template.yaml for that function, and every variable the
// template sets on a function itself is declared (read) by it. The local
// stack refuses to build a function that reads an undeclared one.
func TestEnvironmentMatchesTemplate(t *testing.T) {
	tpl, err := samtemplate.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := devstack.Registry()
	for _, f := range tpl.Functions {
		fn := reg[f.Name]
		for _, k := range fn.Env {
			if _, ok := f.Environment[k]; !ok {
				t.Errorf("%s reads %s, which template.yaml does not set on it", f.LogicalID, k)
			}
		}
		for _, k := range f.OwnEnvironment {
			if !slices.Contains(fn.Env, k) {
				t.Errorf("template.yaml sets %s on %s, which never reads it", k, f.LogicalID)
			}
		}
	}
}

func printExpr(b *strings.Builder, fset *token.FileSet, e ast.Expr) error {
	return format.Node(b, fset, e)
}
