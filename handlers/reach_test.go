package handlers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// TestWhoCanReachMatchesWhatIsAllowed: the workspace's "who can reach"
// page lists, for each person, exactly the paths the portal then lets
// them take, checked by trying every listed and unlisted person: a data
// read (200 on some table) under a live grant, being named as a request's
// grantee, and opening a break-glass. It also lists who read the data.
func TestWhoCanReachMatchesWhatIsAllowed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ctx := context.Background()
		// A US-only sysadmin (out of scope for acme, in the EU; nina,
		// without the agreement, is the one not cleared), and live grants:
		// sara's on acme (she reads under it), sean's on globex.
		p.addStaff("stranger@example.com", policy.TierSysadmin, p.clock.Now().AddDate(0, -1, 0))
		p.setScope("stranger@example.com", "region=us")
		p.grant(sara, "acme", models.GrantScope{}, false, 4*time.Hour)
		p.grant("sean.senior@example.com", "globex", models.GrantScope{}, false, 4*time.Hour)
		if res, _ := p.get(p.login(sara), "/workspaces/acme/data/projects"); res.StatusCode != http.StatusOK {
			t.Fatalf("sara's read under her grant = %d", res.StatusCode)
		}

		aud := p.login("aud.auditor@example.com")
		res, body := p.get(aud, "/workspaces/acme/reach")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /workspaces/acme/reach as auditor = %d", res.StatusCode)
		}
		if _, page := p.get(p.login("ada.sysadmin@example.com"), "/workspaces/acme"); !strings.Contains(page, `data-testid="reach"`) {
			t.Error("the sysadmin's workspace page has no \"who can reach\" card")
		}
		if _, page := p.get(p.login("sam.support@example.com"), "/workspaces/acme"); strings.Contains(page, `data-testid="reach"`) {
			t.Error("support sees \"who can reach\"")
		}
		listed := reachRows(body)
		if len(listed) == 0 {
			t.Fatalf("nobody listed:\n%s", body)
		}
		if !strings.Contains(body, `data-testid="read-`+sara+`"`) {
			t.Error("sara's read is not among who read the data")
		}

		people := []string{"stranger@example.com"}
		for _, m := range demoStaff() {
			if m.Status != models.StatusOffboarded {
				people = append(people, m.Email)
			}
		}
		roles, err := models.LoadRoles(ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		acme, err := models.FindWorkspace(ctx, p.opts.Product, "acme")
		if err != nil {
			t.Fatal(err)
		}
		requester := p.staff("sam.support@example.com")
		for _, email := range people {
			paths := listed[email]
			c := p.login(email)
			reads := false
			for _, table := range shownTables {
				if res, _ := p.get(c, "/workspaces/acme/data/"+table); res.StatusCode == http.StatusOK {
					reads = true
				}
			}
			if reads != slices.Contains(paths, "grant") {
				t.Errorf("%s: reads acme's data %v, listed paths %v", email, reads, paths)
			}
			n := models.NewRequest{
				Workspace: "acme", Attributes: acme.Attributes(), Requester: requester, Grantee: p.staff(email),
				Reason: "Customer reports missing invoices since Monday.", Ticket: "SUP-1", Duration: time.Hour,
			}
			errs := models.ValidateRequest(p.h.requests, roles, p.clock.Now(), n)
			if grantee := errs["grantee"] == ""; grantee != slices.Contains(paths, "request") {
				t.Errorf("%s: may be a request's grantee %v (%v), listed paths %v", email, grantee, errs, paths)
			}
		}
		// Break-glass last: opening one is a change.
		for _, email := range people {
			res, _ := p.post(noRedirect(p.login(email)), "/breakglass", bgForm("acme"))
			if opened := res.StatusCode == http.StatusSeeOther; opened != slices.Contains(listed[email], "breakglass") {
				t.Errorf("%s: POST /breakglass on acme = %d, listed paths %v", email, res.StatusCode, listed[email])
			}
		}
		for email := range listed {
			if !slices.Contains(people, email) {
				t.Errorf("%s is listed but not among the people tried", email)
			}
		}
	})
}

// reachRows reads the "who can reach" table: each listed email and its
// paths (grant, breakglass, request).
func reachRows(body string) map[string][]string {
	out := map[string][]string{}
	now, _, _ := strings.Cut(body, `data-testid="reach-past`)
	for _, row := range strings.Split(now, `<tr data-testid="reach-`)[1:] {
		email, rest, _ := strings.Cut(row, `"`)
		rest, _, _ = strings.Cut(rest, "</tr>")
		for _, path := range []string{"grant", "breakglass", "request"} {
			if strings.Contains(rest, `data-testid="path-`+path+`"`) {
				out[email] = append(out[email], path)
			}
		}
	}
	return out
}
