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

	"github.com/jackc/pgx/v5"
)

// BenchmarkRegistryScale times, on PostgreSQL, what runs against the
// whole registry: one sweeper pass, one retention run when nothing is
// due, the retention queue's first page with its counts, and the
// dashboard's deletions due. Opt in with GATEHOUSE_BENCH_WORKSPACES
// (e.g. 100000 or 1000000). The registry is made with COPY into the
// database gatehouse_bench_registry_<n>, kept and reused between runs.
// Shape, per 100 workspaces: 70 paid and active, 24 free with a login in
// the last 100 days, 1 free idle 160 days and already noticed (the job
// reads it and finds nothing due), 4 cancelled in the last 60 days, 1
// deleted (with its retention row).
func BenchmarkRegistryScale(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_WORKSPACES"))
	if n <= 0 {
		b.Skip("set GATEHOUSE_BENCH_WORKSPACES (e.g. 100000 or 1000000) to run it")
	}
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := models.DefaultRetentionPolicy()
	db := benchRegistry(b, n, now)

	sw := &models.Sweeper{DB: db.Write, Product: db.Read, Now: func() time.Time { return now }}
	b.Run("sweep", func(b *testing.B) {
		for b.Loop() {
			if _, err := sw.Sweep(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("retention-nothing-due", func(b *testing.B) {
		for b.Loop() {
			run, err := models.RunRetention(ctx, db.Write, db.Read, now, p, models.Post{})
			if err != nil {
				b.Fatal(err)
			}
			if run.Noticed+run.Marked+run.DeletionDue > 0 {
				b.Fatalf("something was due: %+v", run)
			}
		}
	})
	attention := []models.RetentionState{models.RetentionDeletionDue, models.RetentionNoticeDue, models.RetentionMarkDue,
		models.RetentionDeletionRequested, models.RetentionHeld, models.RetentionMarked, models.RetentionNoticed, models.RetentionCancelled}
	b.Run("retention-queue-first-page", func(b *testing.B) {
		for b.Loop() {
			c := &models.RetentionClasses{DB: db.Read, Product: db.Read, Now: now, Policy: p}
			rows, _, err := c.Page(ctx, attention, "", nil, 50)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Counts(ctx); err != nil {
				b.Fatal(err)
			}
			if len(rows) != 50 {
				b.Fatalf("first page has %d rows", len(rows))
			}
		}
	})
	b.Run("dashboard-deletions-due", func(b *testing.B) {
		for b.Loop() {
			c := &models.RetentionClasses{DB: db.Read, Product: db.Read, Now: now, Policy: p}
			if _, _, err := c.Page(ctx, []models.RetentionState{models.RetentionDeletionDue}, "", nil, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchRegistry returns the kept benchmark database of n workspaces (the
// portal's tables and the registry in one), made on first use.
func benchRegistry(b *testing.B, n int, now time.Time) *models.DB {
	ctx := context.Background()
	name := fmt.Sprintf("gatehouse_bench_registry_%d", n)
	db, dsn, built := keptBenchDB(b, name, func(db *models.DB) bool {
		var done int64
		return db.Read.Raw("SELECT n FROM bench_registry_done").Scan(&done).Error == nil && done == int64(n)
	})
	if !built {
		return db
	}
	b.Logf("making the registry of %d workspaces in %s", n, name)
	if err := demo.SeedProduct(ctx, db.Write, now); err != nil { // the schema, indexes and the demo's few
		b.Fatal(err)
	}
	if err := db.Write.Exec("DELETE FROM workspace_owners; DELETE FROM workspaces").Error; err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	day := func(d int) time.Time { return now.Add(-time.Duration(d) * models.Day) }
	i := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"workspaces"},
		[]string{"slug", "name", "plan", "status", "member_count", "created_at", "last_login_at", "cancelled_at", "subscription_state", "dsn"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			k, slug := i%100, fmt.Sprintf("w%07d", i)
			created := day(400).Add(time.Duration(i) * time.Second)
			login := day(i % 30)
			row := []any{slug, "Workspace " + strconv.Itoa(i), "team", models.WorkspaceActive, 1 + i%50, created, &login, nil, "active", ""}
			switch {
			case k < 70:
				row[2] = []string{"team", "business", "enterprise"}[i%3]
			case k < 89 || k >= 95:
				login = day(i % 100)
				row[2], row[8] = "free", "none"
				if k >= 95 {
					row[3] = models.WorkspaceFree
				}
			case k == 89:
				login = day(160)
				row[2], row[8] = "free", "none"
			case k < 94:
				cancelled := day(i % 60)
				row[3], row[7], row[8] = models.WorkspaceCancelled, &cancelled, "cancelled"
			default:
				row[3], row[8] = models.WorkspaceDeleted, "cancelled"
			}
			i++
			return row, nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	j := 0
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"retention"}, []string{"slug", "noticed_at", "deleted_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			for ; j < n; j++ {
				slug := fmt.Sprintf("w%07d", j)
				switch j % 100 {
				case 89:
					j++
					return []any{slug, day(10), nil, now}, nil
				case 94:
					j++
					return []any{slug, nil, day(100), now}, nil
				}
			}
			return nil, nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"VACUUM ANALYZE workspaces", "VACUUM ANALYZE retention", "CREATE TABLE bench_registry_done (n BIGINT)", fmt.Sprintf("INSERT INTO bench_registry_done VALUES (%d)", n)} {
		if err := db.Write.Exec(q).Error; err != nil {
			b.Fatal(err)
		}
	}
	return db
}
