package models_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

func TestClearanceTraining(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	cl := models.Clearance{Agreement: "2026-1", TrainingValidFor: 365 * models.Day}
	signed := now.AddDate(0, -1, 0)
	at := func(d time.Time) *time.Time { return &d }
	for _, tc := range []struct {
		name    string
		s       models.Staff
		cl      models.Clearance
		lacking string
	}{
		{"cleared", models.Staff{AgreementVersion: "2026-1", AgreementSignedAt: &signed, TrainingAt: at(now.Add(-364 * models.Day))}, cl, ""},
		{"lapses this instant", models.Staff{AgreementVersion: "2026-1", AgreementSignedAt: &signed, TrainingAt: at(now.Add(-365 * models.Day))}, cl,
			"has security training that lapsed on 2026-12-05."},
		{"lapsed", models.Staff{AgreementVersion: "2026-1", AgreementSignedAt: &signed, TrainingAt: at(now.AddDate(-2, 0, 0))}, cl,
			"has security training that lapsed on 2025-12-05."},
		{"never trained", models.Staff{AgreementVersion: "2026-1", AgreementSignedAt: &signed}, cl, "has no security training on record."},
		{"agreement first", models.Staff{AgreementVersion: "2025-1", AgreementSignedAt: &signed}, cl, "has not signed the current confidentiality agreement."},
		{"no validity counts nothing", models.Staff{AgreementVersion: "2026-1", AgreementSignedAt: &signed, TrainingAt: at(now)},
			models.Clearance{Agreement: "2026-1"}, "has security training that lapsed on 2026-12-05."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cl.Lacking(tc.s, now); got != tc.lacking {
				t.Errorf("Lacking = %q, want %q", got, tc.lacking)
			}
			if got := tc.cl.Cleared(tc.s, now); got != (tc.lacking == "") {
				t.Errorf("Cleared = %t", got)
			}
		})
	}
}

// TestTrainingEnforcedWhereTheAgreementIs: lapsed training stops a
// person asking for access, being named grantee (in the form's list, at
// the request, at approval and at the customer's consent), approving and
// opening break-glass; nothing is written by a refusal.
func TestTrainingEnforcedWhereTheAgreementIs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		w := newWorkflow(t, db)
		l := capture{w: w}
		post := models.Post{Outbox: w.ob, Letters: l}
		ctx := context.Background()
		requester, approver, grantee := w.staff(policy.TierSupport), w.staff(policy.TierSenior), w.staff(policy.TierSenior)
		lapsedSupport, lapsedSenior := w.staff(policy.TierSupport), w.staff(policy.TierSenior)
		for _, s := range []*models.Staff{&lapsedSupport, &lapsedSenior} {
			if err := models.RecordTraining(ctx, db.Write, models.Act{Now: w.now, By: w.sys}, s.ID, w.now.Add(-400*models.Day)); err != nil {
				t.Fatal(err)
			}
			var err error
			if *s, err = models.FindStaff(ctx, db.Read, s.ID); err != nil {
				t.Fatal(err)
			}
		}
		ask := func(requester, grantee models.Staff) (models.AccessRequest, error) {
			return models.CreateRequest(ctx, db.Write, models.Act{Now: w.now, By: w.sys}, models.Post{Outbox: w.ob, Letters: plainLetters{}}, w.pol, models.NewRequest{
				Workspace: "acme", Requester: requester, Grantee: grantee, Reason: "Customer reports that exports fail since Monday.",
				Ticket: "SUP-1", Duration: time.Hour,
			})
		}
		before := count(t, db, "audit_events")
		var fe models.FieldErrors
		if _, err := ask(lapsedSupport, grantee); !errors.As(err, &fe) || fe["requester"] == "" {
			t.Errorf("request by a person with lapsed training: %v, want a requester error", err)
		}
		if _, err := ask(requester, lapsedSenior); !errors.As(err, &fe) || fe["grantee"] != lapsedSenior.Email+" has security training that lapsed on 2026-01-25." {
			t.Errorf("request naming a grantee with lapsed training: %v (%q)", err, fe["grantee"])
		}
		if n := count(t, db, "access_requests"); n != 0 {
			t.Errorf("%d requests stored by refusals, want 0", n)
		}
		if n := count(t, db, "audit_events"); n != before {
			t.Errorf("refusals wrote %d audit events, want none", n-before)
		}

		// The request form offers only grantees who are cleared.
		list, err := models.Grantees(ctx, db.Read, w.pol.Clearance, w.now)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, 0, len(list))
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		if !slices.Contains(ids, grantee.ID) || !slices.Contains(ids, approver.ID) || slices.Contains(ids, lapsedSenior.ID) {
			t.Errorf("grantees = %v; want %d and %d, not %d", ids, grantee.ID, approver.ID, lapsedSenior.ID)
		}

		// An approver with lapsed training cannot decide.
		r, err := ask(requester, grantee)
		if err != nil {
			t.Fatal(err)
		}
		decide := func(by models.Staff, at time.Time) error {
			_, err := models.DecideRequest(ctx, db.Write, models.Act{Now: at, By: w.sys}, post, w.pol,
				models.Decision{Request: r.ID, Approve: true, Approver: by, Note: "Looks legitimate.", Owners: []string{"owner@acme.example"}})
			return err
		}
		if err := decide(lapsedSenior, w.now); !errors.Is(err, models.ErrNotCleared) {
			t.Errorf("approval by a senior with lapsed training: %v, want ErrNotCleared", err)
		}
		if got, _ := models.FindRequest(ctx, db.Read, r.ID); got.Status != models.RequestPending {
			t.Errorf("request after a refused approval is %s, want pending", got.Status)
		}

		// Training that lapses between the request and the consent stops
		// the grant: the grantee's, checked again when the customer agrees.
		if err := models.RecordTraining(ctx, db.Write, models.Act{Now: w.now, By: w.sys}, grantee.ID, w.now.Add(-365*models.Day+time.Hour)); err != nil {
			t.Fatal(err)
		}
		w.lastLink = ""
		if err := decide(approver, w.now); err != nil {
			t.Fatal(err)
		}
		consentAt := w.now.Add(2 * time.Hour)
		_, err = models.DecideConsent(ctx, db.Write, consentAt, post, models.ConsentInput{Token: w.lastLink, Decision: models.ConsentGrant, ShownHash: "h", PageHash: "h"}, w.pol.Clearance)
		if !errors.Is(err, models.ErrConflict) {
			t.Errorf("consent for a grantee whose training lapsed: %v, want a conflict", err)
		}
		if n := count(t, db, "grants"); n != 0 {
			t.Errorf("%d grants made, want 0", n)
		}
		// Once training is recorded again, the same link grants.
		if err := models.RecordTraining(ctx, db.Write, models.Act{Now: consentAt, By: w.sys}, grantee.ID, consentAt); err != nil {
			t.Fatal(err)
		}
		if _, err := models.DecideConsent(ctx, db.Write, consentAt, post, models.ConsentInput{Token: w.lastLink, Decision: models.ConsentGrant, ShownHash: "h", PageHash: "h"}, w.pol.Clearance); err != nil {
			t.Errorf("consent once training is current: %v", err)
		}

		// The counts and the list of who is due.
		counts, err := models.CountStaff(ctx, db.Read, w.pol.Clearance, consentAt)
		if err != nil {
			t.Fatal(err)
		}
		if counts.TrainingLapsed != 2 {
			t.Errorf("staff with lapsed training = %d, want 2", counts.TrainingLapsed)
		}
		// Training of everyone else was completed a month before w.now:
		// none is due within 30 days, until 11 months later.
		due, err := models.TrainingDue(ctx, db.Read, w.pol.Clearance, w.now, models.TrainingDueWithin)
		if err != nil {
			t.Fatal(err)
		}
		if got := staffIDs(due); !slices.Equal(got, []int64{lapsedSupport.ID, lapsedSenior.ID}) {
			t.Errorf("due now = %v, want the two lapsed (%d, %d)", got, lapsedSupport.ID, lapsedSenior.ID)
		}
		later := w.now.Add(310 * models.Day)
		due, err = models.TrainingDue(ctx, db.Read, w.pol.Clearance, later, models.TrainingDueWithin)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := staffIDs(due), []int64{lapsedSupport.ID, lapsedSenior.ID, requester.ID, approver.ID}; !slices.Equal(got, want) {
			t.Errorf("due at %v = %v; want %v: the two lapsed first, then the two trained a month before %v, not %d (trained at %v)",
				later, got, want, w.now, grantee.ID, consentAt)
		}
	})
}

func staffIDs(s []models.Staff) []int64 {
	ids := make([]int64, 0, len(s))
	for _, m := range s {
		ids = append(ids, m.ID)
	}
	return ids
}

// TestTenantDataNeedsCurrentTraining: a live grant is not enough once the
// grantee's training lapses; the read and a reveal are refused and
// recorded, and nothing is shown.
func TestTenantDataNeedsCurrentTraining(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newDataFixture(t, db)
		ctx := context.Background()
		sara := f.viewer("sara.senior@example.com")
		req := models.DataRequest{Slug: "acme", Table: "members"}
		f.grant(sara, "acme", models.GrantScope{}, false)
		if page, err := f.data.ReadTable(ctx, sara, req); err != nil || len(page.Rows) == 0 {
			t.Fatalf("read with current training: %d rows, %v", len(page.Rows), err)
		}
		// The demo staff were trained two months before demoNow.
		f.now = demoNow.Add(306 * models.Day)
		f.grant(sara, "acme", models.GrantScope{}, false)
		page, err := f.data.ReadTable(ctx, sara, req)
		if !errors.Is(err, models.ErrNotCleared) || len(page.Rows) != 0 {
			t.Errorf("read with lapsed training: %d rows, %v; want none and ErrNotCleared", len(page.Rows), err)
		}
		if ev := f.newestEvent(); ev.Action != models.ActionDataRefused || ev.Reason != "not cleared" || ev.Actor != sara.Actor.Email {
			t.Errorf("newest event %s %q by %s; want data.refused \"not cleared\" by %s", ev.Action, ev.Reason, ev.Actor, sara.Actor.Email)
		}
		if _, err := f.data.RevealField(ctx, sara, models.DataRequest{Slug: "acme", Table: "members", Record: "1"}, "email", "Ticket OPS-1 asks us to check it."); !errors.Is(err, models.ErrNotCleared) {
			t.Errorf("reveal with lapsed training: %v, want ErrNotCleared", err)
		}
		if n := count(t, db, "reveals"); n != 0 {
			t.Errorf("%d reveals stored, want 0", n)
		}
		// Training recorded again: the same grant reads.
		if err := models.RecordTraining(ctx, db.Write, models.Act{Now: f.now, By: sys}, sara.StaffID, f.now); err != nil {
			t.Fatal(err)
		}
		if page, err := f.data.ReadTable(ctx, sara, req); err != nil || len(page.Rows) == 0 {
			t.Errorf("read after training is recorded: %d rows, %v", len(page.Rows), err)
		}
	})
}
