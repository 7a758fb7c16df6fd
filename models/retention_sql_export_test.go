package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// RegistryClassForTest is registryClass, for the index test.
func RegistryClassForTest(product *gorm.DB, state RetentionState, now time.Time, p RetentionPolicy) (string, []any, bool) {
	return registryClass(product, state, now, p)
}

// QuietRetentionForTest is the idle workspaces the retention job leaves
// unread at now, for the job's test.
func QuietRetentionForTest(ctx context.Context, db, product *gorm.DB, now time.Time, p RetentionPolicy) (map[string]bool, error) {
	ir, err := readIdle(ctx, db, product, now, p)
	quiet := map[string]bool{}
	for _, s := range ir.slugs {
		if ir.quiet(s) {
			quiet[s] = true
		}
	}
	return quiet, err
}
