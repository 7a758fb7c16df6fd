package models

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// ReadChainOnly reads and decodes every event as verifyPostgres does,
// without hashing: the reading half of a full verify, for the benchmark.
func ReadChainOnly(ctx context.Context, db *DB) (int64, error) {
	sqlDB, err := db.Read.DB()
	if err != nil {
		return 0, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int64
	err = conn.Raw(func(dc any) error {
		tx, err := dc.(*stdlib.Conn).Conn().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck
		rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM audit_events WHERE seq > $1 ORDER BY seq", pgx.QueryResultFormats{pgx.BinaryFormatCode}, 0)
		if err != nil {
			return err
		}
		defer rows.Close()
		var dec binaryEventDecoder
		for rows.Next() {
			if _, err := dec.decode(rows.RawValues()); err != nil {
				return err
			}
			n++
		}
		return rows.Err()
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
