package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"
)

var deleter = models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}

// tenantExists reports whether slug's schema (PostgreSQL, from
// information_schema.schemata) or file (SQLite) exists.
func tenantExists(t *testing.T, product *models.DB, dir, slug string) bool {
	t.Helper()
	schema, err := models.TenantSchema(slug)
	if err != nil {
		t.Fatal(err)
	}
	if product.Dialect == models.Postgres {
		var n int64
		if err := product.Read.Raw("SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?", schema).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	_, err = os.Stat(filepath.Join(dir, schema+".db"))
	return err == nil
}

// portalWrites is a fingerprint of what a refused deletion must leave
// alone: the audit log and the retention tables.
func portalWrites(t *testing.T, db *models.DB) [4]int64 {
	t.Helper()
	var out [4]int64
	for i, table := range []string{"audit_events", "retention", "legal_holds", "deletion_requests"} {
		if err := db.Read.Raw("SELECT count(*) FROM " + table).Scan(&out[i]).Error; err != nil {
			t.Fatal(err)
		}
	}
	var deleted int64
	db.Read.Raw("SELECT count(*) FROM retention WHERE deleted_at IS NOT NULL").Scan(&deleted)
	out[1] = out[1]*1000 + deleted
	return out
}

func registryStatus(t *testing.T, product *models.DB, slug string) string {
	t.Helper()
	w, err := models.FindWorkspace(context.Background(), product.Read, slug)
	if err != nil {
		t.Fatal(err)
	}
	return w.Status
}

func TestDeletionOfDueWorkspace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := models.DefaultRetentionPolicy()
		product, dir := retentionStores(t, db, "soylent", "vandelay", "acme")

		// vandelay was cancelled 30 days ago: not due, refused, nothing written.
		before := portalWrites(t, db)
		_, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, "vandelay", p)
		if !errors.Is(err, models.ErrNotDue) || !errors.Is(err, models.ErrConflict) {
			t.Errorf("deleting vandelay: %v, want ErrNotDue", err)
		}
		if after := portalWrites(t, db); after != before {
			t.Errorf("a refused deletion wrote to the portal: %v → %v", before, after)
		}
		if !tenantExists(t, product, dir, "vandelay") || registryStatus(t, product, "vandelay") != "cancelled" {
			t.Error("a refused deletion touched vandelay's data or registry entry")
		}
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, "nope", p); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("deleting an unknown workspace: %v, want ErrNotFound", err)
		}

		// soylent was cancelled 95 days ago: due.
		rep, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, "soylent", p)
		if err != nil {
			t.Fatal(err)
		}
		if tenantExists(t, product, dir, "soylent") {
			t.Error("soylent's data is still there")
		}
		if product.Dialect == models.SQLite {
			left, _ := filepath.Glob(filepath.Join(dir, "ws_soylent*"))
			if len(left) != 0 {
				t.Errorf("files left: %v", left)
			}
		}
		if !tenantExists(t, product, dir, "vandelay") || !tenantExists(t, product, dir, "acme") {
			t.Error("deleting soylent removed another workspace's data")
		}
		if got := registryStatus(t, product, "soylent"); got != "deleted" {
			t.Errorf("registry status %q, want deleted", got)
		}
		rows := map[string]int64{}
		for _, tr := range rep.Tables {
			rows[tr.Table] = tr.Rows
		}
		if len(rep.Tables) != 6 || rows["members"] != 5 || rows["documents"] < 3 || rep.Missing || rep.DeletedBy != deleter.Email {
			t.Errorf("report %+v: want 6 tables, soylent's 5 members", rep)
		}

		evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Action: models.ActionWorkspaceDeleted})
		if err != nil || len(evs) != 1 {
			t.Fatalf("workspace.deleted events %v, %v", evs, err)
		}
		var detail models.DeletionReport
		if err := json.Unmarshal([]byte(evs[0].Detail), &detail); err != nil {
			t.Fatal(err)
		}
		if evs[0].Workspace != "soylent" || evs[0].Actor != deleter.Email || len(detail.Tables) != 6 {
			t.Errorf("event %+v", evs[0])
		}
		rec, err := models.FindRetentionRecord(ctx, db.Read, "soylent")
		if err != nil || rec.DeletedAt == nil || rec.DeletionReport == "" {
			t.Errorf("retention record %+v, %v", rec, err)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain after the deletion: %+v, %v", res, err)
		}

		// Once deleted, there is nothing left to delete or hold.
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, "soylent", p); !errors.Is(err, models.ErrNotDue) {
			t.Errorf("second deletion: %v, want ErrNotDue", err)
		}
		if _, err := models.PlaceHold(ctx, db.Write, models.Act{Now: demoNow, By: deleter}, "soylent", "CASE-9", "Counsel asked us to keep everything."); !errors.Is(err, models.ErrConflict) {
			t.Errorf("hold on a deleted workspace: %v, want ErrConflict", err)
		}
		st, err := models.WorkspaceRetention(ctx, db.Read, product.Read, demoNow, p, "soylent")
		if err != nil || st.State != models.RetentionDeleted {
			t.Errorf("soylent is %s, %v; want deleted", st.State, err)
		}
	})
}

// TestHeldWorkspaceSurvivesEveryDeletionPath places a hold on a workspace
// due for deletion by each rule and tries to delete it.
func TestHeldWorkspaceSurvivesEveryDeletionPath(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := models.DefaultRetentionPolicy()
		product, dir := retentionStores(t, db, "soylent", "monsters", "prestige")
		staff := retentionStaff(t, db)
		ob := newOutbox(t)
		l := &retentionLetters{}

		// monsters (free, day 271) with its notices sent 120 days ago.
		earlier := demoNow.Add(-120 * models.Day)
		if _, err := models.RunRetention(ctx, db.Write, product.Read, earlier, p, models.Post{Outbox: ob, Letters: l}); err != nil {
			t.Fatal(err)
		}
		if _, err := models.RunRetention(ctx, db.Write, product.Read, earlier.Add(30*models.Day), p, models.Post{Outbox: ob, Letters: l}); err != nil {
			t.Fatal(err)
		}
		// prestige (one member) by a confirmed customer request.
		req, err := models.CreateDeletionRequest(ctx, db.Write, product.Read, models.Act{Now: demoNow, By: deleter}, models.Post{Outbox: ob, Letters: l},
			models.NewDeletionRequest{Slug: "prestige", Requester: staff, Note: "Customer asked by mail in ticket SUP-1.", Valid: p.DeletionRequestValid})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.ConfirmDeletion(ctx, db.Write, demoNow, l.token(t, "brennan@prestige.example"), "192.0.2.1", 1); err != nil {
			t.Fatal(err)
		}
		for _, slug := range []string{"soylent", "monsters", "prestige"} {
			st, err := models.WorkspaceRetention(ctx, db.Read, product.Read, demoNow, p, slug)
			if err != nil || st.State != models.RetentionDeletionDue {
				t.Fatalf("%s is %s (%s), %v; want deletion_due before the hold", slug, st.State, st.Explanation, err)
			}
		}
		holds := map[string]models.LegalHold{}
		for _, slug := range []string{"soylent", "monsters", "prestige"} {
			if holds[slug], err = models.PlaceHold(ctx, db.Write, models.Act{Now: demoNow, By: deleter}, slug, "CASE-"+slug, "Counsel asked us to keep everything."); err != nil {
				t.Fatal(err)
			}
		}
		// Time passes and the job runs: still held, nothing due.
		later := demoNow.Add(400 * models.Day)
		if _, err := models.RunRetention(ctx, db.Write, product.Read, later, p, models.Post{Outbox: ob, Letters: l}); err != nil {
			t.Fatal(err)
		}
		for _, slug := range []string{"soylent", "monsters", "prestige"} {
			st, err := models.WorkspaceRetention(ctx, db.Read, product.Read, later, p, slug)
			if err != nil || st.State != models.RetentionHeld || st.Due {
				t.Errorf("%s under hold is %s (due %v), %v", slug, st.State, st.Due, err)
			}
		}
		before := portalWrites(t, db)
		for _, slug := range []string{"soylent", "monsters", "prestige"} {
			_, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, slug, p)
			if !errors.Is(err, models.ErrHeld) || !errors.Is(err, models.ErrConflict) {
				t.Errorf("deleting held %s: %v, want ErrHeld", slug, err)
			}
			if !tenantExists(t, product, dir, slug) || registryStatus(t, product, slug) == "deleted" {
				t.Errorf("held %s lost its data", slug)
			}
		}
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: later, By: deleter}, "monsters", p); !errors.Is(err, models.ErrHeld) {
			t.Errorf("deleting held monsters later: %v, want ErrHeld", err)
		}
		if after := portalWrites(t, db); after != before {
			t.Errorf("refused deletions wrote to the portal: %v → %v", before, after)
		}

		// Lifting the hold is what lets the deletion happen.
		if _, err := models.LiftHold(ctx, db.Write, models.Act{Now: demoNow, By: deleter}, "prestige", holds["prestige"].ID, "The case was settled last week."); err != nil {
			t.Fatal(err)
		}
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, "prestige", p); err != nil {
			t.Fatal(err)
		}
		if tenantExists(t, product, dir, "prestige") {
			t.Error("prestige survived its deletion")
		}
		got, err := models.FindDeletionRequest(ctx, db.Read, "prestige", req.ID)
		if err != nil || got.Status != models.DeletionDone {
			t.Errorf("request after the deletion: %+v, %v; want done", got, err)
		}
	})
}

// TestHoldRacesDeletion places a hold while the deletion runs: whichever
// wins, the outcome is consistent.
func TestHoldRacesDeletion(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, dir := retentionStores(t, db, "soylent")
		var wg sync.WaitGroup
		var delErr, holdErr error
		wg.Go(func() {
			_, delErr = models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, "soylent", models.DefaultRetentionPolicy())
		})
		wg.Go(func() {
			_, holdErr = models.PlaceHold(ctx, db.Write, models.Act{Now: demoNow, By: deleter}, "soylent", "CASE-1", "Counsel asked us to keep everything.")
		})
		wg.Wait()
		exists := tenantExists(t, product, dir, "soylent")
		switch {
		case delErr == nil && errors.Is(holdErr, models.ErrConflict) && !exists:
		case holdErr == nil && errors.Is(delErr, models.ErrHeld) && exists:
		default:
			t.Errorf("delete: %v; hold: %v; data exists: %v", delErr, holdErr, exists)
		}
	})
}

func retentionStaff(t *testing.T, db *models.DB) models.Staff {
	t.Helper()
	s, err := models.CreateStaff(context.Background(), db.Write, demoNow, models.Actor{Email: "test", Tier: "system"},
		models.Staff{Email: "sam.support@example.com", Name: "Sam Support", Tier: policy.TierSupport})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeletionRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := models.DefaultRetentionPolicy()
		product, dir := retentionStores(t, db, "acme", "dunder", "wonka")
		staff := retentionStaff(t, db)
		ob := newOutbox(t)
		l := &retentionLetters{}
		create := func(slug string, at time.Time) (models.DeletionRequest, error) {
			return models.CreateDeletionRequest(ctx, db.Write, product.Read, models.Act{Now: at, By: deleter}, models.Post{Outbox: ob, Letters: l},
				models.NewDeletionRequest{Slug: slug, Requester: staff, Note: "Customer asked by phone, ticket SUP-77.", Valid: p.DeletionRequestValid})
		}
		var fe models.FieldErrors
		if _, err := create("wonka", demoNow); !errors.As(err, &fe) || fe["workspace"] == "" {
			t.Errorf("request for wonka (3 members, 1 owner): %v, want a workspace error", err)
		}

		// acme: 57 members, two owners.
		r, err := create("acme", demoNow)
		if err != nil {
			t.Fatal(err)
		}
		if r.NeededConfirmations != 2 || r.Status != models.DeletionPending || !r.ExpiresAt.Equal(demoNow.Add(14*models.Day)) {
			t.Errorf("request %+v", r)
		}
		if m := mailsTo(t, db, "deletion.confirm"); m["acme owner@acme.example"] != 1 || m["acme admin@acme.example"] != 1 {
			t.Errorf("confirmation mails %v, want one per acme owner", m)
		}
		if _, err := create("acme", demoNow); !errors.As(err, &fe) {
			t.Errorf("second open request: %v, want a field error", err)
		}
		owner, admin := l.token(t, "owner@acme.example"), l.token(t, "admin@acme.example")
		if _, err := models.OpenDeletionLink(ctx, db.Read, demoNow, owner[:42]+"x"); !errors.Is(err, models.ErrBadToken) {
			t.Errorf("altered token: %v, want ErrBadToken", err)
		}
		v, err := models.ConfirmDeletion(ctx, db.Write, demoNow, owner, "192.0.2.1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if v.Request.Status != models.DeletionPending || v.Confirmed() != 1 {
			t.Errorf("after one confirmation: %s, %d confirmed; want pending, 1", v.Request.Status, v.Confirmed())
		}
		if _, err := models.ConfirmDeletion(ctx, db.Write, demoNow, owner, "192.0.2.1", 1); !errors.Is(err, models.ErrConflict) {
			t.Errorf("the same link twice: %v, want ErrConflict", err)
		}
		// One owner's confirmation deletes nothing.
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, "acme", p); !errors.Is(err, models.ErrNotDue) {
			t.Errorf("deleting acme with one confirmation: %v, want ErrNotDue", err)
		}
		if !tenantExists(t, product, dir, "acme") {
			t.Fatal("acme's data is gone after one confirmation")
		}
		st, _ := models.WorkspaceRetention(ctx, db.Read, product.Read, demoNow, p, "acme")
		if st.State != models.RetentionDeletionRequested {
			t.Errorf("acme is %s, want deletion_requested", st.State)
		}
		v, err = models.ConfirmDeletion(ctx, db.Write, demoNow.Add(time.Hour), admin, "192.0.2.2", 1)
		if err != nil {
			t.Fatal(err)
		}
		if v.Request.Status != models.DeletionConfirmed || v.Confirmed() != 2 {
			t.Errorf("after two owners: %s, %d; want confirmed, 2", v.Request.Status, v.Confirmed())
		}
		st, _ = models.WorkspaceRetention(ctx, db.Read, product.Read, demoNow.Add(time.Hour), p, "acme")
		if st.State != models.RetentionDeletionDue || !st.Due {
			t.Errorf("acme is %s (%s), want deletion_due", st.State, st.Explanation)
		}
		rep, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow.Add(2 * time.Hour), By: deleter}, "acme", p)
		if err != nil {
			t.Fatal(err)
		}
		if rep.RequestID == nil || *rep.RequestID != r.ID || tenantExists(t, product, dir, "acme") {
			t.Errorf("report %+v; acme's data still there: %v", rep, tenantExists(t, product, dir, "acme"))
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}

		// dunder: cancelled by an owner through the link.
		if _, err := create("dunder", demoNow); err != nil {
			t.Fatal(err)
		}
		if _, err := models.ConfirmDeletion(ctx, db.Write, demoNow, l.token(t, "michael@dunder.example"), "", 1); err != nil {
			t.Fatal(err)
		}
		if v, err := models.CancelDeletion(ctx, db.Write, demoNow, l.token(t, "pam@dunder.example"), "192.0.2.3"); err != nil || v.Request.Status != models.DeletionCancelled {
			t.Errorf("cancel: %+v, %v", v.Request, err)
		}
		if _, err := models.ConfirmDeletion(ctx, db.Write, demoNow, l.token(t, "pam@dunder.example"), "", 1); !errors.Is(err, models.ErrConflict) {
			t.Errorf("confirm after cancel: %v, want ErrConflict", err)
		}

		// A new request for dunder expires after 14 days, in the job.
		d, err := create("dunder", demoNow.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		run, err := models.RunRetention(ctx, db.Write, product.Read, demoNow.Add(14*models.Day), p, models.Post{Outbox: ob, Letters: l})
		if err != nil || run.Expired != 0 {
			t.Errorf("a request 1 hour short of 14 days: %+v, %v; want none expired", run, err)
		}
		run, err = models.RunRetention(ctx, db.Write, product.Read, demoNow.Add(14*models.Day+time.Hour), p, models.Post{Outbox: ob, Letters: l})
		if err != nil || run.Expired != 1 {
			t.Errorf("at 14 days: %+v, %v; want one expired", run, err)
		}
		got, _ := models.FindDeletionRequest(ctx, db.Read, "dunder", d.ID)
		if got.Status != models.DeletionExpired {
			t.Errorf("dunder's request is %s, want expired", got.Status)
		}
		if _, err := models.ConfirmDeletion(ctx, db.Write, demoNow.Add(15*models.Day), l.token(t, "pam@dunder.example"), "", 1); !errors.Is(err, models.ErrConflict) {
			t.Errorf("confirm after expiry: %v, want ErrConflict", err)
		}
		if !tenantExists(t, product, dir, "dunder") {
			t.Error("dunder's data is gone")
		}
		var actions []models.Action
		db.Read.Model(&models.AuditEvent{}).Where("target = ?", d.Target()).Order("seq").Pluck("action", &actions)
		if len(actions) != 2 || actions[0] != models.ActionDeletionRequested || actions[1] != models.ActionDeletionExpired {
			t.Errorf("timeline of the expired request %v", actions)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

// TestDeletionConfirmationsRace has both owners confirm at once: the
// request ends confirmed, by both.
func TestDeletionConfirmationsRace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		product, _ := retentionStores(t, db)
		l := &retentionLetters{}
		r, err := models.CreateDeletionRequest(ctx, db.Write, product.Read, models.Act{Now: demoNow, By: deleter}, models.Post{Outbox: newOutbox(t), Letters: l},
			models.NewDeletionRequest{Slug: "hooli", Requester: retentionStaff(t, db), Note: "Customer asked by phone, ticket SUP-78.", Valid: models.DefaultRetentionPolicy().DeletionRequestValid})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, owner := range []string{"gavin@hooli.example", "it@hooli.example"} {
			token := l.token(t, owner)
			wg.Go(func() { _, errs[i] = models.ConfirmDeletion(ctx, db.Write, demoNow, token, "", 1) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got, _ := models.FindDeletionRequest(ctx, db.Read, "hooli", r.ID)
		if got.Status != models.DeletionConfirmed {
			t.Errorf("after both owners confirmed at once: %s, want confirmed", got.Status)
		}
	})
}

// TestDeletionSeparateProduct deletes with the registry and the
// tenant schemas in a PostgreSQL database of their own, as in production:
// two transactions, the product's committed first.
func TestDeletionSeparateProduct(t *testing.T) {
	db := dbtest.Postgres(t)
	ctx := context.Background()
	product := separateProduct(t, "soylent", "vandelay")
	p := models.DefaultRetentionPolicy()
	if _, err := models.PlaceHold(ctx, db.Write, models.Act{Now: demoNow, By: deleter}, "soylent", "CASE-3", "Counsel asked us to keep everything."); err != nil {
		t.Fatal(err)
	}
	hold, _ := models.ListHolds(ctx, db.Read, "soylent", false)
	if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: ""}, models.Act{Now: demoNow, By: deleter}, "soylent", p); !errors.Is(err, models.ErrHeld) {
		t.Errorf("held: %v, want ErrHeld", err)
	}
	if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: ""}, models.Act{Now: demoNow, By: deleter}, "vandelay", p); !errors.Is(err, models.ErrNotDue) {
		t.Errorf("not due: %v, want ErrNotDue", err)
	}
	if _, err := models.LiftHold(ctx, db.Write, models.Act{Now: demoNow, By: deleter}, "soylent", hold[0].ID, "The case was settled last week."); err != nil {
		t.Fatal(err)
	}
	if !tenantExists(t, product, "", "soylent") {
		t.Fatal("soylent's schema is gone before its deletion")
	}
	if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: ""}, models.Act{Now: demoNow, By: deleter}, "soylent", p); err != nil {
		t.Fatal(err)
	}
	if tenantExists(t, product, "", "soylent") || !tenantExists(t, product, "", "vandelay") || registryStatus(t, product, "soylent") != "deleted" {
		t.Error("soylent's schema or registry entry survived, or vandelay's was dropped")
	}
	if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
		t.Errorf("audit chain: %+v, %v", res, err)
	}
}

// separateProduct is a product database of its own on PostgreSQL, as in
// production, with the demo registry and the data of slugs.
func separateProduct(t *testing.T, slugs ...string) *models.DB {
	t.Helper()
	ctx := context.Background()
	product, err := models.Open(ctx, dbtest.NewPostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { product.Close() })
	if err := demo.SeedProduct(ctx, product.Write, demoNow); err != nil {
		t.Fatal(err)
	}
	if err := demo.SeedTenants(ctx, demo.TenantTarget{Postgres: product.Write}, slugs, demoNow); err != nil {
		t.Fatal(err)
	}
	return product
}

// TestDeletionConfirmationsFollowMembers: a workspace of one member when
// its deletion was requested, grown since, needs a second owner, counted
// when the owner confirms.
func TestDeletionConfirmationsFollowMembers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := models.DefaultRetentionPolicy()
		product, _ := retentionStores(t, db, "prestige")
		l := &retentionLetters{}
		r, err := models.CreateDeletionRequest(ctx, db.Write, product.Read, models.Act{Now: demoNow, By: deleter}, models.Post{Outbox: newOutbox(t), Letters: l},
			models.NewDeletionRequest{Slug: "prestige", Requester: retentionStaff(t, db), Note: "Customer asked by mail in ticket SUP-2.", Valid: p.DeletionRequestValid})
		if err != nil || r.NeededConfirmations != 1 {
			t.Fatalf("request for prestige (one member): %+v, %v", r, err)
		}
		v, err := models.ConfirmDeletion(ctx, db.Write, demoNow, l.token(t, "brennan@prestige.example"), "", 3)
		if err != nil {
			t.Fatal(err)
		}
		if v.Request.Status != models.DeletionPending || v.Request.NeededConfirmations != 2 {
			t.Errorf("after one owner confirmed for a workspace now of 3 members: %s, needs %d; want pending, needs 2", v.Request.Status, v.Request.NeededConfirmations)
		}
		if got, _ := models.FindDeletionRequest(ctx, db.Read, "prestige", r.ID); got.NeededConfirmations != 2 || got.Status != models.DeletionPending {
			t.Errorf("stored request %+v, want pending and needing 2", got)
		}
	})
}
