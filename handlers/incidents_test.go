package handlers

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/mailer"
	"gatehouse/mailer/smtptest"
	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// declareTestIncidents has otto declare incident 1 (acme affected, with
// his notice 1) and incident 2, for the route tests' forms.
func declareTestIncidents(t *testing.T, db *models.DB, now time.Time, otto int64) {
	t.Helper()
	ctx := context.Background()
	act := models.Act{Now: now, By: models.Actor{Email: "otto.sysadmin@example.com", Tier: "sysadmin"}}
	for range 2 {
		_, err := models.DeclareIncident(ctx, db.Write, act, models.NewIncident{
			Title: "Routes test incident", Summary: "A test incident declared so that every route has one to act on.",
			Severity: "low", StartedAt: now.Add(-time.Hour), DetectedAt: now, DeclaredBy: otto,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := models.SetAffected(ctx, db.Write, act, 1, []models.AffectedWorkspace{{Slug: "acme", Name: "Acme"}}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := models.DraftNotice(ctx, db.Write, act, 1, otto, "We are writing to tell you that a test incident touched your workspace."); err != nil {
		t.Fatal(err)
	}
}

var noticeLink = regexp.MustCompile(`/incident-notice/([A-Za-z0-9_-]{43})`)

// TestIncidentNoticeThroughThePages walks an incident through its pages:
// declared (bad times refused), the affected workspaces found from the
// evidence and stored, a notice written, refused to its author, approved
// by a second sysadmin, delivered (one mail refused by the server), each
// state shown; then an owner reads it through their link, and bad or
// expired links are refused and change nothing.
func TestIncidentNoticeThroughThePages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := newPortal(t, db)
		now := p.clock.Now()
		// The evidence: sara viewed acme and globex an hour ago.
		for _, ws := range []string{"acme", "globex"} {
			_, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{
				At: now.Add(-time.Hour), Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior"}, Action: models.ActionDataViewed,
				Workspace: ws, Table: "members", RecordIDs: []string{"1", "2"},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		ada, otto := p.login("ada.sysadmin@example.com"), p.login("otto.sysadmin@example.com")
		day := func(d time.Duration) string { return now.Add(d).UTC().Format("2006-01-02T15:04") }
		declare := url.Values{"title": {"Stolen laptop"}, "summary": {"A senior engineer's laptop was stolen while signed in to the portal."},
			"severity": {"high"}, "started": {day(-2 * time.Hour)}, "detected": {day(-3 * time.Hour)}}
		before := snapshotDB(t, db, "sessions.last_seen_at")
		if res, body := p.post(ada, "/incidents", declare); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "before it started") {
			t.Fatalf("detected before started: %d, want 422 saying so", res.StatusCode)
		}
		if diff := before.diff(snapshotDB(t, db, "sessions.last_seen_at")); diff != "" {
			t.Errorf("refused declaration changed the database:\n%s", diff)
		}
		declare.Set("detected", day(-90*time.Minute))
		res, _ := p.post(ada, "/incidents", declare)
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/incidents/1" {
			t.Fatalf("declare: %d at %s", res.StatusCode, res.Request.URL)
		}
		find := url.Values{"method": {"staff"}, "staff": {"sara.senior@example.com"}, "since": {day(-2 * time.Hour)}, "until": {day(0)}}
		before = snapshotDB(t, db, "sessions.last_seen_at")
		_, body := p.get(ada, "/incidents/1?find=1&"+find.Encode())
		if !strings.Contains(body, `data-testid="affected-acme"`) || !strings.Contains(body, `data-testid="affected-globex"`) {
			t.Fatalf("finder did not show acme and globex:\n%s", body)
		}
		if diff := before.diff(snapshotDB(t, db, "sessions.last_seen_at")); diff != "" {
			t.Errorf("the finder's GET changed the database:\n%s", diff)
		}
		if res, _ := p.post(ada, "/incidents/1/affected", find); res.StatusCode != http.StatusOK {
			t.Fatalf("store affected: %d", res.StatusCode)
		}
		if res, _ := p.post(ada, "/incidents/1/notices", url.Values{"body": {"A stolen laptop was used to read some of your workspace's member records. We ended every session at once."}}); res.StatusCode != http.StatusOK {
			t.Fatalf("draft notice: %d", res.StatusCode)
		}
		_, body = p.get(otto, "/incidents/1/notices/1?workspace=globex")
		if !strings.Contains(body, `data-testid="preview-subject">Security incident affecting your workspace`) || !strings.Contains(body, "sara.senior@example.com") {
			t.Errorf("preview lacks the subject or the facts:\n%s", body)
		}

		mails := p.count("mail_outbox", "")
		if res, _ := p.post(ada, "/incidents/1/notices/1/approve", url.Values{}); res.StatusCode != http.StatusForbidden {
			t.Errorf("approval by its author: %d, want 403", res.StatusCode)
		}
		if got := p.count("mail_outbox", ""); got != mails {
			t.Fatalf("refused approval queued %d mails", got-mails)
		}
		if res, _ := p.post(otto, "/incidents/1/notices/1/approve", url.Values{}); res.StatusCode != http.StatusOK {
			t.Fatalf("approval by otto: %d", res.StatusCode)
		}
		var owners int
		for _, ws := range []string{"acme", "globex"} {
			o, err := models.Owners(ctx, p.opts.Product, ws)
			if err != nil {
				t.Fatal(err)
			}
			owners += len(o)
		}
		if owners < 2 {
			t.Fatalf("the test workspaces have %d owners, want at least 2", owners)
		}
		states := func() (q, s, f int) {
			_, body := p.get(ada, "/incidents/1")
			return strings.Count(body, `data-testid="delivery-status">queued<`), strings.Count(body, `data-testid="delivery-status">sent<`),
				strings.Count(body, `data-testid="delivery-status">failed<`)
		}
		if q, s, f := states(); q != owners || s != 0 || f != 0 {
			t.Errorf("after approval: %d queued, %d sent, %d failed; want %d queued", q, s, f, owners)
		}
		srv := smtptest.Start(t)
		srv.RefuseNext(1, 550)
		sender, err := mailer.New(mailer.Config{Host: srv.Host, Port: srv.Port, From: "gatehouse@portal.example", TLSConfig: srv.ClientTLS, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		w := &models.MailWorker{DB: db, Outbox: p.opts.Outbox, Sender: sender, Now: p.clock.Now, ID: "test", Batch: 1}
		for {
			sent, failed, err := w.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sent+failed == 0 {
				break
			}
		}
		if q, s, f := states(); q != 0 || s != owners-1 || f != 1 {
			t.Errorf("after delivery: %d queued, %d sent, %d failed; want %d sent and 1 failed", q, s, f, owners-1)
		}

		// An owner's link.
		var token string
		list, err := p.opts.Outbox.List(ctx, db.Read, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			if mm := noticeLink.FindStringSubmatch(m.Text); mm != nil && m.Kind == "incident.notice" {
				token = mm[1]
				break
			}
		}
		if token == "" {
			t.Fatal("no notice link in the mails")
		}
		anon := p.client()
		res, body = p.get(anon, "/incident-notice/"+token)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="incident-notice"`) || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("owner's link: %d, cache %q:\n%s", res.StatusCode, res.Header.Get("Cache-Control"), body)
		}
		if n := p.count("audit_events", "action = ?", models.ActionIncidentNoticeShown); n != 1 {
			t.Errorf("%d incident.notice_shown events, want 1", n)
		}
		before = snapshotDB(t, db, "sessions.last_seen_at", "rate_limits")
		bad := []byte(token)
		bad[0] ^= 1
		for _, tok := range []string{string(bad), "short", strings.Repeat("A", 43)} {
			if res, _ := p.get(anon, "/incident-notice/"+tok); res.StatusCode != http.StatusNotFound {
				t.Errorf("link %q: %d, want 404", tok, res.StatusCode)
			}
		}
		p.clock.Advance(models.IncidentLinkValid + time.Minute)
		if res, _ := p.get(anon, "/incident-notice/"+token); res.StatusCode != http.StatusNotFound {
			t.Errorf("expired link: %d, want 404", res.StatusCode)
		}
		if diff := before.diff(snapshotDB(t, db, "sessions.last_seen_at", "rate_limits")); diff != "" {
			t.Errorf("refused links changed the database:\n%s", diff)
		}
	})
}

// TestIncidentContainmentOnNextRequest: ending sara's access under an
// incident refuses her very next request, and her grant's data.
func TestIncidentContainmentOnNextRequest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := newPortal(t, db)
		now := p.clock.Now()
		sara := p.login("sara.senior@example.com")
		sam := p.login("sam.support@example.com")
		if _, err := models.CreateGrant(ctx, db.Write, now, models.NewGrant{Workspace: "acme", GranteeID: p.idOf("sara.senior@example.com"), StartsAt: now, Duration: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if res, _ := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusOK {
			t.Fatalf("sara's data page before containment: %d", res.StatusCode)
		}
		declareTestIncidents(t, db, now, p.idOf("otto.sysadmin@example.com"))
		ada := p.login("ada.sysadmin@example.com")
		res, body := p.post(ada, "/incidents/1/contain", url.Values{"staff": {"sara.senior@example.com"}, "note": {"Her laptop was stolen while signed in."}})
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="action"`) {
			t.Fatalf("contain: %d:\n%s", res.StatusCode, body)
		}
		res, _ = p.do(noRedirect(sara), http.MethodGet, "/workspaces/acme/data/members", nil, nil)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("sara's next request: %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
		}
		if n := p.count("grants", "grantee_id = ? AND ended_at IS NULL", p.idOf("sara.senior@example.com")); n != 0 {
			t.Errorf("%d live grants of sara after containment, want 0", n)
		}
		if res, _ := p.get(sam, "/workspaces"); res.StatusCode != http.StatusOK {
			t.Errorf("sam, not named, was refused: %d", res.StatusCode)
		}
		// Signing in again does not bring the grant back.
		sara = p.login("sara.senior@example.com")
		if res, _ := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Errorf("sara's data page after containment and a new sign-in: %d, want 403", res.StatusCode)
		}
	})
}
