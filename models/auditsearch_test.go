package models_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"gorm.io/gorm"
)

// TestAuditSearchRefusesScans checks that a search no index serves (a
// record or a table without its workspace) is refused by every reader,
// and that the same search with its workspace runs.
func TestAuditSearchRefusesScans(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		seedSearch(t, db)
		for _, q := range []models.AuditQuery{
			{Record: "12"},
			{Record: "12,13"},
			{Record: "12", Actor: "sara@example.com"},
			{Table: "members"},
		} {
			err := q.Check()
			var refusal *models.AuditRefusal
			if !errors.As(err, &refusal) || !errors.Is(err, models.ErrAuditScan) || !strings.Contains(refusal.Message, "workspace") {
				t.Errorf("%+v: Check = %v, want an AuditRefusal naming the workspace", q, err)
			}
			if _, err := models.SearchAudit(ctx, db.Read, q); !errors.Is(err, models.ErrAuditScan) {
				t.Errorf("%+v: SearchAudit error = %v, want ErrAuditScan", q, err)
			}
			if _, err := models.SearchAuditPage(ctx, db.Read, q, nil, nil, 10); !errors.Is(err, models.ErrAuditScan) {
				t.Errorf("%+v: SearchAuditPage error = %v, want ErrAuditScan", q, err)
			}
			n := 0
			for _, err := range models.AuditEventBatches(ctx, db.Read, q, 10) {
				if !errors.Is(err, models.ErrAuditScan) {
					t.Errorf("%+v: AuditEventBatches yielded %v, want ErrAuditScan", q, err)
				}
				n++
			}
			if n != 1 {
				t.Errorf("%+v: AuditEventBatches yielded %d times, want the refusal once", q, n)
			}
			q.Workspace = "acme"
			if err := q.Check(); err != nil {
				t.Errorf("%+v: Check = %v, want nil with the workspace", q, err)
			}
			if _, err := models.SearchAudit(ctx, db.Read, q); err != nil {
				t.Errorf("%+v: %v", q, err)
			}
		}
	})
}

// TestAuditSearchPagesWithAppends walks the audit search's pages older and
// back newer while events are appended between page loads, in seq order
// and in time order (with times out of seq order): every event is shown
// exactly once, in order, and no page is cut or repeated.
func TestAuditSearchPagesWithAppends(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		a := models.Actor{Email: "a@example.com", Tier: "senior"}
		appendAt := func(at time.Time) models.AuditEvent {
			ev, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: at, Actor: a, Action: models.ActionLogout})
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		var seeded []models.AuditEvent
		for i := range 23 {
			// Times shuffled against seqs, two events per minute sometimes.
			seeded = append(seeded, appendAt(base.Add(time.Duration((i*7)%17)*time.Minute)))
		}
		later := base.Add(time.Hour)
		for _, tc := range []struct {
			name string
			q    models.AuditQuery
			less func(x, y models.AuditEvent) int // newest first
		}{
			{"by seq", models.AuditQuery{Actor: a.Email}, func(x, y models.AuditEvent) int { return int(y.Seq - x.Seq) }},
			{"by time", models.AuditQuery{Actor: a.Email, Since: base}, func(x, y models.AuditEvent) int {
				if c := y.At.Compare(x.At); c != 0 {
					return c
				}
				return int(y.Seq - x.Seq)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want, err := models.SearchAudit(ctx, db.Read, models.AuditQuery{Actor: a.Email, Limit: 500})
				if err != nil {
					t.Fatal(err)
				}
				if len(want) < len(seeded) {
					t.Fatalf("%d events, want at least %d", len(want), len(seeded))
				}
				slices.SortFunc(want, tc.less)
				var got []models.AuditEvent
				var before *models.Cursor
				pages := 0
				for {
					p, err := models.SearchAuditPage(ctx, db.Read, tc.q, nil, before, 5)
					if err != nil {
						t.Fatal(err)
					}
					if pages++; pages > 10 {
						t.Fatal("the pages do not end")
					}
					// A newer event between two page loads.
					later = later.Add(time.Second)
					appendAt(later)
					got = append(got, p.Events...)
					if before != nil && p.Newer == nil {
						t.Errorf("page %d has no link to newer events", pages)
					}
					if p.Older == nil {
						break
					}
					before = p.Older
				}
				// Walking older from the first page shows the events as they
				// were when it was loaded, each once, in order: the ones
				// appended since are all newer.
				if !slices.Equal(seqsOf(got), seqsOf(want)) {
					t.Fatalf("older walk = %v, want %v", seqsOf(got), seqsOf(want))
				}
				// Back newer from the oldest page: the appended events follow.
				all, err := models.SearchAudit(ctx, db.Read, models.AuditQuery{Actor: a.Email, Since: tc.q.Since, Limit: 500})
				if err != nil {
					t.Fatal(err)
				}
				slices.SortFunc(all, tc.less)
				p, err := models.SearchAuditPage(ctx, db.Read, tc.q, nil, before, 5)
				if err != nil {
					t.Fatal(err)
				}
				back, after := p.Events, p.Newer
				for after != nil {
					p, err := models.SearchAuditPage(ctx, db.Read, tc.q, after, nil, 5)
					if err != nil {
						t.Fatal(err)
					}
					if p.Older == nil {
						t.Error("a newer page has no link to older events")
					}
					back = append(slices.Clone(p.Events), back...)
					after = p.Newer
				}
				if !slices.Equal(seqsOf(back), seqsOf(all)) {
					t.Errorf("newer walk = %v, want %v", seqsOf(back), seqsOf(all))
				}
			})
		}

		// A cursor of the other order, or not one the portal made.
		q := models.AuditQuery{Actor: a.Email}
		bad := []*models.Cursor{{ID: "x"}, {ID: "-1"}, {ID: "3", Value: "2026-03-01T12:00:00Z"}}
		for _, c := range bad {
			if _, err := models.SearchAuditPage(ctx, db.Read, q, nil, c, 5); !errors.Is(err, models.ErrBadCursor) {
				t.Errorf("cursor %+v by seq: %v, want ErrBadCursor", c, err)
			}
		}
		q.Since = base
		for _, c := range []*models.Cursor{{ID: "3"}, {ID: "3", Value: "yesterday"}} {
			if _, err := models.SearchAuditPage(ctx, db.Read, q, c, nil, 5); !errors.Is(err, models.ErrBadCursor) {
				t.Errorf("cursor %+v by time: %v, want ErrBadCursor", c, err)
			}
		}
		if _, err := models.SearchAuditPage(ctx, db.Read, q, &models.Cursor{ID: "3", Value: "2026-03-01T12:00:00Z"}, &models.Cursor{ID: "3", Value: "2026-03-01T12:00:00Z"}, 5); !errors.Is(err, models.ErrBadCursor) {
			t.Errorf("both cursors: %v, want ErrBadCursor", err)
		}
	})
}

// TestRetentionHistory checks that a workspace's retention history holds
// its retention events only, newest first and bounded, and that the
// partial index of migration 00017 lists exactly models.RetentionActions.
func TestRetentionHistory(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		sys := models.Actor{Email: "system", Tier: "system"}
		var want []int64
		for i := range 40 {
			e := models.AuditEntry{At: at.Add(time.Duration(i) * time.Minute), Actor: sys, Action: models.ActionDataViewed, Workspace: "acme", Table: "members", RecordIDs: []string{"1"}}
			switch {
			case i%5 == 0:
				e.Action, e.Table, e.RecordIDs = models.RetentionActions[(i/5)%len(models.RetentionActions)], "", nil
			case i%7 == 0:
				e.Action, e.Workspace, e.Table, e.RecordIDs = models.ActionRetentionNoticed, "globex", "", nil
			}
			ev, err := models.AppendAudit(ctx, db.Write, e)
			if err != nil {
				t.Fatal(err)
			}
			if e.Workspace == "acme" && e.Action != models.ActionDataViewed {
				want = append(want, ev.Seq)
			}
		}
		slices.Reverse(want)
		got, err := models.RetentionHistory(ctx, db.Read, "acme", 200)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqsOf(got), want) {
			t.Errorf("history = %v, want %v", seqsOf(got), want)
		}
		if got, err := models.RetentionHistory(ctx, db.Read, "acme", 3); err != nil || !slices.Equal(seqsOf(got), want[:3]) {
			t.Errorf("history of 3 = %v, %v; want %v", seqsOf(got), err, want[:3])
		}
		if got, err := models.RetentionHistory(ctx, db.Read, "initech", 200); err != nil || len(got) != 0 {
			t.Errorf("history of a workspace without events = %v, %v", seqsOf(got), err)
		}

		var def string
		if db.Dialect == models.Postgres {
			err = db.Read.Raw("SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_events_retention'").Scan(&def).Error
		} else {
			err = db.Read.Raw("SELECT sql FROM sqlite_master WHERE name = 'audit_events_retention'").Scan(&def).Error
		}
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, m := range regexp.MustCompile(`'([a-z_.]+)'`).FindAllStringSubmatch(def, -1) {
			listed = append(listed, m[1])
		}
		var actions []string
		for _, a := range models.RetentionActions {
			actions = append(actions, string(a))
		}
		slices.Sort(listed)
		slices.Sort(actions)
		if !slices.Equal(listed, actions) {
			t.Errorf("audit_events_retention lists %v, want models.RetentionActions %v (index: %s)", listed, actions, def)
		}
	})
}

// TestAuditFilterPlans fills the log with 20,000 events and checks that
// the database's plan of each filter reads the index meant for it and
// never scans audit_events whole. The values searched for are rare (an
// actor or workspace of 20 events): for a common one, reading the log
// newest first until a page is full is the cheaper plan, and a right one. PostgreSQL plans with enable_seqscan off
// after ANALYZE, so a scan shows only where no index serves the query.
func TestAuditFilterPlans(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		pg := db.Dialect == models.Postgres
		const n = 20000
		fill := fmt.Sprintf(`INSERT INTO audit_events (seq, at, actor, actor_tier, action, workspace, table_name, record_ids, breakglass_id, target, prev_hash, hash)
SELECT g, timestamptz '2026-01-01 00:00:00Z' + g * interval '3 seconds',
       CASE WHEN g %% 1000 = 3 THEN 'rare@example.com' ELSE 'staff' || (g %% 64) || '@example.com' END, 'senior',
       CASE WHEN g %% 500 = 0 THEN 'retention.noticed' WHEN g %% 10 = 0 THEN 'auth.login' WHEN g %% 97 = 0 THEN 'staff.suspended' ELSE 'data.viewed' END,
       CASE WHEN g %% 10 = 0 AND g %% 500 <> 0 THEN '' WHEN g %% 1000 = 11 THEN 'rare' ELSE 'ws' || lpad((g %% 24)::text, 2, '0') END,
       CASE WHEN g %% 10 = 0 THEN '' ELSE 'members' END,
       CASE WHEN g %% 10 = 0 THEN '' ELSE ((g %% 1000) * 5)::text || ',' || ((g %% 1000) * 5 + 1)::text END,
       CASE WHEN g %% 1000 = 7 THEN g / 1000 END, '', 'x', 'x'
FROM generate_series(1, %d) g`, n)
		if !pg {
			fill = fmt.Sprintf(`WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < %d)
INSERT INTO audit_events (seq, at, actor, actor_tier, action, workspace, table_name, record_ids, breakglass_id, target, prev_hash, hash)
SELECT g, strftime('%%Y-%%m-%%d %%H:%%M:%%S', '2026-01-01 00:00:00', '+' || (g * 3) || ' seconds') || '+00:00',
       CASE WHEN g %% 1000 = 3 THEN 'rare@example.com' ELSE 'staff' || (g %% 64) || '@example.com' END, 'senior',
       CASE WHEN g %% 500 = 0 THEN 'retention.noticed' WHEN g %% 10 = 0 THEN 'auth.login' WHEN g %% 97 = 0 THEN 'staff.suspended' ELSE 'data.viewed' END,
       CASE WHEN g %% 10 = 0 AND g %% 500 <> 0 THEN '' WHEN g %% 1000 = 11 THEN 'rare' ELSE 'ws' || substr('0' || (g %% 24), -2) END,
       CASE WHEN g %% 10 = 0 THEN '' ELSE 'members' END,
       CASE WHEN g %% 10 = 0 THEN '' ELSE ((g %% 1000) * 5) || ',' || ((g %% 1000) * 5 + 1) END,
       CASE WHEN g %% 1000 = 7 THEN g / 1000 END, '', 'x', 'x'
FROM s`, n)
		}
		if err := db.Write.Exec(fill).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Write.Exec("ANALYZE").Error; err != nil {
			t.Fatal(err)
		}
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		recordIndex, workspaceTimeIndex := "audit_events_workspace", "audit_events_workspace_at"
		if pg {
			recordIndex, workspaceTimeIndex = "audit_events_record_keys", "audit_events_workspace"
		}
		cases := []struct {
			name  string
			q     models.AuditQuery
			index string
		}{
			{"actor", models.AuditQuery{Actor: "rare@example.com"}, "audit_events_actor"},
			{"workspace", models.AuditQuery{Workspace: "rare"}, "audit_events_workspace"},
			{"action", models.AuditQuery{Action: models.ActionStaffSuspended}, "audit_events_action"},
			{"record of a workspace", models.AuditQuery{Workspace: "ws07", Record: "35"}, recordIndex},
			{"breakglass", models.AuditQuery{Breakglass: 3}, "audit_events_breakglass"},
			{"old until", models.AuditQuery{Until: start.Add(time.Hour)}, "audit_events_at"},
			{"recent since", models.AuditQuery{Since: start.Add(16 * time.Hour)}, "audit_events_at"},
			{"time range", models.AuditQuery{Since: start.Add(time.Hour), Until: start.Add(2 * time.Hour)}, "audit_events_at"},
			{"workspace, old until", models.AuditQuery{Workspace: "ws07", Until: start.Add(time.Hour)}, workspaceTimeIndex},
		}
		explain := func(sql string, vars []any) string {
			t.Helper()
			sqlDB, err := db.Read.DB()
			if err != nil {
				t.Fatal(err)
			}
			conn, err := sqlDB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			prefix := "EXPLAIN QUERY PLAN "
			if pg {
				prefix = "EXPLAIN "
				if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
					t.Fatal(err)
				}
				defer conn.ExecContext(ctx, "RESET enable_seqscan")
			}
			rows, err := conn.QueryContext(ctx, prefix+sql, vars...)
			if err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			var lines []string
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
			}
			return strings.Join(lines, "\n")
		}
		check := func(name, sql string, vars []any, index string) {
			t.Helper()
			plan := explain(sql, vars)
			full := regexp.MustCompile(`Seq Scan on audit_events|SCAN audit_events($|\n)`)
			if full.MatchString(plan) || !strings.Contains(plan, index) {
				t.Errorf("%s: plan does not read %s without scanning the log:\n%s\n%s", name, index, sql, plan)
			}
		}
		for _, tc := range cases {
			sql, vars, err := models.AuditPageSQL(db.Read, tc.q, nil)
			if err != nil {
				t.Fatal(err)
			}
			check(tc.name, sql, vars, tc.index)
			// A later page reads the same index.
			c := tc.q.AuditCursor(models.AuditEvent{Seq: n / 2, At: start.Add(n / 2 * 3 * time.Second)})
			if sql, vars, err = models.AuditPageSQL(db.Read, tc.q, &c); err != nil {
				t.Fatal(err)
			}
			check(tc.name+", later page", sql, vars, tc.index)
		}
		sql, vars, err := models.RetentionHistorySQL(db.Read, "ws07")
		if err != nil {
			t.Fatal(err)
		}
		check("retention history", sql, vars, "audit_events_retention")
	})
}

// TestAuditRecordSearchPlansForItsValues: "who viewed record X of
// workspace W" on a busy workspace. The driver keeps statements prepared,
// and PostgreSQL may switch a prepared statement to a generic plan after
// five runs; here (forced, as if it had) the generic plan reads the busy
// workspace's events newest first instead of the record keys' index.
// The audit searches run in customPlans, where every run is planned for
// its values and reads the index; and SearchAuditPage's query does run
// there.
func TestAuditRecordSearchPlansForItsValues(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		if db.Dialect != models.Postgres {
			t.Skip("PostgreSQL's plan cache")
		}
		ctx := context.Background()
		// 30,000 views of the busy workspace (records 1-50), 10,000 spread
		// over 500 others, and three views of record 9999 of the busy one.
		fill := `INSERT INTO audit_events (seq, at, actor, actor_tier, action, workspace, table_name, record_ids, target, prev_hash, hash)
SELECT g, timestamptz '2026-01-01 00:00:00Z' + g * interval '3 seconds', 'staff@example.com', 'senior', 'data.viewed',
       CASE WHEN g <= 30000 THEN 'busy' ELSE 'ws' || (g % 500) END, 'members',
       CASE WHEN g IN (5, 500, 5000) THEN '9999' ELSE ((g % 50) + 1)::text END, '', 'x', 'x'
FROM generate_series(1, 40000) g`
		if err := db.Write.Exec(fill).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Write.Exec("ANALYZE audit_events").Error; err != nil {
			t.Fatal(err)
		}
		f := models.AuditQuery{Workspace: "busy", Record: "9999"}
		sql, vars, err := models.AuditPageSQL(db.Read, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		args := make([]string, len(vars))
		for i, v := range vars {
			args[i] = fmt.Sprint(v)
			if s, ok := v.(string); ok {
				args[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
			}
		}
		explain := func(tx *gorm.DB) (string, error) {
			var plan []string
			err := tx.Raw("EXPLAIN EXECUTE who_viewed(" + strings.Join(args, ", ") + ")").Scan(&plan).Error
			return strings.Join(plan, "\n"), err
		}
		err = db.Read.Connection(func(conn *gorm.DB) error {
			defer conn.Exec("DEALLOCATE ALL; RESET plan_cache_mode")
			if err := conn.Exec("PREPARE who_viewed AS " + sql).Error; err != nil {
				return err
			}
			if err := conn.Exec("SET plan_cache_mode = force_generic_plan").Error; err != nil {
				return err
			}
			generic, err := explain(conn)
			if err != nil {
				return err
			}
			if strings.Contains(generic, "audit_events_record_keys") {
				t.Logf("the generic plan reads the record keys here too:\n%s", generic)
			}
			var custom string
			err = models.CustomPlansForTest(ctx, conn, func(tx *gorm.DB) error {
				custom, err = explain(tx)
				return err
			})
			if err != nil {
				return err
			}
			if !strings.Contains(custom, "audit_events_record_keys") || strings.Contains(custom, "$1") {
				t.Errorf("under customPlans the search is not planned for its values with the record keys' index:\n%s\n(generic plan:\n%s)", custom, generic)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// SearchAuditPage's own query runs with custom plans.
		var modes []string
		const hook = "test:plan_cache_mode"
		if err := db.Read.Callback().Query().Before("gorm:query").Register(hook, func(tx *gorm.DB) {
			var mode string
			if err := tx.Statement.ConnPool.QueryRowContext(tx.Statement.Context, "SELECT current_setting('plan_cache_mode')").Scan(&mode); err != nil {
				tx.AddError(err)
			}
			modes = append(modes, mode)
		}); err != nil {
			t.Fatal(err)
		}
		defer db.Read.Callback().Query().Remove(hook)
		page, err := models.SearchAuditPage(ctx, db.Read, f, nil, nil, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 3 || !slices.Equal(modes, []string{"force_custom_plan"}) {
			t.Errorf("SearchAuditPage found %d events, its queries ran with plan_cache_mode %v; want 3, with [force_custom_plan]", len(page.Events), modes)
		}
	})
}
