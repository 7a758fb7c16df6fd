package models

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// RevealWindow is how long a revealed field stays unmasked.
const RevealWindow = 5 * time.Minute

// Reveal lets one staff member see one masked personal field of one
// record unmasked until ExpiresAt.
type Reveal struct {
	ID        int64 `gorm:"primaryKey"`
	StaffID   int64
	GrantID   int64
	Workspace string
	Table     string `gorm:"column:table_name"`
	RecordID  int64
	Field     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TableName is the reveals table's name.
func (Reveal) TableName() string { return "reveals" }

// NewReveal describes a field to reveal, under the grant that covers it.
type NewReveal struct {
	StaffID   int64
	Grant     Grant
	Workspace string
	Table     string
	RecordID  int64
	Field     string
	Reason    string
}

// RevealField stores a reveal and its data.revealed audit event in one
// transaction: the field is never unmasked without its event.
func RevealField(ctx context.Context, db *gorm.DB, now time.Time, by Actor, n NewReveal) (Reveal, error) {
	r := Reveal{
		StaffID: n.StaffID, GrantID: n.Grant.ID, Workspace: n.Workspace, Table: n.Table, RecordID: n.RecordID,
		Field: n.Field, CreatedAt: now.UTC(), ExpiresAt: now.Add(RevealWindow).UTC(),
	}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: by, Action: ActionFieldRevealed, Workspace: n.Workspace, Table: n.Table,
			RecordIDs: []string{fmt.Sprint(n.RecordID)}, GrantID: &r.GrantID, BreakglassID: n.Grant.BreakglassID,
			Reason: n.Reason, Detail: map[string]any{"field": n.Field, "until": r.ExpiresAt},
		})
		return err
	})
	if err != nil {
		return Reveal{}, fmt.Errorf("reveal %s.%s %d %s: %w", n.Workspace, n.Table, n.RecordID, n.Field, err)
	}
	return r, nil
}

// RevealedFields returns the fields of one record that staffID has
// revealed under grantID and that are still unmasked at now.
func RevealedFields(ctx context.Context, db *gorm.DB, now time.Time, staffID, grantID int64, workspace, table string, id int64) ([]string, error) {
	var rs []Reveal
	err := db.WithContext(ctx).
		Where("staff_id = ? AND grant_id = ? AND workspace = ? AND table_name = ? AND record_id = ?", staffID, grantID, workspace, table, id).
		Order("id").Find(&rs).Error
	if err != nil {
		return nil, fmt.Errorf("revealed fields: %w", err)
	}
	var fields []string
	for _, r := range rs {
		if now.Before(r.ExpiresAt) && !slices.Contains(fields, r.Field) {
			fields = append(fields, r.Field)
		}
	}
	return fields, nil
}
