package models

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
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
// and viewer tier from since on. The views up to the detector's position
// are the rows of audit_view_days, which the detector keeps (addViewDays);
// only those after it are counted from the log (viewsAfter). Both are
// read in one snapshot, so a detector step committing meanwhile is
// counted once, either side.
func DataViewsPerDay(ctx context.Context, db *gorm.DB, since time.Time) ([]DayTierCount, error) {
	sums := map[[2]string]int64{}
	opts := &sql.TxOptions{ReadOnly: true}
	if db.Dialector.Name() == "postgres" {
		opts.Isolation = sql.LevelRepeatableRead
	}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		pos, err := DetectionPosition(ctx, tx)
		if err != nil {
			return err
		}
		var stored, live []DayTierCount
		if err := tx.Table("audit_view_days").Select("day, tier, n").Where("day >= ?", since.UTC().Format(time.DateOnly)).Scan(&stored).Error; err != nil {
			return err
		}
		if err := viewsAfter(tx, pos, 0, since).Scan(&live).Error; err != nil {
			return err
		}
		for _, c := range append(stored, live...) {
			sums[[2]string{c.Day, c.Tier}] += c.N
		}
		return nil
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("data views per day: %w", err)
	}
	out := make([]DayTierCount, 0, len(sums))
	for k, n := range sums {
		out = append(out, DayTierCount{Day: k[0], Tier: k[1], N: n})
	}
	slices.SortFunc(out, func(a, b DayTierCount) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Tier, b.Tier))
	})
	return out, nil
}

// viewsAfter counts the data views after seq after (and up to upTo, when
// it is not 0) from since on, per UTC day and tier. The events are found
// by their sequence number: those a detector step has not yet counted
// are a handful, where the chart's window holds every view of 30 days.
// PostgreSQL's statistics tell it which range is narrower; SQLite,
// without them, would read the window from the (action, at) index
// (284,000 entries at 10M events: 25 ms), so there the table is read NOT
// INDEXED, by its INTEGER PRIMARY KEY alone. (Apart so that a test can
// read its plan.)
func viewsAfter(db *gorm.DB, after, upTo int64, since time.Time) *gorm.DB {
	q := db.Model(&AuditEvent{})
	if db.Dialector.Name() != "postgres" {
		q = q.Table("audit_events NOT INDEXED")
	}
	q = q.Where("seq > ?", after)
	if upTo > 0 {
		q = q.Where("seq <= ?", upTo)
	}
	return countViews(q, since)
}

// countViews is q's data views from since on, per UTC day and tier.
func countViews(q *gorm.DB, since time.Time) *gorm.DB {
	day := "date(at)"
	if q.Dialector.Name() == "postgres" {
		day = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	return q.Select(day+" AS day, actor_tier AS tier, COUNT(*) AS n").
		Where("action = ? AND at >= ?", string(ActionDataViewed), since.UTC()).
		Group("1, 2").Order("1, 2")
}

// addViewDays adds the data views among evs to audit_view_days, in tx:
// the detector's step, which moves detection_position past evs in the
// same transaction.
func addViewDays(tx *gorm.DB, evs []AuditEvent) error {
	days := map[[2]string]int64{}
	for i := range evs {
		if evs[i].Action == ActionDataViewed {
			days[[2]string{evs[i].At.UTC().Format(time.DateOnly), evs[i].ActorTier}]++
		}
	}
	for k, n := range days {
		if err := addViewDay(tx, DayTierCount{Day: k[0], Tier: k[1], N: n}); err != nil {
			return err
		}
	}
	return nil
}

func addViewDay(tx *gorm.DB, c DayTierCount) error {
	err := tx.Exec(`INSERT INTO audit_view_days (day, tier, n) VALUES (?, ?, ?)
ON CONFLICT (day, tier) DO UPDATE SET n = audit_view_days.n + excluded.n`, c.Day, c.Tier, c.N).Error
	if err != nil {
		return fmt.Errorf("views per day: %w", err)
	}
	return nil
}

// SkipDetection moves the detection position to the chain's head without
// evaluating the events in between (history the rules should not raise
// alerts about, such as the size benchmark's generated years), and adds
// their data views to audit_view_days as the detector's steps would have.
func SkipDetection(ctx context.Context, db *gorm.DB) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		pos, err := DetectionPosition(ctx, tx)
		if err != nil {
			return err
		}
		head, err := locklessHead(tx)
		if err != nil {
			return err
		}
		var days []DayTierCount
		if err := viewsAfter(tx, pos, head.Seq, time.Time{}).Scan(&days).Error; err != nil {
			return fmt.Errorf("views per day: %w", err)
		}
		for _, d := range days {
			if err := addViewDay(tx, d); err != nil {
				return err
			}
		}
		return tx.Exec("UPDATE detection_position SET seq = ? WHERE id = 1", head.Seq).Error
	})
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
