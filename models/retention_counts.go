package models

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// The retention queue counts most states on each view from indexes
// (RetentionClasses.CountsOf), but the states of the plain first notices
// (noticeStates) need every notice evaluated against the registry, and the
// active state is most of the registry. The retention job counts those
// once per run (Census) into retention_counts, and the queue shows them
// as of that run.

// retentionCount is one row of retention_counts.
type retentionCount struct {
	State     RetentionState
	N         int64
	About     bool
	CountedAt time.Time
}

func (retentionCount) TableName() string { return "retention_counts" }

// CountedStates are the states the queue shows from the retention job's
// count rather than counting them on each view.
func CountedStates() []RetentionState {
	return append(slices.Clone(noticeStates), RetentionActive)
}

// StoreRetentionCounts keeps counts (a Census) as counted at at.
func StoreRetentionCounts(ctx context.Context, db *gorm.DB, counts []StateCount, at time.Time) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, c := range counts {
			err := tx.Exec("INSERT INTO retention_counts (state, n, about, counted_at) VALUES (?, ?, ?, ?) ON CONFLICT (state) DO UPDATE SET n = excluded.n, about = excluded.about, counted_at = excluded.counted_at",
				string(c.State), c.N, c.About, at.UTC()).Error
			if err != nil {
				return fmt.Errorf("retention counts: %w", err)
			}
		}
		return nil
	})
}

// StoredRetentionCounts returns the counts of states the retention job
// kept and when it counted them (the oldest of them); ok is false when
// one of states was never counted.
func StoredRetentionCounts(ctx context.Context, db *gorm.DB, states []RetentionState) (counts []StateCount, at time.Time, ok bool, err error) {
	var rows []retentionCount
	if err := db.WithContext(ctx).Where("state IN ?", states).Find(&rows).Error; err != nil {
		return nil, time.Time{}, false, fmt.Errorf("retention counts: %w", err)
	}
	for _, s := range states {
		i := slices.IndexFunc(rows, func(r retentionCount) bool { return r.State == s })
		if i < 0 {
			return nil, time.Time{}, false, nil
		}
		if at.IsZero() || rows[i].CountedAt.Before(at) {
			at = rows[i].CountedAt
		}
		counts = append(counts, StateCount{State: s, N: int(rows[i].N), About: rows[i].About})
	}
	return counts, at, true, nil
}

// QueueCounts is the retention queue's counts, in queue order: the
// CountedStates as the retention job last counted them (at), the others
// now, from indexes. Before the job's first count every state is counted
// now (at is zero).
func (c *RetentionClasses) QueueCounts(ctx context.Context) (counts []StateCount, at time.Time, err error) {
	stored, at, ok, err := StoredRetentionCounts(ctx, c.DB, CountedStates())
	if err != nil || !ok {
		counts, err = c.Counts(ctx)
		return counts, time.Time{}, err
	}
	live, err := c.CountsOf(ctx, slices.DeleteFunc(RetentionStates(), func(s RetentionState) bool { return slices.Contains(CountedStates(), s) }))
	if err != nil {
		return nil, time.Time{}, err
	}
	for _, s := range RetentionStates() {
		for _, n := range append(live, stored...) {
			if n.State == s {
				counts = append(counts, n)
			}
		}
	}
	return counts, at, nil
}
