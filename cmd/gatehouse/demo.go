package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/models/demo"
)

// seedDemo adds the demo data --dev runs with, where it is missing: the
// demo staff, the product's registry and each workspace's data, the
// retention history, the deleted workspace and the quarter's access
// review in progress. Data that is there is only
// read, so a portal role without rights on the product's tables starts on
// a database the owning role seeded (`gatehouse migrate --dev`).
func seedDemo(ctx context.Context, cfg Config, db, product *models.DB, tenantsDir string) error {
	now := time.Now()
	if err := demo.SeedStaff(ctx, db, now); err != nil {
		return fmt.Errorf("demo staff: %w", err)
	}
	if err := demo.SeedProduct(ctx, product.Write, now); err != nil {
		return fmt.Errorf("demo workspaces: %w", err)
	}
	target := demo.TenantTarget{SQLiteDir: tenantsDir}
	if product.Dialect == models.Postgres {
		target = demo.TenantTarget{Postgres: product.Write}
	} else if err := os.MkdirAll(tenantsDir, 0o700); err != nil {
		return err
	}
	// A workspace deleted in an earlier run stays deleted: its data is
	// not seeded again.
	var deleted []string
	if err := product.Read.WithContext(ctx).Model(&models.Workspace{}).Where("status = ?", models.WorkspaceDeleted).Pluck("slug", &deleted).Error; err != nil {
		return err
	}
	slugs := slices.DeleteFunc(demo.WorkspaceSlugs(), func(slug string) bool { return slices.Contains(deleted, slug) })
	if err := demo.SeedTenants(ctx, target, slugs, now); err != nil {
		return fmt.Errorf("demo tenant data: %w", err)
	}
	if err := demo.SeedRetention(ctx, db, product.Read, now, cfg.Retention); err != nil {
		return fmt.Errorf("demo retention: %w", err)
	}
	if err := demo.SeedDeletedWorkspace(ctx, db, product, tenantsDir, now, cfg.Retention); err != nil {
		return fmt.Errorf("demo deletion: %w", err)
	}
	if err := demo.SeedAccessReview(ctx, db, now); err != nil {
		return fmt.Errorf("demo access review: %w", err)
	}
	return nil
}

// seedDemoRequest adds the customer's deletion request waiting for its
// owners, so the retention queue shows that state too, the demo's
// alerts, the closed incident with its notices and globex's transparency
// report for last month; they mail people, so they need the letters.
func seedDemoRequest(ctx context.Context, cfg Config, db, product *models.DB, post models.Post) error {
	if err := demo.SeedDeletionRequest(ctx, db, product.Read, time.Now(), cfg.Retention, post); err != nil {
		return fmt.Errorf("demo deletion request: %w", err)
	}
	if err := demo.SeedAlerts(ctx, db, cfg.Detection.Rules, post, time.Now()); err != nil {
		return fmt.Errorf("demo alerts: %w", err)
	}
	if err := demo.SeedIncident(ctx, db, product.Read, time.Now(), post); err != nil {
		return fmt.Errorf("demo incident: %w", err)
	}
	if err := demo.SeedTransparencyReport(ctx, db, product, time.Now(), post); err != nil {
		return fmt.Errorf("demo transparency report: %w", err)
	}
	return nil
}

// migrateDemo is the demo half of `migrate --dev`: it seeds what serve
// --dev would, so that the owning role seeds a database a portal role
// with fewer rights then serves.
func migrateDemo(ctx context.Context, cfg Config, db *models.DB) error {
	if err := cfg.devKeys(); err != nil {
		return err
	}
	product, err := models.Open(ctx, cfg.ProductDatabaseURL)
	if err != nil {
		return fmt.Errorf("product database: %w", err)
	}
	defer product.Close()
	if err := seedDemo(ctx, cfg, db, product, tenantStorage(cfg, product).SQLiteDir); err != nil {
		return err
	}
	outbox, err := models.NewOutbox(cfg.SessionKey)
	if err != nil {
		return err
	}
	post := models.Post{Outbox: outbox, Letters: letters.New(cfg.Company, cfg.BaseURL, time.Now)}
	return seedDemoRequest(ctx, cfg, db, product, post)
}
