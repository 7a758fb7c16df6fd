package views

import (
	"testing"

	"gatehouse/policy"
)

// TestEveryPermissionHasWords: the dashboard's "What you can do" says
// each permission in plain words, never its code; a permission added to
// the catalogue without words fails here.
func TestEveryPermissionHasWords(t *testing.T) {
	for _, p := range policy.All {
		code := p.String()
		if got := canWords(code); got == code || (got == "" && p != policy.PortalEnter) {
			t.Errorf("permission %s has no words for the dashboard: %q", code, got)
		}
	}
}
