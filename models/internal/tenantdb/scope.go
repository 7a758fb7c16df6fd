package tenantdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what a read runs its statements on: a read-only transaction
// on PostgreSQL, the read-only pool on SQLite.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scope is one workspace's data, open for reading.
type scope struct {
	q       querier
	dialect Dialect
	schema  string
}

// table returns the quoted, schema-qualified name of a validated table.
func (s scope) table(name string) string {
	if s.dialect == SQLite {
		return quote(s.dialect, name)
	}
	return quote(s.dialect, s.schema) + "." + quote(s.dialect, name)
}

// arg returns the placeholder of the n-th (1-based) argument.
func (s scope) arg(n int) string {
	if s.dialect == SQLite {
		return "?"
	}
	return "$" + strconv.Itoa(n)
}

// pgSlack lets the server's statement_timeout, which names its cause,
// fire before the context deadline, which only says "canceled".
const pgSlack = 2 * time.Second

// inScope runs fn with ws's data open for reading. On PostgreSQL that is a
// READ ONLY transaction in which the schema and the statement timeout are
// set with set_config(..., true): transaction-local, so nothing outlives
// it on the pooled connection. Nothing is committed. On SQLite the
// context deadline bounds the wait for a connection; see sqliteAt.
func (r *Reader) inScope(ctx context.Context, ws Workspace, fn func(context.Context, scope) error) error {
	schema, err := SchemaName(ws.Slug)
	if err != nil {
		return err
	}
	p, release, err := r.acquire(ws)
	if err != nil {
		return err
	}
	defer release()
	r.scopes.Add(1)
	if p.dialect == SQLite {
		ctx, cancel := context.WithTimeout(ctx, r.cfg.StatementTimeout)
		defer cancel()
		return fn(ctx, scope{q: p.db, dialect: SQLite, schema: schema})
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StatementTimeout+pgSlack)
	defer cancel()
	tx, err := p.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("workspace %s: begin: %w", ws.Slug, err)
	}
	defer tx.Rollback()
	timeout := strconv.FormatInt(r.cfg.StatementTimeout.Milliseconds(), 10) + "ms"
	_, err = tx.ExecContext(ctx, `SELECT set_config('search_path', $1, true), set_config('statement_timeout', $2, true)`,
		quote(Postgres, schema), timeout)
	if err != nil {
		return fmt.Errorf("workspace %s: select schema: %w", ws.Slug, err)
	}
	return fn(ctx, scope{q: tx, dialect: Postgres, schema: schema})
}

// notFound wraps ErrNotFound around a missing table's error, so a
// table a workspace lacks reads as "not found" rather than as a fault.
func notFound(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && (pg.Code == "42P01" || pg.Code == "3F000") ||
		strings.Contains(err.Error(), "no such table") {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
