package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrCertifyRefused is a certification by someone who is not an active
// sysadmin, or by the row's own subject (403).
var ErrCertifyRefused = fmt.Errorf("a review row is certified by an active sysadmin other than the person it is about: %w", policy.ErrDenied)

// ReviewOverdueRule is the alert rule of rows not certified by their
// review's due time; its subject is the staff member's email.
var ReviewOverdueRule = policy.Rule{Name: "access_review_overdue", Kind: "access_review", Severity: "medium"}

// Certification is a certifier's decision on one row of a review.
type Certification struct {
	ReviewID int64
	RowID    int64
	Decision string
	Note     string
}

// check refuses a decision not in the list and a note that is not a real
// sentence, as FieldErrors.
func (c *Certification) check() error {
	errs := FieldErrors{}
	c.Decision = strings.TrimSpace(c.Decision)
	if !slices.Contains(ReviewDecisions, c.Decision) {
		errs["decision"] = "Choose keep, change or offboard."
	}
	c.Note = strings.TrimSpace(c.Note)
	if err := CheckNote(c.Note, 10); err != nil {
		errs["note"] = noteMessage(err, "Say in a sentence what you checked and why you decided so.")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// CertifyRow records act.By's decision on a review row, once: the
// certifier must be an active sysadmin other than the row's subject, and
// a row already certified is a conflict. Offboard offboards the person in
// the same transaction. The last row certified closes the review. The
// review's row is locked first, so certifications of one review take
// turns and exactly one of them sees that none is left.
func CertifyRow(ctx context.Context, db *gorm.DB, act Act, c Certification) (AccessReviewRow, error) {
	if err := c.check(); err != nil {
		return AccessReviewRow{}, err
	}
	var row AccessReviewRow
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rev AccessReview
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", c.ReviewID).Take(&rev).Error; err != nil {
			return notFound(err, fmt.Sprintf("access review %d", c.ReviewID))
		}
		if err := tx.Where("id = ? AND review_id = ?", c.RowID, c.ReviewID).Take(&row).Error; err != nil {
			return notFound(err, fmt.Sprintf("access review %d row %d", c.ReviewID, c.RowID))
		}
		if err := mayCertify(tx, act.By.Email, row); err != nil {
			return err
		}
		now := act.Now.UTC()
		res := tx.Model(&AccessReviewRow{}).Where("id = ? AND certified_at IS NULL", row.ID).Updates(map[string]any{
			"decision": c.Decision, "note": c.Note, "certified_by": act.By.Email, "certified_at": now,
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return conflictf("%s's row was certified already.", row.Email)
		}
		row.Decision, row.Note, row.CertifiedBy, row.CertifiedAt = c.Decision, c.Note, act.By.Email, &now
		if c.Decision == DecisionOffboard {
			if err := offboardReviewed(ctx, tx, act, row); err != nil {
				return err
			}
		}
		if _, err := AppendAudit(ctx, tx, AuditEntry{
			At: act.Now, Actor: act.By, Action: ActionReviewCertified, Target: rev.Target(), Reason: c.Note,
			Detail: map[string]any{"period": rev.Period, "row": row.ID, "staff": row.Email, "decision": c.Decision},
		}); err != nil {
			return err
		}
		return closeIfDone(ctx, tx, act, rev)
	})
	if err != nil {
		return AccessReviewRow{}, fmt.Errorf("certify access review row: %w", err)
	}
	return row, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// mayCertify refuses a certifier who is not an active sysadmin now, or
// who is the row's subject.
func mayCertify(tx *gorm.DB, email string, row AccessReviewRow) error {
	var me Staff
	err := tx.Where("email = ?", strings.ToLower(email)).Take(&me).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrCertifyRefused
	case err != nil:
		return err
	case me.Status != StatusActive || me.Tier != policy.TierSysadmin || me.ID == row.StaffID:
		return ErrCertifyRefused
	}
	return nil
}

// offboardReviewed offboards the subject of a row decided "offboard",
// unless someone did already since the review opened.
func offboardReviewed(ctx context.Context, tx *gorm.DB, act Act, row AccessReviewRow) error {
	var s Staff
	if err := tx.Where("id = ?", row.StaffID).Take(&s).Error; err != nil {
		return notFound(err, fmt.Sprintf("staff %d", row.StaffID))
	}
	if s.Status == StatusOffboarded {
		return nil
	}
	return Offboard(ctx, tx, act, row.StaffID, row.Note)
}

// closeIfDone closes rev when no row is left to certify.
func closeIfDone(ctx context.Context, tx *gorm.DB, act Act, rev AccessReview) error {
	var left int64
	if err := tx.Model(&AccessReviewRow{}).Where("review_id = ? AND certified_at IS NULL", rev.ID).Count(&left).Error; err != nil {
		return err
	}
	if left > 0 {
		return nil
	}
	res := tx.Model(&AccessReview{}).Where("id = ? AND closed_at IS NULL", rev.ID).Update("closed_at", act.Now.UTC())
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error
	}
	_, err := AppendAudit(ctx, tx, AuditEntry{
		At: act.Now, Actor: act.By, Action: ActionReviewClosed, Target: rev.Target(),
		Detail: map[string]any{"period": rev.Period},
	})
	return err
}

// RaiseOverdue raises an access_review_overdue alert for each row of an
// open review past its due time that has no open one, through d (as the
// detection rules' alerts are raised: audited, mailed to the sysadmins
// and the security address, queued for the webhook). Each review's rows
// are looked at under its row's lock, so replicas take turns and raise
// each alert once. It returns how many alerts it raised.
func RaiseOverdue(ctx context.Context, db *DB, d *Detector, now time.Time) (int, error) {
	var due []int64
	if err := db.Read.WithContext(ctx).Model(&AccessReview{}).Where("closed_at IS NULL AND due_at <= ?", now.UTC()).
		Order("id").Pluck("id", &due).Error; err != nil {
		return 0, fmt.Errorf("overdue access reviews: %w", err)
	}
	if len(due) > 0 && d == nil {
		return 0, fmt.Errorf("overdue access reviews: no alerts to raise them with")
	}
	raised := 0
	for _, id := range due {
		_, err := once(ctx, db.Write, func(tx *gorm.DB) (bool, error) {
			hits, err := overdueHits(tx, id, now)
			if err != nil || len(hits) == 0 {
				return false, err
			}
			if err := d.raise(ctx, tx, now, hits); err != nil {
				return false, err
			}
			raised += len(hits)
			return true, nil
		})
		if err != nil {
			return raised, fmt.Errorf("access review %d overdue: %w", id, err)
		}
	}
	return raised, nil
}

// overdueHits locks review id and returns a hit for each of its rows not
// certified whose subject has no open overdue alert, with the review's
// opening event as evidence.
func overdueHits(tx *gorm.DB, id int64, now time.Time) ([]*hit, error) {
	var rev AccessReview
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&rev).Error; err != nil {
		return nil, err
	}
	if !rev.Overdue(now) {
		return nil, nil // closed meanwhile
	}
	var rows []AccessReviewRow
	if err := tx.Where("review_id = ? AND certified_at IS NULL", id).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	var alerted []string
	if err := tx.Model(&Alert{}).Where("rule = ? AND subject_kind = ? AND state <> ?", ReviewOverdueRule.Name, SubjectStaff, string(AlertResolved)).
		Pluck("subject", &alerted).Error; err != nil {
		return nil, err
	}
	var opened []int64
	if err := tx.Model(&AuditEvent{}).Where("target = ? AND action = ?", rev.Target(), ActionReviewOpened).Pluck("seq", &opened).Error; err != nil {
		return nil, err
	}
	var hits []*hit
	for _, r := range rows {
		if slices.Contains(alerted, r.Email) {
			continue
		}
		hits = append(hits, &hit{
			rule: ReviewOverdueRule, subjectKind: SubjectStaff, subject: r.Email, at: now, last: now, seqs: slices.Clone(opened),
			summary: fmt.Sprintf("The access of %s in the %s access review was not certified by %s.", r.Email, rev.Period, rev.DueAt.UTC().Format(time.DateOnly)),
		})
	}
	return hits, nil
}
