package models_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/demo"
)

// BenchmarkListsAtSize times the workspace search and each audit filter
// at size on PostgreSQL: GATEHOUSE_BENCH_WORKSPACES workspaces (e.g.
// 100000) and ten events per workspace (GATEHOUSE_BENCH_EVENTS to
// change it), generated once by INSERT ... SELECT generate_series into
// the database gatehouse_bench_lists_<workspaces>, kept and reused while
// it holds exactly that many. Skipped unless GATEHOUSE_BENCH_WORKSPACES
// is set. The events' chain hashes are NOT valid (a query benchmark does
// not need them). Shape: a third of the events in one busy workspace
// (bench-busy) with one retention event in 10,000; the rest spread over
// the registry; 256 actors; one event in 1,000 of a break-glass.
//
//	GATEHOUSE_BENCH_WORKSPACES=100000 go test -run '^$' -bench BenchmarkListsAtSize ./models/
func BenchmarkListsAtSize(b *testing.B) {
	nw, _ := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_WORKSPACES"))
	if nw <= 0 {
		b.Skip("set GATEHOUSE_BENCH_WORKSPACES (e.g. 100000) to run the size benchmark")
	}
	ne := 10 * nw
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_EVENTS")); err == nil && v > 0 {
		ne = v
	}
	ctx := context.Background()
	name := fmt.Sprintf("gatehouse_bench_lists_%d", nw)
	if ne != 10*nw {
		name += fmt.Sprintf("_%d", ne)
	}
	db, _, built := keptBenchDB(b, name, func(db *models.DB) bool {
		var events, workspaces int
		db.Read.Raw("SELECT count(*) FROM audit_events").Scan(&events)
		db.Read.Raw("SELECT count(*) FROM workspaces WHERE slug LIKE 'bench-%'").Scan(&workspaces)
		return events == ne && workspaces == nw
	})
	sqlDB, _ := db.Write.DB()
	sqlDB.SetMaxOpenConns(4)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	if built {
		if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for _, q := range []string{
			// The registry: bench-0000001… (bench-busy the busiest), a
			// name of two words, one or two owners.
			fmt.Sprintf(`INSERT INTO workspaces (slug, name, plan, status, member_count, created_at, last_login_at, subscription_state)
SELECT CASE WHEN g = 1 THEN 'bench-busy' ELSE 'bench-' || lpad(g::text, 7, '0') END,
       (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne', 'Tyrell'])[1 + g %% 8] || ' ' || initcap(substr(md5(g::text), 1, 8)),
       (ARRAY['free', 'team', 'business', 'enterprise'])[1 + (g / 8) %% 4],
       CASE WHEN g %% 50 = 0 THEN 'cancelled' WHEN (g / 8) %% 4 = 0 THEN 'free' ELSE 'active' END,
       1 + g %% 40, timestamp '2024-01-01' + g * interval '7 minutes', timestamp '2026-10-01' - (g %% 300) * interval '1 day', 'active'
FROM generate_series(1, %d) g`, nw),
			`INSERT INTO workspace_owners (slug, email)
SELECT slug, 'owner.' || substr(md5(slug), 1, 10) || '@' || substr(md5(slug), 11, 6) || '.example' FROM workspaces WHERE slug LIKE 'bench-%'
UNION ALL
SELECT slug, 'admin.' || substr(md5(slug), 17, 8) || '@' || substr(md5(slug), 11, 6) || '.example' FROM workspaces WHERE slug LIKE 'bench-%' AND right(slug, 1) IN ('3', '7')`,
			"DROP INDEX audit_events_record_keys",
			fmt.Sprintf(`INSERT INTO audit_events (seq, at, actor, actor_tier, action, workspace, table_name, record_ids, breakglass_id, prev_hash, hash)
SELECT g, timestamptz '2024-01-01 00:00:00Z' + g * (interval '1 second' * (86400.0 * 700 / %[1]d)),
       'staff' || (hashint8(g) & 255) || '@example.com', 'senior',
       CASE WHEN g %% 10 = 0 THEN 'auth.login'
            WHEN g %% 3 = 0 AND g %% 10000 = 3 THEN (ARRAY['retention.noticed', 'retention.marked', 'legal_hold.placed', 'deletion.requested'])[1 + (g / 10000) %% 4]
            WHEN g %% 997 = 0 THEN 'staff.suspended'
            ELSE 'data.viewed' END,
       CASE WHEN g %% 10 = 0 THEN ''
            WHEN g %% 3 = 0 THEN 'bench-busy'
            ELSE 'bench-' || lpad((1 + (hashint8(g + 1)::bigint & 2147483647) %% %[2]d)::text, 7, '0') END,
       CASE WHEN g %% 10 = 0 OR (g %% 3 = 0 AND g %% 10000 = 3) THEN '' ELSE 'members' END,
       CASE WHEN g %% 10 = 0 OR (g %% 3 = 0 AND g %% 10000 = 3) OR g %% 997 = 0 THEN ''
            ELSE (SELECT string_agg(i::text, ',') FROM generate_series(p * 50 + 1, p * 50 + 50) i) END,
       CASE WHEN g %% 1000 = 500 THEN 1 + g / 100000 END,
       'x', 'x'
FROM generate_series(1, %[1]d) g, LATERAL (SELECT ((hashint8(g) >> 10) & 1023)::int AS p) page`, ne, nw),
			"SET maintenance_work_mem = '512MB'",
			"CREATE INDEX audit_events_record_keys ON audit_events USING gin (audit_record_keys(workspace, record_ids))",
			"VACUUM ANALYZE audit_events",
			"VACUUM ANALYZE workspaces",
			"VACUUM ANALYZE workspace_owners",
		} {
			if err := db.Write.Exec(q).Error; err != nil {
				b.Fatalf("%.60s: %v", q, err)
			}
		}
		b.Logf("built %d workspaces and %d events in %s", nw, ne, time.Since(start).Round(time.Second))
	}

	list := models.WorkspaceList{DB: db.Read, Product: db.Read, Now: now, Policy: models.DefaultRetentionPolicy()}
	byName := models.Keyset{Sort: models.WorkspaceSorts[0], Limit: 25}
	wsBench := map[string]models.WorkspaceFilter{
		"workspaces/first page":       {},
		"workspaces/search name":      {Query: "Stark 1a2"},
		"workspaces/search slug":      {Query: "bench-00420"},
		"workspaces/search email":     {Query: "owner.c4ca"},
		"workspaces/search frequent":  {Query: "acme"},
		"workspaces/search no match":  {Query: "zzzzqq"},
		"workspaces/free plan filter": {Plan: "free"},
	}
	for _, n := range []string{"workspaces/first page", "workspaces/search name", "workspaces/search slug", "workspaces/search email", "workspaces/search frequent", "workspaces/search no match", "workspaces/free plan filter"} {
		f := wsBench[n]
		b.Run(n, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := list.Page(ctx, f, byName); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/page")
		})
	}

	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	type auditCase struct {
		name string
		q    models.AuditQuery
	}
	for _, tc := range []auditCase{
		{"audit/first page", models.AuditQuery{}},
		{"audit/actor", models.AuditQuery{Actor: "staff7@example.com"}},
		{"audit/workspace", models.AuditQuery{Workspace: "bench-0000042"}},
		{"audit/busy workspace", models.AuditQuery{Workspace: "bench-busy"}},
		{"audit/action rare", models.AuditQuery{Action: models.ActionStaffSuspended}},
		{"audit/record of a workspace", models.AuditQuery{Workspace: "bench-busy", Record: "12345"}},
		{"audit/breakglass", models.AuditQuery{Breakglass: 3}},
		{"audit/old until", models.AuditQuery{Until: start.AddDate(0, 1, 0)}},
		{"audit/recent since", models.AuditQuery{Since: start.AddDate(0, 0, 690)}},
		{"audit/month range", models.AuditQuery{Since: start.AddDate(0, 6, 0), Until: start.AddDate(0, 7, 0)}},
		{"audit/actor and old until", models.AuditQuery{Actor: "staff7@example.com", Until: start.AddDate(0, 1, 0)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var older *models.Cursor
			for b.Loop() {
				p, err := models.SearchAuditPage(ctx, db.Read, tc.q, nil, nil, 50)
				if err != nil {
					b.Fatal(err)
				}
				older = p.Older
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/page")
			if older == nil {
				return
			}
			// The next page costs the same.
			b.StopTimer()
			t0 := time.Now()
			const pages = 20
			for range pages {
				if _, err := models.SearchAuditPage(ctx, db.Read, tc.q, nil, older, 50); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/pages, "ms/next-page")
		})
	}
	b.Run("audit/retention history of the busy workspace", func(b *testing.B) {
		for b.Loop() {
			evs, err := models.RetentionHistory(ctx, db.Read, "bench-busy", 200)
			if err != nil {
				b.Fatal(err)
			}
			if len(evs) == 0 {
				b.Fatal("no retention history")
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/page")
	})
}
