package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// Workspace is a customer workspace as the product's registry describes
// it: general information only, never payment data. The registry belongs
// to the product; Gatehouse only reads it.
type Workspace struct {
	Slug              string `gorm:"primaryKey"`
	Name              string
	Plan              string // free, team, business, enterprise
	Region            string // where it is hosted: eu, us, uk, ...; "" matches no scope
	Status            string // active, cancelled, free
	MemberCount       int
	CreatedAt         time.Time
	LastLoginAt       *time.Time
	CancelledAt       *time.Time
	SubscriptionState string // trialing, active, past_due, cancelled, none
	RenewalDate       *time.Time
	DSN               string `gorm:"column:dsn"` // set for workspaces on their own database server
}

// TableName is the registry table's name in the product database.
func (Workspace) TableName() string { return "workspaces" }

// WorkspaceOwner is an owner or admin of a workspace, who decides on
// access to it.
type WorkspaceOwner struct {
	Slug  string `gorm:"primaryKey"`
	Email string `gorm:"primaryKey"`
}

// TableName is the owners table's name in the product database.
func (WorkspaceOwner) TableName() string { return "workspace_owners" }

// CountWorkspaces counts the workspaces in the registry.
func CountWorkspaces(ctx context.Context, product *gorm.DB) (int64, error) {
	var n int64
	if err := product.WithContext(ctx).Model(&Workspace{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count workspaces: %w", err)
	}
	return n, nil
}

// estimateFrom is the registry size from which EstimateWorkspaces gives
// PostgreSQL's estimate rather than a count.
const estimateFrom = 10000

// EstimateWorkspaces is the registry's size for the dashboard: on
// PostgreSQL, once the registry holds estimateFrom workspaces or more, the
// planner's estimate (pg_class.reltuples, kept by ANALYZE and autovacuum),
// one row instead of a count of the whole registry, and about is true;
// otherwise an exact count.
func EstimateWorkspaces(ctx context.Context, product *gorm.DB) (n int64, about bool, err error) {
	if n, about, err = estimateRegistry(ctx, product); err != nil || about {
		return n, about, err
	}
	n, err = CountWorkspaces(ctx, product)
	return n, false, err
}

// estimateRegistry is PostgreSQL's estimate of the registry's size when
// it is estimateFrom or more; about is false otherwise.
func estimateRegistry(ctx context.Context, product *gorm.DB) (n int64, about bool, err error) {
	if product.Dialector.Name() != "postgres" {
		return 0, false, nil
	}
	est, err := estimateRows(ctx, product, "workspaces")
	if err != nil {
		return 0, false, err
	}
	if est >= estimateFrom {
		return int64(est), true, nil
	}
	return 0, false, nil
}

// estimateRows is PostgreSQL's estimate of how many rows table holds
// (pg_class.reltuples): -1 for a table never analyzed.
func estimateRows(ctx context.Context, db *gorm.DB, table string) (float64, error) {
	var est float64
	if err := db.WithContext(ctx).Raw("SELECT COALESCE((SELECT reltuples FROM pg_class WHERE oid = to_regclass(?)), -1)", table).Row().Scan(&est); err != nil {
		return 0, fmt.Errorf("estimate %s: %w", table, err)
	}
	return est, nil
}

// EstimateWorkspacesIn is EstimateWorkspaces for a reader limited to sc:
// for a restricted scope, a count of what it admits, capped at CountCap.
func EstimateWorkspacesIn(ctx context.Context, product *gorm.DB, sc policy.Scope) (n int64, about bool, err error) {
	if sc.Unrestricted() {
		return EstimateWorkspaces(ctx, product)
	}
	c, err := countCapped(ctx, product, scopeWhere(product.WithContext(ctx).Model(&Workspace{}), sc))
	if err != nil {
		return 0, false, fmt.Errorf("count workspaces in scope: %w", err)
	}
	return c.N, c.Capped, nil
}

// FindWorkspace returns the registry entry of slug, or a wrapped
// ErrNotFound.
func FindWorkspace(ctx context.Context, product *gorm.DB, slug string) (Workspace, error) {
	var w Workspace
	err := takeRow(ctx, product, &w, "SELECT * FROM workspaces WHERE slug = ?", slug)
	if errors.Is(err, ErrNotFound) {
		return Workspace{}, fmt.Errorf("workspace %q: %w", slug, ErrNotFound)
	}
	if err != nil {
		return Workspace{}, fmt.Errorf("find workspace %q: %w", slug, err)
	}
	return w, nil
}

// FindLiveWorkspace is FindWorkspace for the paths that open access to a
// workspace's data (requests, break-glass, data pages): a deleted
// workspace is not found there.
func FindLiveWorkspace(ctx context.Context, product *gorm.DB, slug string) (Workspace, error) {
	w, err := FindWorkspace(ctx, product, slug)
	if err == nil && w.Status == WorkspaceDeleted {
		return Workspace{}, fmt.Errorf("workspace %q was deleted: %w", slug, ErrNotFound)
	}
	return w, err
}

// SearchWorkspaces returns the first limit workspaces sc admits, ordered
// by slug, whose name, slug or an owner's email contains query (any
// case; all when query is empty). It counts nothing.
func SearchWorkspaces(ctx context.Context, product *gorm.DB, sc policy.Scope, query string, limit int) ([]Workspace, error) {
	f := WorkspaceFilter{Query: query}
	if err := f.Check(); err != nil {
		return nil, err
	}
	q := scopeWhere(f.where(product, product.WithContext(ctx).Model(&Workspace{})), sc)
	var out []Workspace
	if err := q.Order("slug").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("search workspaces: %w", err)
	}
	return out, nil
}

// Owners returns the owners' emails of workspace slug, sorted.
func Owners(ctx context.Context, product *gorm.DB, slug string) ([]string, error) {
	owners, err := OwnersOf(ctx, product, []string{slug})
	if err != nil {
		return nil, fmt.Errorf("owners of %q: %w", slug, err)
	}
	return owners[slug], nil
}

// WorkspaceNamesOf returns the names of the workspaces slugs, by slug, in
// one query; a slug the registry does not know is left out.
func WorkspaceNamesOf(ctx context.Context, product *gorm.DB, slugs []string) (map[string]string, error) {
	out := make(map[string]string, len(slugs))
	if len(slugs) == 0 {
		return out, nil
	}
	var rows []Workspace
	set, arg := jsonSlugs(product, slugs)
	if err := product.WithContext(ctx).Select("slug", "name").Where("slug IN "+set, arg).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("workspace names: %w", err)
	}
	for _, w := range rows {
		out[w.Slug] = w.Name
	}
	return out, nil
}

// OwnersOf returns the owners of the workspaces slugs, by slug, each
// sorted, in one query; a workspace without owners is left out.
func OwnersOf(ctx context.Context, product *gorm.DB, slugs []string) (map[string][]string, error) {
	out := make(map[string][]string, len(slugs))
	if len(slugs) == 0 {
		return out, nil
	}
	var rows []WorkspaceOwner
	set, arg := jsonSlugs(product, slugs)
	if err := product.WithContext(ctx).Select("slug", "email").Where("slug IN "+set, arg).Order("slug, email").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("owners: %w", err)
	}
	for _, o := range rows {
		out[o.Slug] = append(out[o.Slug], o.Email)
	}
	return out, nil
}

// jsonSlugs is slugs as one JSON array parameter, and the SQL that reads
// it as a set: a list of any length in one bound value. Every lookup of
// the registry by a list of slugs goes through it. On PostgreSQL
// "slug IN ($1, …, $n)" is a prepared statement per length, and after
// five runs PostgreSQL may plan it generically, without the values: that
// plan reads the slugs from the search's trigram index
// (workspaces_slug_trgm; pg_trgm serves "=" too), not the primary key. It
// costs a scan of the index's pending list for each slug: 1,000 names took
// 7 s of PostgreSQL's CPU on a registry just loaded, against 10 ms. The
// set is a semi-join the trigram index cannot serve.
func jsonSlugs(db *gorm.DB, slugs []string) (string, string) {
	b, _ := json.Marshal(slugs)
	if slugs == nil {
		b = []byte("[]")
	}
	if db.Dialector.Name() == "postgres" {
		return "(SELECT jsonb_array_elements_text(CAST(? AS jsonb)))", string(b)
	}
	return "(SELECT value FROM json_each(?))", string(b)
}
