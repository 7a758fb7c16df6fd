package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/models"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// retentionHistory is how far retention had got with the demo's idle free
// workspaces before the demo's now: 1 = first notice sent, 2 = marked with
// the second notice. With the registry's dates this puts a workspace in
// every retention state: initrode notice_due, dunder noticed, prestige
// mark_due, gringotts marked, nakatomi deletion_due, monsters held (see
// retentionHold); the cancelled ones are cancelled (vandelay, tyrell,
// kwik-e) or deletion_due (soylent); oceanic's first notice is due
// tomorrow.
var retentionHistory = map[string]int{"dunder": 1, "prestige": 1, "gringotts": 2, "monsters": 2, "nakatomi": 2}

// retentionHold is the demo's legal hold.
var retentionHold = struct{ slug, reference, reason string }{
	"monsters", "LEGAL-2026-014", "Counsel asked us to keep this workspace's data during a dispute.",
}

// SeedRetention records the notices retention would have sent the demo's
// idle free workspaces, each step on its policy day after the last login,
// and places the demo's legal hold, so the retention queue shows every
// state. It leaves existing records and holds alone. A deletion request
// (state deletion_requested) needs letters and is not seeded.
func SeedRetention(ctx context.Context, db *models.DB, product *gorm.DB, now time.Time, p models.RetentionPolicy) error {
	for slug, steps := range retentionHistory {
		w, err := models.FindWorkspace(ctx, product, slug)
		if err != nil {
			return fmt.Errorf("seed retention: %w", err)
		}
		rec, err := models.FindRetentionRecord(ctx, db.Read, slug)
		if err != nil {
			return err
		}
		if !rec.UpdatedAt.IsZero() {
			continue
		}
		since := w.CreatedAt
		if w.LastLoginAt != nil {
			since = *w.LastLoginAt
		}
		noticed := since.Add(p.FreeNotice).UTC()
		rec = models.RetentionRecord{Slug: slug, NoticedAt: &noticed, UpdatedAt: now.UTC()}
		events := []models.AuditEntry{retentionEvent(w, since, noticed, models.ActionRetentionNoticed, p)}
		if steps > 1 {
			marked := since.Add(p.FreeMark).UTC()
			rec.MarkedAt, rec.SecondNoticedAt = &marked, &marked
			events = append(events, retentionEvent(w, since, marked, models.ActionRetentionMarked, p))
		}
		// The history says what the record says: each notice has its event.
		err = db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&rec).Error; err != nil {
				return err
			}
			for _, e := range events {
				if _, err := models.AppendAudit(ctx, tx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed retention of %s: %w", slug, err)
		}
	}
	holds, err := models.ListHolds(ctx, db.Read, retentionHold.slug, true)
	if err != nil || len(holds) > 0 {
		return err
	}
	by := models.Actor{Email: "ada.sysadmin@" + Domain, Tier: string(policy.TierSysadmin)}
	_, err = models.PlaceHold(ctx, db.Write, models.Act{Now: now.Add(-20 * models.Day), By: by}, retentionHold.slug, retentionHold.reference, retentionHold.reason)
	if errors.Is(err, models.ErrConflict) {
		return nil // deleted already
	}
	return err
}

// retentionEvent is the event the retention job writes when it sends a
// notice (action) to w's owners at, as the seed's history of it. The demo
// mails nobody, and the detail says so.
func retentionEvent(w models.Workspace, since, at time.Time, action models.Action, p models.RetentionPolicy) models.AuditEntry {
	st := models.EvaluateRetention(w, models.RetentionRecord{Slug: w.Slug}, nil, nil, at, p)
	return models.AuditEntry{
		At: at, Actor: models.SystemActor, Action: action, Workspace: w.Slug, Target: "retention/" + w.Slug, Reason: st.Rule,
		Detail: map[string]any{"since": since.UTC().Format(time.DateOnly), "seeded": "demo history; no mail was sent"},
	}
}

// demoDeletion is the demo's customer deletion request: a workspace of
// several members, so it waits for two owners' confirmations.
var demoDeletion = struct{ slug, requester, note string }{
	"hooli", "sam.support@" + Domain, "SUP-4711: Gavin asked by email to delete the Hooli workspace and all of its data.",
}

// SeedDeletionRequest records the demo's deletion request and mails its
// owners (through post), unless the workspace ever had one, so the
// retention queue shows a request waiting for confirmations.
func SeedDeletionRequest(ctx context.Context, db *models.DB, product *gorm.DB, now time.Time, p models.RetentionPolicy, post models.Post) error {
	reqs, err := models.ListDeletionRequests(ctx, db.Read, demoDeletion.slug)
	if err != nil || len(reqs) > 0 {
		return err
	}
	sam, err := models.FindStaffByEmail(ctx, db.Read, demoDeletion.requester)
	if err != nil {
		return err
	}
	by := models.Actor{Email: sam.Email, Tier: string(sam.Tier)}
	_, err = models.CreateDeletionRequest(ctx, db.Write, product, models.Act{Now: now, By: by}, post,
		models.NewDeletionRequest{Slug: demoDeletion.slug, Requester: sam, Note: demoDeletion.note, Valid: p.DeletionRequestValid})
	return err
}

// demoDeleted is the demo workspace that has been deleted: soylent, a
// cancelled paid workspace past its 90 days.
const demoDeleted = "soylent"

// SeedDeletedWorkspace deletes the demo's soylent as ada.sysadmin three
// days before now (its data kept 90 days after the cancellation, 95 days
// ago), through the real deletion, unless it is deleted already, so the
// demo shows a deleted workspace with its report.
func SeedDeletedWorkspace(ctx context.Context, db, product *models.DB, tenantsDir string, now time.Time, p models.RetentionPolicy) error {
	rec, err := models.FindRetentionRecord(ctx, db.Read, demoDeleted)
	if err != nil || rec.DeletedAt != nil {
		return err
	}
	by := models.Actor{Email: "ada.sysadmin@" + Domain, Tier: string(policy.TierSysadmin)}
	_, err = models.DeleteWorkspace(ctx, models.Stores{Portal: db, Product: product, TenantsDir: tenantsDir}, models.Act{Now: now.Add(-3 * models.Day), By: by}, demoDeleted, p)
	return err
}
