package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// TestDoneNote: an "I'm done" note is kept whole (it was cut at 64 bytes)
// and one with a bidi override is refused with 422, ending nothing.
func TestDoneNote(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		id, _ := p.grantedRequest()
		sara := noRedirect(p.login("sara.senior@example.com"))
		done := fmt.Sprintf("/requests/%d/done", id)

		res, body := p.post(sara, done, url.Values{"note": {"Checked the \u202Eexport job and fixed it."}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "bidi") {
			t.Errorf("done with U+202E = %d, want 422 naming the bidi characters:\n%s", res.StatusCode, body)
		}
		if n := p.count("grants", "ended_at IS NOT NULL"); n != 0 {
			t.Errorf("%d grants ended by a refused note, want 0", n)
		}
		if n := p.count("audit_events", "action = ?", models.ActionGrantDone); n != 0 {
			t.Errorf("%d grant.done events for a refused note, want 0", n)
		}

		note := strings.Repeat("Checked the export job; ", 8) + "all good"
		if len(note) != 200 {
			t.Fatalf("test note is %d characters", len(note))
		}
		if res, body := p.post(sara, done, url.Values{"note": {note}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("done with a 200-character note = %d:\n%s", res.StatusCode, body)
		}
		if n := p.count("grants", "ended_why = ?", note); n != 1 {
			t.Errorf("%d grants ended with the whole note, want 1", n)
		}
		if n := p.count("audit_events", "action = ? AND reason = ?", models.ActionGrantDone, note); n != 1 {
			t.Errorf("%d grant.done events with the whole note, want 1", n)
		}
	})
}

// TestStaffReasonHiddenCharacters: a suspension reason with a zero-width
// space is refused by the model and shown at the suspend form, changing
// nothing.
func TestStaffReasonHiddenCharacters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		eve := p.staff("eve.engineer@example.com")
		events := p.count("audit_events", "")
		res, body := p.post(ada, staffURL(eve.ID, "suspend"), url.Values{"reason": {"laptop\u200B stolen"}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-suspend"`) || !strings.Contains(body, "zero-width") {
			t.Errorf("suspend with U+200B = %d, want 422 with the message at the suspend form:\n%s", res.StatusCode, body)
		}
		if s := p.staff(eve.Email); s.Status != models.StatusActive {
			t.Errorf("eve is %s after a refused suspension, want active", s.Status)
		}
		if n := p.count("audit_events", ""); n != events {
			t.Errorf("%d audit events after a refused suspension, want %d", n, events)
		}
	})
}
