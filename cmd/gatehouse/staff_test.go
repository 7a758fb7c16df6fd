package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
)

// TestRunStaffOffboardReasonChecked: `staff offboard --reason` passes the
// models' note check like the web form, so a reason with a bidi override
// is refused and nothing changes.
func TestRunStaffOffboardReasonChecked(t *testing.T) {
	ctx := context.Background()
	env, db := migratedDev(t)
	ria, err := models.CreateStaff(ctx, db.Write, time.Now(), models.Actor{Email: "test"}, models.Staff{Email: "ria.active@example.com", Name: "Ria Active", Tier: policy.TierSupport})
	if err != nil {
		t.Fatal(err)
	}
	auditBefore := countRows(t, db, "audit_events")
	err = run(ctx, []string{"staff", "offboard", ria.Email, "--dev", "--reason", "left \u202Eynapmoc eht"}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "bidi") {
		t.Errorf("offboard with U+202E in the reason: %v, want an error naming the bidi characters", err)
	}
	if s, err := models.FindStaff(ctx, db.Read, ria.ID); err != nil || s.Status != models.StatusActive {
		t.Errorf("ria after a refused offboarding: %s, %v; want active", s.Status, err)
	}
	if n := countRows(t, db, "audit_events"); n != auditBefore {
		t.Errorf("audit events after a refused offboarding = %d, want %d", n, auditBefore)
	}
}

// migratedDev migrates a --dev data directory of its own and opens its
// portal database; it returns the environment naming the directory.
func migratedDev(t *testing.T) ([]string, *models.DB) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	env := []string{"GATEHOUSE_DATA_DIR=" + dir}
	if err := run(ctx, []string{"migrate", "--dev"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	db, err := models.Open(ctx, filepath.Join(dir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return env, db
}
