package models

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
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
	// after streams the events after seq, in seq order.
	after func(seq int64) (next func() (AuditEvent, bool, error), err error)
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
	next, err := src.after(start.Seq)
	if err != nil {
		return VerifyResult{}, err
	}
	if len(archives) > 0 {
		next = mergeBySeq(next, archives, start.Seq)
	}
	return VerifyChain(next, &start, &head)
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
		var rows *sql.Rows
		defer func() {
			if rows != nil {
				rows.Close()
			}
		}()
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
			after: func(seq int64) (func() (AuditEvent, bool, error), error) {
				var err error
				rows, err = tx.Raw("SELECT "+auditColumns+" FROM audit_events WHERE seq > ? ORDER BY seq", seq).Rows()
				if err != nil {
					return nil, fmt.Errorf("read audit events: %w", err)
				}
				var sc eventScanner
				return func() (AuditEvent, bool, error) {
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
				}, nil
			},
		}
		res, err = verifyFrom(src, from, archives)
		return err
	}, opts)
	return res, err
}

// verifyPostgres reads the chain with pgx itself, in binary: one
// REPEATABLE READ, read-only transaction on one connection, the events
// streamed from a single query and decoded from their wire bytes (the
// database/sql scan cost more than the hashing).
func verifyPostgres(ctx context.Context, db *DB, from *ChainHead, archives []*archiveStream, without string) (VerifyResult, error) {
	sqlDB, err := db.Read.DB()
	if err != nil {
		return VerifyResult{}, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return VerifyResult{}, err
	}
	defer conn.Close()
	var res VerifyResult
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres connection is a %T, not pgx's", dc)
		}
		tx, err := sc.Conn().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to keep
		var head ChainHead
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&head.Seq, &head.Hash); err != nil {
			return fmt.Errorf("audit head: %w", err)
		}
		var rows pgx.Rows
		defer func() {
			if rows != nil {
				rows.Close()
			}
		}()
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
			after: func(seq int64) (func() (AuditEvent, bool, error), error) {
				var err error
				q, args := "SELECT "+auditColumns+" FROM audit_events WHERE seq > $1", []any{pgx.QueryResultFormats{pgx.BinaryFormatCode}, seq}
				if without != "" {
					q += " AND tableoid <> to_regclass($2)"
					args = append(args, without)
				}
				rows, err = tx.Query(ctx, q+" ORDER BY seq", args...)
				if err != nil {
					return nil, fmt.Errorf("read audit events: %w", err)
				}
				var dec binaryEventDecoder
				return func() (AuditEvent, bool, error) {
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
				}, nil
			},
		}
		res, err = verifyFrom(src, from, archives)
		return err
	})
	return res, err
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
