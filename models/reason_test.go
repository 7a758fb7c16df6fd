package models

import (
	"errors"
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
