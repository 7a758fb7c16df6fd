package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// harborRegistry seeds the demo registry on PostgreSQL and adds n
// workspaces ws-1… named "Harbor 1"…, in region eu, each owned by
// o1@harbor.example…, with the tables analyzed.
func harborRegistry(t *testing.T, db *models.DB, n int) {
	t.Helper()
	ctx := context.Background()
	if err := demo.SeedProduct(ctx, db.Write, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO workspaces (slug, name, plan, region, status, member_count, created_at, subscription_state)
SELECT 'ws-' || g, 'Harbor ' || g, 'team', 'eu', 'active', 3, now(), 'active' FROM generate_series(1, ?) g`,
		`INSERT INTO workspace_owners (slug, email) SELECT 'ws-' || g, 'o' || g || '@harbor.example' FROM generate_series(1, ?) g`,
	} {
		if err := db.Write.Exec(q, n).Error; err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"ANALYZE workspaces", "ANALYZE workspace_owners"} {
		if err := db.Write.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// TestRegistryListsSkipTrigrams: on PostgreSQL the registry's lookups by a
// list of slugs never read the search's trigram indexes, even planned
// generically (as PostgreSQL may plan a statement the driver keeps
// prepared, after five runs). The same lookup written "slug IN (…)" does
// read them under a generic plan: the check that the count below sees a
// trigram read when there is one.
func TestRegistryListsSkipTrigrams(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		if db.Dialect != models.Postgres {
			t.Skip("the trigram indexes are PostgreSQL's")
		}
		ctx := context.Background()
		harborRegistry(t, db, 5000)
		slugs := []string{"ws-1", "ws-20", "ws-300", "ws-4000"}
		eu, err := policy.ParseScope("region=eu")
		if err != nil {
			t.Fatal(err)
		}
		// trigramReads runs do in a transaction planning generically and
		// returns how many scans of the trigram indexes it made (the
		// backend's counts not yet reported, read before and after).
		trigramReads := func(do func(tx *gorm.DB) error) int64 {
			t.Helper()
			var before, after int64
			err := db.Read.Transaction(func(tx *gorm.DB) error {
				count := func(n *int64) error {
					return tx.Raw(`SELECT COALESCE(SUM(pg_stat_get_xact_numscans(c.oid)), 0) FROM pg_class c
WHERE c.relname IN ('workspaces_name_trgm', 'workspaces_slug_trgm', 'workspace_owners_email_trgm')`).Scan(n).Error
				}
				if err := tx.Exec("SET LOCAL plan_cache_mode = force_generic_plan").Error; err != nil {
					return err
				}
				if err := count(&before); err != nil {
					return err
				}
				if err := do(tx); err != nil {
					return err
				}
				return count(&after)
			})
			if err != nil {
				t.Fatal(err)
			}
			return after - before
		}
		if n := trigramReads(func(tx *gorm.DB) error {
			var names []string
			return tx.Model(&models.Workspace{}).Where("slug IN ?", slugs).Pluck("name", &names).Error
		}); n == 0 {
			t.Fatal(`"slug IN (…)" planned generically read no trigram index: the count below cannot tell`)
		}
		lookups := map[string]func(tx *gorm.DB) error{
			"WorkspaceNamesOf": func(tx *gorm.DB) error {
				names, err := models.WorkspaceNamesOf(ctx, tx, slugs)
				if err == nil && len(names) != len(slugs) {
					err = fmt.Errorf("names %v", names)
				}
				return err
			},
			"OwnersOf": func(tx *gorm.DB) error {
				owners, err := models.OwnersOf(ctx, tx, slugs)
				if err == nil && (len(owners) != len(slugs) || owners["ws-20"][0] != "o20@harbor.example") {
					err = fmt.Errorf("owners %v", owners)
				}
				return err
			},
			"WorkspacesAdmitted": func(tx *gorm.DB) error {
				in, err := models.WorkspacesAdmitted(ctx, tx, eu, slugs)
				if err == nil && len(in) != len(slugs) {
					err = fmt.Errorf("admitted %v", in)
				}
				return err
			},
		}
		for name, do := range lookups {
			if n := trigramReads(do); n != 0 {
				t.Errorf("%s planned generically read the trigram indexes %d times", name, n)
			}
		}
	})
}
