package models_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// TestWorkspaceSearch checks the workspace search against the demo
// registry on each engine: a substring of the name, the slug or an
// owner's email, in any case, with LIKE's wildcards and FTS5's quotes
// taken literally; the index kept in step as the registry changes; a
// search shorter than 3 characters refused; and on PostgreSQL, each arm
// of the search read from its trigram index.
func TestWorkspaceSearch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
			t.Fatal(err)
		}
		list := models.WorkspaceList{DB: db.Read, Product: db.Read, Now: now, Policy: models.DefaultRetentionPolicy()}
		search := func(q string) ([]string, error) {
			t.Helper()
			p, n, err := list.Page(ctx, models.WorkspaceFilter{Query: q}, models.Keyset{Sort: models.WorkspaceSorts[1], Limit: 100})
			if err != nil {
				return nil, err
			}
			var slugs []string
			for _, w := range p.Rows {
				slugs = append(slugs, w.Slug)
			}
			if n.N != int64(len(slugs)) {
				t.Errorf("search %q counted %+v, listed %d", q, n, len(slugs))
			}
			ws, err := models.SearchWorkspaces(ctx, db.Read, policy.Scope{}, q, 100)
			if err != nil {
				t.Fatal(err)
			}
			var again []string
			for _, w := range ws {
				again = append(again, w.Slug)
			}
			if !slices.Equal(again, slugs) {
				t.Errorf("SearchWorkspaces(%q) = %v, the list %v", q, again, slugs)
			}
			return slugs, nil
		}
		check := func(q string, want ...string) {
			t.Helper()
			got, err := search(q)
			if err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("search %q = %v, want %v", q, got, want)
			}
		}
		check("acme", "acme")
		check("CORPORATION", "acme")
		check("cme Corp", "acme")
		check("dyn", "cyberdyne", "massive")
		check("black-m", "black-mesa")
		check("pepper@", "stark")
		check("hooli.EXAMPLE", "hooli")
		check("piedpiper.ex", "pied-piper")
		check("%%%")
		check("a_m")
		check(`e"s`)
		check(`"acme"`)
		check("zzzz")

		for _, q := range []string{"ac", "é", "%", " a "} {
			if _, err := search(q); !errors.Is(err, models.ErrSearchTooShort) {
				t.Errorf("search %q: %v, want ErrSearchTooShort", q, err)
			}
		}

		// The index follows the registry: a new workspace and owner, a
		// renamed one, an owner removed.
		w := models.Workspace{Slug: "zephyr", Name: "Zephyr Analytics", Plan: "team", Status: models.WorkspaceActive, SubscriptionState: "active", CreatedAt: now}
		if err := db.Write.Create(&w).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Write.Create(&models.WorkspaceOwner{Slug: "zephyr", Email: "quinn@zephyr.example"}).Error; err != nil {
			t.Fatal(err)
		}
		check("analytics", "zephyr")
		check("quinn@", "zephyr")
		if err := db.Write.Model(&models.Workspace{}).Where("slug = ?", "zephyr").Update("name", "Boreas Metrics").Error; err != nil {
			t.Fatal(err)
		}
		check("analytics")
		check("boreas", "zephyr")
		if err := db.Write.Where("slug = ? AND email = ?", "zephyr", "quinn@zephyr.example").Delete(&models.WorkspaceOwner{}).Error; err != nil {
			t.Fatal(err)
		}
		check("quinn@")

		if db.Dialect == models.Postgres {
			// Enough rows that the plan means something, and no sequential
			// scan allowed where an index can serve.
			if err := db.Write.Exec(`INSERT INTO workspaces (slug, name, plan, status, member_count, created_at, subscription_state)
SELECT 'ws-' || md5(g::text), 'Company ' || md5((g + 1)::text), 'team', 'active', 1, now(), 'active' FROM generate_series(1, 5000) g`).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Write.Exec(`INSERT INTO workspace_owners (slug, email) SELECT 'ws-' || md5(g::text), md5((g + 2)::text) || '@example.com' FROM generate_series(1, 5000) g`).Error; err != nil {
				t.Fatal(err)
			}
			// VACUUM moves the GIN indexes' pending entries into the index
			// proper, as autovacuum would on a live registry.
			for _, table := range []string{"workspaces", "workspace_owners"} {
				if err := db.Write.Exec("VACUUM ANALYZE " + table).Error; err != nil {
					t.Fatal(err)
				}
			}
			var plan []string
			// The statement models.workspaceSearch sends, with a value.
			if err := db.Write.Connection(func(tx *gorm.DB) error {
				if err := tx.Exec("SET enable_seqscan = off").Error; err != nil {
					return err
				}
				defer tx.Exec("RESET enable_seqscan")
				return tx.Raw(`EXPLAIN SELECT slug FROM workspaces WHERE name ILIKE '%boreas%' ESCAPE '\'
UNION SELECT slug FROM workspaces WHERE slug ILIKE '%boreas%' ESCAPE '\'
UNION SELECT slug FROM workspace_owners WHERE email ILIKE '%boreas%' ESCAPE '\'`).Scan(&plan).Error
			}); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			for _, idx := range []string{"workspaces_name_trgm", "workspaces_slug_trgm", "workspace_owners_email_trgm"} {
				if !strings.Contains(text, idx) || strings.Contains(text, "Seq Scan") {
					t.Errorf("the search does not read %s:\n%s", idx, text)
				}
			}
			check("boreas", "zephyr")
		}
	})
}
