package tenantdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"gatehouse/models/internal/sqlitedb"
)

// Conn runs statements on the server holding the schemas: a *sql.DB, or
// a *sql.Tx when a removal must commit with the caller's other changes.
type Conn interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// TableRows is one table of a workspace's data and how many rows it held.
type TableRows struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// Inventory is what a workspace's data held when it was counted before
// its removal: where it was, its tables and their row counts, never the
// data itself.
type Inventory struct {
	Location string      // the schema, or the file's name
	Missing  bool        // nothing was there
	Tables   []TableRows // empty, never nil, when Missing
	Files    []string    // SQLite: the files there (-wal, -shm, the file)
}

// Store is where workspaces keep their data, for what is done to one
// workspace's data as a whole: counting it, removing it, and telling
// whether it is gone. Reads go through a Reader instead.
type Store struct {
	Dialect Dialect
	Conn    Conn   // PostgreSQL: the server holding the schemas
	Dir     string // SQLite: the directory holding the files
}

// Location returns where slug's data lives: its schema, or its file's
// name.
func (s Store) Location(slug string) (string, error) {
	if s.Dialect == SQLite {
		return FileName(slug)
	}
	return SchemaName(slug)
}

// Count counts the rows of each table of slug's data.
func (s Store) Count(ctx context.Context, slug string) (Inventory, error) {
	loc, err := s.Location(slug)
	if err != nil {
		return Inventory{}, err
	}
	inv := Inventory{Location: loc, Tables: []TableRows{}}
	if s.Dialect == SQLite {
		return inv, s.countFile(ctx, &inv)
	}
	return inv, s.countSchema(ctx, &inv)
}

func (s Store) countSchema(ctx context.Context, inv *Inventory) error {
	schema := inv.Location
	tables, err := column[string](ctx, s.Conn, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`, schema)
	if err != nil {
		return fmt.Errorf("tables of %s: %w", schema, err)
	}
	exists, err := column[int64](ctx, s.Conn, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema)
	if err != nil {
		return err
	}
	if exists[0] == 0 {
		inv.Missing = true
		return nil
	}
	for _, t := range tables {
		n, err := column[int64](ctx, s.Conn, "SELECT count(*) FROM "+quote(Postgres, schema)+"."+quote(Postgres, t))
		if err != nil {
			return fmt.Errorf("count %s.%s: %w", schema, t, err)
		}
		inv.Tables = append(inv.Tables, TableRows{Table: t, Rows: n[0]})
	}
	return nil
}

func (s Store) countFile(ctx context.Context, inv *Inventory) error {
	file := filepath.Join(s.Dir, inv.Location)
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		inv.Missing = true
		return nil
	} else if err != nil {
		return err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_pragma=busy_timeout(10000)"}
	f, err := sqlitedb.Open(u.String(), 0)
	if err != nil {
		return err
	}
	defer f.Close()
	tables, err := column[string](ctx, f, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return fmt.Errorf("tables of %s: %w", inv.Location, err)
	}
	for _, t := range tables {
		n, err := column[int64](ctx, f, "SELECT count(*) FROM "+quote(SQLite, t))
		if err != nil {
			return fmt.Errorf("count %s: %w", t, err)
		}
		inv.Tables = append(inv.Tables, TableRows{Table: t, Rows: n[0]})
	}
	for _, suffix := range []string{"-wal", "-shm", ""} {
		if _, err := os.Stat(file + suffix); err == nil {
			inv.Files = append(inv.Files, inv.Location+suffix)
		}
	}
	return nil
}

// column returns the first column of every row stmt returns; a count
// always returns one.
func column[T any](ctx context.Context, c Conn, stmt string, args ...any) ([]T, error) {
	rows, err := c.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Remove removes slug's data. On PostgreSQL it drops the schema through
// Conn, so that a transaction there holds the drop. On SQLite the file is
// renamed away first, in one step: from then on the data is gone from
// where it is read, and what is left is removed; a failure before the
// rename removed nothing.
func (s Store) Remove(ctx context.Context, slug string) error {
	loc, err := s.Location(slug)
	if err != nil {
		return err
	}
	if s.Dialect != SQLite {
		if _, err := s.Conn.ExecContext(ctx, "DROP SCHEMA "+quote(Postgres, loc)+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", loc, err)
		}
		return nil
	}
	file := filepath.Join(s.Dir, loc)
	if err := os.Rename(file, file+".deleting"); err != nil {
		return fmt.Errorf("remove %s: %w", loc, err)
	}
	_, err = s.RemoveLeftovers(slug)
	return err
}

// RemoveLeftovers removes what a SQLite removal that stopped half-way
// left behind (the renamed file, its -wal and -shm) and returns the names
// of the files it removed.
func (s Store) RemoveLeftovers(slug string) ([]string, error) {
	name, err := FileName(slug)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, f := range []string{name + ".deleting", name + "-wal", name + "-shm"} {
		if err := os.Remove(filepath.Join(s.Dir, f)); err == nil {
			removed = append(removed, f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("remove %s: %w", f, err)
		}
	}
	return removed, nil
}

// Gone reports whether slug's data is gone: its schema, or its file.
func (s Store) Gone(ctx context.Context, slug string) (bool, error) {
	loc, err := s.Location(slug)
	if err != nil {
		return false, err
	}
	if s.Dialect == SQLite {
		_, err := os.Stat(filepath.Join(s.Dir, loc))
		if errors.Is(err, os.ErrNotExist) {
			return true, nil
		}
		return false, err
	}
	n, err := column[int64](ctx, s.Conn, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", loc)
	if err != nil {
		return false, fmt.Errorf("schema %s: %w", loc, err)
	}
	return n[0] == 0, nil
}
