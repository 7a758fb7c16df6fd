package models

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ReadChainOnly reads and decodes every event as a single verify walk on
// PostgreSQL does, without hashing: the reading half of a full verify,
// for the benchmark.
func ReadChainOnly(ctx context.Context, db *DB) (int64, error) {
	var n int64
	err := withPgxTx(ctx, db, func(tx pgx.Tx) error {
		return pgEvents(ctx, tx, "", 0, -1, func(next func() (AuditEvent, bool, error)) error {
			for {
				_, ok, err := next()
				if err != nil || !ok {
					return err
				}
				n++
			}
		})
	})
	return n, err
}

// CutVerifyWalks makes every verify walk on PostgreSQL of more than min
// events be cut into n spans, until the returned func restores the
// defaults; SpansWalked counts the walks cut so far.
func CutVerifyWalks(min int64, n int) (restore func()) {
	oldMin, oldCount := verifySplitMin, verifySpanCount
	verifySplitMin, verifySpanCount = min, func() int { return n }
	return func() { verifySplitMin, verifySpanCount = oldMin, oldCount }
}

func SpansWalked() int64 { return spansWalked.Load() }
