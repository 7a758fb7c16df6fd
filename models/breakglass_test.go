package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// bgFixture is a database with the demo staff and an outbox.
type bgFixture struct {
	db     *models.DB
	outbox *models.Outbox
	staff  map[string]models.Staff // by local part: "ada.sysadmin"
}

func newBGFixture(t *testing.T, db *models.DB) bgFixture {
	t.Helper()
	ctx := context.Background()
	if err := demo.SeedStaff(ctx, db, t0); err != nil {
		t.Fatal(err)
	}
	ob, err := models.NewOutbox([]byte("breakglass-test-secret-of-32-bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	f := bgFixture{db: db, outbox: ob, staff: map[string]models.Staff{}}
	for _, m := range demo.Staff {
		s, err := models.FindStaffByEmail(ctx, db.Read, m.Email)
		if err != nil {
			t.Fatal(err)
		}
		f.staff[m.Email[:len(m.Email)-len("@example.com")]] = s
	}
	return f
}

// bgLetters writes a recognisable mail for each break-glass notice.
type bgLetters struct{}

func (bgLetters) Letter(_ context.Context, _ *gorm.DB, notice models.Notice) (models.Mail, error) {
	n, ok := notice.(models.BreakglassNotice)
	if !ok {
		return models.Mail{}, fmt.Errorf("no letter for %T", notice)
	}
	kind := "breakglass.owner"
	if n.Sysadmin {
		kind = "breakglass.sysadmin"
	}
	return models.Mail{Kind: kind, Subject: fmt.Sprintf("Emergency access to %s", n.Breakglass.Workspace),
		Text: fmt.Sprintf("%s opened break-glass %d", n.Opener.Name, n.Breakglass.ID), HTML: "<p>opened</p>"}, nil
}

// post is how the fixture's break-glasses tell people.
func (f bgFixture) post() models.Post { return models.Post{Outbox: f.outbox, Letters: bgLetters{}} }

func (f bgFixture) input(opener string) models.NewBreakglass {
	return models.NewBreakglass{
		Workspace: "acme", OpenerID: f.staff[opener].ID, Incident: "INC-2041",
		Justification: "Customer data corruption after the 02:00 migration, checking the affected projects.",
		Window:        time.Hour, Clearance: models.DefaultClearance(demo.AgreementVersion),
		Owners: []string{"owner@acme.example", "admin@acme.example"},
	}
}

func actorOf(s models.Staff) models.Actor {
	return models.Actor{Email: s.Email, Tier: string(s.Tier), IP: "192.0.2.7"}
}

// counts is what a break-glass writes: rows, grants, mails, audit events.
func (f bgFixture) counts(t *testing.T) [4]int64 {
	t.Helper()
	var c [4]int64
	for i, table := range []string{"breakglass", "grants", "mail_outbox", "audit_events"} {
		if err := f.db.Read.Table(table).Count(&c[i]).Error; err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestBreakglassOpenRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newBGFixture(t, db)
		ctx := context.Background()
		tests := []struct {
			name    string
			opener  string
			change  func(*models.NewBreakglass)
			field   string // a FieldErrors message for this field, or
			refused bool   // ErrBreakglassRefused
		}{
			{"senior", "sara.senior", nil, "", true},
			{"support", "sam.support", nil, "", true},
			{"auditor", "aud.auditor", nil, "", true},
			{"offboarded sysadmin", "otto.sysadmin", nil, "", true},
			{"outdated agreement", "ada.sysadmin", func(n *models.NewBreakglass) { n.Clearance.Agreement = "2027-1" }, "", true},
			// The demo staff's training is two months old.
			{"training lapsed", "ada.sysadmin", func(n *models.NewBreakglass) { n.Clearance.TrainingValidFor = 30 * models.Day }, "", true},
			{"no justification", "ada.sysadmin", func(n *models.NewBreakglass) { n.Justification = "" }, "justification", false},
			{"short justification", "ada.sysadmin", func(n *models.NewBreakglass) { n.Justification = "need to look" }, "justification", false},
			{"repeated word", "ada.sysadmin", func(n *models.NewBreakglass) { n.Justification = "urgent urgent urgent urgent urgent" }, "justification", false},
			{"no incident", "ada.sysadmin", func(n *models.NewBreakglass) { n.Incident = "" }, "incident", false},
			{"incident with spaces", "ada.sysadmin", func(n *models.NewBreakglass) { n.Incident = "INC 2041" }, "incident", false},
			{"incident markup", "ada.sysadmin", func(n *models.NewBreakglass) { n.Incident = "<b>x</b>" }, "incident", false},
			{"no workspace", "ada.sysadmin", func(n *models.NewBreakglass) { n.Workspace = "" }, "workspace", false},
		}
		if err := models.Offboard(ctx, db.Write, models.Act{Now: t0, By: sys}, f.staff["otto.sysadmin"].ID, "left"); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := f.input(tt.opener)
				if tt.change != nil {
					tt.change(&in)
				}
				before := f.counts(t)
				_, err := models.OpenBreakglass(ctx, db.Write, models.Act{Now: t0, By: actorOf(f.staff[tt.opener])}, f.post(), in)
				var inv models.FieldErrors
				switch {
				case err == nil:
					t.Fatal("opened, want refused")
				case tt.refused && !errors.Is(err, models.ErrBreakglassRefused):
					t.Errorf("err = %v, want ErrBreakglassRefused", err)
				case !tt.refused && (!errors.As(err, &inv) || inv[tt.field] == ""):
					t.Errorf("err = %v, want FieldErrors on %s", err, tt.field)
				}
				if after := f.counts(t); after != before {
					t.Errorf("refusal wrote rows (breakglass, grants, mail, audit): %v → %v", before, after)
				}
			})
		}
	})
}

func TestBreakglassOpen(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newBGFixture(t, db)
		ctx := context.Background()
		ada := f.staff["ada.sysadmin"]
		before := f.counts(t)
		b, err := models.OpenBreakglass(ctx, db.Write, models.Act{Now: t0, By: actorOf(ada)}, f.post(), f.input("ada.sysadmin"))
		if err != nil {
			t.Fatal(err)
		}
		if after := f.counts(t); after != [4]int64{before[0] + 1, before[1] + 1, before[2] + 3, before[3] + 1} {
			t.Errorf("rows (breakglass, grants, mail, audit) %v → %v, want +1 +1 +3 +1", before, after)
		}
		// The grant: the whole workspace, unmasked, for exactly the window.
		g, scope, err := models.GrantFor(ctx, db.Read, t0, models.GrantQuery{StaffID: ada.ID, Workspace: "acme", Table: "documents", Record: 0})
		if err != nil {
			t.Fatal(err)
		}
		if b.GrantID == nil || g.ID != *b.GrantID || g.BreakglassID == nil || *g.BreakglassID != b.ID {
			t.Errorf("grant %+v and break-glass %+v do not point at each other", g, b)
		}
		if !scope.Whole() || !g.Unmask || !g.EndsAt.Equal(t0.Add(time.Hour)) || !b.EndsAt.Equal(g.EndsAt) {
			t.Errorf("grant %+v: want the whole workspace, unmasked, until %s", g, t0.Add(time.Hour))
		}
		if _, _, err := models.GrantFor(ctx, db.Read, t0.Add(time.Hour), models.GrantQuery{StaffID: ada.ID, Workspace: "acme", Table: "documents", Record: 0}); !errors.Is(err, models.ErrNoGrant) {
			t.Errorf("grant at the end of the window: err = %v, want ErrNoGrant", err)
		}
		if _, _, err := models.GrantFor(ctx, db.Read, t0, models.GrantQuery{StaffID: ada.ID, Workspace: "globex", Table: "documents", Record: 0}); !errors.Is(err, models.ErrNoGrant) {
			t.Errorf("grant on another workspace: err = %v, want ErrNoGrant", err)
		}
		// Mail: each owner, and every other active sysadmin, not the opener.
		var mails []struct{ Kind, ToAddr, Workspace string }
		if err := db.Read.Table("mail_outbox").Order("to_addr").Find(&mails).Error; err != nil {
			t.Fatal(err)
		}
		want := []struct{ Kind, ToAddr, Workspace string }{
			{"breakglass.owner", "admin@acme.example", "acme"},
			{"breakglass.sysadmin", "otto.sysadmin@example.com", "acme"},
			{"breakglass.owner", "owner@acme.example", "acme"},
		}
		if !slices.Equal(mails, want) {
			t.Errorf("mails = %+v, want %+v", mails, want)
		}
		// The audit event, in the chain, naming the break-glass and grant.
		evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Action: models.ActionBreakglassOpened})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Actor != ada.Email || evs[0].Workspace != "acme" || evs[0].BreakglassID == nil || *evs[0].BreakglassID != b.ID ||
			evs[0].GrantID == nil || *evs[0].GrantID != g.ID || evs[0].Reason != b.Justification {
			t.Errorf("breakglass.opened events = %+v", evs)
		}
		// Unreviewed until reviewed.
		un, err := models.UnreviewedBreakglass(ctx, db.Read, models.WorkspaceSet{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(un) != 1 || un[0].ID != b.ID || un[0].Opener.Email != ada.Email || !un[0].Open(t0) || un[0].Open(t0.Add(time.Hour)) {
			t.Errorf("unreviewed = %+v, want the one just opened, open until its end", un)
		}
	})
}

func TestBreakglassReview(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newBGFixture(t, db)
		ctx := context.Background()
		ada, otto, sara := f.staff["ada.sysadmin"], f.staff["otto.sysadmin"], f.staff["sara.senior"]
		b, err := models.OpenBreakglass(ctx, db.Write, models.Act{Now: t0, By: actorOf(ada)}, f.post(), f.input("ada.sysadmin"))
		if err != nil {
			t.Fatal(err)
		}
		note := "Checked the incident ticket and the viewed records; justified."
		later := t0.Add(2 * time.Hour)
		refusals := []struct {
			name     string
			reviewer models.Staff
			note     string
			want     error
		}{
			{"by the opener", ada, note, models.ErrBreakglassRefused},
			{"by a senior", sara, note, models.ErrBreakglassRefused},
			{"without a note", otto, "  ", models.Invalid("note", "")},
			{"with a word", otto, "fine fine fine", models.Invalid("note", "")},
		}
		for _, tt := range refusals {
			before := f.counts(t)
			err := models.ReviewBreakglass(ctx, db.Write, models.Act{Now: later, By: actorOf(tt.reviewer)}, b.ID, tt.reviewer.ID, tt.note)
			var inv models.FieldErrors
			if _, invalid := tt.want.(models.FieldErrors); invalid {
				if !errors.As(err, &inv) || inv["note"] == "" {
					t.Errorf("review %s: err = %v, want a message on the note", tt.name, err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Errorf("review %s: err = %v, want %v", tt.name, err, tt.want)
			}
			if after := f.counts(t); after != before {
				t.Errorf("review %s wrote rows: %v → %v", tt.name, before, after)
			}
		}
		if err := models.ReviewBreakglass(ctx, db.Write, models.Act{Now: later, By: actorOf(otto)}, b.ID, otto.ID, note); err != nil {
			t.Fatal(err)
		}
		use, err := models.FindBreakglass(ctx, db.Read, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !use.Reviewed() || use.Reviewer == nil || use.Reviewer.ID != otto.ID || use.ReviewNote != note || !use.ReviewedAt.Equal(later) {
			t.Errorf("after review: %+v", use.Breakglass)
		}
		if err := models.ReviewBreakglass(ctx, db.Write, models.Act{Now: later, By: actorOf(otto)}, b.ID, otto.ID, note); !errors.Is(err, models.ErrConflict) {
			t.Errorf("second review: err = %v, want ErrConflict", err)
		}
		if un, err := models.UnreviewedBreakglass(ctx, db.Read, models.WorkspaceSet{}, 10); err != nil || len(un) != 0 {
			t.Errorf("unreviewed after review = %+v, %v; want none", un, err)
		}
		evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Action: models.ActionBreakglassReviewed})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Actor != otto.Email || evs[0].Target != ada.Email || evs[0].Reason != note || evs[0].BreakglassID == nil || *evs[0].BreakglassID != b.ID {
			t.Errorf("breakglass.reviewed events = %+v, want otto's one", evs)
		}
		if err := models.ReviewBreakglass(ctx, db.Write, models.Act{Now: later, By: actorOf(otto)}, b.ID+100, otto.ID, note); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("review of an unknown break-glass: err = %v, want ErrNotFound", err)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

// Concurrent reviews by two other sysadmins: exactly one is recorded.
func TestBreakglassConcurrentReview(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		f := newBGFixture(t, db)
		ctx := context.Background()
		ada, otto := f.staff["ada.sysadmin"], f.staff["otto.sysadmin"]
		third, err := models.CreateStaff(ctx, db.Write, t0, sys, models.Staff{Email: "tess.sysadmin@example.com", Name: "Tess", Tier: policy.TierSysadmin})
		if err != nil {
			t.Fatal(err)
		}
		b, err := models.OpenBreakglass(ctx, db.Write, models.Act{Now: t0, By: actorOf(ada)}, f.post(), f.input("ada.sysadmin"))
		if err != nil {
			t.Fatal(err)
		}
		reviewers := []models.Staff{otto, third, otto, third, otto, third, otto, third}
		errs := make([]error, len(reviewers))
		var wg sync.WaitGroup
		for i, r := range reviewers {
			wg.Go(func() {
				errs[i] = models.ReviewBreakglass(ctx, db.Write, models.Act{Now: t0.Add(time.Minute), By: actorOf(r)}, b.ID, r.ID, "Looked at the incident and what was read; fine.")
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, models.ErrConflict):
				t.Errorf("losing review: err = %v, want ErrConflict", err)
			}
		}
		if ok != 1 {
			t.Errorf("successful reviews = %d, want exactly 1", ok)
		}
		evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Action: models.ActionBreakglassReviewed})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Errorf("breakglass.reviewed events = %d, want 1", len(evs))
		}
	})
}
