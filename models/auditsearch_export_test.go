package models

import (
	"context"

	"gorm.io/gorm"
)

// AuditPageSQL is the SQL and arguments of SearchAuditPage's query for f
// (a first page, or the page older than before), for the tests that
// EXPLAIN it.
func AuditPageSQL(db *gorm.DB, f AuditQuery, before *Cursor) (string, []any, error) {
	q, err := f.pageQuery(db.Session(&gorm.Session{DryRun: true}), nil, before, 50)
	if err != nil {
		return "", nil, err
	}
	var evs []AuditEvent
	tx := q.Find(&evs)
	return tx.Statement.SQL.String(), tx.Statement.Vars, tx.Error
}

// RetentionHistorySQL is RetentionHistory's query for slug.
func RetentionHistorySQL(db *gorm.DB, slug string) (string, []any, error) {
	var evs []AuditEvent
	tx := retentionHistoryQuery(db.Session(&gorm.Session{DryRun: true}), slug, 200).Find(&evs)
	return tx.Statement.SQL.String(), tx.Statement.Vars, tx.Error
}

// CustomPlansForTest is customPlans.
func CustomPlansForTest(ctx context.Context, db *gorm.DB, fn func(*gorm.DB) error) error {
	return customPlans(ctx, db, fn)
}
