package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// badNotes would each pass as a note but for one thing: characters that
// make it read differently from what it says, or its length.
var badNotes = map[string]string{
	"bidi override":   "The customer asked us to check \u202Eexports today.",
	"zero-width":      "The customer asked us\u200B to check the exports.",
	"control":         "The customer asked us to check\x1b[2J the exports.",
	"over 2,000 long": strings.Repeat("The customer asked us to check this. ", 60),
}

// goodNote passes every note's check, the sentence ones included.
const goodNote = "The customer asked us in ticket SUP-9 to check the exports."

// portalTables are every table of the portal database; a refused note
// leaves all of them as they were.
var portalTables = []string{
	"staff", "sessions", "login_flows", "audit_events", "audit_head", "grants", "reveals", "mail_outbox",
	"access_requests", "consent_links", "consents", "breakglass", "retention", "legal_holds",
	"deletion_requests", "deletion_confirmations",
}

// portalState is every row of the portal database, as text.
func portalState(t *testing.T, db *models.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range portalTables {
		rows, err := db.Read.Raw("SELECT * FROM " + table + " ORDER BY 1").Rows()
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&b, "%s:", table)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, " %v", vals)
		}
		rows.Close()
		b.WriteString("\n")
	}
	return b.String()
}

// noteCase is one note-taking model function: prepare makes what it acts
// on and returns the call with the note; field is where its message goes.
type noteCase struct {
	name    string
	field   string
	prepare func() func(note string) error
}

// TestNotesRefuseHiddenCharacters: every model function that takes free
// text refuses a bidi override, a zero-width space, a control character
// and an over-long note with FieldErrors, writing nothing; the same call
// with a plain note then succeeds, so the refusal was the note's.
func TestNotesRefuseHiddenCharacters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		for _, c := range noteCases(t, db) {
			call := c.prepare()
			for kind, note := range badNotes {
				before := portalState(t, db)
				err := call(note)
				var fe models.FieldErrors
				if !errors.As(err, &fe) || fe[c.field] == "" {
					t.Errorf("%s with a %s note: %v, want FieldErrors on %q", c.name, kind, err, c.field)
				}
				if after := portalState(t, db); after != before {
					t.Errorf("%s with a %s note wrote to the database:\n got %s\nwant %s", c.name, kind, after, before)
				}
			}
			if err := call(goodNote); err != nil {
				t.Errorf("%s with a plain note: %v", c.name, err)
			}
		}
	})
}

// noteCases builds the fixtures of every note-taking function on db.
func noteCases(t *testing.T, db *models.DB) []noteCase {
	ctx := context.Background()
	f := newDataFixture(t, db)
	w := newWorkflow(t, db)
	w.prefix, w.now = "note-", demoNow
	act := models.Act{Now: demoNow, By: w.sys}
	requester, approver, grantee := w.staff(policy.TierSupport), w.staff(policy.TierSenior), w.staff(policy.TierSenior)
	bg := newBGFixture(t, db)
	owners := []string{"owner@acme.example", "admin@acme.example"}
	sara := f.viewer("sara.senior@example.com")
	n := 0
	pending := func() models.AccessRequest {
		n++
		r, err := models.CreateRequest(ctx, db.Write, w.now, w.sys, w.pol, models.NewRequest{
			Workspace: fmt.Sprintf("note-ws%d", n), Requester: requester, Grantee: grantee,
			Reason: "Customer reports that exports fail since Monday.", Ticket: fmt.Sprintf("SUP-%d", n), Duration: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	decide := func(approve bool) func() func(string) error {
		return func() func(string) error {
			r := pending()
			return func(note string) error {
				_, err := models.DecideRequest(ctx, db.Write, act, models.Post{Outbox: w.ob, Letters: plainLetters{}}, w.pol,
					models.Decision{Request: r.ID, Approve: approve, Approver: approver, Note: note, Owners: owners})
				return err
			}
		}
	}
	end := func(action models.Action) func() func(string) error {
		return func() func(string) error {
			r := w.granted(pending(), approver)
			return func(note string) error {
				_, err := models.EndRequestGrant(ctx, db.Write, act, r.ID, note, action)
				return err
			}
		}
	}
	openBG := func(justification string) (models.Breakglass, error) {
		in := bg.input("ada.sysadmin")
		in.Justification = justification
		return models.OpenBreakglass(ctx, db.Write, models.Act{Now: demoNow, By: actorOf(bg.staff["ada.sysadmin"])}, bg.post(), in)
	}
	staffChange := func(change func(context.Context, models.Act, int64, string) error, suspended bool) func() func(string) error {
		return func() func(string) error {
			s := w.staff(policy.TierEngineer)
			if suspended {
				if err := models.Suspend(ctx, db.Write, act, s.ID, "On leave for a month."); err != nil {
					t.Fatal(err)
				}
			}
			return func(note string) error { return change(ctx, act, s.ID, note) }
		}
	}
	onDB := func(fn func(context.Context, *gorm.DB, models.Act, int64, string) error) func(context.Context, models.Act, int64, string) error {
		return func(ctx context.Context, act models.Act, id int64, note string) error { return fn(ctx, db.Write, act, id, note) }
	}
	return []noteCase{
		{"approve", "note", decide(true)},
		{"deny", "note", decide(false)},
		{"cancel", "note", func() func(string) error {
			r := pending()
			return func(note string) error {
				_, err := models.CancelRequest(ctx, db.Write, act, models.Post{Outbox: w.ob, Letters: plainLetters{}},
					models.Cancellation{Request: r.ID, Requester: requester, Note: note})
				return err
			}
		}},
		{"I'm done", "note", end(models.ActionGrantDone)},
		{"revoke", "note", end(models.ActionGrantRevoked)},
		{"break-glass justification", "justification", func() func(string) error {
			return func(note string) error { _, err := openBG(note); return err }
		}},
		{"break-glass review", "note", func() func(string) error {
			b, err := openBG(goodNote)
			if err != nil {
				t.Fatal(err)
			}
			return func(note string) error {
				return models.ReviewBreakglass(ctx, db.Write, models.Act{Now: demoNow, By: actorOf(bg.staff["otto.sysadmin"])}, b.ID, bg.staff["otto.sysadmin"].ID, note)
			}
		}},
		{"reveal", "reason", func() func(string) error {
			f.grant(sara, "acme", models.GrantScope{Tables: map[string][]int64{"members": {1}}}, false)
			return func(note string) error {
				_, err := f.data.RevealField(ctx, sara, models.DataRequest{Slug: "acme", Table: "members", Record: "1"}, "email", note)
				return err
			}
		}},
		{"suspend", "reason", staffChange(onDB(models.Suspend), false)},
		{"reactivate", "reason", staffChange(onDB(models.Reactivate), true)},
		{"offboard", "reason", staffChange(onDB(models.Offboard), false)},
		{"legal hold", "reason", func() func(string) error {
			return func(note string) error { _, err := models.PlaceHold(ctx, db.Write, act, "globex", "CASE-7", note); return err }
		}},
		{"legal hold lift", "reason", func() func(string) error {
			h, err := models.PlaceHold(ctx, db.Write, act, "globex", "CASE-8", goodNote)
			if err != nil {
				t.Fatal(err)
			}
			return func(note string) error { _, err := models.LiftHold(ctx, db.Write, act, "globex", h.ID, note); return err }
		}},
		{"deletion request", "note", func() func(string) error {
			return func(note string) error {
				_, err := models.CreateDeletionRequest(ctx, db.Write, f.product.Read, act, models.Post{Outbox: w.ob, Letters: &retentionLetters{}},
					models.NewDeletionRequest{Slug: "acme", Requester: requester, Note: note, Valid: models.DefaultRetentionPolicy().DeletionRequestValid})
				return err
			}
		}},
	}
}

// granted approves r as approver and has the customer consent, so its
// grant is live.
func (w *workflow) granted(r models.AccessRequest, approver models.Staff) models.AccessRequest {
	w.t.Helper()
	l := capture{w: w}
	act := models.Act{Now: w.now, By: w.sys}
	if _, err := models.DecideRequest(w.ctx, w.db.Write, act, models.Post{Outbox: w.ob, Letters: l}, w.pol,
		models.Decision{Request: r.ID, Approve: true, Approver: approver, Note: "Looks legitimate.", Owners: []string{"owner@acme.example"}}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := models.DecideConsent(w.ctx, w.db.Write, w.now, models.Post{Outbox: w.ob, Letters: l},
		models.ConsentInput{Token: w.lastLink, Decision: models.ConsentGrant, ShownHash: "h", PageHash: "h"}, agreement); err != nil {
		w.t.Fatal(err)
	}
	return r
}
