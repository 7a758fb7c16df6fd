package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoAuditPartition is an audit append on PostgreSQL whose time falls
// in a month that has no partition of audit_events (the portal creates
// them ahead, at start and hourly; see EnsureAuditPartitions), when the
// default partition that takes such events was detached by hand. Nothing
// was written, and whatever the event recorded did not happen: the
// portal answers 503 (Unavailable), showing no tenant data.
var ErrNoAuditPartition = errors.New("no partition of audit_events for the event's month: run audit_events_ensure_partitions")

// DefaultPartitionsAhead is how many months after the current one the
// portal keeps partitions of audit_events ready for.
const DefaultPartitionsAhead = 3

// noAuditPartition wraps PostgreSQL's refusal of a row no partition
// takes as ErrNoAuditPartition.
func noAuditPartition(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23514" && strings.HasPrefix(pe.Message, "no partition of relation") {
		return fmt.Errorf("%w (%w)", ErrNoAuditPartition, err)
	}
	return err
}

// EnsureAuditPartitions creates the monthly partitions of audit_events
// from the current month to ahead months after it that do not exist yet
// (PostgreSQL; nothing on SQLite, whose log is one table), and gives every
// partition the parent's grants. It returns how many it created.
func EnsureAuditPartitions(ctx context.Context, db *DB, ahead int) (int, error) {
	if db.Dialect != Postgres {
		return 0, nil
	}
	var n int
	if err := db.Write.WithContext(ctx).Raw("SELECT audit_events_ensure_partitions(?)", ahead).Row().Scan(&n); err != nil {
		return 0, fmt.Errorf("ensure audit partitions: %w", err)
	}
	return n, nil
}

// AuditPartition is one partition of audit_events.
type AuditPartition struct {
	Name  string
	Bound string // PostgreSQL's FOR VALUES clause
	Rows  int64  // an estimate (the planner's), -1 when never analysed
	Bytes int64  // on disk, indexes included
}

// AuditPartitions lists the partitions of audit_events, oldest first
// (PostgreSQL; none on SQLite).
func AuditPartitions(ctx context.Context, db *DB) ([]AuditPartition, error) {
	if db.Dialect != Postgres {
		return nil, nil
	}
	rows, err := db.Read.WithContext(ctx).Raw(`SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint, pg_total_relation_size(c.oid)
		FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
		WHERE h.inhparent = 'audit_events'::regclass
		ORDER BY c.relname = 'audit_events_before' DESC, c.relname`).Rows()
	if err != nil {
		return nil, fmt.Errorf("audit partitions: %w", err)
	}
	defer rows.Close()
	var parts []AuditPartition
	for rows.Next() {
		var p AuditPartition
		if err := rows.Scan(&p.Name, &p.Bound, &p.Rows, &p.Bytes); err != nil {
			return nil, fmt.Errorf("audit partitions: %w", err)
		}
		parts = append(parts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit partitions: %w", err)
	}
	return parts, nil
}

// PartitionWorker keeps audit_events' monthly partitions created ahead:
// at once, then every Every (an hour by default).
type PartitionWorker struct {
	DB     *DB
	Ahead  int
	Every  time.Duration
	Logger *slog.Logger
}

// Run works until ctx ends.
func (w *PartitionWorker) Run(ctx context.Context) error {
	log := cmp.Or(w.Logger, slog.Default())
	return every(ctx, cmp.Or(w.Every, time.Hour), func() {
		n, err := EnsureAuditPartitions(ctx, w.DB, cmp.Or(w.Ahead, DefaultPartitionsAhead))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("audit partitions", "error", err)
		case n > 0:
			log.Info("audit partitions", "created", n)
		}
	})
}
