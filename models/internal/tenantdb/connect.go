package tenantdb

import (
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gatehouse/models/internal/sqlitedb"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// location is where one workspace's data lives.
type location struct {
	key     string // the pool cache key
	dialect Dialect
	path    string // SQLite file
	open    func() (*sql.DB, error)
}

func (r *Reader) locate(ws Workspace) (location, error) {
	file, err := FileName(ws.Slug)
	if err != nil {
		return location{}, err
	}
	switch {
	case isPostgresURL(ws.DSN):
		return postgresAt(ws.DSN), nil
	case ws.DSN != "":
		return sqliteAt(filepath.Join(strings.TrimPrefix(ws.DSN, "sqlite:"), file), r.cfg.StatementTimeout)
	case r.cfg.Dialect == Postgres:
		return postgresAt(r.cfg.PostgresURL), nil
	default:
		return sqliteAt(filepath.Join(r.cfg.SQLiteDir, file), r.cfg.StatementTimeout)
	}
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

func postgresAt(dsn string) location {
	return location{key: dsn, dialect: Postgres, open: func() (*sql.DB, error) { return openPostgres(dsn) }}
}

// openPostgres returns a pool whose every connection starts with
// default_transaction_read_only=on, so even a statement outside the
// reader's read-only transactions cannot write.
func openPostgres(dsn string) (*sql.DB, error) {
	dsn, conns, err := PoolSize(dsn, 16)
	if err != nil {
		return nil, fmt.Errorf("tenant data server URL: %w", err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("tenant data server URL: %w", err)
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.RuntimeParams["application_name"] = "gatehouse-tenant-reader"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// stmtCache is how much SQL text each connection to a workspace file
// keeps prepared (see sqlitedb): the statements of a few page reads,
// whose text varies with the table, its columns and the page; compiled,
// at most about half a megabyte a connection.
const stmtCache = 8 << 10

// sqliteAt opens path read-only: mode=ro (which also never creates the
// file) and query_only, which refuses writes whatever the file's
// permissions. The driver interrupts a running statement when its context
// ends; besides, waiting for a writer's lock is bounded by busy_timeout,
// and the statements the reader builds are bounded by construction (a
// primary key range with a LIMIT).
func sqliteAt(path string, timeout time.Duration) (location, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return location{}, err
	}
	// mmap_size lets reads map the file instead of copying it in a
	// system call per page.
	q := fmt.Sprintf("mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(%d)&_pragma=mmap_size(268435456)", timeout.Milliseconds())
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q}
	open := func() (*sql.DB, error) {
		db, err := sqlitedb.Open(u.String(), stmtCache)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", abs, err)
		}
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)
		return db, nil
	}
	return location{key: "sqlite:" + abs, dialect: SQLite, path: abs, open: open}, nil
}

// PoolSize takes pool_max_conns, pgxpool's name for a pool's size, out of
// a PostgreSQL URL and returns the URL without it and the size (def when
// absent): the pools here are database/sql's, and PostgreSQL would refuse
// the parameter as an unknown setting. Fewer connections than requests in
// flight queue them in the portal instead of in the database server's
// scheduler, which on a server with few cores is the shorter tail.
func PoolSize(raw string, def int) (string, int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// The driver refuses it, without the password (url.Parse's
		// error would quote it).
		return raw, def, nil
	}
	q := u.Query()
	if !q.Has("pool_max_conns") {
		return raw, def, nil
	}
	n, err := strconv.Atoi(q.Get("pool_max_conns"))
	if err != nil || n < 1 || n > 1000 {
		return "", 0, fmt.Errorf("database URL: pool_max_conns %q: want a number of connections from 1 to 1000", q.Get("pool_max_conns"))
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}
