package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// TestRoleCreate: a sysadmin creates a custom role with POST /roles; bad
// input is a 422 naming the field, with nothing written; a staff member
// without staff:manage is refused.
func TestRoleCreate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := p.login("ada.sysadmin@example.com")
		good := url.Values{
			"name":        {"field-support"},
			"description": {"Support on site: general workspace information only."},
			"permission":  {"portal:enter", "workspace_meta:read"},
			"reason":      {"Engineers on customer sites need workspace details."},
		}

		bad := []struct {
			name    string
			change  func(url.Values)
			field   string
			message string
		}{
			{"built-in name", func(v url.Values) { v.Set("name", "sysadmin") }, "name", "built-in role"},
			{"bad name", func(v url.Values) { v.Set("name", "Field Support") }, "name", "lower-case letters"},
			{"no description", func(v url.Values) { v.Set("description", " ") }, "description", "what the role is for"},
			{"unknown permission", func(v url.Values) { v.Add("permission", "root:everything") }, "permissions", "root:everything is not a permission"},
			{"no portal:enter", func(v url.Values) { v["permission"] = []string{"workspace_meta:read"} }, "permissions", "portal:enter"},
			{"taken name", func(v url.Values) { v.Set("name", "billing-support") }, "name", "exists already"},
			{"bad scope", func(v url.Values) { v.Set("scope", "region=EU") }, "scope", "must be 1 to 32 of a-z"},
			{"no reason", func(v url.Values) { v.Del("reason") }, "reason", "why this change is needed"},
		}
		before := snapshotDB(t, db)
		for _, tt := range bad {
			form := url.Values{}
			for k, v := range good {
				form[k] = append([]string(nil), v...)
			}
			tt.change(form)
			res, body := p.post(ada, "/roles", form)
			if res.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s: POST /roles = %d, want 422", tt.name, res.StatusCode)
				continue
			}
			if !strings.Contains(body, `data-testid="error-`+tt.field+`">`) || !strings.Contains(body, tt.message) {
				t.Errorf("%s: the answer does not say %q on %s", tt.name, tt.message, tt.field)
			}
		}
		if diff := before.diff(snapshotDB(t, db)); diff != "" {
			t.Errorf("refused role creations wrote:\n%s", diff)
		}

		// Not allowed for those without staff:manage.
		for _, who := range []string{"sam.support@example.com", "sara.senior@example.com", "aud.auditor@example.com", "bill.billing@example.com"} {
			if res, _ := p.post(p.login(who), "/roles", good); res.StatusCode != http.StatusForbidden {
				t.Errorf("POST /roles as %s = %d, want 403", who, res.StatusCode)
			}
		}
		if n := p.count("roles", "name = ?", "field-support"); n != 0 {
			t.Fatalf("a refused creation stored the role")
		}

		// A proposal: inert until a second sysadmin approves it.
		res, body := p.post(noRedirect(ada), "/roles", good)
		m := proposalLocation.FindStringSubmatch(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || m == nil {
			t.Fatalf("POST /roles = %d to %q, want 303 to a proposal:\n%s", res.StatusCode, res.Header.Get("Location"), body)
		}
		if n := p.count("roles", "name = ?", "field-support"); n != 0 {
			t.Fatalf("a proposed role exists before its approval")
		}
		p.approveProposal(p.secondSysadmin(), m[1])
		_, body = p.get(ada, "/roles/field-support")
		if !strings.Contains(body, "Look up customer workspaces") {
			t.Error("the new role's page shows no permissions in words")
		}
		if n := p.count("audit_events", "action = ? AND target = ?", models.ActionRoleCreated, "role:field-support"); n != 1 {
			t.Errorf("role.created events = %d, want 1", n)
		}
		// The staff page offers it.
		if _, body := p.get(ada, "/staff/"+itoa(p.idOf("sam.support@example.com"))); !strings.Contains(body, `<option value="field-support"`) {
			t.Error("the staff page's role select does not offer the new role")
		}
	})
}

// TestRoleChangeAppliesOnTheNextRequest: a holder of billing-support sees
// workspaces; once a sysadmin takes workspace_meta:read from the role,
// their next request is refused, and the roles page says who holds it.
func TestRoleChangeAppliesOnTheNextRequest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada, bill := p.login("ada.sysadmin@example.com"), p.login("bill.billing@example.com")
		if res, _ := p.get(bill, "/workspaces/acme"); res.StatusCode != http.StatusOK {
			t.Fatalf("billing-support GET /workspaces/acme = %d, want 200", res.StatusCode)
		}
		if res, _ := p.get(bill, "/requests"); res.StatusCode != http.StatusForbidden {
			t.Errorf("billing-support GET /requests = %d, want 403", res.StatusCode)
		}
		_, body := p.get(ada, "/roles/billing-support")
		if !strings.Contains(body, "bill.billing@example.com") {
			t.Error("the role's page does not list its holder")
		}
		// Built-in tiers are not changed here.
		if res, _ := p.post(ada, "/roles/support", url.Values{"description": {"x"}, "permission": {"portal:enter"}}); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("POST /roles/support = %d, want 422", res.StatusCode)
		}
		if res, _ := p.post(ada, "/roles/ghost", url.Values{"description": {"x"}, "permission": {"portal:enter"}}); res.StatusCode != http.StatusNotFound {
			t.Errorf("POST /roles/ghost = %d, want 404", res.StatusCode)
		}

		res, body := p.post(noRedirect(ada), "/roles/billing-support", url.Values{"description": {"Signs in; sees nothing yet."}, "permission": {"portal:enter"}, "reason": {"Billing moves to the finance tool."}})
		m := proposalLocation.FindStringSubmatch(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || m == nil {
			t.Fatalf("POST /roles/billing-support = %d to %q, want 303 to a proposal:\n%s", res.StatusCode, res.Header.Get("Location"), body)
		}
		if res, _ := p.get(bill, "/workspaces/acme"); res.StatusCode != http.StatusOK {
			t.Errorf("while the change waits, billing-support GET /workspaces/acme = %d, want 200", res.StatusCode)
		}
		p.approveProposal(p.secondSysadmin(), m[1])
		if res, _ := p.get(bill, "/workspaces/acme"); res.StatusCode != http.StatusForbidden {
			t.Errorf("after the change, billing-support GET /workspaces/acme = %d, want 403", res.StatusCode)
		}
		if res, _ := p.get(bill, "/"); res.StatusCode != http.StatusOK {
			t.Errorf("after the change, billing-support GET / = %d, want 200", res.StatusCode)
		}
	})
}

// TestUnknownRoleIsRefusedEverywhere: a staff row naming a role that does
// not exist signs in to nothing.
func TestUnknownRoleIsRefusedEverywhere(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	sam := p.login("sam.support@example.com")
	if err := p.db.Write.Exec("UPDATE staff SET tier = 'ghost-role' WHERE email = ?", "sam.support@example.com").Error; err != nil {
		t.Fatal(err)
	}
	// Written behind the portal's back: move the epoch as an audited
	// change would.
	if _, err := models.AppendAudit(t.Context(), p.db.Write, models.AuditEntry{At: p.clock.Now(), Actor: models.Actor{Email: "test"}, Action: models.ActionStaffTierChanged}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/workspaces", "/requests"} {
		if res, _ := p.get(sam, path); res.StatusCode != http.StatusForbidden {
			t.Errorf("ghost role GET %s = %d, want 403", path, res.StatusCode)
		}
	}
}

// TestRoleScopeLimitsHolders: a custom role's scope limits its holders as
// their own scope does, once a second sysadmin approves it: bill
// (billing-support) sees acme (eu) until the role is limited to the US,
// then acme is not found and leaves the workspace list.
func TestRoleScopeLimitsHolders(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada, bill := noRedirect(p.login("ada.sysadmin@example.com")), p.login("bill.billing@example.com")
		if res, _ := p.get(bill, "/workspaces/acme"); res.StatusCode != http.StatusOK {
			t.Fatalf("billing-support GET /workspaces/acme = %d, want 200", res.StatusCode)
		}
		form := url.Values{
			"description": {"Answers billing questions for US customers."},
			"permission":  {"portal:enter", "workspace_meta:read"},
			"scope":       {"region=us"},
			"reason":      {"Billing support is split by region."},
		}
		res, body := p.post(ada, "/roles/billing-support", form)
		m := proposalLocation.FindStringSubmatch(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || m == nil {
			t.Fatalf("POST /roles/billing-support = %d to %q:\n%s", res.StatusCode, res.Header.Get("Location"), body)
		}
		if res, _ := p.get(bill, "/workspaces/acme"); res.StatusCode != http.StatusOK {
			t.Errorf("before approval GET /workspaces/acme = %d, want 200", res.StatusCode)
		}
		p.approveProposal(p.secondSysadmin(), m[1])
		if res, body := p.get(bill, "/workspaces/acme"); res.StatusCode != http.StatusNotFound || mentionsAcme(body) {
			t.Errorf("after approval GET /workspaces/acme = %d, want 404 without acme", res.StatusCode)
		}
		if _, body := p.get(bill, "/workspaces"); mentionsAcme(body) || !strings.Contains(body, "globex") {
			t.Error("after approval the workspace list still shows acme, or no longer globex (us)")
		}
		if _, body := p.get(ada, "/roles/billing-support"); !strings.Contains(body, "region=us") {
			t.Error("the role's page does not show its scope")
		}
	})
}

// TestStaffManagersGiveNoMoreThanTheyHold: someone managing staff in a
// custom role cannot add a person whose role may do more than theirs (a
// new sysadmin, say); a role within theirs is fine.
func TestStaffManagersGiveNoMoreThanTheyHold(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	act := models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test", Tier: "system"}}
	if _, err := models.CreateRole(t.Context(), p.db.Write, act, policy.RoleDef{
		Name: "people-ops", Description: "Adds and removes staff.", Permissions: []policy.Permission{policy.PortalEnter, policy.StaffManage},
	}); err != nil {
		t.Fatal(err)
	}
	p.addStaff("stranger@example.com", "people-ops", p.clock.Now().AddDate(0, -1, 0))
	ops := p.login("stranger@example.com")
	for _, tier := range []string{"sysadmin", "support", "billing-support"} {
		before := p.count("staff", "")
		res, body := p.post(ops, "/staff", url.Values{"email": {"new." + tier + "@example.com"}, "name": {"New Person"}, "tier": {tier}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "more than your own") {
			t.Errorf("people-ops adding a %s = %d, want 422 on tier", tier, res.StatusCode)
		}
		if n := p.count("staff", ""); n != before {
			t.Errorf("a refused addition of a %s wrote a staff row", tier)
		}
	}
	res, _ := p.post(ops, "/staff", url.Values{"email": {"new.engineer@example.com"}, "name": {"New Engineer"}, "tier": {"engineer"}})
	if res.StatusCode != http.StatusOK || p.count("staff", "email = ?", "new.engineer@example.com") != 1 {
		t.Errorf("people-ops adding an engineer = %d, want the person added", res.StatusCode)
	}
}

// TestRoleDeletion: a custom role nobody holds can be proposed for
// deletion from its page and is gone once a second sysadmin approves; one
// somebody holds cannot (its page offers no deletion, and a POST is
// refused with why), nor a built-in tier, and a deletion without a reason
// is sent back with its message.
func TestRoleDeletion(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		reason := url.Values{"reason": {"Nobody reads archives this way any more."}}
		if _, body := p.get(ada, "/roles/billing-support"); strings.Contains(body, "/roles/billing-support/delete") {
			t.Error("the page of a role bill holds offers to delete it")
		}
		if res, body := p.post(ada, "/roles/billing-support/delete", reason); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "give them another role first") {
			t.Errorf("POST /roles/billing-support/delete = %d, want 422 saying why:\n%s", res.StatusCode, body)
		}
		if res, _ := p.post(ada, "/roles/support/delete", reason); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("POST /roles/support/delete = %d, want 422", res.StatusCode)
		}
		if res, _ := p.post(ada, "/roles/ghost/delete", reason); res.StatusCode != http.StatusNotFound {
			t.Errorf("POST /roles/ghost/delete = %d, want 404", res.StatusCode)
		}

		def := policy.RoleDef{Name: "archive-reader", Description: "Reads archived workspaces' metadata.", Permissions: []policy.Permission{policy.PortalEnter, policy.WorkspaceMetaRead}}
		if _, err := models.CreateRole(t.Context(), db.Write, models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test"}}, def); err != nil {
			t.Fatal(err)
		}
		if _, body := p.get(ada, "/roles/archive-reader"); !strings.Contains(body, `action="/roles/archive-reader/delete"`) {
			t.Error("the page of a role nobody holds offers no deletion")
		}
		res, body := p.post(ada, "/roles/archive-reader/delete", url.Values{"reason": {""}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="role-delete-reason"`) || !strings.Contains(body, `href="#role-delete-reason"`) {
			t.Errorf("a deletion without a reason = %d, want 422 pointing at its reason:\n%s", res.StatusCode, body)
		}
		res, body = p.post(ada, "/roles/archive-reader/delete", reason)
		m := proposalLocation.FindStringSubmatch(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || m == nil {
			t.Fatalf("POST /roles/archive-reader/delete = %d to %q, want 303 to a proposal:\n%s", res.StatusCode, res.Header.Get("Location"), body)
		}
		if res, _ := p.get(ada, "/roles/archive-reader"); res.StatusCode != http.StatusOK {
			t.Errorf("before approval GET /roles/archive-reader = %d, want 200", res.StatusCode)
		}
		p.approveProposal(p.secondSysadmin(), m[1])
		if res, _ := p.get(ada, "/roles/archive-reader"); res.StatusCode != http.StatusNotFound {
			t.Errorf("after approval GET /roles/archive-reader = %d, want 404", res.StatusCode)
		}
		if _, body := p.get(ada, "/roles"); strings.Contains(body, "archive-reader") {
			t.Error("the roles list still shows the deleted role")
		}
	})
}
