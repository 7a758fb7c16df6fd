package handlers

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

const sara = "sara.senior@example.com"

// shownTables are the catalogued tables a grant can open.
var shownTables = []string{"members", "projects", "documents", "comments"}

// grant gives email a grant on workspace starting now.
func (p *testPortal) grant(email, workspace string, scope models.GrantScope, unmask bool, d time.Duration) models.Grant {
	p.t.Helper()
	g, err := models.CreateGrant(context.Background(), p.db.Write, p.clock.Now(), models.NewGrant{
		Workspace: workspace, GranteeID: p.idOf(email), Scope: scope, Unmask: unmask, StartsAt: p.clock.Now(), Duration: d,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return g
}

func (p *testPortal) endGrant(g models.Grant) {
	p.t.Helper()
	if err := models.EndGrant(context.Background(), p.db.Write, p.clock.Now(), models.Actor{Email: "test"}, g.ID, "test over"); err != nil {
		p.t.Fatal(err)
	}
}

// newestEvent returns the newest audit event.
func (p *testPortal) newestEvent() models.AuditEvent {
	p.t.Helper()
	evs, err := models.ListAudit(context.Background(), p.db.Read, models.AuditFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		p.t.Fatalf("newest audit event: %v (%d events)", err, len(evs))
	}
	return evs[0]
}

// leaks names every canary of any workspace in body other than allowed's
// own (plain) canary.
func leaks(body, allowed string) []string {
	var out []string
	for _, s := range demo.WorkspaceSlugs() {
		if s != allowed && strings.Contains(body, demo.Canary(s)) {
			out = append(out, "canary of "+s)
		}
		if strings.Contains(body, demo.RestrictedCanary(s)) {
			out = append(out, "restricted canary of "+s)
		}
	}
	if strings.Contains(body, "password_hash") || strings.Contains(body, "$argon2id") {
		out = append(out, "password hash")
	}
	return out
}

var recordRow = regexp.MustCompile(`data-testid="record-(\d+)"`)

// shownIDs returns the record ids of a table page's rows.
func shownIDs(body string) []string {
	var ids []string
	for _, m := range recordRow.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// dataRoutes are a table page and a record page of every shown table.
func dataRoutes(slug string) []string {
	var out []string
	for _, t := range shownTables {
		out = append(out, "/workspaces/"+slug+"/data/"+t, "/workspaces/"+slug+"/data/"+t+"/1")
	}
	return out
}

func TestDataIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortalAllTenants(t, db)
		c := noRedirect(p.login(sara))
		slugs := demo.WorkspaceSlugs()
		whole := models.GrantScope{}
		for i, w := range slugs {
			other := slugs[(i+1)%len(slugs)]
			g := p.grant(sara, other, whole, true, time.Hour)
			for _, path := range dataRoutes(w) {
				res, body := p.get(c, path)
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("%s with a grant on %s only: got %d, want 403", path, other, res.StatusCode)
				}
				if l := leaks(body, ""); len(l) > 0 {
					t.Errorf("%s with a grant on %s only: body shows %v", path, other, l)
				}
			}
			p.endGrant(g)

			g = p.grant(sara, w, whole, true, time.Hour)
			for _, path := range dataRoutes(w) {
				res, body := p.get(c, path)
				if res.StatusCode != http.StatusOK || !strings.Contains(body, demo.Canary(w)) {
					t.Errorf("%s with a grant on it: got %d, canary shown %t; want 200 with it", path, res.StatusCode, strings.Contains(body, demo.Canary(w)))
				}
				if got := res.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("%s: Cache-Control %q, want no-store", path, got)
				}
				if l := leaks(body, w); len(l) > 0 {
					t.Errorf("%s: body shows %v", path, l)
				}
			}
			// Swapping the slug, table or record outside the grant.
			p.endGrant(g)
			g = p.grant(sara, w, models.GrantScope{Tables: map[string][]int64{"documents": {1, 2}}}, true, time.Hour)
			for _, path := range []string{
				"/workspaces/" + other + "/data/documents", "/workspaces/" + other + "/data/documents/1",
				"/workspaces/" + w + "/data/comments", "/workspaces/" + w + "/data/documents/3",
				"/workspaces/" + w + "/data/api_keys", "/workspaces/" + w + "/data/billing/1",
				"/workspaces/" + w + "/data/sqlite_master", "/workspaces/" + w + "/data/documents/1%20OR%201=1",
			} {
				res, body := p.get(c, path)
				if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound {
					t.Errorf("%s outside a grant on %s.documents 1,2: got %d, want 403 or 404", path, w, res.StatusCode)
				}
				if l := leaks(body, ""); len(l) > 0 || strings.Contains(body, demo.Canary(w)) {
					t.Errorf("%s outside the grant shows %v (own canary %t)", path, l, strings.Contains(body, demo.Canary(w)))
				}
			}
			res, body := p.get(c, "/workspaces/"+w+"/data/documents")
			if got := shownIDs(body); res.StatusCode != http.StatusOK || !slices.Equal(got, []string{"1", "2"}) {
				t.Errorf("%s documents under a grant of records 1,2: got %d with records %v, want 200 with [1 2]", w, res.StatusCode, got)
			}
			p.endGrant(g)
		}
	})
}

func TestDataCatalog(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		whole := models.GrantScope{}
		p.grant("ada.sysadmin@example.com", "acme", whole, true, time.Hour)
		p.grant(sara, "acme", whole, false, time.Hour)
		var paths []string
		for _, table := range []string{"members", "projects", "documents", "comments", "api_keys", "billing"} {
			paths = append(paths, "/workspaces/acme/data/"+table, "/workspaces/acme/data/"+table+"/1")
		}
		paths = append(paths, "/workspaces", "/workspaces/acme", "/workspaces/acme/data/members?after=50")
		for _, email := range []string{"eve.engineer@example.com", "sam.support@example.com", sara, "ada.sysadmin@example.com", "aud.auditor@example.com"} {
			c := noRedirect(p.login(email))
			for _, path := range paths {
				res, body := p.get(c, path)
				if l := leaks(body, "acme"); len(l) > 0 {
					t.Errorf("%s as %s (%d): body shows %v", path, email, res.StatusCode, l)
				}
				restricted := strings.Contains(path, "api_keys") || strings.Contains(path, "billing")
				if restricted && res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusForbidden {
					t.Errorf("%s as %s: got %d, want 404 (or 403 from the tier)", path, email, res.StatusCode)
				}
			}
		}
		// Personal fields: masked under sara's grant, shown under ada's.
		for _, tc := range []struct {
			email      string
			wantCanary bool
		}{{sara, false}, {"ada.sysadmin@example.com", true}} {
			c := p.login(tc.email)
			for _, path := range []string{"/workspaces/acme/data/members", "/workspaces/acme/data/members/1"} {
				res, body := p.get(c, path)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s as %s: got %d", path, tc.email, res.StatusCode)
				}
				if got := strings.Contains(body, demo.Canary("acme")); got != tc.wantCanary {
					t.Errorf("%s as %s: personal canary shown %t, want %t", path, tc.email, got, tc.wantCanary)
				}
				if got := strings.Contains(body, "•••• (personal)"); got == tc.wantCanary {
					t.Errorf("%s as %s: masked marker shown %t, want %t", path, tc.email, got, !tc.wantCanary)
				}
			}
			_, body := p.get(c, "/workspaces/acme/data/members")
			for _, col := range []string{`"column-name">Name<`, `"column-email">Email<`, `"column-role">Role<`, `"column-last_login_at">Last login at<`} {
				if !strings.Contains(body, col) {
					t.Errorf("members page lacks column %s", col)
				}
			}
		}
	})
}

func TestDataGrantRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		c := noRedirect(p.login(sara))
		docs12 := models.GrantScope{Tables: map[string][]int64{"documents": {1, 2}}}
		whole := func() models.Grant { return p.grant(sara, "acme", models.GrantScope{}, true, time.Hour) }
		for _, tc := range []struct {
			name    string
			setup   func() models.Grant // a grant under which ok succeeds
			ok      string
			change  func(g models.Grant) // after ok, before refused
			refused string
			want    [3]string // workspace, table, record of the refusal event
			status  int       // 403 when 0
		}{
			{"expired by one second", func() models.Grant { return p.grant(sara, "acme", models.GrantScope{}, false, 10*time.Minute) },
				"/workspaces/acme/data/projects", func(models.Grant) { p.clock.Advance(10*time.Minute + time.Second) },
				"/workspaces/acme/data/projects", [3]string{"acme", "projects", ""}, 0},
			{"revoked", func() models.Grant { return p.grant(sara, "acme", models.GrantScope{}, false, time.Hour) },
				"/workspaces/acme/data/projects/2", p.endGrant, "/workspaces/acme/data/projects/2", [3]string{"acme", "projects", "2"}, 0},
			{"other workspace", func() models.Grant { return p.grant(sara, "globex", models.GrantScope{}, false, time.Hour) },
				"/workspaces/globex/data/documents", nil, "/workspaces/acme/data/documents", [3]string{"acme", "documents", ""}, 0},
			{"other table", func() models.Grant { return p.grant(sara, "acme", docs12, false, time.Hour) },
				"/workspaces/acme/data/documents", nil, "/workspaces/acme/data/comments/1", [3]string{"acme", "comments", "1"}, 0},
			{"other grantee", func() models.Grant {
				p.grant("sean.senior@example.com", "acme", models.GrantScope{}, true, time.Hour)
				return p.grant(sara, "initech", models.GrantScope{}, false, time.Hour)
			}, "/workspaces/initech/data/members", nil, "/workspaces/acme/data/members", [3]string{"acme", "members", ""}, 0},
			{"record outside the ids", func() models.Grant { return p.grant(sara, "acme", docs12, false, time.Hour) },
				"/workspaces/acme/data/documents/2", nil, "/workspaces/acme/data/documents/3", [3]string{"acme", "documents", "3"}, 0},
			{"restricted table", whole, "/workspaces/acme/data/members", nil, "/workspaces/acme/data/billing/1", [3]string{"acme", "billing", "1"}, http.StatusNotFound},
			{"uncatalogued table", whole, "/workspaces/acme/data/members", nil, "/workspaces/acme/data/secrets", [3]string{"acme", "secrets", ""}, http.StatusNotFound},
			{"unknown workspace", whole, "/workspaces/acme/data/members", nil, "/workspaces/nope/data/members/1", [3]string{"nope", "members", "1"}, http.StatusNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				g := tc.setup()
				if res, _ := p.get(c, tc.ok); res.StatusCode != http.StatusOK {
					t.Fatalf("%s under the grant: got %d, want 200", tc.ok, res.StatusCode)
				}
				if tc.change != nil {
					tc.change(g)
				}
				res, body := p.get(c, tc.refused)
				if want := cmp.Or(tc.status, http.StatusForbidden); res.StatusCode != want {
					t.Errorf("%s: got %d, want %d", tc.refused, res.StatusCode, want)
				}
				if strings.Contains(body, demo.Canary("acme")) || strings.Contains(body, demo.Canary("globex")) {
					t.Errorf("%s: refusal shows a canary", tc.refused)
				}
				ev := p.newestEvent()
				got := [3]string{ev.Workspace, ev.Table, ev.RecordIDs}
				if ev.Action != models.ActionDataRefused || got != tc.want || ev.Actor != sara || ev.RequestID != res.Header.Get("X-Request-Id") {
					t.Errorf("newest event: %s by %s on %v (request %s), want %s by %s on %v (request %s)",
						ev.Action, ev.Actor, got, ev.RequestID, models.ActionDataRefused, sara, tc.want, res.Header.Get("X-Request-Id"))
				}
				live, err := models.LiveGrants(context.Background(), db.Read, p.clock.Now(), p.idOf(sara), "acme")
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range live {
					p.endGrant(g)
				}
			})
		}
	})
}

func TestDataViewsAudited(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		g := p.grant(sara, "acme", models.GrantScope{}, false, time.Hour)
		scoped := p.grant(sara, "globex", models.GrantScope{Tables: map[string][]int64{"documents": {5, 2, 9}}}, false, time.Hour)
		c := p.login(sara)
		seq := func(from, to int) []string {
			var out []string
			for i := from; i <= to; i++ {
				out = append(out, strconv.Itoa(i))
			}
			return out
		}
		for _, tc := range []struct {
			path    string
			grant   models.Grant
			table   string
			wantIDs []string
		}{
			{"/workspaces/acme/data/members", g, "members", seq(1, 50)},
			{"/workspaces/acme/data/members?after=50", g, "members", seq(51, 57)},
			{"/workspaces/acme/data/members/3", g, "members", []string{"3"}},
			{"/workspaces/globex/data/documents", scoped, "documents", []string{"2", "5", "9"}},
		} {
			res, body := p.get(c, tc.path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: got %d", tc.path, res.StatusCode)
			}
			shown := shownIDs(body)
			if strings.Contains(tc.path, "/3") {
				shown = []string{"3"} // a record page shows its record
			}
			ev := p.newestEvent()
			if !slices.Equal(shown, tc.wantIDs) {
				t.Errorf("%s shows records %v, want %v", tc.path, shown, tc.wantIDs)
			}
			if ev.Action != models.ActionDataViewed || ev.RecordIDs != strings.Join(shown, ",") || ev.Table != tc.table ||
				ev.GrantID == nil || *ev.GrantID != tc.grant.ID || ev.Actor != sara || ev.RequestID != res.Header.Get("X-Request-Id") {
				t.Errorf("%s: newest event %s %s ids %q grant %v by %s, want %s %s ids %q grant %d by %s",
					tc.path, ev.Action, ev.Table, ev.RecordIDs, ev.GrantID, ev.Actor, models.ActionDataViewed, tc.table, strings.Join(shown, ","), tc.grant.ID, sara)
			}
			if ev.Reason != fmt.Sprintf("grant %d", tc.grant.ID) {
				t.Errorf("%s: reason %q, want the grant", tc.path, ev.Reason)
			}
		}
		res, err := models.VerifyAudit(context.Background(), db)
		if err != nil || !res.OK {
			t.Errorf("audit chain after views: %+v, %v; want it to verify", res, err)
		}
	})
}

// failAuditInserts makes every insert into audit_events fail.
func failAuditInserts(t *testing.T, db *models.DB) {
	t.Helper()
	stmts := []string{"CREATE TRIGGER test_fail_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit disabled by test'); END"}
	if db.Dialect == models.Postgres {
		stmts = []string{
			"CREATE FUNCTION test_fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit disabled by test'; END $$",
			"CREATE TRIGGER test_fail_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_fail_audit()",
		}
	}
	for _, s := range stmts {
		if err := db.Write.Exec(s).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func TestDataFailsClosed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		p.grant(sara, "acme", models.GrantScope{}, true, time.Hour)
		c := p.login(sara)
		paths := []string{"/workspaces/acme/data/members", "/workspaces/acme/data/documents/1"}
		for _, path := range paths {
			if res, body := p.get(c, path); res.StatusCode != http.StatusOK || !strings.Contains(body, demo.Canary("acme")) {
				t.Fatalf("%s before the failure: got %d, canary %t; want 200 with the canary", path, res.StatusCode, strings.Contains(body, demo.Canary("acme")))
			}
		}
		failAuditInserts(t, db)
		for _, path := range append(paths, "/workspaces/globex/data/members") {
			res, body := p.get(c, path)
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s with the audit failing: got %d, want 503", path, res.StatusCode)
			}
			if strings.Contains(body, demo.Canary("acme")) || strings.Contains(body, "data-testid=\"record") {
				t.Errorf("%s with the audit failing shows data", path)
			}
		}
		if !strings.Contains(p.logs.String(), "audit disabled by test") {
			t.Error("the audit failure was not logged")
		}
	})
}

func TestDataReveal(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		g := p.grant(sara, "acme", models.GrantScope{Tables: map[string][]int64{"members": {1, 2}}}, false, time.Hour)
		c := noRedirect(p.login(sara))
		reveal := "/workspaces/acme/data/members/1/reveal"
		reason := "Customer asked in ticket OPS-7 to confirm their address."
		for _, tc := range []struct {
			name, field, reason, wantMsg string
		}{
			{"short reason", "email", "because", "at least 10 characters"},
			{"meta field", "role", reason, "Only a personal field"},
			{"uncatalogued field", "password_hash", reason, "Only a personal field"},
			{"no field", "", reason, "Only a personal field"},
		} {
			res, body := p.post(c, reveal, url.Values{"field": {tc.field}, "reason": {tc.reason}})
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tc.wantMsg) {
				t.Errorf("reveal with %s: got %d, message shown %t; want 422 with %q", tc.name, res.StatusCode, strings.Contains(body, tc.wantMsg), tc.wantMsg)
			}
			if strings.Contains(body, demo.Canary("acme")) || strings.Contains(body, demo.RestrictedCanary("acme")) {
				t.Errorf("reveal with %s: the form shows a personal or restricted value", tc.name)
			}
		}
		if n := p.count("reveals", ""); n != 0 {
			t.Fatalf("%d reveals after invalid forms, want 0", n)
		}
		res, _ := p.post(c, reveal, url.Values{"field": {"email"}, "reason": {reason}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/workspaces/acme/data/members/1" {
			t.Fatalf("reveal: got %d to %q, want 303 to the record", res.StatusCode, res.Header.Get("Location"))
		}
		ev := p.newestEvent()
		if ev.Action != models.ActionFieldRevealed || ev.RecordIDs != "1" || ev.Reason != reason || !strings.Contains(ev.Detail, `"field":"email"`) || ev.GrantID == nil || *ev.GrantID != g.ID {
			t.Errorf("reveal event: %+v, want data.revealed of members 1 email with the reason and grant %d", ev, g.ID)
		}
		res, body := p.get(c, "/workspaces/acme/data/members/1")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, demo.Canary("acme")) || !strings.Contains(body, "•••• (personal)") {
			t.Errorf("record after reveal: got %d, email shown %t, name masked %t; want both", res.StatusCode, strings.Contains(body, demo.Canary("acme")), strings.Contains(body, "•••• (personal)"))
		}
		if ev := p.newestEvent(); ev.Action != models.ActionDataViewed || !strings.Contains(ev.Detail, "email") {
			t.Errorf("view after reveal: event %s detail %q, want data.viewed naming the revealed field", ev.Action, ev.Detail)
		}
		if _, body := p.get(c, "/workspaces/acme/data/members/2"); strings.Contains(body, demo.Canary("acme")) {
			t.Error("another record is unmasked by the reveal of record 1")
		}
		p.clock.Advance(models.RevealWindow)
		if _, body := p.get(c, "/workspaces/acme/data/members/1"); strings.Contains(body, demo.Canary("acme")) {
			t.Error("revealed field still shown after the reveal window")
		}
		// Outside the grant: refused and audited, nothing stored.
		for _, path := range []string{"/workspaces/acme/data/members/3/reveal", "/workspaces/globex/data/members/1/reveal"} {
			res, _ := p.post(c, path, url.Values{"field": {"email"}, "reason": {reason}})
			if ev := p.newestEvent(); res.StatusCode != http.StatusForbidden || ev.Action != models.ActionDataRefused {
				t.Errorf("%s: got %d, newest event %s; want 403 and data.refused", path, res.StatusCode, ev.Action)
			}
		}
		if n := p.count("reveals", ""); n != 1 {
			t.Errorf("%d reveals stored, want 1", n)
		}
	})
}
