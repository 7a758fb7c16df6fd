package models

import (
	"fmt"
	"testing"
)

// TestSearchSampleRareWord: a search is narrowed to its word the index
// holds fewest entries for, and only when few rows hold that word; a
// search of one word, of no word of 3 or more letters, or of common words
// only is asked for whole.
func TestSearchSampleRareWord(t *testing.T) {
	// 1,000 sampled owners of a registry of 100,000: every email starts
	// "owner@", a thirtieth of them hold each of golden and grove.
	emails := sampled{trigrams: map[string]int{}, scale: 100}
	nouns := []string{"grove", "harbor", "falcon"}
	for i := range 1000 {
		emails.add(fmt.Sprintf("owner@%s-%s-%d.example", []string{"golden", "silver", "amber"}[i%3], nouns[(i/3)%3], i*97))
	}
	tests := []struct{ search, want string }{
		{"owner@golden-grove-499987", "499987"},
		{"OWNER@Golden-Grove-499987", "499987"},
		{"golden-grove-4", ""}, // "4" is too short; golden and grove are common
		{"harbor", ""},         // one word: asked for whole
		{"499987", ""},
		{"harbor.", ""}, // common
		{"zq_x%", ""},   // no word of 3 or more
		{"owner@zzzyyy", "zzzyyy"},
		{"golden zzzyyy", "zzzyyy"},
		{"ééé zzzyyy", "zzzyyy"}, // never a word pg_trgm may not split as Go does
		{"ééé owner", ""},
		{"ééé", ""},
	}
	for _, tt := range tests {
		if got := emails.rareWord(tt.search); got != tt.want {
			t.Errorf("rareWord(%q) = %q, want %q", tt.search, got, tt.want)
		}
	}
	// Common words only: the rarest is in a third of the values, some
	// 33,000 rows, too many to test one by one.
	if got := emails.rareWord("owner@amber-grove"); got != "" {
		t.Errorf("rareWord of common words = %q, want none", got)
	}
	// No sample: nothing narrowed.
	if got := (sampled{}).rareWord("owner@golden-grove-499987"); got != "" {
		t.Errorf("rareWord without a sample = %q", got)
	}
	var none *SearchSample
	if got := none.words(t.Context(), "owner@golden-grove-499987"); got != [2]string{} {
		t.Errorf("a nil sample's words = %q", got)
	}
}
