package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// scopeWrites are the tables a refused request or break-glass must leave
// as they were; audit_events is counted without data.refused, which every
// refused data read records.
var scopeWrites = []string{"access_requests", "grants", "breakglass", "breakglass_links", "consent_links", "mail_outbox", "legal_holds", "deletion_requests", "retention"}

// writeCounts counts the rows of scopeWrites and the audit events that
// are not refusals.
func (p *testPortal) writeCounts() map[string]int64 {
	p.t.Helper()
	out := map[string]int64{"audit_events": p.count("audit_events", "action <> ?", models.ActionDataRefused)}
	for _, t := range scopeWrites {
		out[t] = p.count(t, "")
	}
	return out
}

func (p *testPortal) checkNoWrites(what string, before map[string]int64) {
	p.t.Helper()
	for table, n := range p.writeCounts() {
		if n != before[table] {
			p.t.Errorf("%s wrote %s: %d rows → %d", what, table, before[table], n)
		}
	}
}

// setScope sets a demo staff member's scope as a system change.
func (p *testPortal) setScope(email, scope string) {
	p.t.Helper()
	act := models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test", Tier: "system"}}
	if err := models.SetStaffScope(context.Background(), p.db.Write, p.opts.Product, act, p.idOf(email), scope); err != nil {
		p.t.Fatal(err)
	}
}

// mentionsAcme reports whether a page shows anything of acme (eu): its
// name, slug or owners. The request form's hint names acme as an example.
func mentionsAcme(body string) bool {
	body = strings.ReplaceAll(body, "Its slug, like acme;", "")
	return strings.Contains(strings.ToLower(body), "acme")
}

// withoutAuditLog is a page without the dashboard's newest audit events:
// the audit log is not scoped (README: Scopes).
func withoutAuditLog(t *testing.T, body string) string {
	t.Helper()
	doc := parseHTML(t, body)
	doc.Find(`[data-testid="recent-activity"]`).Remove()
	html, err := doc.Html()
	if err != nil {
		t.Fatal(err)
	}
	return html
}

// TestScopeHidesAndRefuses walks every list and every route naming a
// workspace as a senior and a sysadmin whose scope (region=us) excludes
// acme (eu): acme never appears, every route on it answers 404 (or 403
// where the route is forbidden anyway), and naming it in a request or a
// break-glass is refused as an unknown workspace, writing nothing.
func TestScopeHidesAndRefuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		reason := "ticket OPS-1: the customer asked us to look at their invoices"
		// Something on acme for the lists to hide: a request naming sean,
		// and a break-glass.
		sam := p.login("sam.support@example.com")
		request := url.Values{"workspace": {"acme"}, "reason": {reason}, "ticket": {"SUP-1"}, "duration": {"2h"}, "grantee": {"sean.senior@example.com"}, "mode": {"masked"}}
		if res, body := p.post(sam, "/requests", request); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/requests/1" {
			t.Fatalf("request on acme: %d at %s\n%s", res.StatusCode, res.Request.URL, body)
		}
		otto := p.login("otto.sysadmin@example.com")
		bg := url.Values{"workspace": {"acme"}, "incident": {"INC-1"}, "justification": {reason}, "confirm": {"yes"}}
		if res, body := p.post(otto, "/breakglass", bg); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/breakglass/1" {
			t.Fatalf("break-glass on acme: %d at %s\n%s", res.StatusCode, res.Request.URL, body)
		}
		if res, body := p.get(otto, "/workspaces"); !mentionsAcme(body) {
			t.Fatalf("an unscoped sysadmin's list does not show acme (%d): the check below could not fail", res.StatusCode)
		}

		p.setScope("sara.senior@example.com", "region=us")
		p.setScope("ada.sysadmin@example.com", "region=us")
		scoped := map[string]*http.Client{
			"senior":   p.login("sara.senior@example.com"),
			"sysadmin": p.login("ada.sysadmin@example.com"),
		}
		lists := []string{"/", "/workspaces", "/workspaces?q=acm", "/workspaces?q=corporation", "/workspaces?plan=business",
			"/requests", "/requests?status=pending", "/requests/new", "/breakglass", "/retention", "/retention?state=all", "/retention?q=acme"}
		for who, c := range scoped {
			for _, path := range lists {
				res, body := p.get(c, path)
				if res.StatusCode == http.StatusForbidden {
					continue
				}
				if res.StatusCode != http.StatusOK {
					t.Errorf("%s GET %s: %d", who, path, res.StatusCode)
				}
				// The search box shows back what was searched for.
				if b := strings.ReplaceAll(withoutAuditLog(t, body), `value="acme"`, ""); mentionsAcme(b) {
					i := strings.Index(strings.ToLower(b), "acme")
					t.Errorf("%s GET %s shows acme: …%s…", who, path, b[max(0, i-300):min(len(b), i+100)])
				}
			}
			if _, body := p.get(c, "/workspaces"); !strings.Contains(body, "/workspaces/globex") {
				t.Errorf("%s's list lacks globex (us), which the scope admits", who)
			}
		}

		// The request on acme waits for a decision, but not theirs.
		for who, c := range scoped {
			if _, body := p.get(c, "/"); navRequests(t, body) != "Requests" {
				t.Errorf("the scoped %s's navigation reads %q, want no count", who, navRequests(t, body))
			}
		}
		if _, body := p.get(otto, "/"); navRequests(t, body) != "Requests (1)" {
			t.Errorf("an unscoped sysadmin's navigation reads %q, want Requests (1)", navRequests(t, body))
		}

		// Every route naming a workspace, on acme.
		fill := strings.NewReplacer(":slug", "acme", ":table", "documents", ":id", "1")
		before := p.writeCounts()
		for _, r := range p.h.routes() {
			if !strings.Contains(r.path, ":slug") || r.perm == policy.Public {
				continue
			}
			for who, c := range scoped {
				var form url.Values
				if r.method == http.MethodPost {
					form = url.Values{"note": {reason}, "reason": {reason}, "reference": {"LEGAL-1"}, "confirm": {"acme"}, "field": {"email"}}
				}
				res, body := p.send(p.sessionCookie(c), r.method, fill.Replace(r.path), form, nil)
				if res.StatusCode != http.StatusNotFound && p.classify(res, body) != deny {
					t.Errorf("%s %s as the scoped %s: %d, want 404 (or 403)", r.method, r.path, who, res.StatusCode)
				}
				if mentionsAcme(body) {
					t.Errorf("%s %s as the scoped %s shows acme", r.method, r.path, who)
				}
			}
		}
		p.checkNoWrites("routes on acme", before)
		if res, _ := p.get(scoped["senior"], "/workspaces/globex"); res.StatusCode != http.StatusOK {
			t.Errorf("GET /workspaces/globex as the scoped senior: %d, want 200", res.StatusCode)
		}

		// The request and break-glass on acme are not found by id.
		for _, c := range []struct{ who, method, path string }{
			{"senior", http.MethodGet, "/requests/1"},
			{"senior", http.MethodPost, "/requests/1/approve"},
			{"senior", http.MethodPost, "/requests/1/deny"},
			{"sysadmin", http.MethodGet, "/requests/1"},
			{"sysadmin", http.MethodGet, "/breakglass/1"},
		} {
			res, body := p.send(p.sessionCookie(scoped[c.who]), c.method, c.path, url.Values{"note": {reason}}, nil)
			if res.StatusCode != http.StatusNotFound || mentionsAcme(body) {
				t.Errorf("%s %s as the scoped %s: %d, want 404 without acme", c.method, c.path, c.who, res.StatusCode)
			}
		}
		if n := p.count("access_requests", "status = ?", models.RequestPending); n != 1 {
			t.Errorf("pending requests = %d, want 1: the scoped senior decided it", n)
		}

		// Naming acme: refused as a workspace that does not exist.
		for _, slug := range []string{"acme", "no-such-workspace"} {
			unknown := "There is no workspace &#34;" + slug + "&#34;."
			req := url.Values{"workspace": {slug}, "reason": {reason}, "ticket": {"SUP-2"}, "duration": {"2h"}, "grantee": {"sean.senior@example.com"}, "mode": {"masked"}}
			res, body := p.post(scoped["senior"], "/requests", req)
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, unknown) {
				t.Errorf("request naming %s as the scoped senior: %d, want 422 %q", slug, res.StatusCode, unknown)
			}
			if slug == "acme" && strings.Contains(body, "Acme Corporation") {
				t.Error("the refused request form names acme")
			}
			for _, confirm := range []string{"", "yes"} {
				b := url.Values{"workspace": {slug}, "incident": {"INC-2"}, "justification": {reason}, "confirm": {confirm}}
				res, body := p.post(scoped["sysadmin"], "/breakglass", b)
				if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "There is no workspace") {
					t.Errorf("break-glass (confirm=%q) naming %s as the scoped sysadmin: %d, want 422 as unknown", confirm, slug, res.StatusCode)
				}
			}
		}
		p.checkNoWrites("requests and break-glass naming acme", before)

		// A grantee whose scope does not admit the workspace.
		req := url.Values{"workspace": {"acme"}, "reason": {reason}, "ticket": {"SUP-3"}, "duration": {"2h"}, "grantee": {"sara.senior@example.com"}, "mode": {"masked"}}
		res, body := p.post(sam, "/requests", req)
		if want := "sara.senior@example.com may not work on this workspace"; res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, want) {
			t.Errorf("request naming the scoped senior as grantee: %d, want 422 %q", res.StatusCode, want)
		}
		p.checkNoWrites("a request naming an out-of-scope grantee", before)
	})
}

// TestScopeChangeStopsDataReads: a data read under a live grant stops on
// the next request once the grantee's scope no longer admits the
// workspace, and the refusal is recorded.
func TestScopeChangeStopsDataReads(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		acme, err := models.FindWorkspace(ctx, p.opts.Product, "acme")
		if err != nil {
			t.Fatal(err)
		}
		sean := p.idOf("sean.senior@example.com")
		if _, err := models.CreateGrant(ctx, p.db.Write, p.clock.Now(), models.NewGrant{
			Workspace: "acme", GranteeID: sean, StartsAt: p.clock.Now(), Duration: time.Hour, Attributes: acme.Attributes(),
		}); err != nil {
			t.Fatal(err)
		}
		c := p.login("sean.senior@example.com")
		if res, _ := p.get(c, "/workspaces/acme/data/documents"); res.StatusCode != http.StatusOK {
			t.Fatalf("read under the grant: %d", res.StatusCode)
		}
		p.setScope("sean.senior@example.com", "region=us plan=enterprise")
		res, body := p.get(c, "/workspaces/acme/data/documents")
		if res.StatusCode != http.StatusNotFound || mentionsAcme(body) {
			t.Errorf("read after the scope change: %d, want 404 without acme", res.StatusCode)
		}
		if n := p.count("audit_events", "action = ? AND workspace = ? AND reason = ?", models.ActionDataRefused, "acme", "outside scope"); n != 1 {
			t.Errorf("refusals recorded \"outside scope\" = %d, want 1", n)
		}
		if n := p.count("grants", "workspace = ? AND ended_at IS NULL", "acme"); n != 0 {
			t.Errorf("live grants on acme after the scope change = %d, want 0", n)
		}
		// The page shows the scope; a bad one is 422 on scope and changes nothing.
		ada := p.login("ada.sysadmin@example.com")
		path := "/staff/" + itoa(sean)
		if _, body := p.get(ada, path); !strings.Contains(body, "plan=enterprise region=us") {
			t.Error("the staff page does not show the scope")
		}
		events := p.count("audit_events", "")
		res, body = p.post(ada, path+"/scope", url.Values{"scope": {"region=EU"}, "reason": {"Sean moves to the US team."}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "must be 1 to 32 of a-z") {
			t.Errorf("bad scope: %d, want 422 naming the bad value", res.StatusCode)
		}
		if n := p.count("audit_events", ""); n != events {
			t.Errorf("a refused scope wrote %d events", n-events)
		}
		// Lifting it is a proposal a second sysadmin approves.
		res, body = p.post(noRedirect(ada), path+"/scope", url.Values{"scope": {""}, "reason": {"Sean is back on every region."}})
		m := proposalLocation.FindStringSubmatch(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || m == nil {
			t.Fatalf("lifting the scope = %d to %q, want 303 to a proposal:\n%s", res.StatusCode, res.Header.Get("Location"), body)
		}
		if n := p.count("audit_events", "action = ?", models.ActionStaffScopeChanged); n != 1 {
			t.Errorf("staff.scope_changed events before approval = %d, want 1", n)
		}
		p.approveProposal(p.secondSysadmin(), m[1])
		if got := p.staff("sean.senior@example.com"); got.Scope != "" {
			t.Errorf("after approval sean's scope is %q, want none", got.Scope)
		}
		if n := p.count("audit_events", "action = ?", models.ActionStaffScopeChanged); n != 2 {
			t.Errorf("staff.scope_changed events = %d, want 2", n)
		}
	})
}

// TestScopeCheckedAtConsent: a grantee whose scope stops admitting the
// workspace between approval and consent gets no grant.
func TestScopeCheckedAtConsent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam, sean := p.login("sam.support@example.com"), p.login("sean.senior@example.com")
		id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
		if res, body := p.post(noRedirect(sean), "/requests/"+itoa(id)+"/approve", url.Values{"note": {"Ticket checked, go ahead."}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve = %d:\n%s", res.StatusCode, body)
		}
		p.setScope("sara.senior@example.com", "region=uk")
		token := p.consentToken("owner@acme.example")
		customer := p.client()
		_, body := p.get(customer, "/consent/"+token)
		res, _ := p.post(customer, "/consent/"+token, url.Values{"decision": {"grant"}, "shown": {shownHash(t, body)}})
		if res.StatusCode != http.StatusConflict {
			t.Errorf("consent for an out-of-scope grantee = %d, want 409", res.StatusCode)
		}
		if n := p.count("grants", ""); n != 0 {
			t.Errorf("grants = %d, want 0", n)
		}
	})
}
