package models_test

import (
	"context"
	"net/url"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// keptBenchDB opens the benchmark database name on the GATEHOUSE_TEST_PG
// server, migrated; such databases are kept between runs, since building
// one takes minutes. One that fails to migrate (left by an older
// migration set) or that current says is not what the benchmark wants
// (of another size, or half built) is dropped and made anew, empty, and
// built reports true: the caller fills it. It is closed when b ends; dsn
// is its URL.
func keptBenchDB(b *testing.B, name string, current func(*models.DB) bool) (db *models.DB, dsn string, built bool) {
	b.Helper()
	base := dbtest.PostgresURL(b)
	ctx := context.Background()
	admin, err := models.Open(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	var exists bool
	if err := admin.Write.Raw("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ?)", name).Scan(&exists).Error; err != nil {
		b.Fatal(err)
	}
	if exists {
		if db, err = models.Open(ctx, u.String()); err != nil {
			b.Fatal(err)
		}
		if models.Migrate(ctx, db) == nil && current(db) {
			b.Cleanup(func() { db.Close() })
			return db, u.String(), false
		}
		db.Close()
		if err := admin.Write.Exec("DROP DATABASE " + name + " WITH (FORCE)").Error; err != nil {
			b.Fatal(err)
		}
	}
	if err := admin.Write.Exec("CREATE DATABASE " + name).Error; err != nil {
		b.Fatal(err)
	}
	if db, err = models.Open(ctx, u.String()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := models.Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	return db, u.String(), true
}
