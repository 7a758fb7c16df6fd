package models_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// auditOf returns the events of action on workspace, oldest first.
func auditOf(t *testing.T, db *models.DB, ws string, action models.Action) []models.AuditEvent {
	t.Helper()
	evs, err := models.SearchAudit(context.Background(), db.Read, models.AuditQuery{Workspace: ws, Action: action, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

func execAll(t *testing.T, db *models.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if err := db.Write.Exec(s).Error; err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// removeData takes a workspace's data away behind the portal's back, as
// a deletion that got that far before the portal stopped would have.
func removeData(t *testing.T, product *models.DB, dir, slug string) {
	t.Helper()
	schema, _ := models.TenantSchema(slug)
	if product.Dialect == models.Postgres {
		execAll(t, product, "DROP SCHEMA "+schema+" CASCADE")
		return
	}
	if err := os.Remove(filepath.Join(dir, schema+".db")); err != nil {
		t.Fatal(err)
	}
}

// markStarted marks a deletion of slug started at, as startDeletion does.
func markStarted(t *testing.T, db *models.DB, slug string, at time.Time) {
	t.Helper()
	if err := db.Write.Exec("INSERT INTO retention (slug, updated_at, deletion_started_at) VALUES (?, ?, ?)", slug, at.UTC(), at.UTC()).Error; err != nil {
		t.Fatal(err)
	}
}

// TestDeletionRecordsIntent: a deletion writes its intent before it
// removes anything; one that fails is recorded as stopped with the data
// intact; one interrupted is settled later by what is left.
func TestDeletionRecordsIntent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := models.DefaultRetentionPolicy()
		product, dir := retentionStores(t, db, "soylent", "tyrell", "vandelay", "acme")

		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow, By: deleter}, "soylent", p); err != nil {
			t.Fatal(err)
		}
		started, deleted := auditOf(t, db, "soylent", models.ActionWorkspaceDeletionStarted), auditOf(t, db, "soylent", models.ActionWorkspaceDeleted)
		if len(started) != 1 || len(deleted) != 1 || started[0].Seq >= deleted[0].Seq {
			t.Errorf("soylent: %d deletion_started and %d deleted events, want one each, the intent first", len(started), len(deleted))
		}
		if rec, _ := models.FindRetentionRecord(ctx, db.Read, "soylent"); rec.DeletionStartedAt != nil || rec.DeletedAt == nil {
			t.Errorf("soylent's record after the deletion: %+v", rec)
		}

		// The final record cannot be written: everything rolls back, the
		// data stays, and the log says the deletion stopped.
		later := demoNow.Add(2 * models.Day) // tyrell was cancelled 89 days before demoNow
		trigger := []string{`CREATE TRIGGER test_no_deleted BEFORE INSERT ON audit_events WHEN NEW.action = 'workspace.deleted' BEGIN SELECT RAISE(ABORT, 'refused by test'); END`}
		untrigger := []string{"DROP TRIGGER test_no_deleted"}
		if db.Dialect == models.Postgres {
			trigger = []string{
				`CREATE FUNCTION test_no_deleted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.action = 'workspace.deleted' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$`,
				`CREATE TRIGGER test_no_deleted BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_no_deleted()`,
			}
			untrigger = []string{"DROP TRIGGER test_no_deleted ON audit_events", "DROP FUNCTION test_no_deleted()"}
		}
		execAll(t, db, trigger...)
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: later, By: deleter}, "tyrell", p); err == nil || !strings.Contains(err.Error(), "refused by test") {
			t.Errorf("deletion with its record refused: %v, want the refusal", err)
		}
		if !tenantExists(t, product, dir, "tyrell") || registryStatus(t, product, "tyrell") != "cancelled" {
			t.Error("a deletion that could not be recorded removed tyrell's data or changed its registry entry")
		}
		stopped := auditOf(t, db, "tyrell", models.ActionWorkspaceDeletionStopped)
		if n := len(auditOf(t, db, "tyrell", models.ActionWorkspaceDeletionStarted)); n != 1 || len(stopped) != 1 || !strings.Contains(stopped[0].Reason, "refused by test") {
			t.Errorf("tyrell: %d started and %d stopped events (%v), want one each saying why", n, len(stopped), stopped)
		}
		if rec, _ := models.FindRetentionRecord(ctx, db.Read, "tyrell"); rec.DeletionStartedAt != nil || rec.DeletedAt != nil {
			t.Errorf("tyrell's record after the stopped deletion: %+v", rec)
		}
		execAll(t, db, untrigger...)
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: later, By: deleter}, "tyrell", p); err != nil || tenantExists(t, product, dir, "tyrell") {
			t.Errorf("deleting tyrell once the record can be written: %v", err)
		}

		// A deletion under way blocks a second one.
		markStarted(t, db, "vandelay", demoNow.Add(61*models.Day))
		if _, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, models.Act{Now: demoNow.Add(61 * models.Day), By: deleter}, "vandelay", p); !strings.Contains(errString(err), "already under way") {
			t.Errorf("a second deletion while one is under way: %v, want a conflict", err)
		}

		// Interrupted after the data went: settled as deleted, but only
		// once the deletion is ten minutes old.
		removeData(t, product, dir, "vandelay")
		at := demoNow.Add(61 * models.Day)
		if n, err := models.SettleDeletions(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, at.Add(5*time.Minute)); err != nil || n != 0 {
			t.Errorf("settling a 5-minute-old deletion: %d, %v; want it left alone", n, err)
		}
		if n, err := models.SettleDeletions(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, at.Add(11*time.Minute)); err != nil || n != 1 {
			t.Fatalf("settling an 11-minute-old deletion: %d, %v; want 1", n, err)
		}
		if registryStatus(t, product, "vandelay") != "deleted" {
			t.Error("settling a deletion whose data is gone left the registry entry")
		}
		ev := auditOf(t, db, "vandelay", models.ActionWorkspaceDeleted)
		var rep models.DeletionReport
		if len(ev) != 1 || json.Unmarshal([]byte(ev[0].Detail), &rep) != nil || !rep.CountsUnknown || ev[0].Actor != "gatehouse" {
			t.Errorf("vandelay's settled deletion: %+v", ev)
		}

		// Interrupted before anything went: settled as stopped.
		markStarted(t, db, "acme", at)
		if n, err := models.SettleDeletions(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, at.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("settling acme: %d, %v", n, err)
		}
		if !tenantExists(t, product, dir, "acme") || registryStatus(t, product, "acme") != "active" || len(auditOf(t, db, "acme", models.ActionWorkspaceDeletionStopped)) != 1 {
			t.Error("an interrupted deletion that removed nothing was not recorded as stopped, or touched acme")
		}
		if n, _ := models.SettleDeletions(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, at.Add(2*time.Hour)); n != 0 {
			t.Errorf("a second settling run settled %d, want 0", n)
		}

		// Interrupted, the data missing, and a legal hold placed since:
		// the hold wins, and the registry entry is left alone.
		markStarted(t, db, "kwik-e", at) // never had data here
		if _, err := models.PlaceHold(ctx, db.Write, models.Act{Now: at, By: deleter}, "kwik-e", "CASE-12", "Counsel asked us to keep everything we hold."); err != nil {
			t.Fatal(err)
		}
		if n, err := models.SettleDeletions(ctx, models.Stores{Portal: db, Product: product, TenantsDir: dir}, at.Add(3*time.Hour)); err != nil || n != 1 {
			t.Fatalf("settling kwik-e: %d, %v", n, err)
		}
		if registryStatus(t, product, "kwik-e") != "cancelled" || len(auditOf(t, db, "kwik-e", models.ActionWorkspaceDeleted)) != 0 ||
			len(auditOf(t, db, "kwik-e", models.ActionWorkspaceDeletionStopped)) != 1 {
			t.Error("a held workspace's interrupted deletion was recorded as a deletion")
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDeletionPortalCommitFails deletes with the product in a PostgreSQL
// database of its own and the portal's commit refused (a deferred
// trigger): the data is gone, the deletion's intent is in the log, and
// the retention job records the deletion afterwards.
func TestDeletionPortalCommitFails(t *testing.T) {
	db := dbtest.Postgres(t)
	ctx := context.Background()
	product := separateProduct(t, "soylent")
	execAll(t, db,
		`CREATE FUNCTION test_late_refusal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.action = 'workspace.deleted' THEN RAISE EXCEPTION 'commit refused by test'; END IF; RETURN NULL; END $$`,
		`CREATE CONSTRAINT TRIGGER test_late_refusal AFTER INSERT ON audit_events DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_late_refusal()`)
	p := models.DefaultRetentionPolicy()
	_, err := models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: ""}, models.Act{Now: demoNow, By: deleter}, "soylent", p)
	if err == nil || !strings.Contains(err.Error(), "was deleted, but recording it failed") || !strings.Contains(err.Error(), "retention job") {
		t.Errorf("deletion with the portal's commit refused: %v", err)
	}
	if tenantExists(t, product, "", "soylent") {
		t.Fatal("the product committed first, so soylent's schema should be gone")
	}
	if len(auditOf(t, db, "soylent", models.ActionWorkspaceDeletionStarted)) != 1 || len(auditOf(t, db, "soylent", models.ActionWorkspaceDeleted)) != 0 {
		t.Error("want the intent in the log and no deletion yet")
	}
	execAll(t, db, "DROP TRIGGER test_late_refusal ON audit_events", "DROP FUNCTION test_late_refusal()")
	if n, err := models.SettleDeletions(ctx, models.Stores{Portal: db, Product: product, TenantsDir: ""}, demoNow.Add(11*time.Minute)); err != nil || n != 1 {
		t.Fatalf("settle: %d, %v", n, err)
	}
	if len(auditOf(t, db, "soylent", models.ActionWorkspaceDeleted)) != 1 || registryStatus(t, product, "soylent") != "deleted" {
		t.Error("the retention job did not record soylent's deletion")
	}
	if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
		t.Errorf("audit chain: %+v, %v", res, err)
	}
}
