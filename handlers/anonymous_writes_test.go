package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// wantEarlyRefusal checks that a login refused before the identity
// provider was asked (no or unknown state) ended on the refusal page with
// no session, and was counted in the metrics but not written to the audit
// log one by one.
func (p *testPortal) wantEarlyRefusal(t *testing.T, b *oidcBrowser, res *http.Response, body, reason string) {
	t.Helper()
	if res.StatusCode != http.StatusForbidden || res.Request.URL.Path != "/auth/callback" || !strings.Contains(body, `data-testid="login-refused"`) {
		t.Errorf("ended at %s with %d, want the 403 refusal page on /auth/callback:\n%s", res.Request.URL, res.StatusCode, body)
	}
	if n := b.sessionCookies(p); n != 0 {
		t.Errorf("refusal set %d session cookies, want 0", n)
	}
	if n := p.count("audit_events", "action = ? AND reason = ?", models.ActionLoginRefused, reason); n != 0 {
		t.Errorf("%s refusals in the audit log = %d, want 0 (counted, not recorded)", reason, n)
	}
	if got := p.loginMetric(reason); got < 1 {
		t.Errorf("gatehouse_logins_total{outcome=%q} = %v, want it counted", reason, got)
	}
}

const floodCallbacks = 10_000

// TestCallbackFloodIsBounded sends 10,000 failed sign-ins from one
// address: a few that reached the provider and came back with an error
// (with huge text), the rest without a state the portal knows.
func TestCallbackFloodIsBounded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		before := p.count("audit_events", "")
		huge := strings.Repeat("<\x01é", 10_000)
		header := http.Header{"User-Agent": {strings.Repeat("<é", 10_000)}}
		c := noRedirect(p.client())
		statuses := map[int]int{}
		const fromProvider = 5
		for i := range floodCallbacks {
			q := url.Values{}
			if i < 100 { // the rest are refused before their text is read
				q = url.Values{"error": {huge}, "error_description": {huge}}
			}
			switch {
			case i < fromProvider:
				// A real flow, sent back by the provider with an error.
				res, _ := p.post(c, "/login", url.Values{})
				loc, err := res.Location()
				if err != nil {
					t.Fatalf("POST /login = %d without a redirect", res.StatusCode)
				}
				q.Set("state", loc.Query().Get("state"))
			case i%2 == 0:
				q.Set("state", models.NewToken())
			}
			res, _ := p.do(c, http.MethodGet, "/auth/callback?"+q.Encode(), nil, header)
			statuses[res.StatusCode]++
		}
		limit := p.h.loginFailures.Max
		if statuses[http.StatusForbidden] != limit || statuses[http.StatusTooManyRequests] != floodCallbacks-limit {
			t.Errorf("statuses = %v, want %d × 403 then 429", statuses, limit)
		}
		// The provider's errors, and one event that says the address used
		// up its allowance.
		appended := int(p.count("audit_events", "") - before)
		if appended != fromProvider+1 {
			t.Errorf("audit events appended = %d, want %d", appended, fromProvider+1)
		}
		evs, err := models.ListAudit(context.Background(), p.db.Read, models.AuditFilter{Limit: min(appended, 100)})
		if err != nil {
			t.Fatal(err)
		}
		summaries := 0
		for _, ev := range evs {
			size := len(ev.Actor) + len(ev.ActorTier) + len(ev.Workspace) + len(ev.Table) + len(ev.RecordIDs) + len(ev.Target) +
				len(ev.Reason) + len(ev.Detail) + len(ev.IP) + len(ev.UserAgent) + len(ev.RequestID)
			if size > 4096 {
				t.Errorf("event %d (%s) holds %d bytes of text, want at most 4 KB", ev.Seq, ev.Reason, size)
			}
			if strings.Contains(ev.Detail, `"failures":20`) {
				summaries++
			}
		}
		if summaries != 1 {
			t.Errorf("events saying the address reached its limit = %d, want 1", summaries)
		}
		if res, err := models.VerifyAudit(context.Background(), p.db); err != nil || !res.OK {
			t.Errorf("VerifyAudit = %+v, %v; want OK", res, err)
		}
	})
}

// TestLinkViewsBounded reloads a valid consent link and a valid deletion
// link 60 times each from one address: every view is shown, and at most
// the allowance of views is recorded.
func TestLinkViewsBounded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		_, consent := p.grantedRequest()
		sam := noRedirect(p.login("sam.support@example.com"))
		note := "SUP-88: the owner asked by email on 2026-12-01 to delete the workspace."
		if res, _ := p.post(sam, "/workspaces/acme/deletion-requests", url.Values{"note": {note}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("record deletion request = %d, want 303", res.StatusCode)
		}
		deletion := p.deletionToken("owner@acme.example")
		p.openBG(p.login("ada.sysadmin@example.com"), "globex")
		emergency := p.breakglassToken("owner@globex.example")
		limit := int64(p.h.linkViews.Max)
		for _, link := range []struct {
			path   string
			action models.Action
		}{
			{"/consent/" + consent, models.ActionConsentShown},
			{"/deletion/" + deletion, models.ActionDeletionShown},
			{"/emergency/" + emergency, models.ActionBreakglassLinkShown},
		} {
			c := p.client()
			before, shown := p.count("audit_events", ""), p.count("audit_events", "action = ?", link.action)
			// Every view so far came from this test's one address.
			spent := p.count("audit_events", "action IN ?", []models.Action{models.ActionConsentShown, models.ActionDeletionShown, models.ActionBreakglassLinkShown})
			for i := range 60 {
				if res, _ := p.get(c, link.path); res.StatusCode != http.StatusOK {
					t.Fatalf("view %d of %s = %d, want 200", i, link.action, res.StatusCode)
				}
			}
			// The allowance is per address, for both pages together: the
			// consent page's views spend it all, the deletion page's
			// record none.
			want := max(0, limit-spent)
			if n := p.count("audit_events", "action = ?", link.action) - shown; n != want {
				t.Errorf("%s events recorded by 60 views = %d, want %d", link.action, n, want)
			}
			if n := p.count("audit_events", "") - before; n > limit {
				t.Errorf("events appended by 60 views = %d, want at most %d", n, limit)
			}
		}
	})
}
