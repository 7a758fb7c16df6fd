package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ActionAuditVerified records a walk of the audit chain (`gatehouse audit
// verify`); its detail holds the result.
const ActionAuditVerified Action = "audit.verified"

// DayTierCount is how many data views staff of one tier made on one day
// (UTC, "2006-01-02").
type DayTierCount struct {
	Day  string
	Tier string
	N    int64
}

// DataViewsPerDay counts the data views (data.viewed events) per UTC day
// and viewer tier from since on, in one aggregate query bounded by since
// and served by the (action, at) index of migration 00013.
func DataViewsPerDay(ctx context.Context, db *gorm.DB, since time.Time) ([]DayTierCount, error) {
	day := "date(at)"
	if db.Dialector.Name() == "postgres" {
		day = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	var out []DayTierCount
	err := db.WithContext(ctx).Model(&AuditEvent{}).
		Select(day+" AS day, actor_tier AS tier, COUNT(*) AS n").
		Where("action = ? AND at >= ?", string(ActionDataViewed), since.UTC()).
		Group("1, 2").Order("1, 2").
		Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("data views per day: %w", err)
	}
	return out, nil
}

// Verification is the outcome of one walk of the audit chain, as its
// audit event records it.
type Verification struct {
	At      time.Time `json:"-"`
	By      string    `json:"-"`
	OK      bool      `json:"ok"`
	Head    int64     `json:"head"`              // the last seq walked
	Broken  int64     `json:"broken,omitempty"`  // the first broken link
	Problem string    `json:"problem,omitempty"` // what is wrong with it
}

// RecordVerification appends the result of a chain walk to the audit log.
func RecordVerification(ctx context.Context, db *gorm.DB, at time.Time, by Actor, res VerifyResult) error {
	v := Verification{OK: res.OK, Head: res.Seq, Broken: res.BrokenSeq, Problem: res.Problem}
	_, err := AppendAudit(ctx, db, AuditEntry{At: at, Actor: by, Action: ActionAuditVerified, Detail: v})
	return err
}

// LastVerification is the newest recorded walk of the chain; ErrNotFound
// when the chain was never verified.
func LastVerification(ctx context.Context, db *gorm.DB) (Verification, error) {
	evs, err := SearchAudit(ctx, db, AuditQuery{Action: ActionAuditVerified, Limit: 1})
	if err != nil {
		return Verification{}, err
	}
	if len(evs) == 0 {
		return Verification{}, fmt.Errorf("audit verification: %w", ErrNotFound)
	}
	var v Verification
	if err := json.Unmarshal([]byte(evs[0].Detail), &v); err != nil {
		return Verification{}, fmt.Errorf("audit verification %d: %w", evs[0].Seq, err)
	}
	v.At, v.By = evs[0].At, evs[0].Actor
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
