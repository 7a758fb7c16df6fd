package handlers

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/PuerkitoBio/goquery"
)

// testIDs lists, in document order, the data-testid values among want
// that body carries.
func testIDs(t *testing.T, body string, want ...string) []string {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	doc.Find("[data-testid]").Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-testid")
		for _, w := range want {
			if id == w {
				got = append(got, id)
			}
		}
	})
	return got
}

// liveGrantFlow files a request for sara, has sean approve it and the
// acme owner consent, and returns its id and the owner's consent token:
// sara holds a live grant.
func (p *testPortal) liveGrantFlow(sam, sean *http.Client) (int64, string) {
	p.t.Helper()
	id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
	if res, body := p.post(noRedirect(sean), fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked, go ahead."}}); res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("approve = %d:\n%s", res.StatusCode, body)
	}
	customer := p.client()
	token := p.consentToken("owner@acme.example")
	_, body := p.get(customer, "/consent/"+token)
	if res, body := p.post(noRedirect(customer), "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shownHash(p.t.(*testing.T), body)}}); res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("grant = %d:\n%s", res.StatusCode, body)
	}
	return id, token
}

// TestDataBannerTimeLeftAndDone: the banner over tenant data says when the
// grant ends and how long is left, and its "I'm done" ends the grant.
func TestDataBannerTimeLeftAndDone(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam, sean, sara := p.login("sam.support@example.com"), p.login("sean.senior@example.com"), p.login(sara)
		id, token := p.liveGrantFlow(sam, sean)
		p.clock.Advance(2 * time.Minute)
		// Every page that shows the live grant says how long is left.
		for _, c := range []struct {
			who  *http.Client
			path string
			box  string
		}{
			{sara, fmt.Sprintf("/requests/%d", id), "grant"},
			{sam, fmt.Sprintf("/requests/%d", id), "grant"},
			{sara, "/workspaces/acme", "your-grant"},
			{sam, "/workspaces/acme", "grants"},
			{p.client(), "/consent/" + token, "consent-time-left"},
		} {
			_, body := p.get(c.who, c.path)
			doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
			if got := doc.Find(`[data-testid="` + c.box + `"] [data-testid="left"]`).Text(); got != "1 h 58 min left" {
				t.Errorf("%s: %s says %q left, want 1 h 58 min left", c.path, c.box, got)
			}
		}
		if _, body := p.get(sara, "/workspaces/acme"); !strings.Contains(body, fmt.Sprintf(`action="/requests/%d/done"`, id)) {
			t.Error("the workspace page offers sara no I'm done")
		}
		res, body := p.get(sara, "/workspaces/acme/data/members")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("read = %d:\n%s", res.StatusCode, body)
		}
		doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
		banner := doc.Find(`[data-testid="grant-banner"]`)
		if got := strings.Join(strings.Fields(banner.Find(`[data-testid="left"]`).Text()), " "); got != "1 h 58 min left" {
			t.Errorf("banner says %q left, want 1 h 58 min left", got)
		}
		action, _ := banner.Find(`form[data-testid="done-button"]`).Attr("action")
		if want := fmt.Sprintf("/requests/%d/done", id); action != want {
			t.Fatalf("I'm done posts to %q, want %q", action, want)
		}
		_, dash := p.get(sara, "/")
		if !strings.Contains(dash, `data-testid="live-grants"`) || !strings.Contains(dash, "1 h 58 min left") || !strings.Contains(dash, `action="`+action+`"`) {
			t.Errorf("sara's dashboard does not show her live grant with time left and I'm done:\n%s", dash)
		}
		if res, body := p.post(noRedirect(sara), action, url.Values{}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("I'm done = %d:\n%s", res.StatusCode, body)
		}
		if res, _ := p.get(sara, "/workspaces/acme/data/members"); res.StatusCode != http.StatusForbidden {
			t.Errorf("read after I'm done = %d, want 403", res.StatusCode)
		}
		if _, dash := p.get(sara, "/"); strings.Contains(dash, `data-testid="live-grants"`) {
			t.Error("sara's dashboard still shows a live grant after I'm done")
		}
	})
}

// TestDashboardsLeadWithWhatNeedsYou: each tier's dashboard puts what
// waits for that person first, in a fixed order, before who they are.
func TestDashboardsLeadWithWhatNeedsYou(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam, sean := p.login("sam.support@example.com"), p.login("sean.senior@example.com")
		ada, aud := p.login("ada.sysadmin@example.com"), p.login("aud.auditor@example.com")
		otto := p.login("otto.sysadmin@example.com")

		reported := p.openRequest(sam, requestForm("globex", "sara.senior@example.com"))
		if err := db.Write.Exec("UPDATE access_requests SET status = ?, updated_at = ? WHERE id = ?", "reported", p.clock.Now(), reported).Error; err != nil {
			t.Fatal(err)
		}
		pending := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
		p.grant("sean.senior@example.com", "initech", models.GrantScope{}, false, time.Hour)
		p.openBG(otto, "acme")

		order := []string{"quick-actions", "needs-you-section", "nothing-needs-you", "requests-to-decide", "reported-requests",
			"breakglass-unreviewed", "deletions-due", "live-grants", "audit-chain", "data-views", "recent-activity", "you"}
		tests := []struct {
			who  string
			c    *http.Client
			want []string
		}{
			{"sam", sam, []string{"quick-actions", "needs-you-section", "nothing-needs-you", "you"}},
			{"sean", sean, []string{"quick-actions", "needs-you-section", "requests-to-decide", "reported-requests", "live-grants", "you"}},
			{"ada", ada, []string{"quick-actions", "needs-you-section", "requests-to-decide", "reported-requests", "breakglass-unreviewed", "deletions-due", "audit-chain", "data-views", "recent-activity", "you"}},
			{"aud", aud, []string{"needs-you-section", "nothing-needs-you", "audit-chain", "data-views", "recent-activity", "you"}},
		}
		for _, tt := range tests {
			res, body := p.get(tt.c, "/")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: GET / = %d", tt.who, res.StatusCode)
			}
			if got := testIDs(t, body, order...); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("%s's dashboard sections:\n got  %v\n want %v", tt.who, got, tt.want)
			}
			if strings.Contains(body, "<code>request:create</code>") || strings.Contains(body, "<code>portal:enter</code>") {
				t.Errorf("%s's dashboard still lists raw permission codes", tt.who)
			}
		}
		_, body := p.get(sean, "/")
		for _, want := range []string{fmt.Sprintf(`href="/requests/%d"`, pending), fmt.Sprintf(`href="/requests/%d"`, reported), "1 h left", "Ask for access to a customer"} {
			if !strings.Contains(body, want) {
				t.Errorf("sean's dashboard lacks %q", want)
			}
		}
		if _, body := p.get(sam, "/"); strings.Contains(body, "Approve or deny") || !strings.Contains(body, "Look up customer workspaces") {
			t.Error("sam's dashboard does not say in words what support may do")
		}
		if _, body := p.get(ada, "/"); !strings.Contains(body, `data-testid="overdue"`) {
			t.Error("ada's dashboard does not mark the overdue deletions")
		}
		if _, body := p.get(aud, "/"); !strings.Contains(body, `data-testid="chart-all"`) || strings.Contains(body, `data-testid="chart-senior"`) {
			t.Error("the auditor's dashboard should chart all staff's views in one chart")
		}
		if _, body := p.get(ada, "/"); !strings.Contains(body, `data-testid="chart-senior"`) || !strings.Contains(body, `data-testid="chart-sysadmin"`) {
			t.Error("the sysadmin's dashboard should chart views per tier")
		}

		// A report older than 30 days has had its time on the dashboard.
		if err := db.Write.Exec("UPDATE access_requests SET updated_at = ? WHERE id = ?", p.clock.Now().Add(-31*24*time.Hour), reported).Error; err != nil {
			t.Fatal(err)
		}
		if _, body := p.get(sean, "/"); strings.Contains(body, `data-testid="reported-requests"`) {
			t.Error("a report from 31 days ago is still on the dashboard")
		}
	})
}

// TestDashboardChainStatus: the auditor sees when the chain was last
// verified and the last signed checkpoint, or that there are none.
func TestDashboardChainStatus(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		aud := p.login("aud.auditor@example.com")
		_, body := p.get(aud, "/")
		for _, want := range []string{"never", "none yet"} {
			if !strings.Contains(body, want) {
				t.Errorf("dashboard without verification or checkpoint lacks %q", want)
			}
		}
		res, err := models.VerifyAudit(ctx, db)
		if err != nil || !res.OK {
			t.Fatalf("verify: %+v, %v", res, err)
		}
		if err := models.RecordVerification(ctx, db.Write, p.clock.Now().Add(-3*time.Hour), "cli:ops", res); err != nil {
			t.Fatal(err)
		}
		s := models.NewAuditShipper(db, nil, testSigningKey(), func() time.Time { return p.clock.Now().Add(-2 * time.Hour) }, nil)
		cp, err := s.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, body = p.get(aud, "/")
		doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
		verified := strings.Join(strings.Fields(doc.Find(`[data-testid="last-verified"]`).Text()), " ")
		if !strings.Contains(verified, "(3 h ago)") || !strings.Contains(verified, fmt.Sprintf("intact up to event %d, by cli:ops", res.Seq)) {
			t.Errorf("last verified reads %q", verified)
		}
		checkpoint := strings.Join(strings.Fields(doc.Find(`[data-testid="last-checkpoint"]`).Text()), " ")
		if !strings.Contains(checkpoint, fmt.Sprintf("event %d", cp.Seq)) || !strings.Contains(checkpoint, "(2 h ago)") || !strings.Contains(checkpoint, cp.KeyID) {
			t.Errorf("last checkpoint reads %q", checkpoint)
		}
	})
}

// TestDashboardChartCountsViews: the charts count exactly the data views
// of each day in the last 30, per tier for sysadmins.
func TestDashboardChartCountsViews(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		now := p.clock.Now()
		y, m, d := now.UTC().Date()
		today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		seed := func(at time.Time, tier string, action models.Action, n int) {
			for range n {
				if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{
					At: at, Actor: models.Actor{Email: tier + "@example.com", Tier: tier}, Action: action, Workspace: "acme", Table: "members",
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		seed(today.Add(time.Minute), "senior", models.ActionDataViewed, 3)
		seed(today.Add(-5*24*time.Hour+23*time.Hour+59*time.Minute), "sysadmin", models.ActionDataViewed, 2)
		seed(today.Add(-5*24*time.Hour), "senior", models.ActionDataViewed, 1)
		seed(today.Add(-29*24*time.Hour), "senior", models.ActionDataViewed, 4)
		seed(today.Add(-29*24*time.Hour-time.Second), "senior", models.ActionDataViewed, 7) // the day before the window
		seed(today.Add(time.Minute), "senior", models.ActionDataRefused, 5)

		day := func(back int) string { return today.AddDate(0, 0, -back).Format(time.DateOnly) }
		bars := func(body, chart string) map[string]string {
			doc, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
			out := map[string]string{}
			doc.Find(`[data-testid="chart-` + chart + `"] rect[data-testid="bar"]`).Each(func(_ int, s *goquery.Selection) {
				day, _ := s.Attr("data-day")
				n, _ := s.Attr("data-count")
				if n != "0" {
					out[day] = n
				}
			})
			if n := doc.Find(`[data-testid="chart-` + chart + `"] rect`).Length(); n != 30 {
				t.Errorf("chart %s has %d bars, want 30", chart, n)
			}
			return out
		}
		_, body := p.get(p.login("aud.auditor@example.com"), "/")
		want := map[string]string{day(0): "3", day(5): "3", day(29): "4"}
		if got := bars(body, "all"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("auditor's chart: %v, want %v", got, want)
		}
		if !strings.Contains(body, "10 in all, most on "+day(29)+" (4)") {
			t.Error("the chart's summary does not state the total and the busiest day")
		}
		_, body = p.get(p.login("ada.sysadmin@example.com"), "/")
		if got, want := bars(body, "senior"), map[string]string{day(0): "3", day(5): "1", day(29): "4"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("seniors' chart: %v, want %v", got, want)
		}
		if got, want := bars(body, "sysadmin"), map[string]string{day(5): "2"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("sysadmins' chart: %v, want %v", got, want)
		}
	})
}

func testSigningKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed([]byte("gatehouse-dashboard-test-seed-32"))
}
