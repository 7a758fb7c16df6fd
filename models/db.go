// Package models holds Gatehouse's data: staff, sessions, the audit log,
// and the functions that read and change them. Functions take a context
// and a *gorm.DB (which may be a transaction) and never import handlers.
package models

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"gatehouse/models/internal/sqlitedb"
	"gatehouse/models/internal/tenantdb"

	"github.com/libtnb/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the database engine behind a DB; tenant storage names
// engines the same way.
type Dialect = tenantdb.Dialect

// The supported engines.
const (
	SQLite   = tenantdb.SQLite
	Postgres = tenantdb.Postgres
)

// DB is the portal's own database. On SQLite, Write is a single connection
// (one writer; many writers on many connections starve each other) and Read
// a pool of read-only connections; on PostgreSQL both are the same pool.
type DB struct {
	Write   *gorm.DB
	Read    *gorm.DB
	Dialect Dialect
	path    string // SQLite: the database file
}

// stmtCache is how much SQL text each connection to the portal's SQLite
// file keeps prepared (see sqlitedb): a request's and the workers'
// statements come to about 4 KiB on a reader, and the writer's to less
// than that beside the audit writer's multi-row INSERTs, so those are
// parsed once per connection; compiled, the most it keeps is about a
// megabyte a connection.
const stmtCache = 16 << 10

// defaultPoolConns is how many connections a PostgreSQL pool opens at
// most unless its URL says otherwise (pool_max_conns).
const defaultPoolConns = 32

// Open connects to url: a postgres:// or postgresql:// URL (with, if
// wanted, pool_max_conns: at most that many connections, 32 by default),
// or a SQLite file path (optionally prefixed with "sqlite:").
func Open(ctx context.Context, url string) (*DB, error) {
	cfg := &gorm.Config{
		NowFunc:        func() time.Time { return time.Now().UTC() },
		Logger:         logger.Discard,
		TranslateError: true,
	}
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		dsn, conns, err := tenantdb.PoolSize(url, defaultPoolConns)
		if err != nil {
			return nil, err
		}
		g, err := gorm.Open(postgres.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(conns)
		sqlDB.SetMaxIdleConns(conns)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		if err := sqlDB.PingContext(ctx); err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("connect postgres: %w", err)
		}
		return &DB{Write: g, Read: g, Dialect: Postgres}, nil
	}
	path := strings.TrimPrefix(url, "sqlite:")
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite database path %q: want a plain file path", path)
	}
	const pragmas = "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	wdb, err := sqlitedb.Open(path+"?"+pragmas+"&_txlock=immediate", stmtCache)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w, err := gorm.Open(sqlite.New(sqlite.Config{Conn: wdb}), cfg)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// The readers do not map the file (no mmap_size): the portal database
	// is written on every data view (the audit log), and SQLite unmaps a
	// reader's whole mapping at the start of every read transaction that
	// follows a write, then faults the pages back in. On the benchmark
	// machine that cost 100-600 us per read, against a few preads. (The
	// tenant files, which the portal never writes, keep their mapping.)
	rdb, err := sqlitedb.Open(path+"?"+pragmas+"&_pragma=query_only(1)", stmtCache)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	r, err := gorm.Open(sqlite.New(sqlite.Config{Conn: rdb}), cfg)
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &DB{Write: w, Read: r, Dialect: SQLite, path: path}, nil
}

// Close closes every connection.
func (db *DB) Close() error {
	var errs []error
	for _, g := range []*gorm.DB{db.Write, db.Read} {
		if s, err := g.DB(); err == nil {
			errs = append(errs, s.Close())
		}
		if db.Read == db.Write {
			break
		}
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers, for /readyz.
func (db *DB) Ping(ctx context.Context) error {
	s, err := db.Write.DB()
	if err != nil {
		return err
	}
	return s.PingContext(ctx)
}

// Migrate applies every embedded migration not yet applied, in order, each
// in its own transaction. On PostgreSQL an advisory lock lets several
// replicas start at once.
func Migrate(ctx context.Context, db *DB) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.Dialect))
	if err != nil {
		return err
	}
	sqlDB, err := db.Write.DB()
	if err != nil {
		return err
	}
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, sqlDB, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// queryRows runs query, written with ? placeholders, on db, numbering
// the placeholders for PostgreSQL. It skips the ORM for the reads every
// request makes (session, grant, workspace); callers scan with
// db.ScanRows.
func queryRows(ctx context.Context, db *gorm.DB, query string, args ...any) (*sql.Rows, error) {
	if db.Dialector.Name() == "postgres" {
		query = numberPlaceholders(query)
	}
	return db.Statement.ConnPool.QueryContext(ctx, query, args...)
}

// takeRow scans the first row query returns into dest, or returns a
// wrapped ErrNotFound when there is none.
func takeRow(ctx context.Context, db *gorm.DB, dest any, query string, args ...any) error {
	rows, err := queryRows(ctx, db, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return ErrNotFound
	}
	if err := db.ScanRows(rows, dest); err != nil {
		return err
	}
	return rows.Close()
}

// numberPlaceholders turns ? placeholders into PostgreSQL's $1, $2, ...;
// the queries given to it hold no other question mark.
func numberPlaceholders(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
