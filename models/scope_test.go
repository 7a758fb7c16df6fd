package models_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// countRows counts the rows of table (a name the test chose).
func countRows(t *testing.T, db *models.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Read.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func mustScope(t *testing.T, text string) policy.Scope {
	t.Helper()
	sc, err := policy.ParseScope(text)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestScopeEndsDataReads: a data read under a live grant stops on the next
// request once SetStaffScope narrows the scope, the grant on the workspace
// it no longer admits ends, the refusal is audited, and the workspace it
// still admits reads on.
func TestScopeEndsDataReads(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := newDataFixture(t, db)
		sara := f.viewer("sara.senior@example.com")
		onAcme := f.grant(sara, "acme", models.GrantScope{}, false) // acme is eu
		f.grant(sara, "globex", models.GrantScope{}, false)         // globex is us
		acme := models.DataRequest{Slug: "acme", Table: "documents"}
		globex := models.DataRequest{Slug: "globex", Table: "documents"}
		if _, err := f.data.ReadTable(ctx, sara, acme); err != nil {
			t.Fatalf("read before the scope: %v", err)
		}

		by := models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}
		if err := models.SetStaffScope(ctx, db.Write, f.product.Read, models.Act{Now: f.now, By: by}, sara.StaffID, " region=us "); err != nil {
			t.Fatal(err)
		}
		s, err := models.FindStaff(ctx, db.Read, sara.StaffID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Scope != "region=us" {
			t.Errorf("scope stored = %q, want region=us", s.Scope)
		}
		evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Action: models.ActionStaffScopeChanged})
		if err != nil || len(evs) != 1 {
			t.Fatalf("scope events: %v, %v", evs, err)
		}
		if !strings.Contains(evs[0].Detail, `"before":{`) || !strings.Contains(evs[0].Detail, `"scope":""`) || !strings.Contains(evs[0].Detail, `"scope":"region=us"`) {
			t.Errorf("scope event detail %s: want the scope before and after", evs[0].Detail)
		}
		g, err := models.FindGrant(ctx, db.Read, onAcme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g.EndedAt == nil {
			t.Error("the grant on acme (eu) outlived a scope of region=us")
		}

		_, err = f.data.ReadTable(ctx, sara, acme)
		if !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("read of acme after the scope = %v, want ErrNotFound", err)
		}
		if e := f.newestEvent(); e.Action != models.ActionDataRefused || e.Reason != "outside scope" || e.Workspace != "acme" {
			t.Errorf("newest event = %s %q on %q, want data.refused \"outside scope\" on acme", e.Action, e.Reason, e.Workspace)
		}
		if _, err := f.data.ReadTable(ctx, sara, globex); err != nil {
			t.Errorf("read of globex (us) under region=us: %v", err)
		}
	})
}

// TestScopeRefusesGrants: no grant is made for a grantee whose scope does
// not admit the workspace, nor when the caller did not say what the
// workspace is; nothing is written.
func TestScopeRefusesGrants(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := newDataFixture(t, db)
		sara := f.viewer("sara.senior@example.com")
		by := models.Act{Now: f.now, By: models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}}
		if err := models.SetStaffScope(ctx, db.Write, f.product.Read, by, sara.StaffID, "region=us"); err != nil {
			t.Fatal(err)
		}
		acme, err := models.FindWorkspace(ctx, f.product.Read, "acme")
		if err != nil {
			t.Fatal(err)
		}
		grants, events := countRows(t, db, "grants"), countRows(t, db, "audit_events")
		for name, attrs := range map[string]map[string]string{"acme is eu": acme.Attributes(), "no attributes": nil} {
			_, err := models.CreateGrant(ctx, db.Write, f.now, models.NewGrant{
				Workspace: "acme", GranteeID: sara.StaffID, StartsAt: f.now, Duration: time.Hour, Attributes: attrs,
			})
			if !errors.Is(err, models.ErrOutOfScope) || !errors.Is(err, models.ErrConflict) {
				t.Errorf("%s: CreateGrant = %v, want ErrOutOfScope", name, err)
			}
		}
		if g, e := countRows(t, db, "grants"), countRows(t, db, "audit_events"); g != grants || e != events {
			t.Errorf("refused grants wrote: grants %d → %d, events %d → %d", grants, g, events, e)
		}

		// A request naming her as grantee on acme is refused on grantee;
		// one by a requester whose scope does not admit it, on workspace
		// with the words of an unknown one.
		pol := models.RequestPolicy{MaxDuration: 8 * time.Hour, Clearance: models.DefaultClearance("2026-1")}
		roles, err := models.LoadRoles(ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		requester, err := models.FindStaffByEmail(ctx, db.Read, "sam.support@example.com")
		if err != nil {
			t.Fatal(err)
		}
		grantee, err := models.FindStaff(ctx, db.Read, sara.StaffID)
		if err != nil {
			t.Fatal(err)
		}
		n := models.NewRequest{
			Workspace: "acme", Attributes: acme.Attributes(), Requester: requester, Grantee: grantee,
			Reason: "Customer reports missing invoices since Monday.", Ticket: "SUP-1", Duration: time.Hour,
		}
		errs := models.ValidateRequest(pol, roles, f.now, n)
		if want := models.OutOfScopeMessage(grantee); errs["grantee"] != want {
			t.Errorf("grantee out of scope: errors %v, want grantee %q", errs, want)
		}
		n.Requester.Scope = "region=us"
		errs = models.ValidateRequest(pol, roles, f.now, n)
		if errs["workspace"] != "Choose a workspace that exists." {
			t.Errorf("requester out of scope: errors %v, want the unknown workspace's message", errs)
		}
		n.Attributes = nil
		n.Requester.Scope = "region=eu"
		if errs := models.ValidateRequest(pol, roles, f.now, n); errs["workspace"] == "" {
			t.Errorf("a scoped requester without the workspace's attributes passed: %v", errs)
		}
	})
}

func TestSetStaffScopeRefusesBadScopes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := newDataFixture(t, db)
		sara := f.viewer("sara.senior@example.com")
		by := models.Act{Now: f.now, By: models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}}
		events := countRows(t, db, "audit_events")
		for _, text := range []string{"region", "country=de", "region=EU", "region=eu region=us"} {
			err := models.SetStaffScope(ctx, db.Write, f.product.Read, by, sara.StaffID, text)
			var fe models.FieldErrors
			if !errors.As(err, &fe) || fe["scope"] == "" {
				t.Errorf("SetStaffScope(%q) = %v, want FieldErrors on scope", text, err)
			}
		}
		if err := models.SetStaffScope(ctx, db.Write, f.product.Read, by, sara.StaffID, ""); !errors.Is(err, models.ErrConflict) {
			t.Errorf("setting the scope she has = %v, want a conflict", err)
		}
		if e := countRows(t, db, "audit_events"); e != events {
			t.Errorf("refused scopes wrote %d events", e-events)
		}
		if err := models.SetStaffScope(ctx, db.Write, f.product.Read, by, 999999, "region=eu"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("unknown staff = %v, want ErrNotFound", err)
		}
	})
}

// TestScopedWorkspaceList: a scoped list, search and count hold only the
// workspaces the scope admits, every one once across keyset pages; a
// workspace without a region matches no scope.
func TestScopedWorkspaceList(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, _ := retentionStores(t, db)
		if err := product.Write.Exec("UPDATE workspaces SET region = '' WHERE slug = 'umbrella'").Error; err != nil {
			t.Fatal(err)
		}
		var all []models.Workspace
		if err := product.Read.Order("slug").Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"region=eu", "region=eu,uk plan=team", "plan=enterprise", "region=mars", ""} {
			sc := mustScope(t, text)
			var want []string
			for _, w := range all {
				if sc.Admits(w.Attributes()) {
					want = append(want, w.Slug)
				}
			}
			if slices.Contains(want, "umbrella") && text != "" {
				t.Fatalf("%q admits umbrella, which has no region", text)
			}
			list := models.WorkspaceList{DB: db.Read, Product: product.Read, Now: demoNow, Scope: sc}
			k := models.Keyset{Sort: models.WorkspaceSorts[1], Limit: 2} // by slug, two a page
			var got []string
			for range 50 {
				page, n, err := list.Page(ctx, models.WorkspaceFilter{}, k)
				if err != nil {
					t.Fatal(err)
				}
				if n.N != int64(len(want)) {
					t.Errorf("%q: count %d, want %d", text, n.N, len(want))
				}
				for _, w := range page.Rows {
					got = append(got, w.Slug)
				}
				if page.Next == nil {
					break
				}
				k.After = page.Next
			}
			if !slices.Equal(got, want) {
				t.Errorf("%q: listed %v, want %v", text, got, want)
			}
			found, err := models.SearchWorkspaces(ctx, product.Read, sc, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			var slugs []string
			for _, w := range found {
				slugs = append(slugs, w.Slug)
			}
			if !slices.Equal(slugs, want) {
				t.Errorf("%q: search found %v, want %v", text, slugs, want)
			}
			n, _, err := models.EstimateWorkspacesIn(ctx, product.Read, sc)
			if err != nil || n != int64(len(want)) {
				t.Errorf("%q: EstimateWorkspacesIn = %d, %v, want %d", text, n, err, len(want))
			}
			for _, w := range all {
				_, err := models.FindWorkspaceIn(ctx, product.Read, sc, w.Slug)
				if in := slices.Contains(want, w.Slug); in != (err == nil) || (!in && !errors.Is(err, models.ErrNotFound)) {
					t.Errorf("%q: FindWorkspaceIn(%s) = %v, admitted %v", text, w.Slug, err, in)
				}
			}
		}
	})
}

// TestRoleScopeEndsGrants: narrowing a custom role's scope ends, in the
// same transaction, its holders' grants on workspaces it no longer
// admits, one event each, as narrowing a staff member's own scope does;
// giving someone a role whose scope leaves out a workspace ends their
// grant there. Grants inside the scope live on and still read. A scope
// that cannot be checked (no registry) is refused and writes nothing.
func TestRoleScopeEndsGrants(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := newDataFixture(t, db)
		by := models.Act{Now: f.now, By: roleAdmin}
		usReader := dataReader
		usReader.Name, usReader.Scope = "us-reader", "region=us"
		for _, d := range []policy.RoleDef{dataReader, usReader} {
			if _, err := models.CreateRole(ctx, db.Write, by, d); err != nil {
				t.Fatal(err)
			}
		}
		sara, sean := f.viewer("sara.senior@example.com"), f.viewer("sean.senior@example.com")
		for _, v := range []models.Viewer{sara, sean} {
			if err := models.SetStaffRole(ctx, db.Write, f.product.Read, by, v.StaffID, "data-reader"); err != nil {
				t.Fatal(err)
			}
		}
		sara.Actor.Tier, sean.Actor.Tier = "data-reader", "data-reader"
		// acme is eu, globex is us.
		saraAcme, saraGlobex := f.grant(sara, "acme", models.GrantScope{}, false), f.grant(sara, "globex", models.GrantScope{}, false)
		seanAcme, seanGlobex := f.grant(sean, "acme", models.GrantScope{}, false), f.grant(sean, "globex", models.GrantScope{}, false)

		euOnly := dataReader
		euOnly.Scope = "region=eu"
		seq := lastSeq(t, db)
		if _, err := models.ChangeRole(ctx, db.Write, nil, by, "data-reader", euOnly); err == nil {
			t.Error("a role's scope was narrowed with no registry to check its holders' grants against")
		}
		wantEvents(t, db, seq, f.now)
		wantLive(t, db, f.now, saraAcme.ID, saraGlobex.ID, seanAcme.ID, seanGlobex.ID)

		if _, err := models.ChangeRole(ctx, db.Write, f.product.Read, by, "data-reader", euOnly); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, f.now, string(models.ActionRoleChanged), ended(saraGlobex.ID), ended(seanGlobex.ID))
		wantEnded(t, db, f.now, f.now, saraGlobex.ID, seanGlobex.ID)
		wantLive(t, db, f.now, saraAcme.ID, seanAcme.ID)
		if _, err := f.data.ReadTable(ctx, sara, models.DataRequest{Slug: "acme", Table: "documents"}); err != nil {
			t.Errorf("read of acme (eu) under a role of region=eu: %v", err)
		}
		if _, err := f.data.ReadTable(ctx, sara, models.DataRequest{Slug: "globex", Table: "documents"}); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("read of globex (us) under a role of region=eu = %v, want ErrNotFound", err)
		}

		// Sean moved to a role of the US alone: his grant on acme ends.
		seq = lastSeq(t, db)
		if err := models.SetStaffRole(ctx, db.Write, f.product.Read, by, sean.StaffID, "us-reader"); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, f.now, ended(seanAcme.ID), string(models.ActionStaffTierChanged))
		wantEnded(t, db, f.now, f.now, seanAcme.ID)
		wantLive(t, db, f.now, saraAcme.ID)
	})
}
