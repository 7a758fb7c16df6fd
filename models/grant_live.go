package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// LiveGrantsOf returns every grant staffID holds in force at now, on any
// workspace, the soonest to end first.
func LiveGrantsOf(ctx context.Context, db *gorm.DB, now time.Time, staffID int64) ([]Grant, error) {
	var all []Grant
	err := db.WithContext(ctx).Where("grantee_id = ? AND ended_at IS NULL AND ends_at > ?", staffID, now.UTC()).
		Order("ends_at, id").Find(&all).Error
	if err != nil {
		return nil, fmt.Errorf("live grants of %d: %w", staffID, err)
	}
	live := all[:0]
	for _, g := range all {
		if g.Live(now) {
			live = append(live, g)
		}
	}
	return live, nil
}
