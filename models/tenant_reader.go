package models

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/models/internal/tenantdb"
)

// TenantStorage says where customer data lives and how much one read may
// cost: the product's PostgreSQL server (one schema per workspace) or a
// directory of SQLite files (one per workspace).
type TenantStorage = tenantdb.Config

// TenantReader holds the read-only connections to customer data. It
// reads no rows for anyone: only TenantData, which audits every view,
// reads through it. It is safe for concurrent use.
type TenantReader struct {
	r *tenantdb.Reader
}

// OpenTenantReader checks s and connects (PostgreSQL at once, so a bad
// URL fails the start; SQLite files when first read).
func OpenTenantReader(ctx context.Context, s TenantStorage) (*TenantReader, error) {
	r, err := tenantdb.Open(ctx, s)
	if err != nil {
		return nil, err
	}
	return &TenantReader{r: r}, nil
}

// Close closes every connection.
func (t *TenantReader) Close() error { return t.r.Close() }

// Tables lists w's tables and their columns, for checking the data
// catalog against the real schema at start; never rows. A workspace with
// no schema or file is ErrNotFound.
func (t *TenantReader) Tables(ctx context.Context, w Workspace) (map[string][]string, error) {
	tables, err := t.r.Tables(ctx, tenantdb.Workspace{Slug: w.Slug, DSN: w.DSN})
	if errors.Is(err, tenantdb.ErrNotFound) {
		return nil, fmt.Errorf("workspace %s: %w", w.Slug, ErrNotFound)
	}
	return tables, err
}

// TenantSchema is the PostgreSQL schema holding workspace slug's data.
func TenantSchema(slug string) (string, error) { return tenantdb.SchemaName(slug) }
