package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// BenchmarkWhoViewedRecord times the /audit page's "who viewed record X of
// workspace W" search (SearchAudit with Workspace and Record, a page of 50)
// over 10,000,000 events on PostgreSQL. The events are made by one INSERT
// ... SELECT generate_series in the database gatehouse_bench_whoviewed,
// which is kept and reused while it holds exactly that many; their chain
// hashes are NOT valid (a query benchmark does not need them, and
// computing them would take longer than the rest). Shape: 24 workspaces,
// 4 tables, a tenth of the events without records (logins), the others a
// page of 50 consecutive ids out of 51,200 per table, 256 actors.
func BenchmarkWhoViewedRecord(b *testing.B) {
	const n = 10_000_000
	ctx := context.Background()
	db, _, built := keptBenchDB(b, "gatehouse_bench_whoviewed", func(db *models.DB) bool {
		var count int
		db.Read.Raw("SELECT count(*) FROM audit_events").Scan(&count)
		return count == n
	})
	if built {
		start := time.Now()
		// Filling first and building the record index afterwards, as a
		// restore would, is several times faster than maintaining it row
		// by row.
		for _, q := range []string{
			"DROP INDEX audit_events_record_keys",
			fmt.Sprintf(`INSERT INTO audit_events (seq, at, actor, actor_tier, action, workspace, table_name, record_ids, prev_hash, hash)
SELECT g, timestamptz '2026-01-01 00:00:00Z' + g * interval '3 seconds',
       'staff' || (hashint8(g) & 255) || '@example.com', 'senior',
       CASE WHEN g %% 10 = 0 THEN 'auth.login' ELSE 'data.viewed' END,
       CASE WHEN g %% 10 = 0 THEN '' ELSE 'ws' || lpad((g %% 24)::text, 2, '0') END,
       CASE WHEN g %% 10 = 0 THEN '' ELSE (ARRAY['members', 'documents', 'invoices', 'projects'])[1 + (g / 24) %% 4] END,
       CASE WHEN g %% 10 = 0 THEN '' ELSE (SELECT string_agg(i::text, ',') FROM generate_series(p * 50 + 1, p * 50 + 50) i) END,
       'x', 'x'
FROM generate_series(1, %d) g, LATERAL (SELECT ((hashint8(g) >> 10) & 1023)::int AS p) page`, n),
			"SET maintenance_work_mem = '1GB'",
			"CREATE INDEX audit_events_record_keys ON audit_events USING gin (audit_record_keys(workspace, record_ids))",
			"VACUUM ANALYZE audit_events",
		} {
			if err := db.Write.Exec(q).Error; err != nil {
				b.Fatalf("%.60s: %v", q, err)
			}
		}
		b.Logf("built %d events in %s", n, time.Since(start).Round(time.Second))
	}

	var plan []string
	if err := db.Read.Raw(`EXPLAIN ANALYZE SELECT * FROM audit_events WHERE workspace = 'ws07'
AND (audit_record_keys(workspace, record_ids) @> audit_record_keys('ws07', '12345') OR target = '12345')
AND (strpos(',' || record_ids || ',', ',12345,') > 0 OR target = '12345')
ORDER BY seq DESC LIMIT 50`).Scan(&plan).Error; err != nil {
		b.Fatal(err)
	}
	b.Log("\n" + strings.Join(plan, "\n"))
	if !strings.Contains(strings.Join(plan, "\n"), "audit_events_record_keys") {
		b.Fatal("the who-viewed query does not use audit_events_record_keys")
	}

	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		q := models.AuditQuery{Workspace: fmt.Sprintf("ws%02d", i%24), Record: fmt.Sprint(1 + (i*7919)%51200), Limit: 50}
		evs, err := models.SearchAudit(ctx, db.Read, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) == 0 {
			b.Fatalf("%+v: no events", q)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/query")
}
