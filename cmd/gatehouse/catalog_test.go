package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"

	"gorm.io/gorm"
)

// TestCheckCatalogBoundedSample: the start-up catalog check reads at most
// 1,000 live workspaces of the registry, 50 at a time, never all of it,
// and stops at the first workspace whose data it finds.
func TestCheckCatalogBoundedSample(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
			t.Fatal(err)
		}
		// 1,200 more live workspaces, and deleted ones and ones on servers
		// of their own, which the sample passes over.
		var rows []models.Workspace
		for i := range 1300 {
			w := models.Workspace{Slug: fmt.Sprintf("bulk-%04d", i), Name: "Bulk", Plan: "team", Status: models.WorkspaceActive, CreatedAt: now, SubscriptionState: "active"}
			switch {
			case i%13 == 0:
				w.Status = models.WorkspaceDeleted
			case i%13 == 1:
				w.DSN = "postgres://elsewhere/db"
			}
			rows = append(rows, w)
		}
		if err := db.Write.CreateInBatches(rows, 200).Error; err != nil {
			t.Fatal(err)
		}
		var queries atomic.Int64
		count := func(*gorm.DB) { queries.Add(1) }
		if err := db.Read.Callback().Query().After("gorm:query").Register("count_catalog", count); err != nil {
			t.Fatal(err)
		}
		defer db.Read.Callback().Query().Remove("count_catalog")

		var seen []models.Workspace
		err := sampleWorkspaces(ctx, db.Read, func(w models.Workspace) (bool, error) {
			seen = append(seen, w)
			return false, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var live int64
		db.Read.Model(&models.Workspace{}).Where("status <> ? AND dsn = ''", models.WorkspaceDeleted).Count(&live)
		queries.Add(-1)
		if live <= 1000 {
			t.Fatalf("only %d live workspaces: the test needs more than the sample", live)
		}
		if len(seen) != 1000 || queries.Load() != 20 {
			t.Errorf("sample read %d workspaces in %d queries, want 1000 in 20 pages of 50", len(seen), queries.Load())
		}
		for i, w := range seen {
			if w.Status == models.WorkspaceDeleted || w.DSN != "" {
				t.Errorf("sample includes %s (%s, dsn %q)", w.Slug, w.Status, w.DSN)
			}
			if i > 0 && seen[i-1].Slug >= w.Slug {
				t.Errorf("sample out of slug order at %s", w.Slug)
			}
		}

		// The first workspace with data ends the sample.
		queries.Store(0)
		n := 0
		if err := sampleWorkspaces(ctx, db.Read, func(w models.Workspace) (bool, error) { n++; return n == 3, nil }); err != nil {
			t.Fatal(err)
		}
		if n != 3 || queries.Load() != 1 {
			t.Errorf("stopping at the third: %d workspaces in %d queries, want 3 in 1", n, queries.Load())
		}
	})
}
