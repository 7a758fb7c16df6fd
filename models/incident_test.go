package models_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/letters"
	"gatehouse/mailer/smtptest"
	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"

	"github.com/google/go-cmp/cmp"
)

// incidentStaff seeds the demo staff and returns the ids by email.
func incidentStaff(t *testing.T, db *models.DB, now time.Time) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	if err := demo.SeedStaff(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, e := range []string{"ada.sysadmin", "otto.sysadmin", "sara.senior", "sean.senior", "sam.support"} {
		s, err := models.FindStaffByEmail(ctx, db.Read, e+"@example.com")
		if err != nil {
			t.Fatal(err)
		}
		ids[e] = s.ID
	}
	return ids
}

func appendEvidence(t *testing.T, db *models.DB, at time.Time, actor, action models.Action, ws, table string, grant, bg *int64, ids ...string) {
	t.Helper()
	_, err := models.AppendAudit(context.Background(), db.Write, models.AuditEntry{
		At: at, Actor: models.Actor{Email: string(actor), Tier: "senior"}, Action: action, Workspace: ws, Table: table,
		RecordIDs: ids, GrantID: grant, BreakglassID: bg,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFindAffectedExact builds an audit history around a window and
// checks that each way of finding names exactly the workspaces its
// evidence shows, with what was read, by whom and when; the near misses
// (a second before the window, at its end, another staff member, another
// grant, a refusal) are left out.
func TestFindAffectedExact(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		g5, g6, bg := int64(5), int64(6), int64(9)
		const sara, sean = "sara.senior@example.com", "sean.senior@example.com"
		v := models.ActionDataViewed
		appendEvidence(t, db, t0.Add(-time.Second), sara, v, "initech", "members", nil, nil, "1") // before the window
		appendEvidence(t, db, t0, sara, v, "acme", "members", &g5, nil, "1", "2")                 // at its start: in
		appendEvidence(t, db, t0.Add(30*time.Minute), sara, models.ActionFieldRevealed, "acme", "members", &g5, nil, "3")
		appendEvidence(t, db, t0.Add(30*time.Minute), sara, v, "acme", "members", &g5, nil, "2")
		appendEvidence(t, db, t0.Add(30*time.Minute), sean, v, "soylent", "members", &g6, nil, "4") // another staff member
		appendEvidence(t, db, t0.Add(31*time.Minute), sara, models.ActionDataRefused, "umbrella", "members", nil, nil)
		appendEvidence(t, db, t0.Add(59*time.Minute), sara, v, "globex", "projects", nil, &bg, "7")
		appendEvidence(t, db, t0.Add(time.Hour), sara, v, "hooli", "members", &g5, nil, "8") // at its end: out

		acme := models.AffectedWorkspace{Slug: "acme", Accesses: []models.Access{{
			Staff: sara, Table: "members", Views: 3, Records: []string{"1", "2", "3"}, First: t0, Last: t0.Add(30 * time.Minute),
		}}}
		globex := models.AffectedWorkspace{Slug: "globex", Accesses: []models.Access{{
			Staff: sara, Table: "projects", Views: 1, Records: []string{"7"}, First: t0.Add(59 * time.Minute), Last: t0.Add(59 * time.Minute),
		}}}
		hooli := models.AffectedWorkspace{Slug: "hooli", Accesses: []models.Access{{
			Staff: sara, Table: "members", Views: 1, Records: []string{"8"}, First: t0.Add(time.Hour), Last: t0.Add(time.Hour),
		}}}
		window := func(q models.AffectedQuery) models.AffectedQuery {
			q.Since, q.Until = t0, t0.Add(time.Hour)
			return q
		}
		tests := []struct {
			name string
			q    models.AffectedQuery
			want []models.AffectedWorkspace
		}{
			{"staff in window", window(models.AffectedQuery{Staff: sara}), []models.AffectedWorkspace{acme, globex}},
			{"grant", models.AffectedQuery{Grant: g5}, []models.AffectedWorkspace{acme, hooli}},
			{"grant in window", window(models.AffectedQuery{Grant: g5}), []models.AffectedWorkspace{acme}},
			{"break-glass", models.AffectedQuery{Breakglass: bg}, []models.AffectedWorkspace{globex}},
			{"slugs", window(models.AffectedQuery{Slugs: []string{"acme", "initech"}}), []models.AffectedWorkspace{acme, {Slug: "initech"}}},
		}
		for _, tc := range tests {
			got, err := models.FindAffected(ctx, db.Read, tc.q)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
		for _, q := range []models.AffectedQuery{
			{},                                // no way
			{Staff: sara},                     // no window
			{Staff: sara, Grant: g5},          // two ways
			{Grant: g5, Since: t0, Until: t0}, // empty window
		} {
			var fe models.FieldErrors
			if _, err := models.FindAffected(ctx, db.Read, q); !errors.As(err, &fe) {
				t.Errorf("FindAffected(%+v): %v, want FieldErrors", q, err)
			}
		}
	})
}

// declareWithNotice declares an incident as ada with acme and globex
// affected and ada's notice, and returns the incident and notice.
func declareWithNotice(t *testing.T, db *models.DB, now time.Time, ids map[string]int64) (models.Incident, models.IncidentNotice) {
	t.Helper()
	ctx := context.Background()
	ada := models.Act{Now: now, By: models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}}
	inc, err := models.DeclareIncident(ctx, db.Write, ada, models.NewIncident{
		Title: "Support laptop stolen", Summary: "A support engineer's laptop was stolen from a car with a live session.",
		Severity: "high", StartedAt: now.Add(-2 * time.Hour), DetectedAt: now.Add(-time.Hour), DeclaredBy: ids["ada.sysadmin"],
	})
	if err != nil {
		t.Fatal(err)
	}
	ws := []models.AffectedWorkspace{
		{Slug: "acme", Name: "Acme Corp", Accesses: []models.Access{{Staff: "sara.senior@example.com", Table: "members", Views: 2, Records: []string{"1"}, First: now.Add(-90 * time.Minute), Last: now.Add(-80 * time.Minute)}}},
		{Slug: "globex", Name: "Globex"},
	}
	if err := models.SetAffected(ctx, db.Write, ada, inc.ID, ws, "test"); err != nil {
		t.Fatal(err)
	}
	n, err := models.DraftNotice(ctx, db.Write, ada, inc.ID, ids["ada.sysadmin"], "We found that a stolen laptop was used to view some of your workspace's records. We have ended every session.")
	if err != nil {
		t.Fatal(err)
	}
	return inc, n
}

func testLetters(now time.Time) models.Post {
	base, _ := url.Parse("https://portal.example")
	return models.Post{Letters: letters.New("Example Co", base, func() time.Time { return now })}
}

// TestIncidentNoticeSentOnce: the author cannot approve their notice,
// nor a senior; of two concurrent approvals one wins; every owner of
// every affected workspace is mailed once per workspace, with two mail
// workers; a follow-up goes to the same recipients; delivery states are
// the outbox's.
func TestIncidentNoticeSentOnce(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dbA, dbB := twoWorkerDBs(t, engine)
			now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			ids := incidentStaff(t, dbA, now)
			inc, n := declareWithNotice(t, dbA, now, ids)
			ob := newOutbox(t)
			post := testLetters(now)
			post.Outbox = ob
			owners := map[string][]string{
				"acme":   {"owner@acme.example", "second@acme.example", "owner@acme.example"},
				"globex": {"owner@acme.example", "boss@globex.example"},
			}
			approve := func(who string, db *models.DB, notice int64) (int, error) {
				act := models.Act{Now: now, By: models.Actor{Email: who + "@example.com", Tier: "sysadmin"}}
				return models.ApproveNotice(ctx, db.Write, act, post, models.NoticeApproval{Incident: inc.ID, Notice: notice, ApproverID: ids[who], Owners: owners})
			}
			for _, who := range []string{"ada.sysadmin", "sara.senior"} {
				if _, err := approve(who, dbA, n.ID); !errors.Is(err, models.ErrIncidentRefused) {
					t.Errorf("approval by %s: %v, want ErrIncidentRefused", who, err)
				}
			}
			if got := mailCount(t, dbA); got != 0 {
				t.Fatalf("%d mails after refused approvals, want 0", got)
			}
			var wg sync.WaitGroup
			results := make([]error, 2)
			for i, db := range []*models.DB{dbA, dbB} {
				wg.Go(func() { _, results[i] = approve("otto.sysadmin", db, n.ID) })
			}
			wg.Wait()
			wins, conflicts := 0, 0
			for _, err := range results {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, models.ErrConflict):
					conflicts++
				default:
					t.Errorf("approval: %v", err)
				}
			}
			if wins != 1 || conflicts != 1 {
				t.Fatalf("concurrent approvals: %d won, %d conflicts, want 1 and 1", wins, conflicts)
			}
			want := []string{"acme owner@acme.example", "acme second@acme.example", "globex boss@globex.example", "globex owner@acme.example"}
			checkDeliveries(t, dbA, inc.ID, want, models.MailQueued)

			srv := smtptest.Start(t)
			workers := []*models.MailWorker{
				{DB: dbA, Outbox: ob, Sender: smtpSender(t, srv), Now: func() time.Time { return now }, ID: "a", Batch: 1},
				{DB: dbB, Outbox: ob, Sender: smtpSender(t, srv), Now: func() time.Time { return now }, ID: "b", Batch: 1},
			}
			runWorkers(t, workers)
			got := srv.Messages()
			if len(got) != len(want) {
				t.Errorf("server received %d mails, want %d", len(got), len(want))
			}
			for _, w := range want {
				slug, to, _ := strings.Cut(w, " ")
				c := 0
				for _, m := range got {
					if slices.Contains(m.To, to) && bytes.Contains(m.Data, []byte("("+slug+")")) {
						c++
					}
				}
				if c != 1 {
					t.Errorf("%s mailed about %s %d times, want once", to, slug, c)
				}
			}
			checkDeliveries(t, dbA, inc.ID, want, models.MailSent)

			// A follow-up goes to the same recipients, whatever the owners are now.
			ada := models.Act{Now: now, By: models.Actor{Email: "otto.sysadmin@example.com", Tier: "sysadmin"}}
			f, err := models.DraftNotice(ctx, dbA.Write, ada, inc.ID, ids["otto.sysadmin"], "We have finished our investigation: nothing else was read, and the laptop was wiped remotely.")
			if err != nil {
				t.Fatal(err)
			}
			owners = map[string][]string{"acme": {"new@acme.example"}}
			if sent, err := approve("ada.sysadmin", dbA, f.ID); err != nil || sent != len(want) {
				t.Fatalf("follow-up approval: %d sent, %v; want %d", sent, err, len(want))
			}
			if err := models.SetAffected(ctx, dbA.Write, ada, inc.ID, []models.AffectedWorkspace{{Slug: "initech"}}, "late"); !errors.Is(err, models.ErrConflict) {
				t.Errorf("changing the affected set after a notice was sent: %v, want a conflict", err)
			}
		})
	}
}

func mailCount(t *testing.T, db *models.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Read.Table("mail_outbox").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func runWorkers(t *testing.T, workers []*models.MailWorker) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Go(func() {
			for {
				s, f, err := w.RunOnce(context.Background())
				if err != nil || f != 0 {
					errs[i] = fmt.Errorf("worker %s: %d failed, %v", w.ID, f, err)
					return
				}
				if s == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func checkDeliveries(t *testing.T, db *models.DB, id int64, want []string, status string) {
	t.Helper()
	ds, err := models.IncidentDeliveries(context.Background(), db.Read, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Workspace+" "+d.Recipient)
		if d.Status != status {
			t.Errorf("delivery to %s: %s, want %s", d.Recipient, d.Status, status)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

// TestContainEndsNamedAccess: containment of one staff member ends their
// sessions and grants, each grant with its event, moves the security
// epoch, and leaves everyone else's alone; an unknown email ends nothing.
func TestContainEndsNamedAccess(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		ids := incidentStaff(t, db, now)
		inc, _ := declareWithNotice(t, db, now, ids)
		var grants []models.Grant
		for i, who := range []string{"sara.senior", "sean.senior"} {
			s := models.Session{IDHash: fmt.Sprintf("hash-%d", i), StaffID: ids[who], CreatedAt: now, LastSeenAt: now, AuthAt: now}
			if err := db.Write.Create(&s).Error; err != nil {
				t.Fatal(err)
			}
			g, err := models.CreateGrant(ctx, db.Write, now, models.NewGrant{Workspace: "acme", GranteeID: ids[who], StartsAt: now, Duration: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			grants = append(grants, g)
		}
		act := models.Act{Now: now.Add(time.Minute), By: models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}}
		c := models.Containment{Incident: inc.ID, ByID: ids["ada.sysadmin"], Emails: []string{"sara.senior@example.com", "nobody@example.com"}, Note: "The stolen laptop was signed in as her."}
		var fe models.FieldErrors
		if _, err := models.Contain(ctx, db.Write, act, c); !errors.As(err, &fe) {
			t.Fatalf("containment naming an unknown email: %v, want FieldErrors", err)
		}
		if n, _ := models.CountLiveSessions(ctx, db.Read, ids["sara.senior"]); n != 1 {
			t.Fatalf("refused containment ended sessions: %d live, want 1", n)
		}
		before, err := models.SecurityEpoch(ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		c.Emails = []string{"sara.senior@example.com"}
		a, err := models.Contain(ctx, db.Write, act, c)
		if err != nil {
			t.Fatal(err)
		}
		if a.SessionsEnded != 1 || a.GrantsEnded != 1 {
			t.Errorf("recorded %d sessions and %d grants ended, want 1 and 1", a.SessionsEnded, a.GrantsEnded)
		}
		if after, _ := models.SecurityEpoch(ctx, db.Read); after <= before {
			t.Errorf("security epoch %d, then %d: want it moved", before, after)
		}
		for i, who := range []string{"sara.senior", "sean.senior"} {
			n, _ := models.CountLiveSessions(ctx, db.Read, ids[who])
			live, err := models.LiveGrants(ctx, db.Read, act.Now, ids[who], "acme")
			if err != nil {
				t.Fatal(err)
			}
			wantLive := i == 1
			if (n == 1) != wantLive || (len(live) == 1) != wantLive {
				t.Errorf("%s: %d live sessions, %d live grants; want live = %t", who, n, len(live), wantLive)
			}
		}
		l, err := models.FindGrantEnding(ctx, db.Read, grants[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if e := l.Ending(act.Now); e.How != models.EndRevoked {
			t.Errorf("contained grant ended as %q, want %q", e.How, models.EndRevoked)
		}
	})
}
