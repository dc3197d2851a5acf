package samtemplate

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestFailuresThatNeedAPersonHaveAlarms: every dead-letter queue, the
// authorizer (which fails closed) and the keys table (written on every
// request) have an alarm in template.yaml, routed to AlarmTopicArn.
func TestFailuresThatNeedAPersonHaveAlarms(t *testing.T) {
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// watched: what each alarm's dimensions point at ("RenderDLQ", "AuthorizerFunction", …).
	watched := map[string]bool{}
	for id, r := range doc.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		var p struct {
			Dimensions []struct {
				Value yaml.Node `yaml:"Value"`
			} `yaml:"Dimensions"`
			AlarmActions yaml.Node `yaml:"AlarmActions"`
		}
		if err := r.Properties.Decode(&p); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if !strings.Contains(nodeText(&p.AlarmActions), "AlarmTopicArn") {
			t.Errorf("alarm %s does not notify AlarmTopicArn", id)
		}
		for _, d := range p.Dimensions {
			ref, _, _ := strings.Cut(d.Value.Value, ".") // !Ref X or !GetAtt X.QueueName
			watched[ref] = true
		}
	}
	want := []string{"AuthorizerFunction", "KeysTable"}
	for id, r := range doc.Resources {
		if r.Type == "AWS::SQS::Queue" && strings.HasSuffix(id, "DLQ") {
			want = append(want, id)
		}
	}
	if len(want) < 5 {
		t.Fatalf("found only %d things to watch: %v", len(want), want)
	}
	for _, w := range want {
		if !watched[w] {
			t.Errorf("no alarm watches %s", w)
		}
	}
}

func nodeText(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	s := n.Tag + " " + n.Value
	for _, c := range n.Content {
		s += " " + nodeText(c)
	}
	return s
}
