package models

import (
	"time"

	"gorm.io/gorm"
)

// RegistryClassForTest is registryClass, for the index test.
func RegistryClassForTest(product *gorm.DB, state RetentionState, now time.Time, p RetentionPolicy) (string, []any, bool) {
	return registryClass(product, state, now, p)
}

// QuietRetentionForTest is quietRetention, for the job's test.
var QuietRetentionForTest = quietRetention
