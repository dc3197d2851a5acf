package apierr

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text checks a free-text field a client writes and others read (a name,
// a description): valid UTF-8, at most max characters, and no control
// characters: nothing that prints as nothing, moves the cursor or reorders
// the text around it (C0, DEL and C1 controls, bidirectional overrides).
// Multiline text may hold newlines and tabs. The error is a 400 naming
// field (a JSON pointer).
func Text(field, s string, max int, multiline bool) error {
	name := field[strings.LastIndexByte(field, '/')+1:]
	if !utf8.ValidString(s) {
		return Invalid(field, "%s must be valid UTF-8 text.", name)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Invalid(field, "%s is %d characters; at most %d are allowed.", name, n, max)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return Invalid(field, "%s must not contain control characters (it holds U+%04X).", name, r)
		}
	}
	return nil
}
