package models_test

import (
	"context"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// fillChain stores evs (a valid chain from the genesis, see testChain)
// directly with multi-row INSERTs and moves the head to its last event:
// far faster than appending them one by one, and the rows are exactly
// what appending would have stored.
func fillChain(tb testing.TB, db *models.DB, evs []models.AuditEvent) {
	tb.Helper()
	const cols = "seq, at, actor, actor_tier, action, workspace, table_name, record_ids, grant_id, breakglass_id, target, reason, detail, ip, user_agent, request_id, prev_hash, hash"
	const per = 500 // 18 parameters a row: within both engines' limits
	for lo := 0; lo < len(evs); lo += per {
		part := evs[lo:min(len(evs), lo+per)]
		var q strings.Builder
		q.WriteString("INSERT INTO audit_events (" + cols + ") VALUES ")
		args := make([]any, 0, len(part)*18)
		for i, ev := range part {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
			args = append(args, ev.Seq, ev.At, ev.Actor, ev.ActorTier, string(ev.Action), ev.Workspace, ev.Table, ev.RecordIDs,
				ev.GrantID, ev.BreakglassID, ev.Target, ev.Reason, ev.Detail, ev.IP, ev.UserAgent, ev.RequestID, ev.PrevHash, ev.Hash)
		}
		if err := db.Write.Exec(q.String(), args...).Error; err != nil {
			tb.Fatal(err)
		}
	}
	last := evs[len(evs)-1]
	if err := db.Write.Exec("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", last.Seq, last.Hash).Error; err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkVerifyAudit measures what `gatehouse audit verify` does: read
// every event of a stored chain from the database in seq order and verify
// it (models.VerifyAudit), on each engine. BenchmarkVerifyChain measures
// the in-memory chain walk alone, without the database.
func BenchmarkVerifyAudit(b *testing.B) {
	const n = 200_000
	evs := testChain(n)
	for _, engine := range []struct {
		name string
		open func(testing.TB) *models.DB
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		b.Run(engine.name, func(b *testing.B) {
			db := engine.open(b)
			fillChain(b, db, evs)
			if db.Dialect == models.Postgres {
				if err := db.Write.Exec("VACUUM ANALYZE audit_events").Error; err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res, err := models.VerifyAudit(ctx, db)
				if err != nil || !res.OK || res.Count != n {
					b.Fatalf("VerifyAudit = %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
