package models

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
)

// DataViewsFromLog counts the views from since on from the log alone.
func DataViewsFromLog(ctx context.Context, db *gorm.DB, since time.Time) ([]DayTierCount, error) {
	var out []DayTierCount
	err := countViews(db.WithContext(ctx).Model(&AuditEvent{}), since).Scan(&out).Error
	return out, err
}

// ViewDaysStored is audit_view_days, by day and tier.
func ViewDaysStored(ctx context.Context, db *gorm.DB) ([]DayTierCount, error) {
	var out []DayTierCount
	err := db.WithContext(ctx).Table("audit_view_days").Select("day, tier, n").Order("day, tier").Scan(&out).Error
	return out, err
}

// DataViewsPlan is the query plan of DataViewsPerDay's count of the
// events after seq after, with sequential scans discouraged on
// PostgreSQL so that a tiny test table still shows whether an index can
// serve it.
func DataViewsPlan(ctx context.Context, db *gorm.DB, after int64, since time.Time) (string, error) {
	var plan []string
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		sql := tx.ToSQL(func(q *gorm.DB) *gorm.DB {
			var out []DayTierCount
			return viewsAfter(q, after, 0, since).Scan(&out)
		})
		explain := "EXPLAIN QUERY PLAN "
		if tx.Dialector.Name() == "postgres" {
			if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
				return err
			}
			explain = "EXPLAIN "
		}
		rows, err := tx.Raw(explain + sql).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			for _, v := range vals {
				switch v := v.(type) {
				case string:
					plan = append(plan, v)
				case []byte:
					plan = append(plan, string(v))
				}
			}
		}
		return rows.Err()
	})
	return strings.Join(plan, "\n"), err
}
