package models_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// detMonday is a Monday 10:00 UTC, inside every test's working hours.
var detMonday = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// testRules are small thresholds, one rule per kind.
const testRules = `
[[rule]]
name = "volume"
kind = "volume"
severity = "high"
factor = 3.0
floor = 2

[[rule]]
name = "breadth"
kind = "breadth"
severity = "high"
workspaces = 3
records = 4

[[rule]]
name = "refusals"
kind = "refusals"
severity = "medium"
count = 3
window = "10m"

[[rule]]
name = "reveals"
kind = "reveals"
severity = "medium"
count = 3

[[rule]]
name = "off-hours"
kind = "off_hours"
severity = "low"
start = "08:00"
end = "18:00"
timezone = "UTC"
days = ["mon", "tue", "wed", "thu", "fri"]

[[rule]]
name = "breakglass"
kind = "breakglass"
severity = "high"
repeat_within = "168h"
review_within = "24h"

[[rule]]
name = "customer-report"
kind = "customer_report"
severity = "critical"
`

// rulesOf returns the test rules named.
func rulesOf(t testing.TB, names ...string) []policy.Rule {
	t.Helper()
	all, err := policy.ParseDetection(testRules)
	if err != nil {
		t.Fatal(err)
	}
	var out []policy.Rule
	for _, r := range all {
		for _, n := range names {
			if r.Name == n {
				out = append(out, r)
			}
		}
	}
	return out
}

// appendAll appends entries in one transaction.
func appendAll(t testing.TB, db *models.DB, es []models.AuditEntry) []models.AuditEvent {
	t.Helper()
	var evs []models.AuditEvent
	err := db.Write.Transaction(func(tx *gorm.DB) error {
		for _, e := range es {
			ev, err := models.AppendAudit(context.Background(), tx, e)
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func view(who string, at time.Time, ws string, ids ...string) models.AuditEntry {
	if len(ids) == 0 {
		ids = []string{"1"}
	}
	return models.AuditEntry{At: at, Actor: models.Actor{Email: who, Tier: "senior", IP: "192.0.2.1"}, Action: models.ActionDataViewed,
		Workspace: ws, Table: "documents", RecordIDs: ids}
}

func event(action models.Action, who, ip string, at time.Time) models.AuditEntry {
	return models.AuditEntry{At: at, Actor: models.Actor{Email: who, Tier: "senior", IP: ip}, Action: action, Workspace: "acme"}
}

// openAlerts maps "rule subject" to the alert, for alerts not resolved.
func openAlerts(t testing.TB, db *models.DB) map[string]models.Alert {
	t.Helper()
	as, err := models.OpenAlerts(context.Background(), db.Read, 1000)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]models.Alert{}
	for _, a := range as {
		m[a.Rule+" "+a.Subject] = a
	}
	return m
}

func detector(db *models.DB, rules []policy.Rule, now time.Time) *models.Detector {
	return &models.Detector{DB: db, Rules: rules, Now: func() time.Time { return now }}
}

// TestDetectionRules: each rule fires on a constructed history and stays
// quiet on one just below its threshold.
func TestDetectionRules(t *testing.T) {
	t0 := detMonday
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	for _, tc := range []struct {
		rule    string
		history func(db *models.DB) []models.AuditEntry
		now     time.Time
		fire    []string // subjects alerted
		quiet   []string // subjects not alerted
	}{{
		rule: "volume",
		history: func(*models.DB) []models.AuditEntry {
			// An hourly average of 1 over 30 days makes 3 views an hour
			// usual (3 × 1) and 4 unusual, above the floor of 2.
			var es []models.AuditEntry
			for h := 720; h >= 1; h-- {
				es = append(es, view("fires@x", t0.Add(-time.Duration(h)*time.Hour), "acme"), view("quiet@x", t0.Add(-time.Duration(h)*time.Hour), "acme"))
			}
			for i := range 4 {
				es = append(es, view("fires@x", min(10+i), "acme"))
				if i < 3 {
					es = append(es, view("quiet@x", min(10+i), "acme"))
				}
			}
			// Without a baseline, the floor decides: 3 views fire, 2 not.
			return append(es, view("new@x", min(20), "acme"), view("new@x", min(21), "acme"), view("newer@x", min(20), "acme"),
				view("newer@x", min(21), "acme"), view("newer@x", min(22), "acme"))
		},
		fire:  []string{"fires@x", "newer@x"},
		quiet: []string{"quiet@x", "new@x"},
	}, {
		rule: "breadth",
		history: func(*models.DB) []models.AuditEntry {
			return []models.AuditEntry{
				view("wide@x", min(0), "w1"), view("wide@x", min(1), "w2"), view("wide@x", min(2), "w3"), view("wide@x", min(59), "w4"),
				view("three@x", min(0), "w1"), view("three@x", min(1), "w2"), view("three@x", min(2), "w3"),
				// the fourth an hour after the first: three in any hour
				view("spread@x", min(0), "w1"), view("spread@x", min(1), "w2"), view("spread@x", min(2), "w3"), view("spread@x", min(61), "w4"),
				view("deep@x", min(0), "acme", "1", "2", "3"), view("deep@x", min(5), "acme", "3", "4", "5"),
				view("four@x", min(0), "acme", "1", "2", "3"), view("four@x", min(5), "acme", "3", "4"), view("four@x", min(5), "globex", "9"),
			}
		},
		fire:  []string{"wide@x", "deep@x"},
		quiet: []string{"three@x", "spread@x", "four@x"},
	}, {
		rule: "refusals",
		history: func(*models.DB) []models.AuditEntry {
			return []models.AuditEntry{
				event(models.ActionDataRefused, "prober@x", "198.51.100.1", min(0)),
				event(models.ActionDataRefused, "prober@x", "198.51.100.2", min(4)),
				event(models.ActionLoginRefused, "prober@x", "198.51.100.3", min(9)),
				event(models.ActionDataRefused, "slow@x", "198.51.100.4", min(0)),
				event(models.ActionDataRefused, "slow@x", "198.51.100.5", min(5)),
				event(models.ActionDataRefused, "slow@x", "198.51.100.6", min(11)),
				event(models.ActionLoginRefused, "a@x", "203.0.113.9", min(0)),
				event(models.ActionLoginRefused, "b@x", "203.0.113.9", min(1)),
				event(models.ActionLoginRefused, "c@x", "203.0.113.9", min(2)),
				event(models.ActionLoginRefused, "d@x", "203.0.113.10", min(0)),
				event(models.ActionLoginRefused, "e@x", "203.0.113.10", min(1)),
			}
		},
		fire:  []string{"prober@x", "203.0.113.9"},
		quiet: []string{"slow@x", "203.0.113.10", "a@x"},
	}, {
		rule: "reveals",
		history: func(*models.DB) []models.AuditEntry {
			var es []models.AuditEntry
			for i := range 4 {
				es = append(es, event(models.ActionFieldRevealed, "many@x", "", min(i*10)))
				if i < 3 {
					es = append(es, event(models.ActionFieldRevealed, "few@x", "", min(i*10)))
				}
			}
			return es
		},
		fire:  []string{"many@x"},
		quiet: []string{"few@x"},
	}, {
		rule: "off-hours",
		history: func(*models.DB) []models.AuditEntry {
			day := t0.Truncate(24 * time.Hour)
			return []models.AuditEntry{
				view("early@x", day.Add(7*time.Hour+59*time.Minute), "acme"),
				view("weekend@x", day.Add(-2*24*time.Hour+12*time.Hour), "acme"), // Saturday noon
				view("office@x", day.Add(8*time.Hour), "acme"),
				view("office@x", day.Add(17*time.Hour+59*time.Minute), "acme"),
			}
		},
		fire:  []string{"early@x", "weekend@x"},
		quiet: []string{"office@x"},
	}, {
		rule: "breakglass",
		history: func(db *models.DB) []models.AuditEntry {
			opener := mustStaff(t, db, "opener@x", "Opener", policy.TierSysadmin, models.StatusActive)
			reviewer := mustStaff(t, db, "reviewer@x", "Reviewer", policy.TierSysadmin, models.StatusActive)
			bg := func(at time.Time, reviewed bool) *int64 {
				b := models.Breakglass{Workspace: "acme", OpenerID: opener.ID, Incident: "INC-1", Justification: "a real reason",
					OpenedAt: at, EndsAt: at.Add(time.Hour)}
				if reviewed {
					r := at.Add(time.Hour)
					b.ReviewedByID, b.ReviewedAt = &reviewer.ID, &r
				}
				if err := db.Write.Create(&b).Error; err != nil {
					t.Fatal(err)
				}
				return &b.ID
			}
			open := func(who string, at time.Time, id *int64) models.AuditEntry {
				e := event(models.ActionBreakglassOpened, who, "", at)
				e.BreakglassID = id
				return e
			}
			return []models.AuditEntry{
				open("twice@x", t0.Add(-6*24*time.Hour), bg(t0.Add(-6*24*time.Hour), true)),
				open("twice@x", t0, bg(t0, true)),
				open("spaced@x", t0.Add(-8*24*time.Hour), bg(t0.Add(-8*24*time.Hour), true)),
				open("spaced@x", t0, bg(t0, true)),
				// unreviewed: opened 24h01m before the evaluation
				open("unreviewed@x", t0.Add(-24*time.Hour-time.Minute), bg(t0.Add(-24*time.Hour-time.Minute), false)),
				open("recent@x", t0.Add(-23*time.Hour-59*time.Minute), bg(t0.Add(-23*time.Hour-59*time.Minute), false)),
			}
		},
		now:   t0,
		fire:  []string{"twice@x", "unreviewed@x"},
		quiet: []string{"spaced@x", "recent@x"},
	}, {
		rule: "customer-report",
		history: func(*models.DB) []models.AuditEntry {
			r := event(models.ActionConsentReported, "owner@acme.example", "", t0)
			g := event(models.ActionConsentGranted, "owner@globex.example", "", t0)
			g.Workspace = "globex"
			return []models.AuditEntry{r, g}
		},
		fire:  []string{"acme"},
		quiet: []string{"globex"},
	}} {
		t.Run(tc.rule, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *models.DB) {
				appendAll(t, db, tc.history(db))
				now := tc.now
				if now.IsZero() {
					now = t0.Add(2 * time.Hour)
				}
				d := detector(db, rulesOf(t, tc.rule), now)
				d.Batch = 97 // several batches, cut anywhere
				if _, err := d.RunOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
				got := openAlerts(t, db)
				for _, s := range tc.fire {
					if _, ok := got[tc.rule+" "+s]; !ok {
						t.Errorf("no %s alert about %s; alerts: %v", tc.rule, s, keys(got))
					}
				}
				for _, s := range tc.quiet {
					if a, ok := got[tc.rule+" "+s]; ok {
						t.Errorf("%s alert about %s, just below the threshold: %s", tc.rule, s, a.Summary)
					}
				}
				if len(got) != len(tc.fire) {
					t.Errorf("got %d alerts %v, want %d", len(got), keys(got), len(tc.fire))
				}
			})
		})
	}
}

func keys(m map[string]models.Alert) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAlertDedupAndStates: a repeat adds evidence to the open alert; an
// acknowledged one still takes evidence; once resolved the next repeat
// raises a new alert. Bad transitions change nothing. Every change is
// audited, and each new alert is mailed through the outbox to every
// active sysadmin and the security address.
func TestAlertDedupAndStates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		ada := mustStaff(t, db, "ada@example.com", "Ada", policy.TierSysadmin, models.StatusActive)
		mustStaff(t, db, "otto@example.com", "Otto", policy.TierSysadmin, models.StatusActive)
		mustStaff(t, db, "gone@example.com", "Gone", policy.TierSysadmin, models.StatusOffboarded)
		mustStaff(t, db, "sara@example.com", "Sara", policy.TierSenior, models.StatusActive)
		ob := newOutbox(t)
		base, _ := url.Parse("https://portal.example")
		post := models.Post{Outbox: ob, Letters: letters.New("Example", base, time.Now)}
		t0 := detMonday
		d := &models.Detector{DB: db, Rules: rulesOf(t, "reveals"), Post: post, SecurityEmail: "security@example.com", Webhook: true,
			Now: func() time.Time { return t0.Add(time.Hour) }}
		reveal := func(at time.Time) models.AuditEntry {
			return event(models.ActionFieldRevealed, "sara@example.com", "", at)
		}
		run := func() {
			t.Helper()
			if _, err := d.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var es []models.AuditEntry
		for i := range 4 {
			es = append(es, reveal(t0.Add(time.Duration(i)*time.Minute)))
		}
		first := appendAll(t, db, es)
		run()
		appendAll(t, db, []models.AuditEntry{reveal(t0.Add(5 * time.Minute))})
		run()
		a := openAlerts(t, db)["reveals sara@example.com"]
		if a.ID == 0 || a.EvidenceCount != 2 || a.State != models.AlertOpen || a.Severity != "medium" {
			t.Fatalf("alert after two batches = %+v, want one open alert with 2 pieces of evidence", a)
		}
		ev, err := models.AlertEvidence(ctx, db.Read, a.ID, 10)
		if err != nil || len(ev) != 2 || ev[0].Seq != first[3].Seq {
			t.Fatalf("evidence = %v, %v; want the 4th reveal (seq %d) and the 5th", ev, err, first[3].Seq)
		}
		mails, err := ob.List(ctx, db.Read, 100)
		if err != nil {
			t.Fatal(err)
		}
		var to []string
		for _, m := range mails {
			if m.Kind == "alert.raised" {
				to = append(to, m.To)
				if !strings.Contains(m.Text, "https://portal.example/alerts/"+fmt.Sprint(a.ID)) || !strings.Contains(m.Subject, "reveals") {
					t.Errorf("alert mail %q lacks the alert's link or rule:\n%s", m.Subject, m.Text)
				}
			}
		}
		if got := strings.Join(sorted(to), " "); got != "ada@example.com otto@example.com security@example.com" {
			t.Errorf("alert mailed to %q, want the active sysadmins and the security address", got)
		}

		act := models.Act{Now: t0.Add(2 * time.Hour), By: actorOf(ada)}
		if _, err := models.ResolveAlert(ctx, db.Write, act, a.ID, ""); err == nil {
			t.Error("resolved without a note")
		}
		if _, err := models.AcknowledgeAlert(ctx, db.Write, act, a.ID, "Looking into it with Sara."); err != nil {
			t.Fatal(err)
		}
		if _, err := models.AcknowledgeAlert(ctx, db.Write, act, a.ID, "Again."); !isConflict(err) {
			t.Errorf("acknowledged twice: %v, want a conflict", err)
		}
		appendAll(t, db, []models.AuditEntry{reveal(t0.Add(6 * time.Minute))})
		run()
		if got := openAlerts(t, db)["reveals sara@example.com"]; got.ID != a.ID || got.EvidenceCount != 3 || got.State != models.AlertAcknowledged {
			t.Errorf("after a repeat while acknowledged: %+v, want the same alert with 3 pieces of evidence", got)
		}
		if _, err := models.ResolveAlert(ctx, db.Write, act, a.ID, "A data migration ticket; expected."); err != nil {
			t.Fatal(err)
		}
		if _, err := models.AcknowledgeAlert(ctx, db.Write, act, a.ID, "Too late."); !isConflict(err) {
			t.Errorf("acknowledged a resolved alert: %v, want a conflict", err)
		}
		got, _ := models.GetAlert(ctx, db.Read, a.ID)
		if got.State != models.AlertResolved || got.AcknowledgedNote != "Looking into it with Sara." || got.ResolvedBy != "ada@example.com" {
			t.Errorf("resolved alert = %+v", got)
		}
		appendAll(t, db, []models.AuditEntry{reveal(t0.Add(7 * time.Minute))})
		run()
		again := openAlerts(t, db)["reveals sara@example.com"]
		if again.ID == 0 || again.ID == a.ID {
			t.Errorf("after resolving, a repeat raised %+v, want a new alert", again)
		}
		for action, want := range map[models.Action]int{
			models.ActionAlertRaised: 2, models.ActionAlertAcknowledged: 1, models.ActionAlertResolved: 1,
		} {
			evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Action: action})
			if err != nil || len(evs) != want {
				t.Errorf("%s events: %d (%v), want %d", action, len(evs), err, want)
			}
		}
		var hooks int64
		db.Read.Table("alert_webhooks").Count(&hooks)
		if hooks != 2 {
			t.Errorf("%d webhook deliveries queued, want 2 (one per new alert)", hooks)
		}
		if r, err := models.VerifyAudit(ctx, db); err != nil || !r.OK {
			t.Errorf("audit chain: %+v, %v", r, err)
		}
	})
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func isConflict(err error) bool {
	return err != nil && strings.Contains(err.Error(), "cannot be")
}

func loadPolicyRules() ([]policy.Rule, error) { return policy.LoadDetection() }

// TestDetectionResumesExactly: two detectors (as two replicas) on one
// database take turns evaluating a history as it is appended, batch by
// batch, one of their steps now and then rolling back after all its
// writes; the alerts and their evidence are exactly those of one detector
// evaluating the whole history at once. So a detector never trusts what
// it remembers of the aggregates once another moved the position, nor
// after its own step failed.
func TestDetectionResumesExactly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		rules := rulesOf(t, "volume", "breadth", "refusals", "reveals", "off-hours", "breakglass", "customer-report")
		now := detMonday.Add(6 * time.Hour)
		history := resumeHistory()

		// One detector, the whole history at once, on a database of its own.
		var single *models.DB
		if strings.Contains(t.Name(), "postgres") {
			single = dbtest.Postgres(t)
		} else {
			single = dbtest.SQLite(t)
		}
		appendAll(t, single, history)
		if _, err := detector(single, rules, now).RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		want := alertsWithEvidence(t, single)
		if len(want) < 15 {
			t.Fatalf("the history raises only %d alerts: too few to tell", len(want))
		}

		// Two detectors taking turns as the history is appended.
		ds := []*models.Detector{
			{DB: db, Rules: rules, Now: func() time.Time { return now }, Batch: 23},
			{DB: dbtest.Reopen(t, db), Rules: rules, Now: func() time.Time { return now }, Batch: 23},
		}
		rnd := rand.New(rand.NewPCG(7, 7))
		failed := 0
		for i := 0; i < len(history); {
			chunk := min(len(history)-i, 1+rnd.IntN(80))
			appendAll(t, db, history[i:i+chunk])
			i += chunk
			for range 1 + rnd.IntN(4) {
				d := ds[rnd.IntN(2)]
				fail := rnd.IntN(6) == 0
				if fail {
					d.FailNextStep()
				}
				_, _, err := d.Step(ctx)
				if fail != (err != nil) {
					t.Fatalf("step (failing: %v): %v", fail, err)
				}
				if fail {
					failed++
				}
			}
		}
		for k := 0; ; k++ { // finish, still taking turns
			_, more, err := ds[k%2].Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !more {
				break
			}
		}
		if failed == 0 {
			t.Fatal("no step failed: the test proves less than it says")
		}
		got := alertsWithEvidence(t, db)
		if len(got) != len(want) {
			t.Errorf("%d alerts, want %d", len(got), len(want))
		}
		for k, w := range want {
			if g, ok := got[k]; !ok || g != w {
				t.Errorf("alert %s:\n got %s\nwant %s", k, g, w)
			}
		}
		for k, g := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("alert %s not raised by one detector: %s", k, g)
			}
		}
	})
}

// resumeHistory is five hours of activity by a few staff over a few
// workspaces, every rule's events among them, each event named by its
// Target ("e<n>") so evidence can be compared across databases.
func resumeHistory() []models.AuditEntry {
	rnd := rand.New(rand.NewPCG(3, 4))
	var es []models.AuditEntry
	at := detMonday.Add(-3 * time.Hour)
	for i := range 900 {
		at = at.Add(time.Duration(5+rnd.IntN(30)) * time.Second)
		who := fmt.Sprintf("s%d@x", rnd.IntN(5))
		when := at.Add(-time.Duration(rnd.IntN(3)) * time.Minute) // a little out of order
		var e models.AuditEntry
		switch r := rnd.IntN(100); {
		case r < 8:
			e = event(models.ActionFieldRevealed, who, "", when)
		case r < 16:
			e = event(models.ActionDataRefused, who, fmt.Sprintf("10.1.0.%d", rnd.IntN(4)), when)
		case r < 20:
			e = event(models.ActionLoginRefused, "", fmt.Sprintf("10.2.0.%d", rnd.IntN(3)), when)
		case r < 22:
			e = event(models.ActionBreakglassOpened, who, "", when)
		case r < 23:
			e = event(models.ActionConsentReported, "owner@x", "", when)
			e.Workspace = fmt.Sprintf("w%d", rnd.IntN(6))
		default:
			ids := []string{fmt.Sprint(rnd.IntN(8))}
			if rnd.IntN(3) == 0 {
				ids = append(ids, fmt.Sprint(rnd.IntN(8)))
			}
			e = view(who, when, fmt.Sprintf("w%d", rnd.IntN(6)), ids...)
			if i > 600 && rnd.IntN(2) == 0 { // a burst: views far above the baseline
				e = view("s0@x", when, "w0", ids...)
			}
		}
		e.Target = fmt.Sprintf("e%d", i)
		es = append(es, e)
	}
	return es
}

// alertsWithEvidence maps "rule subject-kind subject opened-at" to the
// alert's fields and its evidence, named by the events' targets.
func alertsWithEvidence(t *testing.T, db *models.DB) map[string]string {
	t.Helper()
	var as []models.Alert
	if err := db.Read.Order("id").Find(&as).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range as {
		var targets []string
		if err := db.Read.Raw("SELECT e.target FROM alert_evidence v JOIN audit_events e ON e.seq = v.seq WHERE v.alert_id = ? ORDER BY e.target", a.ID).
			Scan(&targets).Error; err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("%s %s %s %s", a.Rule, a.SubjectKind, a.Subject, a.OpenedAt.UTC().Format(time.RFC3339))
		out[k] = fmt.Sprintf("%s|%s|%s|%s|%s|last %s|%d|%v", a.Kind, a.Workspace, a.Severity, a.Summary, a.State,
			a.LastSeenAt.UTC().Format(time.RFC3339), a.EvidenceCount, targets)
	}
	return out
}
