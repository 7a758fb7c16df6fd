package models

import (
	"strings"
	"unicode/utf8"
)

// clipText makes s text both databases store (valid UTF-8, no NUL) of at
// most max bytes, cut at a rune boundary, and reports whether it cut.
// Every value that reaches the audit log from outside passes through it.
func clipText(s string, max int) (string, bool) {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= max {
		return s, false
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

// Clip bounds a value taken from a request path (a slug, a table name, a
// record id) to 64 bytes of storable text, as the audit log records it.
func Clip(s string) string {
	t, _ := clipText(s, 64)
	return t
}

// auditText bounds free text for the audit log, marking a cut with "…".
func auditText(s string, max int) string {
	t, cut := clipText(s, max)
	if cut {
		t += "…"
	}
	return t
}

// clip is clipText's text alone, for columns of a fixed size.
func clip(s string, max int) string {
	t, _ := clipText(s, max)
	return t
}
