package models_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"

	"gorm.io/gorm"
)

// retentionBase is the fake clock's origin: a free workspace's last login.
var retentionBase = time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC)

func dayN(n int) time.Time { return retentionBase.Add(time.Duration(n) * models.Day) }

func ptr(t time.Time) *time.Time { return &t }

func TestEvaluateRetention(t *testing.T) {
	p := models.DefaultRetentionPolicy()
	free := models.Workspace{Slug: "idle", Plan: "free", Status: "free", MemberCount: 2, CreatedAt: dayN(-400), LastLoginAt: ptr(retentionBase), SubscriptionState: "none"}
	cancelled := models.Workspace{Slug: "gone", Plan: "team", Status: "cancelled", MemberCount: 4, CreatedAt: dayN(-400), LastLoginAt: ptr(dayN(-5)), CancelledAt: ptr(retentionBase), SubscriptionState: "cancelled"}
	paid := models.Workspace{Slug: "paid", Plan: "business", Status: "active", MemberCount: 9, CreatedAt: dayN(-400), LastLoginAt: ptr(dayN(300)), SubscriptionState: "active"}
	noticed := models.RetentionRecord{NoticedAt: ptr(dayN(150))}
	marked := models.RetentionRecord{NoticedAt: ptr(dayN(150)), MarkedAt: ptr(dayN(180)), SecondNoticedAt: ptr(dayN(180))}
	with := func(w models.Workspace, f func(*models.Workspace)) models.Workspace { f(&w); return w }
	hold := models.LegalHold{ID: 7, Slug: "gone", Reference: "CASE-42", Reason: "litigation hold from counsel", PlacedBy: "ada.sysadmin@example.com", PlacedAt: dayN(10)}
	lifted := hold
	lifted.LiftedAt, lifted.LiftedBy = ptr(dayN(20)), "otto.sysadmin@example.com"
	confirmed := &models.DeletionRequest{ID: 3, Slug: "paid", Status: models.DeletionConfirmed, NeededConfirmations: 2, CreatedAt: dayN(100), ExpiresAt: dayN(114), ConfirmedAt: ptr(dayN(101)), UpdatedAt: dayN(101)}
	pending := &models.DeletionRequest{ID: 4, Slug: "paid", Status: models.DeletionPending, NeededConfirmations: 2, CreatedAt: dayN(100), ExpiresAt: dayN(114), UpdatedAt: dayN(100)}

	tests := []struct {
		name    string
		w       models.Workspace
		rec     models.RetentionRecord
		holds   []models.LegalHold
		req     *models.DeletionRequest
		now     time.Time
		state   models.RetentionState
		next    models.RetentionAction
		nextAt  time.Time // checked when not zero
		due     bool
		explain []string // substrings of the explanation
	}{
		{name: "free day 149", w: free, now: dayN(149), state: models.RetentionActive, next: models.NextNotice, nextAt: dayN(150),
			explain: []string{"Free workspace; nobody has logged in since 2026-01-03 (day 149)", "first notice at day 150 (2026-06-02)", "deletion due at day 270 (2026-09-30)"}},
		{name: "free day 150", w: free, now: dayN(150), state: models.RetentionNoticeDue, next: models.NextNotice, nextAt: dayN(150), due: true},
		{name: "free day 179, noticed", w: free, rec: noticed, now: dayN(179), state: models.RetentionNoticed, next: models.NextMark, nextAt: dayN(180),
			explain: []string{"sent 2026-06-02", "second notice at day 180 (2026-07-02)"}},
		{name: "free day 180, noticed", w: free, rec: noticed, now: dayN(180), state: models.RetentionMarkDue, next: models.NextMark, nextAt: dayN(180), due: true},
		{name: "free day 180, no notice yet: the notice comes first", w: free, now: dayN(180), state: models.RetentionNoticeDue, next: models.NextNotice, due: true},
		{name: "free, late notice moves the mark", w: free, rec: models.RetentionRecord{NoticedAt: ptr(dayN(175))}, now: dayN(200), state: models.RetentionNoticed, next: models.NextMark, nextAt: dayN(205)},
		{name: "free day 269, marked", w: free, rec: marked, now: dayN(269), state: models.RetentionMarked, next: models.NextDelete, nextAt: dayN(270)},
		{name: "free day 270, marked", w: free, rec: marked, now: dayN(270), state: models.RetentionDeletionDue, next: models.NextDelete, nextAt: dayN(270), due: true,
			explain: []string{"waits for a sysadmin"}},
		{name: "free day 300, never noticed: no deletion without notices", w: free, now: dayN(300), state: models.RetentionNoticeDue, next: models.NextNotice, due: true},
		{name: "login at day 200 resets the clock", w: with(free, func(w *models.Workspace) { w.LastLoginAt = ptr(dayN(200)) }), rec: marked, now: dayN(270),
			state: models.RetentionActive, next: models.NextNotice, nextAt: dayN(350), explain: []string{"since 2026-07-22 (day 70)", "no longer count"}},
		{name: "after a reset the first notice is due again", w: with(free, func(w *models.Workspace) { w.LastLoginAt = ptr(dayN(200)) }), rec: marked, now: dayN(350),
			state: models.RetentionNoticeDue, next: models.NextNotice, nextAt: dayN(350), due: true},
		{name: "never logged in: the clock runs from creation", w: with(free, func(w *models.Workspace) { w.LastLoginAt, w.CreatedAt = nil, retentionBase }), now: dayN(150),
			state: models.RetentionNoticeDue, next: models.NextNotice, due: true, explain: []string{"since it was created on 2026-01-03"}},
		{name: "cancelled day 89", w: cancelled, now: dayN(89), state: models.RetentionCancelled, next: models.NextDelete, nextAt: dayN(90),
			explain: []string{"cancelled on 2026-01-03 (89 days ago)", "kept until 2026-04-03 (day 90)"}},
		{name: "cancelled day 90", w: cancelled, now: dayN(90), state: models.RetentionDeletionDue, next: models.NextDelete, nextAt: dayN(90), due: true},
		{name: "reactivated subscription", w: with(cancelled, func(w *models.Workspace) { w.Status, w.SubscriptionState = "active", "active" }), now: dayN(200),
			state: models.RetentionActive, next: models.NextNone, explain: []string{"reactivated"}},
		{name: "paid and active", w: paid, now: dayN(400), state: models.RetentionActive, next: models.NextNone},
		{name: "held", w: cancelled, holds: []models.LegalHold{hold}, now: dayN(200), state: models.RetentionHeld, next: models.NextNone,
			explain: []string{"Legal hold CASE-42 (litigation hold from counsel)", "ada.sysadmin@example.com", "Without the hold"}},
		{name: "lifted hold", w: cancelled, holds: []models.LegalHold{lifted}, now: dayN(200), state: models.RetentionDeletionDue, next: models.NextDelete, due: true},
		{name: "another workspace's hold", w: free, holds: []models.LegalHold{hold}, now: dayN(150), state: models.RetentionNoticeDue, next: models.NextNotice, due: true},
		{name: "confirmed request", w: paid, req: confirmed, now: dayN(102), state: models.RetentionDeletionDue, next: models.NextDelete, nextAt: dayN(101), due: true,
			explain: []string{"request #3", "two different owners"}},
		{name: "confirmed request under a hold", w: paid, req: confirmed, holds: []models.LegalHold{{Slug: "paid", Reference: "LEGAL-1", Reason: "regulator asked", PlacedAt: dayN(50)}}, now: dayN(102),
			state: models.RetentionHeld, next: models.NextNone},
		{name: "pending request", w: paid, req: pending, now: dayN(102), state: models.RetentionDeletionRequested, next: models.NextNone,
			explain: []string{"needs two different owners' confirmation by 2026-04-27"}},
		{name: "pending request past its expiry", w: paid, req: pending, now: dayN(114), state: models.RetentionActive, next: models.NextNone},
		{name: "deleted", w: with(paid, func(w *models.Workspace) { w.Status = "deleted" }), now: dayN(102), state: models.RetentionDeleted, next: models.NextNone},
		{name: "deleted record", w: cancelled, rec: models.RetentionRecord{DeletedAt: ptr(dayN(95))}, holds: []models.LegalHold{hold}, now: dayN(102),
			state: models.RetentionDeleted, next: models.NextNone, explain: []string{"Deleted on 2026-04-08"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := models.EvaluateRetention(tc.w, tc.rec, tc.holds, tc.req, tc.now, p)
			if got.State != tc.state || got.Next != tc.next || got.Due != tc.due {
				t.Errorf("state, next, due = %s, %q, %v; want %s, %q, %v\n%s", got.State, got.Next, got.Due, tc.state, tc.next, tc.due, got.Explanation)
			}
			if !tc.nextAt.IsZero() && !got.NextAt.Equal(tc.nextAt) {
				t.Errorf("next at = %s, want %s", got.NextAt, tc.nextAt)
			}
			if got.Rule == "" || got.Explanation == "" {
				t.Errorf("rule %q, explanation %q: want both", got.Rule, got.Explanation)
			}
			for _, s := range tc.explain {
				if !strings.Contains(got.Explanation, s) {
					t.Errorf("explanation %q does not say %q", got.Explanation, s)
				}
			}
			if (tc.state == models.RetentionHeld) != (got.Hold != nil) {
				t.Errorf("hold = %v for state %s", got.Hold, got.State)
			}
		})
	}
}

func TestRetentionPolicyDefaults(t *testing.T) {
	p := models.DefaultRetentionPolicy()
	got := []time.Duration{p.CancelledKeep, p.FreeNotice, p.FreeMark, p.FreeDelete, p.DeletionRequestValid}
	want := []time.Duration{90 * models.Day, 150 * models.Day, 180 * models.Day, 270 * models.Day, 14 * models.Day}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("period %d = %s, want %s", i, got[i], want[i])
		}
	}
	if err := p.Check(); err != nil {
		t.Error(err)
	}
	p.FreeMark = p.FreeDelete
	if err := p.Check(); err == nil {
		t.Error("a policy marking at the deletion day passed its check")
	}
}

// retentionLetters writes minimal mails and keeps the confirmation
// tokens, by recipient, so tests can follow the links.
type retentionLetters struct {
	mu     sync.Mutex
	tokens map[string]string
}

func (l *retentionLetters) Letter(_ context.Context, _ *gorm.DB, n models.Notice) (models.Mail, error) {
	switch n := n.(type) {
	case models.RetentionNotice:
		kind := "retention.notice"
		if n.Status.Next == models.NextMark {
			kind = "retention.second_notice"
		}
		return models.Mail{Kind: kind, Subject: "About " + n.Workspace.Name, Text: "Deletion due on " + n.Status.DeleteAt.Format(time.DateOnly)}, nil
	case models.DeletionLinkNotice:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.tokens == nil {
			l.tokens = map[string]string{}
		}
		l.tokens[n.Owner] = n.Token
		return models.Mail{Kind: "deletion.confirm", Subject: fmt.Sprintf("Delete %s? (request %d)", n.Workspace.Name, n.Request.ID), Text: "/deletion/" + n.Token}, nil
	}
	return models.Mail{}, fmt.Errorf("no letter for %T", n)
}

func (l *retentionLetters) token(t *testing.T, owner string) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	tok, ok := l.tokens[owner]
	if !ok {
		t.Fatalf("no confirmation link was written to %s", owner)
	}
	return tok
}

// demoNow is the demo registry's "now".
var demoNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// retentionStores makes the product database (the demo registry) and the
// demo data of slugs on the portal's engine: PostgreSQL schemas in the
// portal's test database, or SQLite files in a directory of their own. It
// returns the product database and the SQLite directory ("" on
// PostgreSQL).
func retentionStores(t *testing.T, db *models.DB, slugs ...string) (*models.DB, string) {
	t.Helper()
	ctx := context.Background()
	product, dir := db, ""
	target := demo.TenantTarget{Postgres: db.Write}
	if db.Dialect == models.SQLite {
		base := t.TempDir()
		var err error
		if product, err = models.Open(ctx, filepath.Join(base, "product.db")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { product.Close() })
		dir = filepath.Join(base, "tenants")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		target = demo.TenantTarget{SQLiteDir: dir}
	}
	if err := demo.SeedProduct(ctx, product.Write, demoNow); err != nil {
		t.Fatal(err)
	}
	if err := demo.SeedTenants(ctx, target, slugs, demoNow); err != nil {
		t.Fatal(err)
	}
	return product, dir
}

// mailsTo counts the outbox's mails of kind by workspace and recipient.
func mailsTo(t *testing.T, db *models.DB, kind string) map[string]int {
	t.Helper()
	var rows []struct{ Workspace, ToAddr string }
	if err := db.Read.Raw("SELECT workspace, to_addr FROM mail_outbox WHERE kind = ?", kind).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Workspace+" "+r.ToAddr]++
	}
	return out
}

func TestRetentionRunConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, _ := retentionStores(t, db)
		ob := newOutbox(t)
		l := &retentionLetters{}
		p := models.DefaultRetentionPolicy()
		run := func(now time.Time) models.RetentionRun {
			t.Helper()
			var wg sync.WaitGroup
			runs := make([]models.RetentionRun, 2)
			errs := make([]error, 2)
			for i := range runs {
				wg.Go(func() {
					runs[i], errs[i] = models.RunRetention(ctx, db.Write, product.Read, now, p, models.Post{Outbox: ob, Letters: l})
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			return models.RetentionRun{Noticed: runs[0].Noticed + runs[1].Noticed, Marked: runs[0].Marked + runs[1].Marked, DeletionDue: runs[0].DeletionDue}
		}

		// The demo's idle free workspaces get their first notice, one
		// mail per owner, whatever the number of runs.
		got := run(demoNow)
		if got.Noticed != 6 || got.Marked != 0 {
			t.Errorf("first runs: %+v, want 6 notices", got)
		}
		wantFirst := map[string]int{
			"dunder michael@dunder.example": 1, "dunder pam@dunder.example": 1, "prestige brennan@prestige.example": 1,
			"gringotts griphook@gringotts.example": 1, "monsters mike@monsters.example": 1, "nakatomi takagi@nakatomi.example": 1,
			"initrode owner@initrode.example": 1,
		}
		if m := mailsTo(t, db, "retention.notice"); fmt.Sprint(m) != fmt.Sprint(wantFirst) {
			t.Errorf("first notices %v, want %v", m, wantFirst)
		}
		if got := run(demoNow.Add(time.Hour)); got.Noticed != 0 {
			t.Errorf("an hour later %d more notices, want none", got.Noticed)
		}

		// 30 days on: marked with a second notice, and oceanic (day 179)
		// gets its first.
		got = run(demoNow.Add(30 * models.Day))
		if got.Noticed != 1 || got.Marked != 6 {
			t.Errorf("runs 30 days later: %+v, want 1 notice and 6 marks", got)
		}
		if m := mailsTo(t, db, "retention.second_notice"); fmt.Sprint(m) != fmt.Sprint(wantFirst) {
			t.Errorf("second notices %v, want %v", m, wantFirst)
		}
		if m := mailsTo(t, db, "retention.notice"); m["oceanic ops@oceanic.example"] != 1 || len(m) != 8 {
			t.Errorf("first notices now %v, want oceanic's added once", m)
		}
		var events int64
		db.Read.Model(&models.AuditEvent{}).Where("action IN ?", []models.Action{models.ActionRetentionNoticed, models.ActionRetentionMarked}).Count(&events)
		if events != 13 {
			t.Errorf("%d retention audit events, want 13 (7 notices, 6 marks)", events)
		}

		// 90 days after the marks, deletion is due, and nothing is deleted.
		got = run(demoNow.Add(120 * models.Day))
		st, err := models.WorkspaceRetention(ctx, db.Read, product.Read, demoNow.Add(120*models.Day), p, "monsters")
		if err != nil {
			t.Fatal(err)
		}
		if st.State != models.RetentionDeletionDue || got.DeletionDue < 6 {
			t.Errorf("monsters is %s (%s); %d due for deletion, want at least 6", st.State, st.Explanation, got.DeletionDue)
		}
		if w, err := models.FindWorkspace(ctx, product.Read, "monsters"); err != nil || w.Status != "free" {
			t.Errorf("monsters after the job: %+v, %v; the job must never delete", w, err)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

func TestRetentionRunSkipsHeld(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, _ := retentionStores(t, db)
		ob := newOutbox(t)
		sys := models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}
		h, err := models.PlaceHold(ctx, db.Write, models.Act{Now: demoNow, By: sys}, "dunder", "CASE-7", "Counsel asked us to keep everything.")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.RunRetention(ctx, db.Write, product.Read, demoNow, models.DefaultRetentionPolicy(), models.Post{Outbox: ob, Letters: &retentionLetters{}}); err != nil {
			t.Fatal(err)
		}
		m := mailsTo(t, db, "retention.notice")
		if m["dunder michael@dunder.example"] != 0 || m["monsters mike@monsters.example"] != 1 {
			t.Errorf("notices %v: want none for held dunder, one for monsters", m)
		}
		if _, err := models.LiftHold(ctx, db.Write, models.Act{Now: demoNow, By: sys}, "dunder", h.ID, "The case was settled last week."); err != nil {
			t.Fatal(err)
		}
		if _, err := models.RunRetention(ctx, db.Write, product.Read, demoNow, models.DefaultRetentionPolicy(), models.Post{Outbox: ob, Letters: &retentionLetters{}}); err != nil {
			t.Fatal(err)
		}
		if m := mailsTo(t, db, "retention.notice"); m["dunder michael@dunder.example"] != 1 {
			t.Errorf("notices after the lift %v: want dunder's", m)
		}
	})
}

func TestLegalHolds(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		sys := models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}
		var fe models.FieldErrors
		if _, err := models.PlaceHold(ctx, db.Write, models.Act{Now: demoNow, By: sys}, "acme", " ", "Counsel asked us to keep everything."); !errors.As(err, &fe) || fe["reference"] == "" {
			t.Errorf("hold without reference: %v, want a reference error", err)
		}
		if _, err := models.PlaceHold(ctx, db.Write, models.Act{Now: demoNow, By: sys}, "acme", "CASE-1", "keep"); !errors.As(err, &fe) || fe["reason"] == "" {
			t.Errorf("hold without a reason: %v, want a reason error", err)
		}
		h, err := models.PlaceHold(ctx, db.Write, models.Act{Now: demoNow, By: sys}, "acme", "CASE-1", "Counsel asked us to keep everything.")
		if err != nil {
			t.Fatal(err)
		}
		live, err := models.ListHolds(ctx, db.Read, "acme", false)
		if err != nil || len(live) != 1 || live[0].Reference != "CASE-1" || live[0].PlacedBy != sys.Email {
			t.Fatalf("live holds %+v, %v", live, err)
		}
		if _, err := models.LiftHold(ctx, db.Write, models.Act{Now: demoNow, By: sys}, "globex", h.ID, "The case was settled last week."); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("lift through another workspace: %v, want ErrNotFound", err)
		}
		if _, err := models.LiftHold(ctx, db.Write, models.Act{Now: demoNow, By: sys}, "acme", h.ID, "The case was settled last week."); err != nil {
			t.Fatal(err)
		}
		if _, err := models.LiftHold(ctx, db.Write, models.Act{Now: demoNow, By: sys}, "acme", h.ID, "The case was settled last week."); !errors.Is(err, models.ErrConflict) {
			t.Errorf("second lift: %v, want ErrConflict", err)
		}
		live, _ = models.ListHolds(ctx, db.Read, "acme", false)
		all, _ := models.ListHolds(ctx, db.Read, "", true)
		if len(live) != 0 || len(all) != 1 || all[0].LiftedBy != sys.Email || all[0].LiftReason == "" {
			t.Errorf("after lifting: live %+v, all %+v", live, all)
		}
		var actions []models.Action
		db.Read.Model(&models.AuditEvent{}).Where("workspace = ?", "acme").Order("seq").Pluck("action", &actions)
		if fmt.Sprint(actions) != "[legal_hold.placed legal_hold.lifted]" {
			t.Errorf("audit %v, want one placed and one lifted", actions)
		}
	})
}
