package models

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// WorkspacePlans and WorkspaceStatuses are the registry's plans and
// statuses, as /workspaces filters by them.
var (
	WorkspacePlans    = []string{"free", "team", "business", "enterprise"}
	WorkspaceStatuses = []string{WorkspaceActive, WorkspaceFree, WorkspaceCancelled, WorkspaceDeleted}
)

// WorkspaceSorts are the orders /workspaces offers; the first is the
// default. The registry is the product's: it should index each column
// with slug (the demo registry does).
var WorkspaceSorts = []SortKey{
	{Name: "name", Column: "name"},
	{Name: "slug", Column: "slug"},
	{Name: "created", Column: "created_at", Kind: SortTime, Desc: true},
	{Name: "members", Column: "member_count", Kind: SortInt, Desc: true},
}

// WorkspaceFilter selects workspaces; zero fields match everything.
type WorkspaceFilter struct {
	Query     string // part of the name, slug or an owner's email, any case
	Plan      string
	Status    string
	Retention RetentionState
}

// where applies the registry's filters to q.
func (f WorkspaceFilter) where(product, q *gorm.DB) *gorm.DB {
	if query := strings.ToLower(strings.TrimSpace(f.Query)); query != "" {
		like := "%" + escapeLike(query) + "%"
		owners := product.Model(&WorkspaceOwner{}).Select("slug").Where("LOWER(email) LIKE ? ESCAPE '\\'", like)
		q = q.Where("(LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(slug) LIKE ? ESCAPE '\\' OR slug IN (?))", like, like, owners)
	}
	if f.Plan != "" {
		q = q.Where("plan = ?", f.Plan)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	return q
}

// WorkspaceList reads /workspaces: the registry, and for the retention
// filter what retention recorded.
type WorkspaceList struct {
	DB      *gorm.DB // the portal's database
	Product *gorm.DB // the registry
	Now     time.Time
	Policy  RetentionPolicy
}

// Page returns one page of the workspaces f matches, sorted and paged by
// k, and how many match (capped). A retention state is computed, not
// stored: RetentionClasses turns it into one exact condition over the
// registry.
func (l WorkspaceList) Page(ctx context.Context, f WorkspaceFilter, k Keyset) (Page[Workspace], Count, error) {
	q := f.where(l.Product, l.Product.WithContext(ctx).Model(&Workspace{}))
	cursor := func(w Workspace) Cursor { return Cursor{Value: w.sortValue(k.Sort.Name), ID: w.Slug} }
	if f.Retention != "" {
		classes := &RetentionClasses{DB: l.DB, Product: l.Product, Now: l.Now, Policy: l.Policy}
		var err error
		if q, err = classes.where(ctx, q, f.Retention); err != nil {
			return Page[Workspace]{}, Count{}, err
		}
	}
	q = q.Session(&gorm.Session{})
	n, err := countCapped(ctx, l.Product, q)
	if err != nil {
		return Page[Workspace]{}, Count{}, fmt.Errorf("count workspaces: %w", err)
	}
	page, err := findKeyset(ctx, q, k, "slug", false, cursor)
	if err != nil {
		return page, n, fmt.Errorf("list workspaces: %w", err)
	}
	return page, n, nil
}

// sortValue is w's value of sort key name, as a cursor holds it.
func (w Workspace) sortValue(name string) string {
	switch name {
	case "name":
		return w.Name
	case "created":
		return timeCursor(w.CreatedAt)
	case "members":
		return strconv.Itoa(w.MemberCount)
	}
	return w.Slug
}
