package e2e

// The emulator enforces no IAM: a function whose code calls DynamoDB in a
// way its template.yaml policy does not allow passes every test here and
// fails on AWS. grantsOf reads the DynamoDB permissions of each function
// from template.yaml (the SAM policy templates the template uses and
// explicit statements), and TestRouteRoundTrips checks every DynamoDB call
// the tour makes against the permissions of the function that made it.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/testenv"
)

// grant is an allowed DynamoDB action on a resource: a table's logical ID,
// optionally with "/index/<name or *>".
type grant struct{ action, resource string }

// samTemplates are the actions of the SAM DynamoDB policy templates the
// template uses, on the table and its indexes.
var samTemplates = map[string][]string{
	"DynamoDBCrudPolicy": {"GetItem", "DeleteItem", "PutItem", "Scan", "Query", "UpdateItem", "BatchWriteItem", "BatchGetItem", "DescribeTable", "ConditionCheckItem"},
	"DynamoDBReadPolicy": {"GetItem", "Scan", "Query", "BatchGetItem", "DescribeTable"},
}

// grantsOf returns the DynamoDB grants of every function of template.yaml,
// by logical ID.
func grantsOf(t testing.TB) map[string][]grant {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string][]grant{}
	resources := get(doc.Content[0], "Resources")
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, res := resources.Content[i].Value, resources.Content[i+1]
		if get(res, "Type").Value != "AWS::Serverless::Function" {
			continue
		}
		for _, p := range get(get(res, "Properties"), "Policies").Content {
			for j := 0; j+1 < len(p.Content); j += 2 {
				name, val := p.Content[j].Value, p.Content[j+1]
				if actions, ok := samTemplates[name]; ok {
					table := strings.TrimSuffix(get(val, "TableName").Value, ".Arn")
					for _, a := range actions {
						out[id] = append(out[id], grant{a, table}, grant{a, table + "/index/*"})
					}
					continue
				}
				if name != "Statement" {
					continue
				}
				for _, st := range val.Content {
					if get(st, "Effect").Value != "Allow" {
						continue
					}
					for _, a := range scalars(get(st, "Action")) {
						act, ok := strings.CutPrefix(a, "dynamodb:")
						if !ok {
							continue
						}
						for _, r := range scalars(get(st, "Resource")) {
							out[id] = append(out[id], grant{act, resourceOf(r)})
						}
					}
				}
			}
		}
	}
	return out
}

// resourceOf turns a resource ("KeysTable.Arn" from !GetAtt, or
// "${KeysTable.Arn}/index/gsi1" from !Sub) into a grant's resource.
func resourceOf(r string) string {
	r = strings.NewReplacer("${", "", "}", "").Replace(r)
	table, rest, _ := strings.Cut(r, ".Arn")
	return table + rest
}

func get(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return &yaml.Node{}
}

func scalars(n *yaml.Node) []string {
	if n.Kind == yaml.SequenceNode {
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return []string{n.Value}
}

// allowed says what is wrong with a call function made, or "".
func allowed(grants []grant, c devstack.Call, tableOf func(string) string) string {
	action := c.Op
	if action == "TransactWriteItems" {
		// Authorized per item, by the item's action, and the call does
		// not say which: any write action granted will do.
		for _, w := range []string{"UpdateItem", "PutItem", "DeleteItem"} {
			if slices.ContainsFunc(grants, func(g grant) bool { return g.action == w }) {
				action = w
				break
			}
		}
	}
	resource := tableOf(c.Table)
	if c.Index != "" {
		resource += "/index/" + c.Index
	}
	ok := slices.ContainsFunc(grants, func(g grant) bool {
		if g.action != action {
			return false
		}
		if c.Table == "" { // a batch names its tables inside
			return true
		}
		return g.resource == resource || (strings.HasSuffix(g.resource, "/index/*") && c.Index != "" && strings.TrimSuffix(g.resource, "*") == strings.TrimSuffix(resource, c.Index))
	})
	if ok {
		return ""
	}
	return "dynamodb:" + action + " on " + resource + " is not allowed by its template.yaml policies"
}

func TestGrantsOfReadsTheTemplate(t *testing.T) {
	g := grantsOf(t)
	if !slices.Contains(g["AuthorizerFunction"], grant{"UpdateItem", "KeysTable"}) {
		t.Errorf("authorizer: %v", g["AuthorizerFunction"])
	}
	if !slices.Contains(g["KeysFunction"], grant{"BatchGetItem", "KeysTable/index/*"}) {
		t.Errorf("keys: %v", g["KeysFunction"])
	}
	if !slices.Contains(g["AuthFunction"], grant{"Query", "KeysTable/index/gsi1"}) || slices.Contains(g["AuthFunction"], grant{"Query", "KeysTable"}) {
		t.Errorf("auth: %v", g["AuthFunction"])
	}
	tableOf := func(string) string { return "KeysTable" }
	if p := allowed(g["AuthFunction"], devstack.Call{Op: "Query", Table: "x", Index: "gsi1"}, tableOf); p != "" {
		t.Error(p)
	}
	if p := allowed(g["AuthFunction"], devstack.Call{Op: "GetItem", Table: "x"}, tableOf); p == "" {
		t.Error("a GetItem the auth function may not make passed")
	}
}
