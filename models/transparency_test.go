package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"gorm.io/gorm"
)

// reportLetters writes minimal report mails and keeps each owner's latest
// link token and the figures mailed.
type reportLetters struct {
	mu      sync.Mutex
	tokens  map[string]string
	figures map[string]models.ReportFigures
}

func (l *reportLetters) Letter(_ context.Context, _ *gorm.DB, n models.Notice) (models.Mail, error) {
	r, ok := n.(models.TransparencyNotice)
	if !ok {
		return models.Mail{}, fmt.Errorf("no letter for %T", n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tokens == nil {
		l.tokens, l.figures = map[string]string{}, map[string]models.ReportFigures{}
	}
	l.tokens[r.Owner], l.figures[r.Report.Workspace] = r.Token, r.Figures
	return models.Mail{Kind: "transparency.report", Subject: "Report " + r.Name, Text: "/transparency/" + r.Token}, nil
}

// reportHistory appends, on acme, a history around November 2026: views,
// reveals, a break-glass and three decided requests in it, and the same
// kinds of event just before and after it; globex is touched only in
// October.
func reportHistory(t *testing.T, db *models.DB) {
	t.Helper()
	ctx := context.Background()
	at := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	add := func(when time.Time, actor string, action models.Action, ws, table, target string) {
		t.Helper()
		_, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{
			At: when, Actor: models.Actor{Email: actor, Tier: "senior"}, Action: action, Workspace: ws, Table: table, Target: target,
			RecordIDs: func() []string {
				if table == "" {
					return nil
				}
				return []string{"1"}
			}(),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sara, sean, ada := "sara.senior@example.com", "sean.senior@example.com", "ada.sysadmin@example.com"
	for i := range 3 {
		add(at(3, i), sara, models.ActionDataViewed, "acme", "members", "")
	}
	add(at(4, 1), sara, models.ActionDataViewed, "acme", "projects", "")
	add(at(4, 2), sara, models.ActionDataViewed, "acme", "projects", "")
	add(at(30, 23), sean, models.ActionDataViewed, "acme", "members", "")
	add(at(5, 1), sara, models.ActionFieldRevealed, "acme", "members", "")
	add(at(5, 2), sara, models.ActionFieldRevealed, "acme", "members", "")
	add(at(6, 1), ada, models.ActionBreakglassOpened, "acme", "", "acme")
	// Requests: 30 minutes, 2 hours and 48 hours to a decision (the last
	// made in October): median 2 hours.
	add(time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC), "sam.support@example.com", models.ActionRequestCreated, "acme", "", "request/1")
	add(at(1, 0), sean, models.ActionRequestDenied, "acme", "", "request/1")
	add(at(2, 10), "sam.support@example.com", models.ActionRequestCreated, "acme", "", "request/2")
	add(at(2, 12), sean, models.ActionRequestApproved, "acme", "", "request/2")
	add(at(5, 0), "sam.support@example.com", models.ActionRequestCreated, "acme", "", "request/3")
	add(time.Date(2026, 11, 5, 0, 30, 0, 0, time.UTC), sean, models.ActionRequestApproved, "acme", "", "request/3")
	add(at(3, 12), "owner@acme.example", models.ActionConsentGranted, "acme", "", "request/2")
	add(at(6, 12), "owner@acme.example", models.ActionConsentReported, "acme", "", "request/3")
	// Outside the period.
	add(time.Date(2026, 10, 31, 23, 59, 0, 0, time.UTC), sara, models.ActionDataViewed, "acme", "members", "")
	add(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), sara, models.ActionDataViewed, "acme", "members", "")
	add(time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC), sara, models.ActionDataViewed, "globex", "members", "")
	// Events that are no access to acme's data.
	add(at(7, 0), sara, models.ActionLoginSucceeded, "", "", "")
}

// directFigures counts the report's figures straight from every audit
// event, in Go: the check on CountReport's queries.
func directFigures(t *testing.T, db *models.DB, ws string, from, to time.Time) models.ReportFigures {
	t.Helper()
	var evs []models.AuditEvent
	if err := db.Read.Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	var f models.ReportFigures
	counts := map[models.Action]map[[2]string]int64{}
	created := map[string]time.Time{}
	var waits []time.Duration
	for _, e := range evs {
		if e.Action == models.ActionRequestCreated {
			created[e.Target] = e.At
		}
		if e.Workspace != ws || e.At.Before(from) || !e.At.Before(to) {
			continue
		}
		switch e.Action {
		case models.ActionDataViewed, models.ActionFieldRevealed:
			if counts[e.Action] == nil {
				counts[e.Action] = map[[2]string]int64{}
			}
			counts[e.Action][[2]string{e.Actor, e.Table}]++
		case models.ActionBreakglassOpened:
			f.Breakglass = append(f.Breakglass, models.BreakglassFigure{Staff: e.Actor, At: e.At.UTC(), Justification: e.Reason})
		case models.ActionRequestCreated:
			f.Requests.Created++
		case models.ActionRequestApproved, models.ActionRequestDenied:
			if e.Action == models.ActionRequestApproved {
				f.Requests.Approved++
			} else {
				f.Requests.Denied++
			}
			waits = append(waits, e.At.Sub(created[e.Target]))
		case models.ActionConsentGranted:
			f.Requests.Granted++
		case models.ActionConsentReported:
			f.Requests.Reported++
		}
	}
	list := func(m map[[2]string]int64) []models.StaffTableCount {
		var out []models.StaffTableCount
		for k, n := range m {
			out = append(out, models.StaffTableCount{Staff: k[0], Table: k[1], Count: n})
		}
		slices.SortFunc(out, func(a, b models.StaffTableCount) int {
			return cmpStrings(a.Staff+"\x00"+a.Table, b.Staff+"\x00"+b.Table)
		})
		return out
	}
	f.Views, f.Reveals = list(counts[models.ActionDataViewed]), list(counts[models.ActionFieldRevealed])
	slices.Sort(waits)
	if f.Decided = len(waits); f.Decided > 0 {
		f.MedianDecision = waits[len(waits)/2] // odd here: one or three decisions
	}
	return f
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestTransparencyReportOncePerPeriod: two jobs at once (on PostgreSQL two
// connections racing for the same rows) make acme's November report
// once, mailed once to each owner; its figures equal a count straight
// from the log; globex, idle in November, gets none; a later run makes
// nothing more.
func TestTransparencyReportOncePerPeriod(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, _ := retentionStores(t, db)
		reportHistory(t, db)
		l := &reportLetters{}
		now := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
		job := func() *models.TransparencyJob {
			return &models.TransparencyJob{DB: db, Product: product, Post: models.Post{Outbox: newOutbox(t), Letters: l},
				Policy: models.DefaultTransparencyPolicy(), Now: func() time.Time { return now }}
		}
		runTwo := func() int {
			t.Helper()
			var wg sync.WaitGroup
			runs := make([]models.TransparencyRun, 2)
			errs := make([]error, 2)
			for i := range runs {
				wg.Go(func() { runs[i], errs[i] = job().RunOnce(ctx) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			return runs[0].Reported + runs[1].Reported
		}
		if n := runTwo(); n != 1 {
			t.Errorf("two runs made %d reports, want 1 (acme)", n)
		}
		want := map[string]int{"acme owner@acme.example": 1, "acme admin@acme.example": 1}
		if m := mailsTo(t, db, "transparency.report"); fmt.Sprint(m) != fmt.Sprint(want) {
			t.Errorf("report mails %v, want %v", m, want)
		}
		var reports []models.TransparencyReport
		if err := db.Read.Find(&reports).Error; err != nil {
			t.Fatal(err)
		}
		from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if len(reports) != 1 || reports[0].Workspace != "acme" || !reports[0].PeriodStart.Equal(from) || !reports[0].PeriodEnd.Equal(to) || reports[0].Recipients != 2 {
			t.Fatalf("reports %+v, want acme's November with 2 recipients", reports)
		}
		got, err := reports[0].Parsed()
		if err != nil {
			t.Fatal(err)
		}
		direct := directFigures(t, db, "acme", from, to)
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", direct) {
			t.Errorf("report figures\n%+v\nwant (direct count)\n%+v", got, direct)
		}
		// The constructed history's own numbers, so that the direct count
		// is checked too.
		if got.Requests.Created != 2 || got.Requests.Approved != 2 || got.Requests.Denied != 1 || got.Requests.Granted != 1 || got.Requests.Reported != 1 ||
			len(got.Views) != 3 || got.Views[0].Count != 3 || len(got.Reveals) != 1 || got.Reveals[0].Count != 2 || len(got.Breakglass) != 1 ||
			got.Decided != 3 || got.MedianDecision != 2*time.Hour || got.Alerts != nil {
			t.Errorf("figures %+v do not match the history", got)
		}
		var events int64
		db.Read.Model(&models.AuditEvent{}).Where("action = ? AND workspace = ?", models.ActionTransparencyReported, "acme").Count(&events)
		if events != 1 {
			t.Errorf("%d transparency.reported events, want 1", events)
		}
		now = now.Add(48 * time.Hour)
		if n := runTwo(); n != 0 {
			t.Errorf("later runs in December made %d reports, want none", n)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

// TestTransparencyReportsOfABatch: workspaces counted together get each
// their own figures, as counted straight from the log: views by two staff
// members in numbers that differ between workspaces, a decision each
// with its own wait, break-glass on some, idle ones.
func TestTransparencyReportsOfABatch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		reportHistory(t, db)
		from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		add := func(at time.Time, actor string, action models.Action, ws, table, target string) {
			t.Helper()
			e := models.AuditEntry{At: at, Actor: models.Actor{Email: actor, Tier: "senior"}, Action: action, Workspace: ws, Table: table, Target: target}
			if table != "" {
				e.RecordIDs = []string{"1"}
			}
			if _, err := models.AppendAudit(ctx, db.Write, e); err != nil {
				t.Fatal(err)
			}
		}
		busy := []string{"hooli", "initech", "umbrella"}
		for i, ws := range busy {
			day := time.Date(2026, 11, 10+i, 0, 0, 0, 0, time.UTC)
			for j := range i + 1 {
				add(day.Add(time.Duration(j)*time.Minute), "sara.senior@example.com", models.ActionDataViewed, ws, "members", "")
				add(day.Add(time.Duration(j)*time.Minute), "sean.senior@example.com", models.ActionDataViewed, ws, "projects", "")
			}
			request := fmt.Sprintf("request/%d", 10+i)
			add(day, "sam.support@example.com", models.ActionRequestCreated, ws, "", request)
			add(day.Add(time.Duration(i+1)*time.Hour), "sean.senior@example.com", []models.Action{models.ActionRequestApproved, models.ActionRequestDenied}[i%2], ws, "", request)
			if i%2 == 0 {
				add(day.Add(2*time.Hour), "ada.sysadmin@example.com", models.ActionBreakglassOpened, ws, "", ws)
			}
		}
		all := append([]string{"acme", "globex", "nobody"}, busy...)
		got, err := models.CountReports(ctx, db.Read, all, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(all) {
			t.Errorf("figures of %d workspaces, want %d", len(got), len(all))
		}
		for _, ws := range all {
			if g, want := fmt.Sprintf("%+v", got[ws]), fmt.Sprintf("%+v", directFigures(t, db, ws, from, to)); g != want {
				t.Errorf("%s's figures\n%s\nwant (direct count)\n%s", ws, g, want)
			}
		}
		if f := got["umbrella"]; len(f.Views) != 2 || f.Views[0].Count != 3 || f.Decided != 1 || f.MedianDecision != 3*time.Hour || len(f.Breakglass) != 1 {
			t.Errorf("umbrella's figures %+v do not match the history", f)
		}
		if !got["globex"].Idle() || !got["nobody"].Idle() {
			t.Errorf("globex's %+v and nobody's %+v figures, want idle ones", got["globex"], got["nobody"])
		}
	})
}

// TestTransparencyQuietAndAlerts: with the "nothing happened" setting an
// idle workspace gets an idle report; an alerts source fills the alerts.
// Two reports to a transaction, so the registry takes several.
func TestTransparencyQuietAndAlerts(t *testing.T) {
	defer models.CutReportTransactions(2)()
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, _ := retentionStores(t, db)
		reportHistory(t, db)
		l := &reportLetters{}
		alertAt := time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
		job := &models.TransparencyJob{DB: db, Product: product, Post: models.Post{Outbox: newOutbox(t), Letters: l},
			Policy: models.TransparencyPolicy{Period: models.ReportMonthly, Quiet: true},
			Now:    func() time.Time { return time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC) },
			Alerts: func(_ context.Context, wss []string, from, to time.Time) (map[string][]models.ReportAlert, error) {
				if slices.Contains(wss, "acme") && !alertAt.Before(from) && alertAt.Before(to) {
					return map[string][]models.ReportAlert{"acme": {{Rule: "volume", Severity: "high", State: "resolved", At: alertAt}}}, nil
				}
				return nil, nil
			}}
		run, err := job.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := models.CountWorkspaces(ctx, product.Read)
		if err != nil {
			t.Fatal(err)
		}
		var deleted int64
		product.Read.Model(&models.Workspace{}).Where("status = ?", models.WorkspaceDeleted).Count(&deleted)
		if int64(run.Reported) != n-deleted {
			t.Errorf("quiet run made %d reports, want one per live workspace (%d)", run.Reported, n-deleted)
		}
		l.mu.Lock()
		globex, acme := l.figures["globex"], l.figures["acme"]
		l.mu.Unlock()
		if !globex.Idle() || globex.Alerts == nil || len(globex.Alerts) != 0 {
			t.Errorf("globex's figures %+v, want idle with an empty alerts section", globex)
		}
		if acme.Idle() || len(acme.Alerts) != 1 || acme.Alerts[0].Rule != "volume" {
			t.Errorf("acme's alerts %+v, want the volume alert", acme.Alerts)
		}
	})
}

// TestTransparencyMailOff: an owner's link turns their mail off, once;
// the next period's report is still made, mailed to the other owner
// only; a bad token changes nothing.
func TestTransparencyMailOff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, _ := retentionStores(t, db)
		reportHistory(t, db)
		l := &reportLetters{}
		now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
		job := &models.TransparencyJob{DB: db, Product: product, Post: models.Post{Outbox: newOutbox(t), Letters: l},
			Policy: models.DefaultTransparencyPolicy(), Now: func() time.Time { return now }}
		if _, err := job.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		token := l.tokens["owner@acme.example"]
		count := func(table string) (n int64) {
			db.Read.Table(table).Count(&n)
			return n
		}
		for _, bad := range []string{"", "short", lastChanged(token), lastChanged(l.tokens["admin@acme.example"])} {
			events, off := count("audit_events"), count("transparency_mail_off")
			if _, err := models.TurnTransparencyMailOff(ctx, db.Write, now, models.TransparencyLinkInput{Token: bad}); !errors.Is(err, models.ErrBadToken) {
				t.Errorf("mail off with %q: %v, want ErrBadToken", bad, err)
			}
			if count("audit_events") != events || count("transparency_mail_off") != off {
				t.Errorf("a bad token changed something")
			}
		}
		v, err := models.TurnTransparencyMailOff(ctx, db.Write, now, models.TransparencyLinkInput{Token: token, IP: "192.0.2.1"})
		if err != nil || !v.MailOff {
			t.Fatalf("mail off: %+v, %v", v, err)
		}
		if _, err := models.TurnTransparencyMailOff(ctx, db.Write, now, models.TransparencyLinkInput{Token: token}); !errors.Is(err, models.ErrConflict) {
			t.Errorf("mail off twice: %v, want a conflict", err)
		}
		var offEvents int64
		db.Read.Model(&models.AuditEvent{}).Where("action = ? AND actor = ? AND ip = ?", models.ActionTransparencyMailOff, "owner@acme.example", "192.0.2.1").Count(&offEvents)
		if offEvents != 1 {
			t.Errorf("%d mail-off events, want 1", offEvents)
		}
		// December's activity, reported in January.
		if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: time.Date(2026, 12, 9, 0, 0, 0, 0, time.UTC),
			Actor: models.Actor{Email: "sara.senior@example.com"}, Action: models.ActionDataViewed, Workspace: "acme", Table: "members", RecordIDs: []string{"2"}}); err != nil {
			t.Fatal(err)
		}
		now = time.Date(2027, 1, 1, 1, 0, 0, 0, time.UTC)
		if run, err := job.RunOnce(ctx); err != nil || run.Reported != 1 || run.Mailed != 1 {
			t.Errorf("January run: %+v, %v; want 1 report mailed once", run, err)
		}
		want := map[string]int{"acme owner@acme.example": 1, "acme admin@acme.example": 2}
		if m := mailsTo(t, db, "transparency.report"); fmt.Sprint(m) != fmt.Sprint(want) {
			t.Errorf("report mails %v, want %v (the owner's mail off)", m, want)
		}
		// The link still opens its report, and the link expires.
		if v, err := models.OpenTransparencyLink(ctx, db.Read, now, token); err != nil || !v.MailOff || v.Report.Workspace != "acme" {
			t.Errorf("open link: %+v, %v", v, err)
		}
		if _, err := models.OpenTransparencyLink(ctx, db.Read, now.Add(models.TransparencyLinkValidFor), token); !errors.Is(err, models.ErrBadToken) {
			t.Errorf("open link after its validity: %v, want ErrBadToken", err)
		}
	})
}

func TestReportPeriods(t *testing.T) {
	now := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC) // a Thursday
	for _, c := range []struct {
		p        models.ReportPeriod
		from, to string
	}{
		{models.ReportMonthly, "2026-11-01", "2026-12-01"},
		{models.ReportQuarterly, "2026-07-01", "2026-10-01"},
		{models.ReportWeekly, "2026-11-23", "2026-11-30"},
	} {
		from, to := c.p.Last(now)
		if got := from.Format(time.DateOnly) + " " + to.Format(time.DateOnly); got != c.from+" "+c.to {
			t.Errorf("%s: last period %s, want %s %s", c.p, got, c.from, c.to)
		}
	}
	if _, err := models.ParseReportPeriod("yearly"); err == nil {
		t.Error("yearly parsed")
	}
}

// lastChanged is tok with its last character changed (to A, or to B when
// it ends in A): one character off, never the token itself.
func lastChanged(tok string) string {
	if strings.HasSuffix(tok, "A") {
		return tok[:len(tok)-1] + "B"
	}
	return tok[:len(tok)-1] + "A"
}

// TestTransparencyPeriodCompleted: a run within the hour after the
// period's end makes the reports but does not mark the period done, so an
// event of the period committed just after the end still gets its report
// on the next run; a run an hour or more after the end marks it, and
// later runs read nothing more (a late event is not reported).
func TestTransparencyPeriodCompleted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, _ := retentionStores(t, db)
		reportHistory(t, db)
		var now time.Time
		job := &models.TransparencyJob{DB: db, Product: product, Post: models.Post{Outbox: newOutbox(t), Letters: &reportLetters{}},
			Policy: models.DefaultTransparencyPolicy(), Now: func() time.Time { return now }}
		run := func(at time.Time) (reported int, marked int64) {
			t.Helper()
			now = at
			r, err := job.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Read.Model(&models.TransparencyPeriod{}).Count(&marked).Error; err != nil {
				t.Fatal(err)
			}
			return r.Reported, marked
		}
		late := func(ws string) {
			t.Helper()
			_, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC),
				Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior"}, Action: models.ActionDataViewed, Workspace: ws, Table: "members", RecordIDs: []string{"1"}})
			if err != nil {
				t.Fatal(err)
			}
		}
		end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if n, marked := run(end.Add(30 * time.Minute)); n != 1 || marked != 0 {
			t.Fatalf("half an hour after the end: %d reports, %d periods marked; want acme's, none marked", n, marked)
		}
		late("globex")
		if n, marked := run(end.Add(90 * time.Minute)); n != 1 || marked != 1 {
			t.Fatalf("an hour and a half after: %d reports, %d periods marked; want globex's, the period marked", n, marked)
		}
		late("initech")
		if n, marked := run(end.Add(48 * time.Hour)); n != 0 || marked != 1 {
			t.Errorf("two days after: %d reports, %d periods marked; want none made, the period still marked", n, marked)
		}
		var reports int64
		if err := db.Read.Model(&models.TransparencyReport{}).Count(&reports).Error; err != nil || reports != 2 {
			t.Errorf("%d reports, %v; want acme's and globex's", reports, err)
		}
	})
}

// TestTransparencyReportPlans: on SQLite each statement of a batch of
// reports reads the workspaces' events of the period, and the
// decided requests' creation by their targets, never every workspace's
// events of the period or every request of the log. SQLite plans here
// without statistics, as in the portal, where ANALYZE never runs.
// (PostgreSQL plans by its statistics; TestAuditFilterPlans checks them
// on a log it has analyzed.)
func TestTransparencyReportPlans(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		if db.Dialect == models.Postgres {
			t.Skip("PostgreSQL plans by statistics: TestAuditFilterPlans")
		}
		ctx := context.Background()
		from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
		add := func(at time.Time, ws string, action models.Action, target string) {
			t.Helper()
			e := models.AuditEntry{At: at, Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior"}, Action: action, Workspace: ws, Target: target}
			if action == models.ActionDataViewed {
				e.Table, e.RecordIDs = "members", []string{"1"}
			}
			if _, err := models.AppendAudit(ctx, db.Write, e); err != nil {
				t.Fatal(err)
			}
		}
		add(from.Add(-time.Hour), "acme", models.ActionRequestCreated, "request/1")
		for i := range 20 {
			add(from.Add(time.Duration(i)*time.Hour), []string{"acme", "globex"}[i%2], models.ActionDataViewed, "")
		}
		add(from.Add(30*time.Hour), "acme", models.ActionRequestApproved, "request/1")

		var seen statements
		all, err := models.CountReports(ctx, db.Read.Session(&gorm.Session{Logger: &seen}), []string{"acme", "globex", "initech"}, from, from.AddDate(0, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if f := all["acme"]; f.Decided != 1 || f.MedianDecision != 31*time.Hour || len(f.Views) != 1 || f.Views[0].Count != 10 {
			t.Errorf("acme's figures: %d decided in %s, views %+v; want 1 in 31h and 10 views", f.Decided, f.MedianDecision, f.Views)
		}
		if f := all["globex"]; f.Decided != 0 || len(f.Views) != 1 || f.Views[0].Count != 10 {
			t.Errorf("globex's figures: %d decided, views %+v; want none decided and 10 views", f.Decided, f.Views)
		}
		if f, ok := all["initech"]; !ok || !f.Idle() {
			t.Errorf("initech's figures %+v (%t), want idle ones", f, ok)
		}
		if len(seen.sql) != 4 {
			t.Fatalf("the reports ran %d statements, want 3 over the period and the decided requests': %q", len(seen.sql), seen.sql)
		}
		for i, sql := range seen.sql {
			want := "USING INDEX audit_events_workspace_at (workspace=? AND at>? AND at<?)"
			if i == 3 {
				want = "USING INDEX audit_events_target (target=?)"
			}
			if plan := sqlitePlan(t, db, sql); len(plan) == 0 || !strings.Contains(plan[0], want) {
				t.Errorf("statement %d does not read %s:\n%s\n%q", i+1, want, sql, plan)
			}
		}
	})
}
