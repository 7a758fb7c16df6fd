package models

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// VerifyOptions says where VerifyAuditWith starts.
type VerifyOptions struct {
	// From, when not nil, is a signed checkpoint the operator trusts
	// (such as the last one a previous verify checked): its signature is
	// checked with PublicKey, the event at its seq must still carry its
	// hash, and only the events after it are walked, up to the head. A
	// daily verify then costs the day's events, not the whole log.
	From      *Checkpoint
	PublicKey ed25519.PublicKey
	// Archives are archive files (ArchiveMonth) of months whose
	// partitions were detached: their events take their places in the
	// chain, each file checked against its header and its signed
	// checkpoint (with PublicKey).
	Archives []Archive
	// WithoutPartition verifies as if this partition of audit_events
	// were detached: the check of its archive before detaching it.
	WithoutPartition string
}

// VerifyAuditWith verifies the audit chain in db against its head, in one
// consistent snapshot, from the start or (opts.From) from a trusted
// checkpoint. A checkpoint whose signature does not verify is an error;
// one the chain no longer holds (its event rewritten, or the chain cut
// before it) is a broken chain at the checkpoint's seq. Memory stays
// bounded whatever the log's size: events are streamed in seq order.
func VerifyAuditWith(ctx context.Context, db *DB, opts VerifyOptions) (VerifyResult, error) {
	var from *ChainHead
	if opts.From != nil {
		if opts.PublicKey == nil {
			return VerifyResult{}, errors.New("verify audit: a checkpoint to start from needs the public key to check it with")
		}
		if err := opts.From.Verify(opts.PublicKey); err != nil {
			return VerifyResult{}, err
		}
		from = &ChainHead{Seq: opts.From.Seq, Hash: opts.From.Hash}
	}
	var archives []*archiveStream
	for _, a := range opts.Archives {
		if opts.PublicKey == nil {
			return VerifyResult{}, errors.New("verify audit: archives need the public key to check their checkpoints with")
		}
		s, err := openArchive(a, opts.PublicKey)
		if err != nil {
			return VerifyResult{}, err
		}
		archives = append(archives, s)
	}
	if opts.WithoutPartition != "" && db.Dialect != Postgres {
		return VerifyResult{}, errors.New("verify audit: partitions are PostgreSQL's")
	}
	var (
		res VerifyResult
		err error
	)
	if db.Dialect == Postgres {
		res, err = verifyPostgres(ctx, db, from, archives, opts.WithoutPartition)
	} else {
		res, err = verifyGeneric(ctx, db, from, archives)
	}
	if err != nil {
		return VerifyResult{}, fmt.Errorf("verify audit: %w", err)
	}
	return res, nil
}

// chainSource is what a verify reads from one snapshot of the database.
type chainSource struct {
	head   ChainHead
	hashAt func(seq int64) (hash string, found bool, err error)
	// after streams the events after seq, in seq order, to walk.
	after func(seq int64, walk eventWalk) error
	// spans, when above 1, is how many connections of the snapshot span
	// can read from at once (verifySpans).
	spans int
	span  spanReader
}

// verifyFrom walks the chain of src from from (nil: the genesis) to the head.
func verifyFrom(src chainSource, from *ChainHead, archives []*archiveStream) (VerifyResult, error) {
	head := src.head
	if head.Hash == "" {
		return VerifyResult{BrokenSeq: 1, Problem: "events written before the chain existed are not sealed yet (SealAuditChain)"}, nil
	}
	start := ChainHead{Hash: GenesisHash}
	if from != nil {
		start = *from
		res := VerifyResult{Seq: start.Seq, Head: start.Hash}
		if start.Seq > head.Seq {
			return res.broken(head.Seq+1, fmt.Sprintf("chain ends at seq %d before checkpoint seq %d: newer events were removed", head.Seq, start.Seq)), nil
		}
		hash, found := GenesisHash, true
		if start.Seq > 0 {
			var err error
			if hash, found, err = src.hashAt(start.Seq); err != nil {
				return VerifyResult{}, err
			}
		}
		if !found {
			return res.broken(start.Seq, fmt.Sprintf("event %d, the checkpoint's, is not in the database", start.Seq)), nil
		}
		if hash != start.Hash {
			return res.broken(start.Seq, fmt.Sprintf("event %d has hash %.12s…, the checkpoint signed %.12s…: the chain was rewritten", start.Seq, hash, start.Hash)), nil
		}
	}
	if src.spans > 1 && len(archives) == 0 && head.Seq-start.Seq >= verifySplitMin {
		if res, walked, err := verifySpans(src, src.spans, start, head); walked || err != nil {
			return res, err
		}
	}
	var res VerifyResult
	err := src.after(start.Seq, func(next func() (AuditEvent, bool, error)) error {
		if len(archives) > 0 {
			next = mergeBySeq(next, archives, start.Seq)
		}
		var err error
		res, err = VerifyChain(next, &start, &head)
		return err
	})
	return res, err
}

// verifyGeneric reads the chain through database/sql (SQLite), in one
// read transaction.
func verifyGeneric(ctx context.Context, db *DB, from *ChainHead, archives []*archiveStream) (VerifyResult, error) {
	var res VerifyResult
	opts := &sql.TxOptions{ReadOnly: true}
	if db.Dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	err := db.Read.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		head, err := locklessHead(tx)
		if err != nil {
			return err
		}
		src := chainSource{
			head: head,
			hashAt: func(seq int64) (string, bool, error) {
				var hashes []string
				if err := tx.Raw("SELECT hash FROM audit_events WHERE seq = ?", seq).Scan(&hashes).Error; err != nil {
					return "", false, fmt.Errorf("read audit event %d: %w", seq, err)
				}
				if len(hashes) == 0 {
					return "", false, nil
				}
				return hashes[0], true, nil
			},
			after: func(seq int64, walk eventWalk) error {
				rows, err := tx.Raw("SELECT "+auditColumns+" FROM audit_events WHERE seq > ? ORDER BY seq", seq).Rows()
				if err != nil {
					return fmt.Errorf("read audit events: %w", err)
				}
				defer rows.Close()
				var sc eventScanner
				return walk(func() (AuditEvent, bool, error) {
					if !rows.Next() {
						if err := rows.Err(); err != nil {
							return AuditEvent{}, false, fmt.Errorf("read audit events: %w", err)
						}
						return AuditEvent{}, false, nil
					}
					ev, err := sc.scan(rows)
					if err != nil {
						return AuditEvent{}, false, fmt.Errorf("read audit events: %w", err)
					}
					return ev, true, nil
				})
			},
		}
		res, err = verifyFrom(src, from, archives)
		return err
	}, opts)
	return res, err
}

// verifyPostgres reads the chain with pgx itself, in binary: one
// REPEATABLE READ, read-only transaction, the events streamed from a
// single query and decoded from their wire bytes (the database/sql scan
// cost more than the hashing). A long walk is read in spans on several
// connections that share the transaction's snapshot (verifySpans).
func verifyPostgres(ctx context.Context, db *DB, from *ChainHead, archives []*archiveStream, without string) (VerifyResult, error) {
	sqlDB, err := db.Read.DB()
	if err != nil {
		return VerifyResult{}, err
	}
	spans := 1
	if len(archives) == 0 && without == "" {
		// Leaving three quarters of the pool to the portal's requests
		// when the verify runs inside it.
		spans = verifySpanCount()
		if pool := sqlDB.Stats().MaxOpenConnections; pool > 0 {
			spans = min(spans, pool/4)
		}
	}
	res, err := verifyPostgresIn(ctx, sqlDB, from, archives, without, spans)
	if noSnapshot := (errNoSnapshot{}); errors.As(err, &noSnapshot) {
		// The server would not export the snapshot (a replica that
		// cannot, say): one walk on one connection.
		res, err = verifyPostgresIn(ctx, sqlDB, from, archives, without, 1)
	}
	return res, err
}

// errNoSnapshot is the server refusing to export a snapshot.
type errNoSnapshot struct{ err error }

func (e errNoSnapshot) Error() string { return "export the verify's snapshot: " + e.err.Error() }
func (e errNoSnapshot) Unwrap() error { return e.err }

// verifyPostgresIn is verifyPostgres in spans spans.
func verifyPostgresIn(ctx context.Context, sqlDB *sql.DB, from *ChainHead, archives []*archiveStream, without string, spans int) (VerifyResult, error) {
	var res VerifyResult
	err := withPgxRead(ctx, sqlDB, "", func(tx pgx.Tx) error {
		var head ChainHead
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&head.Seq, &head.Hash); err != nil {
			return fmt.Errorf("audit head: %w", err)
		}
		var snapshot string
		if spans > 1 {
			if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
				return errNoSnapshot{err}
			}
		}
		src := chainSource{
			head: head,
			hashAt: func(seq int64) (string, bool, error) {
				var hash string
				err := tx.QueryRow(ctx, "SELECT hash FROM audit_events WHERE seq = $1", seq).Scan(&hash)
				if errors.Is(err, pgx.ErrNoRows) {
					return "", false, nil
				}
				if err != nil {
					return "", false, fmt.Errorf("read audit event %d: %w", seq, err)
				}
				return hash, true, nil
			},
			after: func(seq int64, walk eventWalk) error { return pgEvents(ctx, tx, without, seq, -1, walk) },
			spans: spans,
			span: func(i int, lo, hi int64, walk eventWalk) error {
				if i == 0 {
					return pgEvents(ctx, tx, without, lo, hi, walk)
				}
				return withPgxRead(ctx, sqlDB, snapshot, func(tx pgx.Tx) error { return pgEvents(ctx, tx, without, lo, hi, walk) })
			},
		}
		var err error
		res, err = verifyFrom(src, from, archives)
		return err
	})
	return res, err
}

// pgEvents streams to walk the events with lo < seq <= hi (all after lo
// when hi < 0), in seq order and in binary, without those of the
// partition without when it is not empty.
func pgEvents(ctx context.Context, tx pgx.Tx, without string, lo, hi int64, walk eventWalk) error {
	q, args := "SELECT "+auditColumns+" FROM audit_events WHERE seq > $1", []any{pgx.QueryResultFormats{pgx.BinaryFormatCode}, lo}
	if hi >= 0 {
		args = append(args, hi)
		q += fmt.Sprintf(" AND seq <= $%d", len(args)-1)
	}
	if without != "" {
		args = append(args, without)
		q += fmt.Sprintf(" AND tableoid <> to_regclass($%d)", len(args)-1)
	}
	rows, err := tx.Query(ctx, q+" ORDER BY seq", args...)
	if err != nil {
		return fmt.Errorf("read audit events: %w", err)
	}
	defer rows.Close()
	var dec binaryEventDecoder
	return walk(func() (AuditEvent, bool, error) {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return AuditEvent{}, false, fmt.Errorf("read audit events: %w", err)
			}
			return AuditEvent{}, false, nil
		}
		ev, err := dec.decode(rows.RawValues())
		if err != nil {
			return AuditEvent{}, false, fmt.Errorf("read audit events: %w", err)
		}
		return ev, true, nil
	})
}

// withPgxRead runs fn in a REPEATABLE READ, read-only transaction on a
// connection of its own, in snapshot (an id pg_export_snapshot gave) when
// not empty.
func withPgxRead(ctx context.Context, sqlDB *sql.DB, snapshot string, fn func(pgx.Tx) error) error {
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres connection is a %T, not pgx's", dc)
		}
		tx, err := sc.Conn().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to keep
		if snapshot != "" {
			// SET TRANSACTION SNAPSHOT takes no parameter; the id is
			// pg_export_snapshot's own ("00000003-0000001B-1"), and
			// checked to be one before it is spliced in.
			if strings.Trim(snapshot, "0123456789ABCDEF-") != "" {
				return fmt.Errorf("exported snapshot %q is not an id", snapshot)
			}
			if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snapshot+"'"); err != nil {
				return fmt.Errorf("share the verify's snapshot: %w", err)
			}
		}
		return fn(tx)
	})
}

// binaryEventDecoder decodes a row of auditColumns in PostgreSQL's binary
// format: seq an int8, at a timestamptz (int8 microseconds since
// 2000-01-01 UTC), grant_id and breakglass_id nullable int8s, the rest
// text (the bytes themselves). The text columns of a row are copied into
// one string, which the event's fields slice.
type binaryEventDecoder struct {
	buf []byte
	ids []int64
}

// pgEpoch is PostgreSQL's timestamp epoch in Unix microseconds.
const pgEpoch = 946684800 * 1_000_000

func (d *binaryEventDecoder) decode(vals [][]byte) (AuditEvent, error) {
	if len(vals) != 18 {
		return AuditEvent{}, fmt.Errorf("%d columns, want 18", len(vals))
	}
	seq, ok := int8Value(vals[0])
	if !ok {
		return AuditEvent{}, errors.New("seq is not an int8")
	}
	us, ok := int8Value(vals[1])
	if !ok {
		return AuditEvent{}, fmt.Errorf("event %d: at is not a timestamptz", seq)
	}
	text := [...]int{2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17}
	var ends [len(text)]int
	d.buf = d.buf[:0]
	for i, c := range text {
		d.buf = append(d.buf, vals[c]...)
		ends[i] = len(d.buf)
	}
	all := string(d.buf)
	field := func(i int) string {
		if i == 0 {
			return all[:ends[0]]
		}
		return all[ends[i-1]:ends[i]]
	}
	grant, err := d.id(vals[8])
	if err != nil {
		return AuditEvent{}, fmt.Errorf("event %d: grant_id: %w", seq, err)
	}
	bg, err := d.id(vals[9])
	if err != nil {
		return AuditEvent{}, fmt.Errorf("event %d: breakglass_id: %w", seq, err)
	}
	return AuditEvent{
		Seq: seq, At: time.UnixMicro(us + pgEpoch).UTC(),
		Actor: field(0), ActorTier: field(1), Action: Action(field(2)), Workspace: field(3), Table: field(4), RecordIDs: field(5),
		GrantID: grant, BreakglassID: bg,
		Target: field(6), Reason: field(7), Detail: field(8), IP: field(9), UserAgent: field(10), RequestID: field(11),
		PrevHash: field(12), Hash: field(13),
	}, nil
}

func int8Value(b []byte) (int64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), true // #nosec G115 -- an int8's two's-complement bits
}

func (d *binaryEventDecoder) id(b []byte) (*int64, error) {
	if b == nil {
		return nil, nil
	}
	n, ok := int8Value(b)
	if !ok {
		return nil, errors.New("not an int8")
	}
	if len(d.ids) == cap(d.ids) {
		d.ids = make([]int64, 0, 1024)
	}
	d.ids = append(d.ids, n)
	return &d.ids[len(d.ids)-1], nil
}
