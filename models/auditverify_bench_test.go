package models_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

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

// BenchmarkVerifyAuditMillion measures a full verify of 1,000,000 events
// on PostgreSQL (opt-in: GATEHOUSE_BENCH_VERIFY=1, as filling the chain
// takes a minute), and its two halves apart: reading and decoding the
// rows alone (read), and hashing and linking them in memory alone (hash,
// on 100,000 events as BenchmarkVerifyChain).
//
//	GATEHOUSE_BENCH_VERIFY=1 go test -run XXX -bench VerifyAuditMillion -benchtime 3x ./models/
func BenchmarkVerifyAuditMillion(b *testing.B) {
	if os.Getenv("GATEHOUSE_BENCH_VERIFY") != "1" {
		b.Skip("set GATEHOUSE_BENCH_VERIFY=1 to fill and verify a 1,000,000-event chain on PostgreSQL")
	}
	const n = 1_000_000
	db := dbtest.Postgres(b)
	// Filled a slice at a time so the whole chain is never in memory.
	const part = 50_000
	prev := models.GenesisHash
	for lo := 0; lo < n; lo += part {
		evs := testChain(part)
		for i := range evs {
			ev := &evs[i]
			ev.Seq = int64(lo + i + 1)
			ev.At = t0.Add(time.Duration(lo+i) * 1500 * time.Microsecond)
			ev.RequestID = fmt.Sprintf("req-%08d", lo+i)
			ev.PrevHash = prev
			ev.Hash = models.ChainHash(prev, *ev)
			prev = ev.Hash
		}
		fillChain(b, db, evs)
	}
	if err := db.Write.Exec("VACUUM ANALYZE audit_events").Error; err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			res, err := models.VerifyAudit(ctx, db)
			if err != nil || !res.OK || res.Count != n {
				b.Fatalf("VerifyAudit = %+v, %v", res, err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			if got, err := models.ReadChainOnly(ctx, db); err != nil || got != n {
				b.Fatalf("ReadChainOnly = %d, %v", got, err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("hash", BenchmarkVerifyChain)
}
