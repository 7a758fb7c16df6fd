// Package tenantdb owns customer (tenant) data's storage: one schema per
// workspace on PostgreSQL, one SQLite file per workspace in the embedded
// mode. It names them, reads them (read-only, scoped to one workspace,
// bounded in size and time), and counts and removes them when a workspace
// is deleted. Names that reach SQL are validated first and quoted;
// nothing else is ever built into a statement. It imports nothing of
// Gatehouse: models builds on it, never the reverse.
package tenantdb

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Dialect names a database engine.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound is returned (wrapped) for a workspace, table or record
// that is not there.
var ErrNotFound = errors.New("not found")

// ErrInvalidName is returned (wrapped) for a workspace slug, table or
// column name that may not be used in a query.
var ErrInvalidName = errors.New("invalid name")

var (
	schemaPattern = regexp.MustCompile(`^ws_[a-z0-9_]{1,48}$`)
	identPattern  = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// SchemaName returns the PostgreSQL schema holding the workspace slug's
// data: "ws_" and the slug with '-' replaced by '_'. A slug containing '_'
// is refused, so that no two slugs ("a-b", "a_b") share a schema.
func SchemaName(slug string) (string, error) {
	s := "ws_" + strings.ReplaceAll(slug, "-", "_")
	if strings.Contains(slug, "_") || !schemaPattern.MatchString(s) {
		return "", fmt.Errorf("workspace %q: %w", slug, ErrInvalidName)
	}
	return s, nil
}

// FileName returns the SQLite file holding the workspace slug's data: its
// schema name and ".db".
func FileName(slug string) (string, error) {
	s, err := SchemaName(slug)
	if err != nil {
		return "", err
	}
	return s + ".db", nil
}

func checkIdent(kind, name string) error {
	if !identPattern.MatchString(name) {
		return fmt.Errorf("%s %q: %w", kind, name, ErrInvalidName)
	}
	return nil
}

// quote quotes an identifier: a validated one, or a table name found in
// a workspace being deleted, whose quote characters are doubled. SQLite
// reads a double-quoted name that matches no column as a string literal,
// so it gets backquotes, which are always identifiers.
func quote(d Dialect, name string) string {
	if d == SQLite {
		return "`" + strings.ReplaceAll(name, "`", "``") + "`"
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
