// Package tenantdb reads customer (tenant) data: one schema per workspace
// on PostgreSQL, one SQLite file per workspace in the embedded mode. Every
// read is read-only, scoped to one workspace, bounded in size and time.
// Names that reach SQL are validated first and quoted; nothing else is
// ever built into a statement.
package tenantdb

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gatehouse/models"
)

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

// quote quotes a validated identifier. SQLite reads a double-quoted name
// that matches no column as a string literal, so it gets backquotes, which
// are always identifiers.
func quote(d models.Dialect, name string) string {
	if d == models.SQLite {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}
