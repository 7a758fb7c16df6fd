package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

var roleAdmin = models.Actor{Email: "roleAdmin.sysadmin@example.com", Tier: "sysadmin"}

// dataReader is a custom role that may read data under a grant.
var dataReader = policy.RoleDef{
	Name:        "data-reader",
	Description: "Reads customer data under a consented grant.",
	Permissions: []policy.Permission{policy.PortalEnter, policy.WorkspaceMetaRead, policy.TenantDataRead},
}

func createRole(t *testing.T, db *models.DB, at time.Time, d policy.RoleDef) {
	t.Helper()
	if _, err := models.CreateRole(context.Background(), db.Write, models.Act{Now: at, By: roleAdmin}, d); err != nil {
		t.Fatal(err)
	}
}

// TestRoleChangeTakesEffectOnTheNextRequest: the role snapshot is cached
// per security epoch; a role's change moves the epoch, so the next
// request reads the role as it now stands.
func TestRoleChangeTakesEffectOnTheNextRequest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		createRole(t, db, t0, dataReader)
		cache := models.NewAccessCache(db.Read, models.MaxAccessCacheTTL, 0, func() time.Time { return t0 })
		request := func() *policy.Roles {
			t.Helper()
			rctx, err := cache.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r, err := cache.Roles(rctx, db.Read)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := request(); !r.Allowed("data-reader", policy.TenantDataRead) || !r.Allowed("data-reader", policy.WorkspaceMetaRead) {
			t.Fatal("data-reader lacks its permissions before the change")
		}
		request() // served from the cache
		changed := dataReader
		changed.Permissions = []policy.Permission{policy.PortalEnter, policy.WorkspaceMetaRead}
		if _, err := models.ChangeRole(ctx, db.Write, nil, models.Act{Now: t0.Add(time.Minute), By: roleAdmin}, "data-reader", changed); err != nil {
			t.Fatal(err)
		}
		r := request()
		if r.Allowed("data-reader", policy.TenantDataRead) {
			t.Error("the next request still sees tenant_data:read on data-reader")
		}
		if !r.Allowed("data-reader", policy.WorkspaceMetaRead) {
			t.Error("the next request lost workspace_meta:read, which the role kept")
		}
	})
}

// TestRoleChangeEndsHoldersGrants: taking tenant_data:read from a role
// ends its holders' grants in the same transaction, one event each,
// and leaves others' grants alone.
func TestRoleChangeEndsHoldersGrants(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := tierFixture{newBGFixture(t, db), t}
		createRole(t, db, t0, dataReader)
		sara, sean := f.staff["sara.senior"], f.staff["sean.senior"]
		for _, s := range []models.Staff{sara, sean} {
			if err := models.SetStaffRole(ctx, db.Write, nil, models.Act{Now: t0, By: roleAdmin}, s.ID, "data-reader"); err != nil {
				t.Fatal(err)
			}
		}
		saraAcme, seanGlobex := f.grant("sara.senior", "acme", false, t0, 2*time.Hour), f.grant("sean.senior", "globex", true, t0, 2*time.Hour)
		adaAcme := f.grant("ada.sysadmin", "acme", false, t0, 2*time.Hour)

		// A change that keeps tenant_data:read ends nothing.
		at := t0.Add(5 * time.Minute)
		kept := dataReader
		kept.Description = "Reads customer data under a grant; no requests."
		seq := lastSeq(t, db)
		if _, err := models.ChangeRole(ctx, db.Write, nil, models.Act{Now: at, By: roleAdmin}, "data-reader", kept); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, at, string(models.ActionRoleChanged))
		wantLive(t, db, at, saraAcme, seanGlobex, adaAcme)

		at = t0.Add(10 * time.Minute)
		taken := kept
		taken.Permissions = []policy.Permission{policy.PortalEnter, policy.WorkspaceMetaRead}
		seq = lastSeq(t, db)
		if _, err := models.ChangeRole(ctx, db.Write, nil, models.Act{Now: at, By: roleAdmin}, "data-reader", taken); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, at, string(models.ActionRoleChanged), ended(saraAcme), ended(seanGlobex))
		wantEnded(t, db, at, at, saraAcme, seanGlobex)
		wantLive(t, db, at, adaAcme)

		// The audit event carries the before and after.
		var ev models.AuditEvent
		if err := db.Read.Where("seq = ?", seq+1).Take(&ev).Error; err != nil {
			t.Fatal(err)
		}
		want := `{"after":{"description":"Reads customer data under a grant; no requests.","permissions":"portal:enter,workspace_meta:read"},` +
			`"before":{"description":"Reads customer data under a grant; no requests.","permissions":"portal:enter,tenant_data:read,workspace_meta:read"}}`
		if ev.Target != "role:data-reader" || ev.Detail != want {
			t.Errorf("role.changed: target %q detail %s, want role:data-reader and %s", ev.Target, ev.Detail, want)
		}
		// Nothing to change is refused and writes nothing.
		seq = lastSeq(t, db)
		var fe models.FieldErrors
		if _, err := models.ChangeRole(ctx, db.Write, nil, models.Act{Now: at, By: roleAdmin}, "data-reader", taken); !errors.As(err, &fe) {
			t.Errorf("an unchanged role: %v, want FieldErrors", err)
		}
		if _, err := models.ChangeRole(ctx, db.Write, nil, models.Act{Now: at, By: roleAdmin}, "no-such-role", taken); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("changing a role that does not exist: %v, want ErrNotFound", err)
		}
		wantEvents(t, db, seq, at)
	})
}

// TestStaffMovedToACustomRole: a senior given a custom role without
// tenant_data:read loses every grant at once; one given a role with it
// keeps the grants it may hold, but not a break-glass.
func TestStaffMovedToACustomRole(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := tierFixture{newBGFixture(t, db), t}
		createRole(t, db, t0, dataReader)
		sara, ada := f.staff["sara.senior"], f.staff["ada.sysadmin"]
		saraAcme := f.grant("sara.senior", "acme", true, t0, 2*time.Hour)
		adaBG, adaAcme := f.breakglass("ada.sysadmin"), f.grant("ada.sysadmin", "acme", false, t0, 2*time.Hour)

		at := t0.Add(10 * time.Minute)
		seq := lastSeq(t, db)
		if err := models.SetStaffRole(ctx, db.Write, nil, models.Act{Now: at, By: roleAdmin}, sara.ID, "billing-support"); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, at, ended(saraAcme), string(models.ActionStaffTierChanged))
		wantEnded(t, db, at, at, saraAcme)

		seq = lastSeq(t, db)
		if err := models.SetStaffRole(ctx, db.Write, nil, models.Act{Now: at, By: roleAdmin}, ada.ID, "data-reader"); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, db, seq, at, endedBG(adaBG), string(models.ActionStaffTierChanged))
		wantLive(t, db, at, adaAcme)
		if s, err := models.FindStaff(ctx, db.Read, ada.ID); err != nil || s.Tier != "data-reader" {
			t.Errorf("ada's role = %q (%v), want data-reader", s.Tier, err)
		}
	})
}

// TestUnknownRoleHoldsNothing: a role name that is neither built-in nor
// stored grants no permission, and cannot be given to anyone.
func TestUnknownRoleHoldsNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := tierFixture{newBGFixture(t, db), t}
		sam := f.staff["sam.support"]
		seq := lastSeq(t, db)
		var fe models.FieldErrors
		if err := models.SetStaffRole(ctx, db.Write, nil, models.Act{Now: t0, By: roleAdmin}, sam.ID, "ghost"); !errors.As(err, &fe) || fe["tier"] == "" {
			t.Errorf("SetStaffRole(ghost) = %v, want FieldErrors on tier", err)
		}
		if _, err := models.CreateStaff(ctx, db.Write, t0, roleAdmin, models.Staff{Email: "gus.ghost@example.com", Name: "Gus", Tier: "ghost"}); !errors.As(err, &fe) || fe["tier"] == "" {
			t.Errorf("CreateStaff with role ghost = %v, want FieldErrors on tier", err)
		}
		wantEvents(t, db, seq, t0)
		if s, err := models.FindStaff(ctx, db.Read, sam.ID); err != nil || s.Tier != policy.TierSupport {
			t.Errorf("sam's role = %q (%v), want support unchanged", s.Tier, err)
		}

		// A row naming a role that is gone (written behind the portal's
		// back) holds nothing and may not receive a grant.
		if err := db.Write.Exec("UPDATE staff SET tier = 'ghost' WHERE id = ?", sam.ID).Error; err != nil {
			t.Fatal(err)
		}
		roles, err := models.LoadRoles(ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range policy.All {
			if roles.Allowed("ghost", p) {
				t.Errorf("role ghost holds %v", p)
			}
		}
		sam.Tier = "ghost"
		if why := models.CanBeGrantee(sam, roles, models.DefaultRequestPolicy("2026-1").Clearance, t0); why == "" {
			t.Error("a ghost-role staff member may receive a grant")
		}
	})
}

// TestCreateRoleRefusesBadInput: every bad role is FieldErrors on its
// field and writes nothing; a good one is stored and audited.
func TestCreateRoleRefusesBadInput(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		createRole(t, db, t0, dataReader)
		seq := lastSeq(t, db)
		for _, tt := range []struct {
			def   policy.RoleDef
			field string
		}{
			{policy.RoleDef{Name: "senior", Description: "x", Permissions: []policy.Permission{policy.PortalEnter}}, "name"},
			{policy.RoleDef{Name: "Bad Name", Description: "x", Permissions: []policy.Permission{policy.PortalEnter}}, "name"},
			{policy.RoleDef{Name: "data-reader", Description: "again", Permissions: []policy.Permission{policy.PortalEnter}}, "name"},
			{policy.RoleDef{Name: "quiet", Description: "", Permissions: []policy.Permission{policy.PortalEnter}}, "description"},
			{policy.RoleDef{Name: "locked-out", Description: "x", Permissions: []policy.Permission{policy.AuditRead}}, "permissions"},
			{policy.RoleDef{Name: "roleAdmin-ish", Description: "x", Permissions: []policy.Permission{policy.PortalEnter, {Object: "roleAdmin", Action: "all"}}}, "permissions"},
		} {
			var fe models.FieldErrors
			if _, err := models.CreateRole(ctx, db.Write, models.Act{Now: t0, By: roleAdmin}, tt.def); !errors.As(err, &fe) || fe[tt.field] == "" {
				t.Errorf("CreateRole(%+v) = %v, want FieldErrors on %s", tt.def, err, tt.field)
			}
		}
		wantEvents(t, db, seq, t0)
		rows, err := models.ListRoles(ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Name != "data-reader" || rows[0].Permissions != "portal:enter,tenant_data:read,workspace_meta:read" {
			t.Errorf("roles = %+v, want data-reader only", rows)
		}
	})
}
