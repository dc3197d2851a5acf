package templates

import (
	"encoding/json"
	"strings"
	"testing"
)

// A stored or posted template without variables is served with
// "variables": [], as the contract says, never null.
func TestDecodedTemplateListsNoVariablesAsEmpty(t *testing.T) {
	tpl, err := templatesCodec{}.Decode([]byte(`{"id":"promo","name":"My promo","orientation":"landscape","spec":{"resolution":"sd","scenes":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(tpl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), `"variables":[]`) {
		t.Fatalf("served as %s", doc)
	}
}
