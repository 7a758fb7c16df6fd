package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ExpiryWarning is how long before a grant ends its grantee is warned.
const ExpiryWarning = 15 * time.Minute

// SweepResult counts what one sweep did.
type SweepResult struct {
	Expired, Warned, Ended int
}

// Sweep moves the request workflow forward in time: it expires requests
// nobody decided on, warns of grants about to end, and closes grants that
// have ended (by time or otherwise), telling the requester and grantee
// and sending the owners a summary of what was viewed. Each step is a
// conditional update in its own transaction, so sweeps running at once on
// several replicas do every step once. owners returns a workspace's
// owners from the registry.
func Sweep(ctx context.Context, db *gorm.DB, now time.Time, post Post, owners func(ctx context.Context, workspace string) ([]string, error)) (SweepResult, error) {
	var res SweepResult
	var errs []error
	var due []AccessRequest
	err := db.WithContext(ctx).Where("(status = ? AND expires_at <= ?) OR (status = ? AND consent_deadline <= ?)",
		RequestPending, now.UTC(), RequestApproved, now.UTC()).Order("id").Limit(500).Find(&due).Error
	if err != nil {
		return res, fmt.Errorf("due requests: %w", err)
	}
	for _, r := range due {
		won, err := once(ctx, db, func(tx *gorm.DB) (bool, error) {
			q := tx.Model(&AccessRequest{}).Where("id = ? AND status = ?", r.ID, r.Status)
			if r.Status == RequestApproved {
				q = q.Where("consent_deadline <= ?", now.UTC())
			} else {
				q = q.Where("expires_at <= ?", now.UTC())
			}
			u := q.Updates(map[string]any{"status": RequestExpired, "updated_at": now.UTC()})
			if u.Error != nil || u.RowsAffected == 0 {
				return false, u.Error
			}
			why := "nobody approved it in time"
			if r.Status == RequestApproved {
				why = "the customer did not answer in time"
			}
			r.Status = RequestExpired
			if _, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: SystemActor, Action: ActionRequestExpired, Workspace: r.Workspace, Target: r.Target(), Reason: why}); err != nil {
				return false, err
			}
			return true, notifyStaff(ctx, tx, now, post, r, string(RequestExpired))
		})
		if err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			// One bad item must not stall every later one: report it
			// and go on.
			errs = append(errs, err)
			continue
		}
		if won {
			res.Expired++
		}
	}

	var soon []Grant
	err = db.WithContext(ctx).Where("request_id IS NOT NULL AND warned_at IS NULL AND ended_at IS NULL AND ends_at > ? AND ends_at <= ?",
		now.UTC(), now.Add(ExpiryWarning).UTC()).Order("id").Limit(500).Find(&soon).Error
	if err != nil {
		return res, fmt.Errorf("grants ending soon: %w", err)
	}
	for _, g := range soon {
		won, err := once(ctx, db, func(tx *gorm.DB) (bool, error) {
			u := tx.Model(&Grant{}).Where("id = ? AND warned_at IS NULL", g.ID).Update("warned_at", now.UTC())
			if u.Error != nil || u.RowsAffected == 0 {
				return false, u.Error
			}
			r, err := FindRequest(ctx, tx, *g.RequestID)
			if err != nil {
				return false, err
			}
			return true, notifyStaff(ctx, tx, now, post, r, "expiring")
		})
		if err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			// One bad item must not stall every later one: report it
			// and go on.
			errs = append(errs, err)
			continue
		}
		if won {
			res.Warned++
		}
	}

	var ended []Grant
	err = db.WithContext(ctx).Where("ended_notified_at IS NULL AND (ended_at IS NOT NULL OR ends_at <= ?)", now.UTC()).
		Order("id").Limit(500).Find(&ended).Error
	if err != nil {
		return res, fmt.Errorf("ended grants: %w", err)
	}
	for _, g := range ended {
		to, err := owners(ctx, g.Workspace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		won, err := once(ctx, db, func(tx *gorm.DB) (bool, error) {
			u := tx.Model(&Grant{}).Where("id = ? AND ended_notified_at IS NULL", g.ID).Update("ended_notified_at", now.UTC())
			if u.Error != nil || u.RowsAffected == 0 {
				return false, u.Error
			}
			if g.EndedAt == nil {
				// Ended by time: record it as such.
				u := tx.Model(&Grant{}).Where("id = ? AND ended_at IS NULL", g.ID).
					Updates(map[string]any{"ended_at": g.EndsAt, "ended_by": SystemActor.Email, "ended_why": "expired"})
				if u.Error != nil {
					return false, u.Error
				}
				target := ""
				if g.RequestID != nil {
					target = RequestTarget(*g.RequestID)
				}
				if _, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: SystemActor, Action: ActionGrantExpired, Workspace: g.Workspace, GrantID: &g.ID, BreakglassID: g.BreakglassID, Target: target, Reason: "expired"}); err != nil {
					return false, err
				}
			}
			viewed, err := GrantViews(ctx, tx, g.Workspace, g.ID, 1000)
			if err != nil {
				return false, err
			}
			for _, owner := range to {
				n := ViewSummaryNotice{Grant: g, Name: post.name(g.Workspace), Owner: owner, Viewed: viewed}
				if err := post.send(ctx, tx, now, n); err != nil {
					return false, err
				}
			}
			if g.RequestID == nil {
				return true, nil
			}
			r, err := FindRequest(ctx, tx, *g.RequestID)
			if err != nil {
				return false, err
			}
			return true, notifyStaff(ctx, tx, now, post, r, "ended")
		})
		if err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			// One bad item must not stall every later one: report it
			// and go on.
			errs = append(errs, err)
			continue
		}
		if won {
			res.Ended++
		}
	}
	return res, errors.Join(errs...)
}

// once runs step in a transaction; step reports whether it made the
// change (false when another sweeper got there first).
func once(ctx context.Context, db *gorm.DB, step func(tx *gorm.DB) (bool, error)) (bool, error) {
	won := false
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		won, err = step(tx)
		return err
	})
	if err != nil {
		return false, err // rolled back: nothing was done
	}
	return won, nil
}
