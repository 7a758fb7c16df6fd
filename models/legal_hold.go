package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// LegalHold stops every deletion of its workspace until it is lifted.
type LegalHold struct {
	ID         int64 `gorm:"primaryKey"`
	Slug       string
	Reference  string // e.g. the case or ticket number
	Reason     string
	PlacedBy   string // staff email
	PlacedAt   time.Time
	LiftedBy   string
	LiftedAt   *time.Time
	LiftReason string
}

// TableName is the legal holds table's name.
func (LegalHold) TableName() string { return "legal_holds" }

// Live reports whether the hold is in force.
func (h LegalHold) Live() bool { return h.LiftedAt == nil }

// Target is how the audit log names the hold.
func (h LegalHold) Target() string { return "legal_hold/" + strconv.FormatInt(h.ID, 10) }

// PlaceHold places a legal hold on slug, audited; reference (a case or
// ticket) and reason are required and come back as FieldErrors. The
// caller checks that slug is in the registry and that by may do this.
func PlaceHold(ctx context.Context, db *gorm.DB, act Act, slug, reference, reason string) (LegalHold, error) {
	reference, reason = strings.TrimSpace(reference), strings.TrimSpace(reason)
	errs := FieldErrors{}
	if reference == "" || len(reference) > 100 || strings.ContainsAny(reference, "\r\n") {
		errs["reference"] = "Give the legal case or ticket reference (one line, at most 100 characters)."
	}
	if err := CheckReason(reason, 10); err != nil {
		errs["reason"] = noteMessage(err, "Say in a sentence why the data must be kept.")
	}
	if slug == "" {
		errs["workspace"] = "Choose a workspace."
	}
	if len(errs) > 0 {
		return LegalHold{}, errs
	}
	h := LegalHold{Slug: slug, Reference: reference, Reason: reason, PlacedBy: act.By.Email, PlacedAt: act.Now.UTC()}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rec, err := lockRetention(ctx, tx, slug, act.Now)
		if err != nil {
			return err
		}
		if rec.DeletedAt != nil {
			return fmt.Errorf("workspace %s was deleted on %s: %w", slug, day(*rec.DeletedAt), ErrConflict)
		}
		if err := tx.Create(&h).Error; err != nil {
			return fmt.Errorf("place hold: %w", err)
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{At: act.Now, Actor: act.By, Action: ActionLegalHoldPlaced, Workspace: slug, Target: h.Target(), Reason: reason,
			Detail: map[string]any{"reference": reference}})
		return err
	})
	if err != nil {
		return LegalHold{}, err
	}
	return h, nil
}

// LiftHold lifts hold id of workspace slug, audited; reason is required.
// Lifting a hold that is not in force is ErrConflict.
func LiftHold(ctx context.Context, db *gorm.DB, act Act, slug string, id int64, reason string) (LegalHold, error) {
	reason = strings.TrimSpace(reason)
	if err := CheckReason(reason, 10); err != nil {
		return LegalHold{}, FieldErrors{"reason": noteMessage(err, "Say in a sentence why the hold can end.")}
	}
	var h LegalHold
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockRetention(ctx, tx, slug, act.Now); err != nil {
			return err
		}
		u := tx.Model(&LegalHold{}).Where("id = ? AND slug = ? AND lifted_at IS NULL", id, slug).
			Updates(map[string]any{"lifted_by": act.By.Email, "lifted_at": act.Now.UTC(), "lift_reason": reason})
		if u.Error != nil {
			return fmt.Errorf("lift hold %d: %w", id, u.Error)
		}
		if err := tx.Where("id = ? AND slug = ?", id, slug).Take(&h).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("hold %d of %s: %w", id, slug, ErrNotFound)
		} else if err != nil {
			return err
		}
		if u.RowsAffected == 0 {
			return fmt.Errorf("hold %d was already lifted: %w", id, ErrConflict)
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: act.Now, Actor: act.By, Action: ActionLegalHoldLifted, Workspace: slug, Target: h.Target(), Reason: reason,
			Detail: map[string]any{"reference": h.Reference}})
		return err
	})
	return h, err
}

// ListHolds returns the holds of slug ("" for every workspace), newest
// first; lifted ones only when withLifted.
func ListHolds(ctx context.Context, db *gorm.DB, slug string, withLifted bool) ([]LegalHold, error) {
	q := db.WithContext(ctx).Order("id DESC").Limit(1000)
	if slug != "" {
		q = q.Where("slug = ?", slug)
	}
	if !withLifted {
		q = q.Where("lifted_at IS NULL")
	}
	var out []LegalHold
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("legal holds: %w", err)
	}
	return out, nil
}
