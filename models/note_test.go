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
	"deletion_requests", "deletion_confirmations", "security_epoch",
}

// portalState is every row of the portal database, as text.
func portalState(t *testing.T, db *models.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range portalTables {
		_, rows := rawRows(t, db, "SELECT * FROM "+table+" ORDER BY 1")
		fmt.Fprintf(&b, "%s: %v\n", table, rows)
	}
	return b.String()
}

// rawRows reads every row query returns, each value as the driver gives
// it (gorm's Scan cannot take some blobs into a map).
func rawRows(t *testing.T, db *models.DB, query string) (cols []string, out [][]any) {
	t.Helper()
	rows, err := db.Read.Raw(query).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ = rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	return cols, out
}

// noteCall is a note-taking function, ready but for the note.
type noteCall func(note string) error

// noteCase is one note-taking model function: prepare makes what it acts
// on and returns the call; field is where its message goes.
type noteCase struct {
	name    string
	field   string
	prepare func() noteCall
}

// TestNotesRefuseHiddenCharacters: every model function that takes free
// text refuses a bidi override, a zero-width space, a control character
// and an over-long note with FieldErrors, writing nothing; the same call
// with a plain note then succeeds, so the refusal was the note's.
func TestNotesRefuseHiddenCharacters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		for _, c := range newNoteFixture(t, db).cases() {
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

// noteFixture is what the note-taking functions act on: the demo staff,
// registry and tenants, and a request workflow's own staff.
type noteFixture struct {
	t                            *testing.T
	ctx                          context.Context
	db                           *models.DB
	data                         *dataFixture
	w                            *workflow
	bg                           bgFixture
	act                          models.Act
	requester, approver, grantee models.Staff
	n                            int // requests made, for unique workspaces and tickets
}

func newNoteFixture(t *testing.T, db *models.DB) *noteFixture {
	t.Helper()
	f := &noteFixture{t: t, ctx: context.Background(), db: db, data: newDataFixture(t, db), w: newWorkflow(t, db), bg: newBGFixture(t, db)}
	f.w.prefix, f.w.now = "note-", demoNow
	f.act = models.Act{Now: demoNow, By: f.w.sys}
	f.requester, f.approver, f.grantee = f.w.staff(policy.TierSupport), f.w.staff(policy.TierSenior), f.w.staff(policy.TierSenior)
	return f
}

// cases are every note-taking model function.
func (f *noteFixture) cases() []noteCase {
	cases := []noteCase{
		{"approve", "note", f.decide(true)},
		{"deny", "note", f.decide(false)},
		{"cancel", "note", f.cancel},
		{"I'm done", "note", f.end(models.ActionGrantDone)},
		{"revoke", "note", f.end(models.ActionGrantRevoked)},
		{"break-glass justification", "justification", func() noteCall {
			return func(note string) error { _, err := f.openBreakglass(note); return err }
		}},
		{"break-glass review", "note", f.reviewBreakglass},
		{"reveal", "reason", f.reveal},
		{"suspend", "reason", f.staffChange(models.Suspend, false)},
		{"reactivate", "reason", f.staffChange(models.Reactivate, true)},
		{"offboard", "reason", f.staffChange(models.Offboard, false)},
	}
	return append(cases, f.retentionCases()...)
}

// pending makes a pending request.
func (f *noteFixture) pending() models.AccessRequest {
	f.t.Helper()
	f.n++
	r, err := models.CreateRequest(f.ctx, f.db.Write, models.Act{Now: f.w.now, By: f.w.sys}, models.Post{Outbox: f.w.ob, Letters: plainLetters{}}, f.w.pol, models.NewRequest{
		Workspace: fmt.Sprintf("note-ws%d", f.n), Requester: f.requester, Grantee: f.grantee,
		Reason: "Customer reports that exports fail since Monday.", Ticket: fmt.Sprintf("SUP-%d", f.n), Duration: time.Hour,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *noteFixture) decide(approve bool) func() noteCall {
	return func() noteCall {
		r := f.pending()
		return func(note string) error {
			_, err := models.DecideRequest(f.ctx, f.db.Write, f.act, models.Post{Outbox: f.w.ob, Letters: plainLetters{}}, f.w.pol,
				models.Decision{Request: r.ID, Approve: approve, Approver: f.approver, Note: note, Owners: []string{"owner@acme.example"}})
			return err
		}
	}
}

func (f *noteFixture) cancel() noteCall {
	r := f.pending()
	return func(note string) error {
		_, err := models.CancelRequest(f.ctx, f.db.Write, f.act, models.Post{Outbox: f.w.ob, Letters: plainLetters{}},
			models.Cancellation{Request: r.ID, Requester: f.requester, Note: note})
		return err
	}
}

func (f *noteFixture) end(action models.Action) func() noteCall {
	return func() noteCall {
		r := f.w.granted(f.pending(), f.approver)
		return func(note string) error {
			_, err := models.EndRequestGrant(f.ctx, f.db.Write, f.act, r.ID, note, action)
			return err
		}
	}
}

func (f *noteFixture) openBreakglass(justification string) (models.Breakglass, error) {
	in := f.bg.input("ada.sysadmin")
	in.Justification = justification
	return models.OpenBreakglass(f.ctx, f.db.Write, models.Act{Now: demoNow, By: actorOf(f.bg.staff["ada.sysadmin"])}, f.bg.post(), in)
}

func (f *noteFixture) reviewBreakglass() noteCall {
	b, err := f.openBreakglass(goodNote)
	if err != nil {
		f.t.Fatal(err)
	}
	otto := f.bg.staff["otto.sysadmin"]
	return func(note string) error {
		return models.ReviewBreakglass(f.ctx, f.db.Write, models.Act{Now: demoNow, By: actorOf(otto)}, b.ID, otto.ID, note)
	}
}

func (f *noteFixture) reveal() noteCall {
	sara := f.data.viewer("sara.senior@example.com")
	f.data.grant(sara, "acme", models.GrantScope{Tables: map[string][]int64{"members": {1}}}, false)
	return func(note string) error {
		_, err := f.data.data.RevealField(f.ctx, sara, models.DataRequest{Slug: "acme", Table: "members", Record: "1"}, "email", note)
		return err
	}
}

// staffChange is change on a new engineer, suspended first if suspended.
func (f *noteFixture) staffChange(change func(context.Context, *gorm.DB, models.Act, int64, string) error, suspended bool) func() noteCall {
	return func() noteCall {
		s := f.w.staff(policy.TierEngineer)
		if suspended {
			if err := models.Suspend(f.ctx, f.db.Write, f.act, s.ID, "On leave for a month."); err != nil {
				f.t.Fatal(err)
			}
		}
		return func(note string) error { return change(f.ctx, f.db.Write, f.act, s.ID, note) }
	}
}

// retentionCases are the legal holds and the deletion request.
func (f *noteFixture) retentionCases() []noteCase {
	return []noteCase{
		{"legal hold", "reason", func() noteCall {
			return func(note string) error {
				_, err := models.PlaceHold(f.ctx, f.db.Write, f.act, "globex", "CASE-7", note)
				return err
			}
		}},
		{"legal hold lift", "reason", func() noteCall {
			h, err := models.PlaceHold(f.ctx, f.db.Write, f.act, "globex", "CASE-8", goodNote)
			if err != nil {
				f.t.Fatal(err)
			}
			return func(note string) error {
				_, err := models.LiftHold(f.ctx, f.db.Write, f.act, "globex", h.ID, note)
				return err
			}
		}},
		{"deletion request", "note", func() noteCall {
			return func(note string) error {
				_, err := models.CreateDeletionRequest(f.ctx, f.db.Write, f.data.product.Read, f.act, models.Post{Outbox: f.w.ob, Letters: &retentionLetters{}},
					models.NewDeletionRequest{Slug: "acme", Requester: f.requester, Note: note, Valid: models.DefaultRetentionPolicy().DeletionRequestValid})
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
		models.ConsentInput{Token: w.lastLink, Decision: models.ConsentGrant, ShownHash: "h", PageHash: "h"}, models.DefaultClearance(agreement)); err != nil {
		w.t.Fatal(err)
	}
	return r
}
