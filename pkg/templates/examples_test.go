package templates

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/movie"
)

// templateCall is the {templateId, variables} body of POST /v1/videos.
type templateCall struct {
	TemplateID string         `json:"templateId"`
	Variables  map[string]any `json:"variables"`
}

var sampleName = regexp.MustCompile(`"@[\w.-]+\.\w+"`)

// TestExamples parses and validates every file in examples/, the way the
// API would, with the sandbox's limits: a movie spec, or a template call
// when it has a templateId.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("only %d examples", len(files))
	}
	kinds := map[string]int{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// "@FILENAME" names an uploaded sample (framegate dev uploads
			// them; the CLI swaps in their ids): any asset id parses here.
			// cmd/framegate's TestExamplesRenderOnTheStack renders every
			// example through the local stack as the docs say to.
			body = sampleName.ReplaceAll(body, []byte(`"ast_01m8ac11f4ff2mqjt2am7xmc4z"`))
			// The sandbox limits: every example must be runnable with a test key.
			lim := movie.DefaultLimits(movie.SandboxMaxSeconds, true)
			var spec movie.Spec
			if strings.Contains(string(body), `"templateId"`) {
				kinds["template"]++
				var call templateCall
				if err := apierr.DecodeJSON(body, &call); err != nil {
					t.Fatal(err)
				}
				tpl, ok := Find(call.TemplateID)
				if !ok {
					t.Fatalf("no built-in template %q", call.TemplateID)
				}
				if spec, err = tpl.Instantiate(call.Variables, lim); err != nil {
					t.Fatal(err)
				}
			} else {
				kinds["spec"]++
				if spec, err = movie.Parse(body, lim); err != nil {
					t.Fatal(err)
				}
			}
			if spec.Duration() <= 0 {
				t.Fatalf("duration %v", spec.Duration())
			}
		})
	}
	if kinds["template"] == 0 || kinds["spec"] == 0 {
		t.Fatalf("examples should show both specs and template calls: %v", kinds)
	}
}
