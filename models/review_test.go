package models_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// reviewNow is inside 2026-Q4.
var reviewNow = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// reviewStaff adds a staff member created at created, with the current
// agreement ("2026-1") when signed.
func reviewStaff(t *testing.T, db *models.DB, email string, tier policy.Tier, status models.Status, created time.Time, signed bool) models.Staff {
	t.Helper()
	s := models.Staff{Email: email, Name: strings.Split(email, "@")[0], Tier: tier, Status: status, CreatedAt: created, UpdatedAt: created}
	if signed {
		s.AgreementVersion, s.AgreementSignedAt, s.TrainingAt = "2026-1", &created, &created
	}
	if err := db.Write.Create(&s).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

// reviewTeam is a small staff: two sysadmins, a support person, an
// auditor, a suspended senior and an offboarded one (not reviewed).
func reviewTeam(t *testing.T, db *models.DB) map[string]models.Staff {
	t.Helper()
	long := reviewNow.AddDate(-1, 0, 0)
	m := map[string]models.Staff{}
	for _, s := range []struct {
		email  string
		tier   policy.Tier
		status models.Status
		signed bool
	}{
		{"ada@example.com", policy.TierSysadmin, models.StatusActive, true},
		{"otto@example.com", policy.TierSysadmin, models.StatusActive, true},
		{"sam@example.com", policy.TierSupport, models.StatusActive, false},
		{"aud@example.com", policy.TierAuditor, models.StatusActive, true},
		{"sean@example.com", policy.TierSenior, models.StatusSuspended, true},
		{"lee@example.com", policy.TierSupport, models.StatusOffboarded, true},
	} {
		m[s.email] = reviewStaff(t, db, s.email, s.tier, s.status, long, s.signed)
	}
	return m
}

func openReview(t *testing.T, db *models.DB, now time.Time) models.AccessReview {
	t.Helper()
	r, _, err := models.OpenReview(context.Background(), db, now, models.ReviewQuarterly, "2026-1")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rowOf(t *testing.T, db *models.DB, reviewID int64, email string) models.AccessReviewRow {
	t.Helper()
	rows, err := models.ReviewRows(context.Background(), db.Read, reviewID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Email == email {
			return r
		}
	}
	t.Fatalf("review %d has no row for %s", reviewID, email)
	return models.AccessReviewRow{}
}

func actAs(email, tier string, now time.Time) models.Act {
	return models.Act{Now: now, By: models.Actor{Email: email, Tier: tier}}
}

// TestReviewOpensOnce: two jobs at once (on PostgreSQL two connections
// racing for the period) open 2026-Q4 once, with one row per active or
// suspended staff member and one review.opened event; later runs in the
// quarter open nothing; the next quarter gets its own review.
func TestReviewOpensOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		team := reviewTeam(t, db)
		runTwo := func(now time.Time) int {
			t.Helper()
			var wg sync.WaitGroup
			opened := make([]bool, 2)
			errs := make([]error, 2)
			for i := range opened {
				wg.Go(func() {
					j := &models.ReviewJob{DB: db, Every: models.ReviewQuarterly, Agreement: "2026-1", Alerts: &models.Detector{DB: db}, Now: func() time.Time { return now }}
					opened[i], _, errs[i] = j.RunOnce(ctx)
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, o := range opened {
				if o {
					n++
				}
			}
			return n
		}
		if n := runTwo(reviewNow); n != 1 {
			t.Fatalf("two jobs opened %d reviews, want 1", n)
		}
		if n := runTwo(reviewNow.Add(24 * time.Hour)); n != 0 {
			t.Errorf("a later run in the quarter opened %d, want 0", n)
		}
		rs, err := models.ListReviews(ctx, db.Read, 10)
		if err != nil || len(rs) != 1 || rs[0].Period != "2026-Q4" || !rs[0].DueAt.Equal(reviewNow.Add(14*24*time.Hour)) {
			t.Fatalf("reviews %+v, %v: want 2026-Q4 due in 14 days", rs, err)
		}
		rows, err := models.ReviewRows(ctx, db.Read, rs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Email)
			if r.StaffID != team[r.Email].ID || r.Role != string(team[r.Email].Tier) || r.Status != team[r.Email].Status {
				t.Errorf("row %+v does not match the staff member %+v", r, team[r.Email])
			}
		}
		want := []string{"ada@example.com", "aud@example.com", "otto@example.com", "sam@example.com", "sean@example.com"}
		if slices.Sort(got); !slices.Equal(got, want) {
			t.Errorf("rows for %v, want %v (active and suspended, once each)", got, want)
		}
		if r := rowOf(t, db, rs[0].ID, "sam@example.com"); r.AgreementCurrent || !rowOf(t, db, rs[0].ID, "ada@example.com").AgreementCurrent {
			t.Errorf("agreement: sam's row %+v should say not current, ada's current", r)
		}
		var opened int64
		db.Read.Model(&models.AuditEvent{}).Where("action = ?", models.ActionReviewOpened).Count(&opened)
		if opened != 1 {
			t.Errorf("%d review.opened events, want 1", opened)
		}
		if n := runTwo(time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)); n != 1 {
			t.Errorf("next quarter: opened %d, want 1", n)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

// TestReviewUsage: last sign-in, last data access and "unused" come from
// the audit log's events by the person, whatever others did.
func TestReviewUsage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		long := reviewNow.AddDate(-1, 0, 0)
		reviewStaff(t, db, "active@example.com", policy.TierSenior, models.StatusActive, long, true)
		reviewStaff(t, db, "stale@example.com", policy.TierSenior, models.StatusActive, long, true)
		reviewStaff(t, db, "never@example.com", policy.TierSupport, models.StatusActive, long, true)
		reviewStaff(t, db, "new@example.com", policy.TierSupport, models.StatusActive, reviewNow.AddDate(0, 0, -5), true)
		reviewStaff(t, db, "reader@example.com", policy.TierSenior, models.StatusActive, long, true)
		days := func(n int) time.Time { return reviewNow.AddDate(0, 0, -n) }
		for _, e := range []struct {
			who    string
			action models.Action
			at     time.Time
		}{
			{"active@example.com", models.ActionLoginSucceeded, days(200)},
			{"active@example.com", models.ActionLoginSucceeded, days(3)},
			{"active@example.com", models.ActionDataViewed, days(10)},
			{"active@example.com", models.ActionLogout, days(1)},
			{"stale@example.com", models.ActionLoginSucceeded, days(120)},
			{"stale@example.com", models.ActionFieldRevealed, days(100)},
			{"stale@example.com", models.ActionLoginRefused, days(2)}, // a refusal is no sign-in
			{"never@example.com", models.ActionLoginRefused, days(2)},
			{"reader@example.com", models.ActionLoginSucceeded, days(95)},
			{"reader@example.com", models.ActionDataViewed, days(30)}, // a long session's view counts as use
		} {
			entry := models.AuditEntry{At: e.at, Actor: models.Actor{Email: e.who, Tier: "senior"}, Action: e.action}
			if e.action == models.ActionDataViewed || e.action == models.ActionFieldRevealed {
				entry.Workspace, entry.Table, entry.RecordIDs = "acme", "members", []string{"1"}
			}
			if _, err := models.AppendAudit(ctx, db.Write, entry); err != nil {
				t.Fatal(err)
			}
		}
		r := openReview(t, db, reviewNow)
		at := func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return t.UTC().Format(time.DateOnly)
		}
		day := func(n int) string { return days(n).Format(time.DateOnly) }
		for _, tc := range []struct {
			email            string
			signIn, accessed string
			unused           bool
		}{
			{"active@example.com", day(3), day(10), false},
			{"stale@example.com", day(120), day(100), true},
			{"never@example.com", "never", "never", true},
			{"new@example.com", "never", "never", false}, // added 5 days ago
			{"reader@example.com", day(95), day(30), false},
		} {
			row := rowOf(t, db, r.ID, tc.email)
			if got := [3]string{at(row.LastSignInAt), at(row.LastDataAccessAt), fmt.Sprint(row.Unused)}; got != [3]string{tc.signIn, tc.accessed, fmt.Sprint(tc.unused)} {
				t.Errorf("%s: sign-in, data access, unused = %v, want %s %s %t", tc.email, got, tc.signIn, tc.accessed, tc.unused)
			}
		}
	})
}

// auditCount counts events of action.
func auditCount(t *testing.T, db *models.DB, action models.Action) int64 {
	t.Helper()
	var n int64
	if err := db.Read.Model(&models.AuditEvent{}).Where("action = ?", action).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReviewCertifyRefusals: the subject, a non-sysadmin, an offboarded
// sysadmin, a bad decision, a weak note and a row of another review are
// all refused and write nothing.
func TestReviewCertifyRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		reviewTeam(t, db)
		r := openReview(t, db, reviewNow)
		ada := rowOf(t, db, r.ID, "ada@example.com")
		sam := rowOf(t, db, r.ID, "sam@example.com")
		note := "Checked her tickets: she still runs the on-call rota."
		for _, tc := range []struct {
			name string
			act  models.Act
			c    models.Certification
			want func(error) bool
		}{
			{"the subject", actAs("ada@example.com", "sysadmin", reviewNow), models.Certification{ReviewID: r.ID, RowID: ada.ID, Decision: "keep", Note: note},
				func(err error) bool { return errors.Is(err, policy.ErrDenied) }},
			{"an auditor", actAs("aud@example.com", "auditor", reviewNow), models.Certification{ReviewID: r.ID, RowID: sam.ID, Decision: "keep", Note: note},
				func(err error) bool { return errors.Is(err, policy.ErrDenied) }},
			{"an offboarded sysadmin", actAs("lee@example.com", "sysadmin", reviewNow), models.Certification{ReviewID: r.ID, RowID: sam.ID, Decision: "keep", Note: note},
				func(err error) bool { return errors.Is(err, policy.ErrDenied) }},
			{"a stranger", actAs("who@example.com", "sysadmin", reviewNow), models.Certification{ReviewID: r.ID, RowID: sam.ID, Decision: "keep", Note: note},
				func(err error) bool { return errors.Is(err, policy.ErrDenied) }},
			{"a bad decision", actAs("otto@example.com", "sysadmin", reviewNow), models.Certification{ReviewID: r.ID, RowID: sam.ID, Decision: "promote", Note: note},
				func(err error) bool { var fe models.FieldErrors; return errors.As(err, &fe) && fe["decision"] != "" }},
			{"a weak note", actAs("otto@example.com", "sysadmin", reviewNow), models.Certification{ReviewID: r.ID, RowID: sam.ID, Decision: "keep", Note: "ok"},
				func(err error) bool { var fe models.FieldErrors; return errors.As(err, &fe) && fe["note"] != "" }},
			{"another review's id", actAs("otto@example.com", "sysadmin", reviewNow), models.Certification{ReviewID: r.ID + 1, RowID: sam.ID, Decision: "keep", Note: note},
				func(err error) bool { return errors.Is(err, models.ErrNotFound) }},
		} {
			before := snapshotReview(t, db)
			_, err := models.CertifyRow(ctx, db.Write, tc.act, tc.c)
			if !tc.want(err) {
				t.Errorf("%s: got %v", tc.name, err)
			}
			if after := snapshotReview(t, db); after != before {
				t.Errorf("%s changed the database:\n%s\nthen\n%s", tc.name, before, after)
			}
		}
	})
}

// snapshotReview is the review tables, the staff and the audit log's
// length, as text.
func snapshotReview(t *testing.T, db *models.DB) string {
	t.Helper()
	var rows []models.AccessReviewRow
	var revs []models.AccessReview
	var staff []models.Staff
	var n int64
	for _, err := range []error{
		db.Read.Order("id").Find(&rows).Error, db.Read.Order("id").Find(&revs).Error,
		db.Read.Order("id").Find(&staff).Error, db.Read.Model(&models.AuditEvent{}).Count(&n).Error,
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("%+v\n%+v\n%+v\n%d", rows, revs, staff, n)
}

// TestReviewCertifyOnce: two sysadmins certifying one row at once make
// one winner and one conflict, one audit event.
func TestReviewCertifyOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		reviewTeam(t, db)
		r := openReview(t, db, reviewNow)
		sam := rowOf(t, db, r.ID, "sam@example.com")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, who := range []string{"ada@example.com", "otto@example.com"} {
			wg.Go(func() {
				_, errs[i] = models.CertifyRow(ctx, db.Write, actAs(who, "sysadmin", reviewNow), models.Certification{
					ReviewID: r.ID, RowID: sam.ID, Decision: "keep", Note: "Sam still works the support queue every day.",
				})
			})
		}
		wg.Wait()
		won, lost := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, models.ErrConflict):
				lost++
			default:
				t.Errorf("certify: %v", err)
			}
		}
		if won != 1 || lost != 1 {
			t.Errorf("%d won, %d conflicts; want one of each", won, lost)
		}
		if n := auditCount(t, db, models.ActionReviewCertified); n != 1 {
			t.Errorf("%d review.certified events, want 1", n)
		}
		if got := rowOf(t, db, r.ID, "sam@example.com"); got.CertifiedAt == nil || got.Decision != "keep" || got.CertifiedBy == "" {
			t.Errorf("row after: %+v", got)
		}
	})
}

// TestReviewOffboardAndClose: "offboard" offboards the person in the same
// transaction; "change" leaves them be; the last row closes the review
// with one review.closed event.
func TestReviewOffboardAndClose(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		team := reviewTeam(t, db)
		r := openReview(t, db, reviewNow)
		certify := func(by, email, decision string) {
			t.Helper()
			if _, err := models.CertifyRow(ctx, db.Write, actAs(by, "sysadmin", reviewNow), models.Certification{
				ReviewID: r.ID, RowID: rowOf(t, db, r.ID, email).ID, Decision: decision, Note: "Reviewed against the team list for the quarter.",
			}); err != nil {
				t.Fatalf("%s certifies %s: %v", by, email, err)
			}
		}
		certify("otto@example.com", "ada@example.com", "keep")
		certify("ada@example.com", "otto@example.com", "keep")
		certify("ada@example.com", "aud@example.com", "change")
		certify("ada@example.com", "sean@example.com", "offboard")
		s, err := models.FindStaff(ctx, db.Read, team["sean@example.com"].ID)
		if err != nil || s.Status != models.StatusOffboarded {
			t.Errorf("sean after an offboard decision: %+v, %v", s, err)
		}
		if a, _ := models.FindStaff(ctx, db.Read, team["aud@example.com"].ID); a.Status != models.StatusActive {
			t.Errorf("aud after a change decision: %s, want still active", a.Status)
		}
		if rev, _ := models.FindReview(ctx, db.Read, r.ID); rev.ClosedAt != nil {
			t.Fatalf("review closed with sam's row open")
		}
		if _, err := models.RecordReviewExport(ctx, db.Write, actAs("aud@example.com", "auditor", reviewNow), r.ID, "csv", "x"); !errors.Is(err, models.ErrConflict) {
			t.Errorf("export of an open review: %v, want a conflict", err)
		}
		certify("otto@example.com", "sam@example.com", "keep")
		rev, err := models.FindReview(ctx, db.Read, r.ID)
		if err != nil || rev.ClosedAt == nil {
			t.Errorf("review after its last row: %+v, %v; want closed", rev, err)
		}
		if n := auditCount(t, db, models.ActionReviewClosed); n != 1 {
			t.Errorf("%d review.closed events, want 1", n)
		}
		if n := auditCount(t, db, models.ActionStaffOffboarded); n != 1 {
			t.Errorf("%d staff.offboarded events, want 1", n)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

// TestReviewOverdueAlerts: past the due time, each uncertified row raises
// one access_review_overdue alert about its subject, mailed to the active
// sysadmins; re-runs (two at once) raise no more; a certified row raises
// none.
func TestReviewOverdueAlerts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		reviewTeam(t, db)
		r := openReview(t, db, reviewNow)
		if _, err := models.CertifyRow(ctx, db.Write, actAs("otto@example.com", "sysadmin", reviewNow), models.Certification{
			ReviewID: r.ID, RowID: rowOf(t, db, r.ID, "ada@example.com").ID, Decision: "keep", Note: "Ada runs the platform team still.",
		}); err != nil {
			t.Fatal(err)
		}
		base, _ := url.Parse("https://portal.example")
		d := &models.Detector{DB: db, Post: models.Post{Outbox: newOutbox(t), Letters: letters.New("Example", base, time.Now)}}
		job := func(now time.Time) *models.ReviewJob {
			return &models.ReviewJob{DB: db, Every: models.ReviewQuarterly, Alerts: d, Now: func() time.Time { return now }}
		}
		if _, n, err := job(reviewNow.Add(13 * 24 * time.Hour)).RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("before the due time: %d alerts, %v", n, err)
		}
		late := reviewNow.Add(15 * 24 * time.Hour)
		for range 2 {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Go(func() { _, _, errs[i] = job(late).RunOnce(ctx) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
		}
		as, err := models.OpenAlerts(ctx, db.Read, 100)
		if err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for _, a := range as {
			if a.Rule != "access_review_overdue" || a.SubjectKind != models.SubjectStaff {
				t.Errorf("alert %+v", a)
			}
			subjects = append(subjects, a.Subject)
		}
		slices.Sort(subjects)
		want := []string{"aud@example.com", "otto@example.com", "sam@example.com", "sean@example.com"}
		if !slices.Equal(subjects, want) {
			t.Errorf("overdue alerts about %v, want one each about %v", subjects, want)
		}
		if n := auditCount(t, db, models.ActionAlertRaised); n != 4 {
			t.Errorf("%d alert.raised events, want 4", n)
		}
		// Each new alert is mailed to the two active sysadmins.
		mails := mailsTo(t, db, "alert.raised")
		if mails[" ada@example.com"] != 4 || mails[" otto@example.com"] != 4 || len(mails) != 2 {
			t.Errorf("alert mails %v, want 4 to each sysadmin", mails)
		}
	})
}

// TestReviewExport: a closed review's CSV and JSON exports hold the rows
// as a direct query of the staff table gives them at the opening, and the
// first export's SHA-256 is the one recorded.
func TestReviewExport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		reviewTeam(t, db)
		r := openReview(t, db, reviewNow)
		rows, err := models.ReviewRows(ctx, db.Read, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			by := "ada@example.com"
			if row.Email == by {
				by = "otto@example.com"
			}
			if _, err := models.CertifyRow(ctx, db.Write, actAs(by, "sysadmin", reviewNow), models.Certification{
				ReviewID: r.ID, RowID: row.ID, Decision: "keep", Note: "=cmd|' /C calc'!A0 still needed",
			}); err != nil {
				t.Fatal(err)
			}
		}
		rev, err := models.FindReview(ctx, db.Read, r.ID)
		if err != nil || rev.ClosedAt == nil {
			t.Fatalf("review %+v not closed: %v", rev, err)
		}
		// The staff table, read directly.
		var direct []struct {
			ID                int64
			Email, Name, Tier string
			Status            string
			AgreementVersion  string
		}
		if err := db.Read.Raw("SELECT id, email, name, tier, status, agreement_version FROM staff WHERE status IN ('active', 'suspended') ORDER BY id").
			Scan(&direct).Error; err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		if err := models.WriteReviewExport(ctx, db.Read, &body, rev, "json"); err != nil {
			t.Fatal(err)
		}
		var got []models.ReviewExportRow
		if err := json.Unmarshal(body.Bytes(), &got); err != nil {
			t.Fatalf("JSON export: %v\n%s", err, body.String())
		}
		if len(got) != len(direct) {
			t.Fatalf("JSON export has %d rows, the staff table %d", len(got), len(direct))
		}
		for i, d := range direct {
			g := got[i]
			if g.StaffID != d.ID || g.Email != d.Email || g.Name != d.Name || g.Role != d.Tier || g.Status != d.Status ||
				g.AgreementVersion != d.AgreementVersion || g.Period != "2026-Q4" || g.Decision != "keep" || g.CertifiedAt == nil {
				t.Errorf("JSON row %d = %+v, staff table %+v", i, g, d)
			}
		}
		var csvBody bytes.Buffer
		if err := models.WriteReviewExport(ctx, db.Read, &csvBody, rev, "csv"); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(csvBody.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(direct)+1 || !slices.Equal(recs[0], models.ReviewCSVHeader) {
			t.Fatalf("CSV export: %d lines, header %v", len(recs), recs[0])
		}
		for i, d := range direct {
			rec := recs[i+1]
			if rec[1] != fmt.Sprint(d.ID) || rec[2] != d.Email || rec[3] != d.Name || rec[4] != d.Tier || rec[6] != d.Status || rec[14] != "'=cmd|' /C calc'!A0 still needed" {
				t.Errorf("CSV row %d = %v, staff table %+v (note neutralised)", i, rec, d)
			}
		}
		sum := sha256.Sum256(csvBody.Bytes())
		hexSum := hex.EncodeToString(sum[:])
		aud := actAs("aud@example.com", "auditor", reviewNow)
		if _, err := models.RecordReviewExport(ctx, db.Write, aud, r.ID, "csv", hexSum); err != nil {
			t.Fatal(err)
		}
		if _, err := models.RecordReviewExport(ctx, db.Write, aud, r.ID, "json", "another"); err != nil {
			t.Fatal(err)
		}
		if rev, _ = models.FindReview(ctx, db.Read, r.ID); rev.ExportSHA256 != hexSum {
			t.Errorf("stored export hash %q, want the first export's %q", rev.ExportSHA256, hexSum)
		}
		if n := auditCount(t, db, models.ActionReviewExported); n != 2 {
			t.Errorf("%d review.exported events, want 2", n)
		}
	})
}

func TestReviewPeriods(t *testing.T) {
	at := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		every models.ReviewEvery
		want  string
	}{
		{models.ReviewQuarterly, "2026-Q4"}, {models.ReviewMonthly, "2026-11"}, {models.ReviewYearly, "2026"},
	} {
		if got := tc.every.Period(at); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.every, got, tc.want)
		}
	}
	if got := models.ReviewQuarterly.Period(time.Date(2027, 3, 31, 23, 0, 0, 0, time.UTC)); got != "2027-Q1" {
		t.Errorf("March: %s", got)
	}
	if _, err := models.ParseReviewEvery("weekly"); err == nil {
		t.Error("weekly accepted")
	}
}
