package handlers

import (
	"context"
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

// grantFor takes a request of sam's on acme for grantee, lasting
// duration, through approval by approver and the owner's consent, and
// returns its id and the owner's consent token.
func (p *testPortal) grantFor(grantee, approver, duration string) (int64, string) {
	p.t.Helper()
	form := requestForm("acme", grantee)
	form.Set("duration", duration)
	id := p.openRequest(p.login("sam.support@example.com"), form)
	if res, body := p.post(noRedirect(p.login(approver)), fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked."}}); res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("approve = %d:\n%s", res.StatusCode, body)
	}
	token := p.consentToken("owner@acme.example")
	c := p.client()
	_, body := p.get(c, "/consent/"+token)
	if res, body := p.post(noRedirect(c), "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shownHash(p.t.(*testing.T), body)}}); res.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("grant = %d:\n%s", res.StatusCode, body)
	}
	return id, token
}

func testid(s *goquery.Selection, id string) *goquery.Selection {
	return s.Find(`[data-testid="` + id + `"]`)
}

// TestEndedRequests: a request whose grant ended, every way it can, reads
// "ended" and how on the list, its filters, the dashboard, the workspace
// page and its own page; only the live one reads "granted".
func TestEndedRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		live, _ := p.grantFor("sara.senior@example.com", "sean.senior@example.com", "8h")
		done, _ := p.grantFor("sara.senior@example.com", "sean.senior@example.com", "2h")
		revoked, _ := p.grantFor("sara.senior@example.com", "sean.senior@example.com", "2h")
		byOwner, token := p.grantFor("sara.senior@example.com", "sean.senior@example.com", "2h")
		expired, _ := p.grantFor("sara.senior@example.com", "sean.senior@example.com", "30m")
		offboarded, _ := p.grantFor("sean.senior@example.com", "sara.senior@example.com", "2h")

		sara, ada := noRedirect(p.login("sara.senior@example.com")), noRedirect(p.login("ada.sysadmin@example.com"))
		if res, body := p.post(sara, fmt.Sprintf("/requests/%d/done", done), url.Values{"note": {"Fixed the export."}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("done = %d:\n%s", res.StatusCode, body)
		}
		if res, body := p.post(ada, fmt.Sprintf("/requests/%d/revoke", revoked), url.Values{"note": {"The ticket was closed by the customer."}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoke = %d:\n%s", res.StatusCode, body)
		}
		owner := p.client()
		_, body := p.get(owner, "/consent/"+token)
		if res, body := p.post(noRedirect(owner), "/consent/"+token, url.Values{"decision": {"revoke"}, "shown": {shownHash(t, body)}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("owner revoke = %d:\n%s", res.StatusCode, body)
		}
		sean, err := models.FindStaffByEmail(ctx, db.Read, "sean.senior@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if err := models.Offboard(ctx, db.Write, models.Act{Now: p.clock.Now(), By: models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}}, sean.ID, "left the company"); err != nil {
			t.Fatal(err)
		}
		// The 30-minute grant runs out; the sweep has not seen it. (Moving
		// the clock on would end every session, so its window moves back.)
		now := p.clock.Now()
		if err := db.Write.Model(&models.Grant{}).Where("request_id = ?", expired).
			Updates(map[string]any{"starts_at": now.Add(-31 * time.Minute).UTC(), "ends_at": now.Add(-time.Minute).UTC()}).Error; err != nil {
			t.Fatal(err)
		}

		wantHow := map[int64]string{
			done: "grantee done", revoked: "revoked by a sysadmin", byOwner: "revoked by the customer",
			expired: "expired", offboarded: "grantee offboarded",
		}
		ada = p.login("ada.sysadmin@example.com")
		rowsOf := func(path string) map[int64][2]string {
			t.Helper()
			res, body := p.get(ada, path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d", path, res.StatusCode)
			}
			got := map[int64][2]string{}
			parseHTML(t, body).Find(`tr[data-testid^="request-row-"]`).Each(func(_ int, tr *goquery.Selection) {
				var id int64
				fmt.Sscanf(tr.AttrOr("data-testid", ""), "request-row-%d", &id)
				got[id] = [2]string{testid(tr, "request-status").Text(), testid(tr, "ended-how").Text()}
				if name := testid(tr, "workspace-name").Text(); name != "Acme Corporation" {
					t.Errorf("%s: row %d names the workspace %q, want Acme Corporation", path, id, name)
				}
			})
			return got
		}

		all := rowsOf("/requests")
		if got := all[live]; got != [2]string{"granted", ""} {
			t.Errorf("live request on /requests = %q, want granted", got)
		}
		for id, how := range wantHow {
			if got := all[id]; got != [2]string{"ended", how} {
				t.Errorf("request %d on /requests = %q, want ended, %s", id, got, how)
			}
		}
		granted := rowsOf("/requests?status=granted")
		if len(granted) != 1 || granted[live][0] != "granted" {
			t.Errorf("/requests?status=granted = %v, want only the live request %d", granted, live)
		}
		ended := rowsOf("/requests?status=ended")
		if len(ended) != len(wantHow) {
			t.Errorf("/requests?status=ended lists %d requests, want %d: %v", len(ended), len(wantHow), ended)
		}
		for id, how := range wantHow {
			if got := ended[id]; got != [2]string{"ended", how} {
				t.Errorf("request %d on ?status=ended = %q, want ended, %s", id, got, how)
			}
		}

		// The requester's dashboard.
		_, body = p.get(p.login("sam.support@example.com"), "/")
		doc := parseHTML(t, body)
		for id, how := range wantHow {
			li := testid(doc.Selection, fmt.Sprintf("my-request-%d", id))
			if got := testid(li, "request-status").Text() + "/" + testid(li, "ended-how").Text(); got != "ended/"+how {
				t.Errorf("dashboard request %d = %q, want ended/%s", id, got, how)
			}
		}
		if got := testid(testid(doc.Selection, fmt.Sprintf("my-request-%d", live)), "request-status").Text(); got != "granted" {
			t.Errorf("dashboard live request = %q, want granted", got)
		}

		// The workspace page: requests, and grants with who ended them.
		_, body = p.get(ada, "/workspaces/acme")
		doc = parseHTML(t, body)
		for id, how := range wantHow {
			tr := testid(doc.Selection, fmt.Sprintf("workspace-request-%d", id))
			if got := testid(tr, "request-status").Text() + "/" + testid(tr, "ended-how").Text(); got != "ended/"+how {
				t.Errorf("workspace page request %d = %q, want ended/%s", id, got, how)
			}
		}
		grantOf := func(id int64) int64 {
			r, err := models.FindRequest(ctx, db.Read, id)
			if err != nil || r.GrantID == nil {
				t.Fatalf("request %d: %v", id, err)
			}
			return *r.GrantID
		}
		for _, tt := range []struct {
			req            int64
			how, by, note  string
			noteMustBeGone bool
		}{
			{req: done, how: "grantee done", by: "sara.senior@example.com", note: "Fixed the export."},
			{req: revoked, how: "revoked by a sysadmin", by: "ada.sysadmin@example.com", note: "The ticket was closed by the customer."},
			{req: byOwner, how: "revoked by the customer", by: "owner@acme.example"},
			{req: offboarded, how: "grantee offboarded", by: "ada.sysadmin@example.com"},
			{req: expired, how: "expired", by: "nobody: its time ran out", noteMustBeGone: true},
		} {
			tr := testid(doc.Selection, fmt.Sprintf("grant-%d", grantOf(tt.req)))
			if got := testid(tr, "ended-how").Text(); got != tt.how {
				t.Errorf("grant of request %d: ended-how = %q, want %q", tt.req, got, tt.how)
			}
			if got := strings.TrimSpace(testid(tr, "ended-by").Text()); got != tt.by {
				t.Errorf("grant of request %d: ended-by = %q, want %q", tt.req, got, tt.by)
			}
			if tt.note != "" && testid(tr, "ended-note").Text() != tt.note {
				t.Errorf("grant of request %d: ended-note = %q, want %q", tt.req, testid(tr, "ended-note").Text(), tt.note)
			}
			if testid(tr, "ended-at").Text() == "" {
				t.Errorf("grant of request %d shows no end time", tt.req)
			}
		}

		// The request page.
		for id, how := range wantHow {
			_, body := p.get(ada, fmt.Sprintf("/requests/%d", id))
			doc := parseHTML(t, body)
			if got := testid(doc.Selection, "status").Text() + "/" + testid(doc.Find("h1"), "ended-how").Text(); got != "ended/"+how {
				t.Errorf("request page %d = %q, want ended/%s", id, got, how)
			}
			if !strings.Contains(testid(doc.Selection, "grant-ended").Text(), how) || testid(doc.Selection, "ended-at").Length() != 1 {
				t.Errorf("request page %d grant card = %q, want how it ended and when", id, testid(doc.Selection, "grant-ended").Text())
			}
		}
	})
}

// TestDeletedWorkspaceRequests: a deleted workspace's page says so and
// offers no request; the form says it was deleted and creates nothing.
func TestDeletedWorkspaceRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		deletedAt := p.clock.Now()
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: p.opts.ProductDB, TenantsDir: p.opts.TenantsDir},
			models.Act{Now: deletedAt, By: models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}}, "soylent", p.opts.Retention); err != nil {
			t.Fatal(err)
		}
		sam := p.login("sam.support@example.com")
		_, body := p.get(sam, "/workspaces/soylent")
		doc := parseHTML(t, body)
		if testid(doc.Selection, "ask-access").Length() != 0 {
			t.Error("a deleted workspace offers Ask for access")
		}
		if got := testid(doc.Selection, "workspace-deleted").Text(); !strings.Contains(got, "deleted on "+deletedAt.UTC().Format("2006-01-02")) {
			t.Errorf("workspace-deleted = %q, want the deletion date", got)
		}
		// Another workspace still offers it.
		if _, body := p.get(sam, "/workspaces/acme"); testid(parseHTML(t, body).Selection, "ask-access").Length() != 1 {
			t.Error("acme no longer offers Ask for access")
		}

		_, body = p.get(sam, "/requests/new?workspace=soylent")
		if got := testid(parseHTML(t, body).Selection, "error-workspace").Text(); !strings.Contains(got, "was deleted on") {
			t.Errorf("the form for a deleted workspace says %q, want that it was deleted", got)
		}
		requests, events := p.count("access_requests", "1 = 1"), p.count("audit_events", "1 = 1")
		res, body := p.post(noRedirect(sam), "/requests", requestForm("soylent", "sara.senior@example.com"))
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("POST /requests for a deleted workspace = %d, want 422", res.StatusCode)
		}
		got := testid(parseHTML(t, body).Selection, "error-workspace").Text()
		if !strings.Contains(got, "was deleted on "+deletedAt.UTC().Format("2006-01-02")) || strings.Contains(got, "There is no workspace") {
			t.Errorf("422 says %q, want that soylent was deleted and when", got)
		}
		if p.count("access_requests", "1 = 1") != requests || p.count("audit_events", "1 = 1") != events {
			t.Error("a refused request for a deleted workspace wrote something")
		}
		// A workspace that never existed still says so.
		_, body = p.post(noRedirect(sam), "/requests", requestForm("nosuch", "sara.senior@example.com"))
		if got := testid(parseHTML(t, body).Selection, "error-workspace").Text(); !strings.Contains(got, "There is no workspace") {
			t.Errorf("unknown workspace: %q", got)
		}
	})
}

// TestRetentionHistoryShowsSeededNotices: a demo workspace whose notices
// were sent shows them in its retention history, not "No events yet".
func TestRetentionHistoryShowsSeededNotices(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := retentionPortal(t, db)
		ada := p.login("ada.sysadmin@example.com")
		for slug, want := range map[string][]string{
			"dunder":    {"retention.noticed"},
			"gringotts": {"retention.noticed", "retention.marked"},
		} {
			_, body := p.get(ada, "/retention/"+slug)
			doc := parseHTML(t, body)
			if testid(doc.Selection, "events-empty").Length() != 0 {
				t.Errorf("%s: the retention history says no events", slug)
			}
			got := testid(doc.Selection, "events").Find("tbody").Text()
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("%s: history lacks %s:\n%s", slug, w, got)
				}
			}
		}
	})
}
