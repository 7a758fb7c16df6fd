package models_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"

	"gorm.io/gorm"
)

// TestSweeperReadsNoRegistryWhenNothingDue: a sweeper pass with nothing
// due reads nothing of the registry (it read every workspace's name on
// every pass).
func TestSweeperReadsNoRegistryWhenNothingDue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
			t.Fatal(err)
		}
		var reads atomic.Int64
		count := func(tx *gorm.DB) {
			if tx.Statement.Table == "workspaces" {
				reads.Add(1)
			}
		}
		if err := db.Read.Callback().Query().After("gorm:query").Register("count_registry", count); err != nil {
			t.Fatal(err)
		}
		defer db.Read.Callback().Query().Remove("count_registry")
		if n, err := models.CountWorkspaces(ctx, db.Read); err != nil || n == 0 || reads.Load() != 1 {
			t.Fatalf("the counter does not see registry reads: %d workspaces, %d reads, %v", n, reads.Load(), err)
		}
		reads.Store(0)
		sw := &models.Sweeper{DB: db.Write, Product: db.Read, Now: func() time.Time { return now }}
		res, err := sw.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res != (models.SweepResult{}) || reads.Load() != 0 {
			t.Errorf("sweep with nothing due: %+v, %d registry reads, want none", res, reads.Load())
		}
	})
}
