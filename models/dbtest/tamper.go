package dbtest

import (
	"testing"

	"gatehouse/models"
)

// DisableAuditGuards removes the audit log's append-only triggers, the
// way an attacker with database superuser rights would, so that a test
// can rewrite audit rows.
func DisableAuditGuards(t testing.TB, db *models.DB) {
	t.Helper()
	stmts := []string{
		"DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete",
		"DROP TRIGGER IF EXISTS audit_head_forward", "DROP TRIGGER IF EXISTS audit_head_no_delete",
	}
	if db.Dialect == models.Postgres {
		stmts = []string{"ALTER TABLE audit_events DISABLE TRIGGER USER", "ALTER TABLE audit_head DISABLE TRIGGER USER"}
		// Each partition of the log has its triggers too.
		var parts []string
		if err := db.Write.Raw("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'audit_events'::regclass").Scan(&parts).Error; err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			stmts = append(stmts, "ALTER TABLE "+p+" DISABLE TRIGGER USER")
		}
	}
	for _, s := range stmts {
		if err := db.Write.Exec(s).Error; err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// RewriteAudit changes the actor of evs[from:] (the newest events, in seq
// order) and recomputes their hashes and the chain's head, as someone with
// superuser rights could: the chain still verifies on its own.
func RewriteAudit(t testing.TB, db *models.DB, evs []models.AuditEvent, from int) {
	t.Helper()
	DisableAuditGuards(t, db)
	prev := evs[from].PrevHash
	for _, ev := range evs[from:] {
		ev.Actor, ev.PrevHash = "someone.else@example.com", prev
		ev.Hash = models.ChainHash(prev, ev)
		if err := db.Write.Exec("UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?", ev.Actor, ev.PrevHash, ev.Hash, ev.Seq).Error; err != nil {
			t.Fatal(err)
		}
		prev = ev.Hash
	}
	if err := db.Write.Exec("UPDATE audit_head SET hash = ?", prev).Error; err != nil {
		t.Fatal(err)
	}
}
