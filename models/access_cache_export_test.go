package models

import (
	"context"

	"gorm.io/gorm"
)

// ReadOnlyActions are the actions that do not move the security epoch.
func ReadOnlyActions() map[Action]bool { return readOnlyActions }

// CachedStaff is the cache's staff read, for tests.
func (c *AccessCache) CachedStaff(ctx context.Context, db *gorm.DB, id int64) (Staff, error) {
	return c.staff(ctx, db, id)
}
