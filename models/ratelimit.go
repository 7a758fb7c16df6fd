package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Limit is a budget of hits per client address in a fixed window. Its
// counts live in the rate_limits table, so every replica on one database
// spends the same budget.
type Limit struct {
	Name   string // the budget's rows in rate_limits
	Max    int    // hits allowed in one window
	Window time.Duration
}

// ErrLimited is a client whose budget is spent until its window ends
// (429). Any other error from TakeLimit means the count is unknown, and
// what it guards must be refused.
var ErrLimited = errors.New("too many attempts from this address")

// TakeLimit spends one hit of client's budget at now and returns the hits
// in its window, this one included. When none is left it counts nothing
// and returns ErrLimited. One statement reads, resets an ended window and
// counts, so concurrent takes on any number of replicas never exceed Max.
func TakeLimit(ctx context.Context, db *gorm.DB, now time.Time, l Limit, client string) (int, error) {
	now = now.UTC()
	ended := now.Add(-l.Window)
	var hits []int
	err := db.WithContext(ctx).Raw(`INSERT INTO rate_limits (limiter, client, window_start, hits) VALUES (?, ?, ?, 1)
ON CONFLICT (limiter, client) DO UPDATE SET
    hits = CASE WHEN rate_limits.window_start <= ? THEN 1 ELSE rate_limits.hits + 1 END,
    window_start = CASE WHEN rate_limits.window_start <= ? THEN excluded.window_start ELSE rate_limits.window_start END
WHERE rate_limits.window_start <= ? OR rate_limits.hits < ?
RETURNING hits`, l.Name, client, now, ended, ended, ended, l.Max).Scan(&hits).Error
	switch {
	case err != nil:
		return 0, fmt.Errorf("rate limit %s: %w", l.Name, err)
	case len(hits) == 0:
		return 0, ErrLimited
	}
	return hits[0], nil
}

// ReturnLimit gives back a hit taken at takenAt, for a request that turned
// out not to count. A window that has started since is left alone.
func ReturnLimit(ctx context.Context, db *gorm.DB, takenAt time.Time, l Limit, client string) error {
	takenAt = takenAt.UTC()
	err := db.WithContext(ctx).Exec(`UPDATE rate_limits SET hits = hits - 1
WHERE limiter = ? AND client = ? AND window_start <= ? AND window_start > ? AND hits > 0`,
		l.Name, client, takenAt, takenAt.Add(-l.Window)).Error
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", l.Name, err)
	}
	return nil
}

// PruneLimit deletes the budget's windows that ended by now, and reports
// how many.
func PruneLimit(ctx context.Context, db *gorm.DB, now time.Time, l Limit) (int64, error) {
	res := db.WithContext(ctx).Exec("DELETE FROM rate_limits WHERE limiter = ? AND window_start <= ?", l.Name, now.UTC().Add(-l.Window))
	if res.Error != nil {
		return 0, fmt.Errorf("rate limit %s: %w", l.Name, res.Error)
	}
	return res.RowsAffected, nil
}
