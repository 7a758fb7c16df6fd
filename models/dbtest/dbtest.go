// Package dbtest gives tests a fresh, migrated portal database on every
// engine available: SQLite always, PostgreSQL when GATEHOUSE_TEST_PG names
// a server. With GATEHOUSE_TEST_ALL=1 a missing engine fails the test
// instead of skipping it.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gatehouse/models"
)

// Each runs fn as a subtest once per available engine, each time with a
// new migrated database that is dropped afterwards.
func Each(t *testing.T, fn func(t *testing.T, db *models.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a migrated database in a temporary file.
func SQLite(t testing.TB) *models.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := models.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	urls.Store(db, path)
	t.Cleanup(func() { urls.Delete(db); db.Close() })
	if err := models.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

// Reopen opens another handle on db's database, with connections of its
// own, as another replica would; it is closed when the test ends.
func Reopen(t testing.TB, db *models.DB) *models.DB {
	t.Helper()
	u := URL(db)
	if u == "" {
		t.Fatal("dbtest.Reopen: not a database of this package")
	}
	other, err := models.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// PostgresURL returns the server URL from GATEHOUSE_TEST_PG, skipping the
// test (or failing it under GATEHOUSE_TEST_ALL=1) when it is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_PG")
	if u == "" {
		if os.Getenv("GATEHOUSE_TEST_ALL") == "1" {
			t.Fatal("GATEHOUSE_TEST_PG is not set and GATEHOUSE_TEST_ALL=1: PostgreSQL tests must run")
		}
		t.Skip("PostgreSQL test skipped: set GATEHOUSE_TEST_PG=postgres://postgres@127.0.0.1:5432/postgres to run it")
	}
	return u
}

// urls remembers the URL each test database was opened with.
var urls sync.Map // *models.DB → string

// URL returns the URL (or, for SQLite, the file) a database from this
// package was opened with.
func URL(db *models.DB) string {
	u, _ := urls.Load(db)
	s, _ := u.(string)
	return s
}

// Postgres creates a new database on the GATEHOUSE_TEST_PG server,
// migrates it, and drops it when the test ends.
func Postgres(t testing.TB) *models.DB {
	t.Helper()
	u := NewPostgresDatabase(t)
	db, err := models.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	urls.Store(db, u)
	t.Cleanup(func() { urls.Delete(db); db.Close() })
	if err := models.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return db
}

// NewPostgresDatabase creates an empty database and returns its URL.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	admin, err := models.Open(context.Background(), base)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_PG: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "gh_test_" + strings.ToLower(hex.EncodeToString(b))
	if err := admin.Write.Exec("CREATE DATABASE " + name).Error; err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Write.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	pu, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	pu.Path = "/" + name
	return pu.String()
}

// EachFast is Each for tests that commit tens of thousands of
// transactions: the SQLite file lives in memory (/dev/shm) and PostgreSQL
// commits without waiting for its WAL flush (synchronous_commit=off).
// Both give up only durability across a crash of the machine, which no
// test observes; isolation and atomicity are unchanged.
func EachFast(t *testing.T, fn func(t *testing.T, db *models.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			if d, err := os.MkdirTemp("/dev/shm", "gatehouse-test-"); err == nil {
				dir = d
				t.Cleanup(func() { os.RemoveAll(d) })
			}
		}
		db, err := models.Open(context.Background(), filepath.Join(dir, "portal.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := models.Migrate(context.Background(), db); err != nil {
			t.Fatal(err)
		}
		fn(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		u, err := url.Parse(NewPostgresDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("synchronous_commit", "off") // pgx sends unknown parameters as run-time settings
		u.RawQuery = q.Encode()
		db, err := models.Open(context.Background(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		urls.Store(db, u.String())
		t.Cleanup(func() { urls.Delete(db); db.Close() })
		if err := models.Migrate(context.Background(), db); err != nil {
			t.Fatal(err)
		}
		fn(t, db)
	})
}
