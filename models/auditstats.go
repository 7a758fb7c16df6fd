package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DayTierCount is how many data views staff of one tier made on one day
// (UTC, "2006-01-02").
type DayTierCount struct {
	Day  string
	Tier string
	N    int64
}

// DataViewsPerDay counts the data views (data.viewed events) per UTC day
// and viewer tier from since on, in one aggregate query bounded by since
// and served by the (action, at) index of migration 00014.
func DataViewsPerDay(ctx context.Context, db *gorm.DB, since time.Time) ([]DayTierCount, error) {
	var out []DayTierCount
	if err := viewsPerDay(db.WithContext(ctx), since).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("data views per day: %w", err)
	}
	return out, nil
}

// viewsPerDay is DataViewsPerDay's query, apart so a test can read its plan.
func viewsPerDay(db *gorm.DB, since time.Time) *gorm.DB {
	day := "date(at)"
	if db.Dialector.Name() == "postgres" {
		day = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	return db.Model(&AuditEvent{}).
		Select(day+" AS day, actor_tier AS tier, COUNT(*) AS n").
		Where("action = ? AND at >= ?", string(ActionDataViewed), since.UTC()).
		Group("1, 2").Order("1, 2")
}

// Verification is the outcome of one walk of the audit chain. It is kept
// in its own table, not the chain: a walk changes nothing, and recording
// it in the chain would move the head it has just verified.
type Verification struct {
	ID      int64 `gorm:"primaryKey"`
	At      time.Time
	By      string `gorm:"column:actor"`
	OK      bool
	Head    int64  // the last seq that checked
	Broken  int64  // when !OK: the first broken link
	Problem string // when !OK: what is wrong with it
}

// TableName is the verifications table's name.
func (Verification) TableName() string { return "audit_verifications" }

// RecordVerification keeps the result of a walk of the chain, for the
// auditors' dashboard.
func RecordVerification(ctx context.Context, db *gorm.DB, at time.Time, by string, res VerifyResult) error {
	v := Verification{At: at.UTC(), By: by, OK: res.OK, Head: res.Seq, Broken: res.BrokenSeq, Problem: res.Problem}
	if err := db.WithContext(ctx).Create(&v).Error; err != nil {
		return fmt.Errorf("record verification: %w", err)
	}
	return nil
}

// LastVerification is the newest recorded walk of the chain; ErrNotFound
// when the chain was never verified.
func LastVerification(ctx context.Context, db *gorm.DB) (Verification, error) {
	var v Verification
	err := db.WithContext(ctx).Order("id DESC").Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Verification{}, fmt.Errorf("audit verification: %w", ErrNotFound)
	}
	if err != nil {
		return Verification{}, fmt.Errorf("last verification: %w", err)
	}
	return v, nil
}

// checkpointRow is a signed checkpoint as the portal keeps a copy of it;
// the audit stream holds the checkpoints verification relies on.
type checkpointRow struct {
	ID        int64 `gorm:"primaryKey"`
	Seq       int64
	Hash      string
	At        time.Time
	KeyID     string
	Signature string
}

func (checkpointRow) TableName() string { return "audit_checkpoints" }

// saveCheckpoint keeps a copy of cp for the auditors' dashboard.
func saveCheckpoint(ctx context.Context, db *gorm.DB, cp Checkpoint) error {
	row := checkpointRow{Seq: cp.Seq, Hash: cp.Hash, At: cp.At.UTC(), KeyID: cp.KeyID, Signature: cp.Signature}
	if err := db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// LastCheckpoint is the newest signed checkpoint; ErrNotFound when none
// was signed yet.
func LastCheckpoint(ctx context.Context, db *gorm.DB) (Checkpoint, error) {
	var row checkpointRow
	err := db.WithContext(ctx).Order("id DESC").Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", ErrNotFound)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("last checkpoint: %w", err)
	}
	return Checkpoint{Type: "checkpoint", Seq: row.Seq, Hash: row.Hash, At: row.At, KeyID: row.KeyID, Signature: row.Signature}, nil
}
