package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// deletionSettleAfter is how long a started deletion may run before the
// retention job takes it for failed and settles it.
const deletionSettleAfter = 10 * time.Minute

// settleDeletion ends a deletion of slug that started but was not
// recorded as done, by what is left of the data. Data still there, or a
// legal hold in force: the deletion stopped (workspace.deletion_stopped;
// the registry is left alone). Data gone: the registry entry is marked
// deleted if it is not yet, any leftover SQLite files are removed, and
// the deletion recorded (workspace.deleted, its report saying the row
// counts were not taken). why goes in the event. It reports whether it
// recorded a deletion; a deletion not marked started (or settled
// meanwhile) is left alone.
func settleDeletion(ctx context.Context, at Stores, act Act, slug, why string) (bool, error) {
	db, product, tenantsDir, now, by := at.Portal, at.Product, at.TenantsDir, act.Now, act.By
	store := tenantStore(product, product.Read.WithContext(ctx), tenantsDir)
	gone, err := store.Gone(ctx, slug)
	if err != nil {
		return false, err
	}
	holds, err := ListHolds(ctx, db.Read, slug, false)
	if err != nil {
		return false, err
	}
	if !gone || len(holds) > 0 {
		if gone {
			why += "; the data is missing, but a legal hold is in force, so the registry entry was left as it is"
		}
		return false, stopDeletion(ctx, db.Write, now, by, slug, why)
	}
	loc, _ := store.Location(slug)
	rep := DeletionReport{Slug: slug, Engine: product.Dialect, Location: loc, Tables: []TableRows{}, CountsUnknown: true,
		Rule: "The deletion's own record failed; the data was found gone when it was settled.", DeletedAt: now.UTC(), DeletedBy: by.Email}
	if product.Dialect == SQLite {
		if rep.Files, err = store.RemoveLeftovers(slug); err != nil {
			return false, err
		}
	}
	if err := product.Write.WithContext(ctx).Exec("UPDATE workspaces SET status = ? WHERE slug = ? AND status <> ?",
		WorkspaceDeleted, slug, WorkspaceDeleted).Error; err != nil {
		return false, fmt.Errorf("registry: %w", err)
	}
	err = db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rec RetentionRecord
		if err := tx.Where("slug = ? AND deleted_at IS NULL AND deletion_started_at IS NOT NULL", slug).Limit(1).Find(&rec).Error; err != nil || rec.Slug == "" {
			return err
		}
		var req DeletionRequest
		if err := tx.Where("slug = ? AND status = ?", slug, DeletionConfirmed).Order("id DESC").Limit(1).Find(&req).Error; err != nil {
			return err
		}
		if req.ID != 0 {
			rep.RequestID = &req.ID
		}
		return recordDeletion(ctx, tx, now, by, &rep, why)
	})
	return err == nil, err
}

// SettleDeletions settles every deletion that started more than ten
// minutes before now and was never recorded as done or stopped (the
// portal stopped, or its database failed, in the middle of one): see
// settleDeletion. It returns how many it settled, as deleted or as
// stopped; one that fails does not keep the others from being settled.
func SettleDeletions(ctx context.Context, at Stores, now time.Time) (int, error) {
	var stale []RetentionRecord
	if err := at.Portal.Read.WithContext(ctx).Where("deleted_at IS NULL AND deletion_started_at IS NOT NULL AND deletion_started_at < ?",
		now.Add(-deletionSettleAfter).UTC()).Find(&stale).Error; err != nil {
		return 0, fmt.Errorf("started deletions: %w", err)
	}
	n := 0
	var errs []error
	for _, r := range stale {
		why := fmt.Sprintf("the deletion started at %s did not finish; settled by the retention job", r.DeletionStartedAt.UTC().Format(time.RFC3339))
		if _, err := settleDeletion(ctx, at, Act{Now: now, By: SystemActor}, r.Slug, why); err != nil {
			errs = append(errs, fmt.Errorf("settle deletion of %s: %w", r.Slug, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
