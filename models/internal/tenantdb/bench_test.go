package tenantdb_test

import (
	"context"
	"os"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/models/internal/tenantdb"
)

// BenchmarkRows reads acme's first 50 members: the tenant-page part of an
// audited data page, alone (handlers' BenchmarkDataPageParts measures the
// other parts and the whole page).
func BenchmarkRows(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		dir := b.TempDir()
		benchRows(b, tenantdb.Config{Dialect: tenantdb.SQLite, SQLiteDir: dir}, demo.TenantTarget{SQLiteDir: dir})
	})
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv("GATEHOUSE_TEST_PG") == "" {
			b.Skip("GATEHOUSE_TEST_PG is not set")
		}
		url := dbtest.NewPostgresDatabase(b)
		db, err := models.Open(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		benchRows(b, tenantdb.Config{Dialect: tenantdb.Postgres, PostgresURL: url}, demo.TenantTarget{Postgres: db.Write})
	})
}

func benchRows(b *testing.B, cfg tenantdb.Config, target demo.TenantTarget) {
	ctx := context.Background()
	if err := demo.SeedTenants(ctx, target, []string{"acme"}, now); err != nil {
		b.Fatal(err)
	}
	r, err := tenantdb.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	q := tenantdb.Query{Workspace: tenantdb.Workspace{Slug: "acme"}, Table: "members", Columns: memberCols, Limit: 50}
	for b.Loop() {
		page, err := r.Rows(ctx, q)
		if err != nil || len(page.Rows) != 50 {
			b.Fatalf("rows: %d, %v", len(page.Rows), err)
		}
	}
}
