package models

import (
	"context"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// MigrateUpTo applies the embedded SQLite or PostgreSQL migrations up to
// version, for tests that need a database as an older release left it.
func MigrateUpTo(ctx context.Context, db *DB, version int64) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.Dialect))
	if err != nil {
		return err
	}
	sqlDB, err := db.Write.DB()
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, sqlDB, sub)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}
