package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DefaultTrainingValidFor is how long completed security training counts.
const DefaultTrainingValidFor = 365 * Day

// TrainingDueWithin is how far ahead the staff page lists the training
// about to lapse.
const TrainingDueWithin = 30 * Day

// Clearance is what the company requires of a staff member before they
// touch customer data in any way (ask for it, approve it, hold it, break
// glass or read it): the current confidentiality agreement signed, and
// security training completed within TrainingValidFor.
type Clearance struct {
	Agreement        string        // the current agreement's version
	TrainingValidFor time.Duration // how long completed training counts
}

// DefaultClearance is the clearance for agreement version agreement with
// training valid for the default year.
func DefaultClearance(agreement string) Clearance {
	return Clearance{Agreement: agreement, TrainingValidFor: DefaultTrainingValidFor}
}

// TrainingExpires is when s's training stops counting; ok is false when
// no training is on record.
func (c Clearance) TrainingExpires(s Staff) (at time.Time, ok bool) {
	if s.TrainingAt == nil {
		return time.Time{}, false
	}
	return s.TrainingAt.Add(c.TrainingValidFor), true
}

// TrainingCurrent reports whether s's training counts at now. A zero
// TrainingValidFor counts no training: a clearance must say how long.
func (c Clearance) TrainingCurrent(s Staff, now time.Time) bool {
	at, ok := c.TrainingExpires(s)
	return ok && c.TrainingValidFor > 0 && now.Before(at)
}

// Lacking says what s lacks to be cleared at now, as the end of a
// sentence that begins with their address, or "" when they are cleared.
// It does not look at tier or status.
func (c Clearance) Lacking(s Staff, now time.Time) string {
	switch {
	case !s.AgreementCurrent(c.Agreement):
		return "has not signed the current confidentiality agreement."
	case s.TrainingAt == nil:
		return "has no security training on record."
	case !c.TrainingCurrent(s, now):
		at, _ := c.TrainingExpires(s)
		return "has security training that lapsed on " + at.UTC().Format(time.DateOnly) + "."
	}
	return ""
}

// Cleared reports whether s is cleared at now.
func (c Clearance) Cleared(s Staff, now time.Time) bool { return c.Lacking(s, now) == "" }

// trainedSince is the query condition for training that counts at now.
func (c Clearance) trainedSince(db *gorm.DB, now time.Time) *gorm.DB {
	return db.Where("training_at IS NOT NULL AND training_at > ?", now.Add(-c.TrainingValidFor).UTC())
}

// TrainingDue returns the active staff whose training lapses before
// now+within, or has lapsed, or was never recorded: soonest first, those
// without any record last.
func TrainingDue(ctx context.Context, db *gorm.DB, c Clearance, now time.Time, within time.Duration) ([]Staff, error) {
	var out []Staff
	err := db.WithContext(ctx).Where("status = ?", StatusActive).
		Where("training_at IS NULL OR training_at <= ?", now.Add(within-c.TrainingValidFor).UTC()).
		Order("training_at IS NULL, training_at, name").Limit(1000).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("training due: %w", err)
	}
	return out, nil
}
