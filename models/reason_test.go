package models

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckReason(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"Customer reports the invoice export fails for project 12.", true},
		{"   Customer cannot log in since Tuesday morning   ", true},
		{"short reason", false},
		{"......................................", false},
		{"asdf asdf asdf asdf asdf asdf asdf asdf", false},
		{"help help please help help help", false},
		{"1234567890 1234567890 1234567890", false},
		{"Need to check the data now!!!", true},
		{"Customer reports\nthat exports fail on Monday.", true},
		{"Customer reports that \u202eexports fail on Monday.", false},
		{"Customer reports that\x00 exports fail on Monday.", false},
		{"Customer reports that exports \xff fail on Monday.", false},
	}
	for _, tt := range tests {
		err := CheckReason(tt.in, 20)
		if got := err == nil; got != tt.want {
			t.Errorf("CheckReason(%q) = %v, want ok=%v", tt.in, err, tt.want)
		}
		if err != nil && !errors.Is(err, ErrWeakReason) {
			t.Errorf("CheckReason(%q) = %v, not ErrWeakReason", tt.in, err)
		}
	}
}

func TestCheckNote(t *testing.T) {
	tests := []struct {
		in       string
		min      int
		want     bool
		mentions string // what the form's message names, for a refusal
	}{
		{"", 0, true, ""},
		{"   ", 0, true, ""},
		{"", 5, false, "ask"},
		{"ok", 5, false, "ask"},
		{"Not needed.", 5, true, ""},
		{"done\nall good", 0, true, ""},
		{"Not \u202eneeded.", 0, false, "bidi"},
		{"Not\u200b needed.", 0, false, "bidi"},
		{"Not needed.\x07", 0, false, "bidi"},
		{strings.Repeat("x", 2000), 0, true, ""},
		{strings.Repeat("é", 2001), 0, false, "2,000"},
	}
	for _, tt := range tests {
		err := CheckNote(tt.in, tt.min)
		if got := err == nil; got != tt.want {
			t.Errorf("CheckNote(%.20q, %d) = %v, want ok=%v", tt.in, tt.min, err, tt.want)
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrWeakReason) {
			t.Errorf("CheckNote(%.20q) = %v, not ErrWeakReason", tt.in, err)
		}
		if got := noteMessage(err, "ask"); !strings.Contains(got, tt.mentions) {
			t.Errorf("noteMessage for %.20q = %q, want it to mention %q", tt.in, got, tt.mentions)
		}
	}
}
