package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"time"
)

// The audit stream's claim on PostgreSQL: a session advisory lock with
// the two keys "GATE" and "STRM" in ASCII (pg_locks shows them as classid
// and objid, with objsubid 2).
const (
	streamLockClass = 0x47415445
	streamLockID    = 0x5354524d
)

// streamClaim is the right to ship the audit stream and move its position
// in audit_stream. One process holds it at a time: on PostgreSQL a session
// advisory lock on a connection of its own, which the server releases when
// that connection dies (a killed process's, or any in an outage); on
// SQLite, a single node, a lock on a file beside the database, which the
// system releases when the process dies.
type streamClaim struct {
	db   *DB
	conn *sql.Conn // PostgreSQL: the session holding the lock
	file *os.File  // SQLite: the locked file
}

// claimStream takes the claim if no other process holds it; false when
// one does.
func claimStream(ctx context.Context, db *DB) (*streamClaim, bool, error) {
	if db.Dialect != Postgres {
		f, err := os.OpenFile(db.path+".stream-lock", os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- beside the configured database
		if err != nil {
			return nil, false, fmt.Errorf("audit stream claim: %w", err)
		}
		ok, err := tryLockFile(f)
		if err != nil || !ok {
			f.Close()
			if err != nil {
				return nil, false, fmt.Errorf("audit stream claim: %w", err)
			}
			return nil, false, nil
		}
		return &streamClaim{db: db, file: f}, true, nil
	}
	sqlDB, err := db.Write.DB()
	if err != nil {
		return nil, false, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("audit stream claim: %w", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1, $2)", streamLockClass, streamLockID).Scan(&ok); err != nil {
		discard(conn) // it may hold the lock: it must not go back to the pool
		return nil, false, fmt.Errorf("audit stream claim: %w", err)
	}
	if !ok {
		conn.Close() // holds no lock: back to the pool
		return nil, false, nil
	}
	return &streamClaim{db: db, conn: conn}, true, nil
}

// discard closes conn's connection instead of returning it to the pool,
// which ends its session and every session lock with it.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
}

// check returns an error unless the claim is still held. On PostgreSQL
// it asks the server whether this session holds the lock: a connection
// lost in an outage fails, and so does a pooler that put the queries on
// another session.
func (c *streamClaim) check(ctx context.Context) error {
	if c.conn == nil {
		return nil // a file lock is held as long as its file is open
	}
	var held bool
	err := c.conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
		AND pid = pg_backend_pid() AND granted AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2)`,
		streamLockClass, streamLockID).Scan(&held)
	if err != nil {
		return fmt.Errorf("audit stream claim lost: %w", err)
	}
	if !held {
		return errors.New("audit stream claim lost: this session no longer holds its lock")
	}
	return nil
}

// exec runs a statement written with ? placeholders on the claim's
// session (so that on PostgreSQL it fails once the claim is lost) and
// returns the rows it changed.
func (c *streamClaim) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if c.conn == nil {
		res := c.db.Write.WithContext(ctx).Exec(query, args...)
		return res.RowsAffected, res.Error
	}
	res, err := c.conn.ExecContext(ctx, numberPlaceholders(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// position reads the shipped position.
func (c *streamClaim) position(ctx context.Context) (int64, error) {
	const q = "SELECT shipped_seq FROM audit_stream WHERE id = 1"
	var seq int64
	var err error
	if c.conn == nil {
		err = c.db.Write.WithContext(ctx).Raw(q).Row().Scan(&seq)
	} else {
		err = c.conn.QueryRowContext(ctx, q).Scan(&seq)
	}
	if err != nil {
		return 0, fmt.Errorf("audit stream position: %w", err)
	}
	return seq, nil
}

// advance moves the position from the stored seq to seq; it fails
// unless the row still holds from, which only another holder could have
// changed.
func (c *streamClaim) advance(ctx context.Context, from, seq int64, at time.Time) error {
	n, err := c.exec(ctx, "UPDATE audit_stream SET shipped_seq = ?, shipped_at = ? WHERE id = 1 AND shipped_seq = ?", seq, at.UTC(), from)
	if err != nil {
		return fmt.Errorf("audit stream position: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("audit stream position: no longer at seq %d, moved by another process", from)
	}
	return nil
}

// release gives the claim up: the lock's session or file is closed, so
// nothing of it can outlive this call.
func (c *streamClaim) release() {
	if c.conn != nil {
		discard(c.conn)
		return
	}
	c.file.Close()
}
