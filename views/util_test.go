package views

import (
	"slices"
	"testing"
)

func TestCompactIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"7", []string{"7"}},
		{"1,2", []string{"1", "2"}},
		{"1,2,3,5,7,8,9,10", []string{"1–3", "5", "7–10"}},
		{"3,2,1", []string{"3", "2", "1"}},
		{"1,x,2,3,4", []string{"1", "x", "2–4"}},
	}
	for _, tt := range tests {
		if got := compactIDs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("compactIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
