package main

import (
	"context"
	"strings"
	"testing"

	"gatehouse/models"
)

// TestRunAuditVerifyRecordsResult: each `audit verify` keeps its result
// (outside the chain) for the auditors' dashboard, a broken chain too.
func TestRunAuditVerifyRecordsResult(t *testing.T) {
	auditDBs(t, func(t *testing.T, db *models.DB, url string) {
		ctx := context.Background()
		env := []string{"GATEHOUSE_DATABASE_URL=" + url}
		appendEvents(t, db, 10, acme)
		if _, err := runAudit(env, "verify"); err != nil {
			t.Fatal(err)
		}
		v, err := models.LastVerification(ctx, db.Read)
		if err != nil || !v.OK || v.Head != 10 || !strings.HasPrefix(v.By, "cli") {
			t.Fatalf("after an intact verify: %+v, %v", v, err)
		}
		var n int64
		if err := db.Read.Raw("SELECT COUNT(*) FROM audit_events").Scan(&n).Error; err != nil || n != 10 {
			t.Errorf("verify wrote to the chain: %d events, %v", n, err)
		}
		unguard(t, db)
		if err := db.Write.Exec("UPDATE audit_events SET actor = 'nobody@example.com' WHERE seq = 4").Error; err != nil {
			t.Fatal(err)
		}
		if _, err := runAudit(env, "verify"); err == nil {
			t.Fatal("verify of a broken chain succeeded")
		}
		v, err = models.LastVerification(ctx, db.Read)
		if err != nil || v.OK || v.Broken != 4 || v.Problem == "" {
			t.Errorf("after a broken verify: %+v, %v", v, err)
		}
	})
}
