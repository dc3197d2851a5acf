package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestEveryCodeHasAStatusAndADocsEntry(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Codes() {
		if s := Status(c); s < 400 || s > 599 {
			t.Errorf("%s: status %d", c, s)
		}
		if !strings.Contains(string(doc), fmt.Sprintf(`<a id="%s"></a>`, c)) {
			t.Errorf("docs/errors.md has no entry for %s", c)
		}
	}
	if Status("made_up") != 500 {
		t.Fatal("unknown code is not a 500")
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	e := From(fmt.Errorf("get item: %w", errors.New("table framegate-keys: AccessDenied arn:aws:iam::123")))
	b := Render(e, "r1", "https://d")
	if e.Code != Internal || strings.Contains(string(b), "AccessDenied") || strings.Contains(string(b), "arn:") {
		t.Fatalf("leaks: %s", b)
	}
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil || env.Error.RequestID != "r1" || env.Error.Docs != "https://d#internal_error" {
		t.Fatalf("%s %v", b, err)
	}
	wrapped := fmt.Errorf("handler: %w", Invalid("/name", "name is required."))
	if got := From(wrapped); got.Code != InvalidRequest || got.Field != "/name" {
		t.Fatalf("%+v", got)
	}
}
