package models

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// ActionAuditArchived records a month of the audit log archived to a file
// and its partition detached; its detail holds the month, the count and
// the first and last seq and hash.
const ActionAuditArchived Action = "audit.archived"

// ArchiveHeader is the first line of a month's archive file. The file is
// JSON Lines: this line, then every event of the month's partition in seq
// order as the audit stream writes them ({"type":"event",…}), then a
// checkpoint signed over the last event ({"type":"checkpoint",…}). The
// month's seqs need not be contiguous: an event's month is its time, and
// events appended around midnight of the month's end may interleave.
type ArchiveHeader struct {
	Type          string `json:"type"`  // "archive"
	Month         string `json:"month"` // 2006-01
	Partition     string `json:"partition"`
	Count         int64  `json:"count"`
	FirstSeq      int64  `json:"first_seq"`
	FirstPrevHash string `json:"first_prev_hash"`
	LastSeq       int64  `json:"last_seq"`
	LastHash      string `json:"last_hash"`
}

// PartitionName is the name of the partition of audit_events holding
// month's events.
func PartitionName(month time.Time) string {
	return "audit_events_" + month.UTC().Format("2006_01")
}

// ArchiveMonth writes the events of month's partition (PostgreSQL) to w
// as an archive file, signing its last event with key. The month must be
// over (before now's month) and its partition attached and not empty.
func ArchiveMonth(ctx context.Context, db *DB, month time.Time, w io.Writer, key ed25519.PrivateKey, now time.Time) (ArchiveHeader, error) {
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	if db.Dialect != Postgres {
		return ArchiveHeader{}, errors.New("archive: the audit log is partitioned by month only on PostgreSQL")
	}
	if !month.AddDate(0, 1, 0).Before(now.UTC()) {
		return ArchiveHeader{}, fmt.Errorf("archive: %s is not over yet", month.Format("2006-01"))
	}
	hdr := ArchiveHeader{Type: "archive", Month: month.Format("2006-01"), Partition: PartitionName(month)}
	err := withPgxTx(ctx, db, func(tx pgx.Tx) error {
		var attached bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = 'audit_events'::regclass
			AND inhrelid = to_regclass($1))`, hdr.Partition).Scan(&attached); err != nil {
			return err
		}
		if !attached {
			return fmt.Errorf("archive: no partition %s of audit_events (see gatehouse audit partitions)", hdr.Partition)
		}
		part := pgx.Identifier{hdr.Partition}.Sanitize()
		if err := tx.QueryRow(ctx, `SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0),
			coalesce((SELECT prev_hash FROM `+part+` ORDER BY seq LIMIT 1), ''),
			coalesce((SELECT hash FROM `+part+` ORDER BY seq DESC LIMIT 1), '') FROM `+part).Scan(
			&hdr.Count, &hdr.FirstSeq, &hdr.LastSeq, &hdr.FirstPrevHash, &hdr.LastHash); err != nil {
			return err
		}
		if hdr.Count == 0 {
			return fmt.Errorf("archive: partition %s is empty: nothing to archive", hdr.Partition)
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		line, err := json.Marshal(hdr)
		if err != nil {
			return err
		}
		if _, err := bw.Write(append(line, '\n')); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM "+part+" ORDER BY seq", pgx.QueryResultFormats{pgx.BinaryFormatCode})
		if err != nil {
			return err
		}
		defer rows.Close()
		var dec binaryEventDecoder
		var n int64
		for rows.Next() {
			ev, err := dec.decode(rows.RawValues())
			if err != nil {
				return err
			}
			n++
			if line, err = AppendJSONLine(line[:0], "event", ev); err != nil {
				return err
			}
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != hdr.Count {
			return fmt.Errorf("archive: read %d events of %s, counted %d", n, hdr.Partition, hdr.Count)
		}
		cp := SignCheckpoint(key, ChainHead{Seq: hdr.LastSeq, Hash: hdr.LastHash}, now)
		if line, err = json.Marshal(cp); err != nil {
			return err
		}
		if _, err := bw.Write(append(line, '\n')); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return ArchiveHeader{}, fmt.Errorf("archive %s: %w", month.Format("2006-01"), err)
	}
	return hdr, nil
}

// withPgxTx runs fn in a REPEATABLE READ, read-only pgx transaction on
// one connection of db (PostgreSQL).
func withPgxTx(ctx context.Context, db *DB, fn func(tx pgx.Tx) error) error {
	sqlDB, err := db.Read.DB()
	if err != nil {
		return err
	}
	return withPgxRead(ctx, sqlDB, "", fn)
}

// Archive is an archive file given to a verify.
type Archive struct {
	Name string // for messages
	R    io.Reader
}

// archiveStream yields an archive file's events in order and, at its end,
// checks that they are what its header and signed checkpoint say.
type archiveStream struct {
	name   string
	sc     *bufio.Scanner
	pub    ed25519.PublicKey
	hdr    ArchiveHeader
	n      int64
	first  AuditEvent
	last   AuditEvent
	cp     *Checkpoint
	closed bool
}

func openArchive(a Archive, pub ed25519.PublicKey) (*archiveStream, error) {
	sc := bufio.NewScanner(a.R)
	sc.Buffer(make([]byte, 0, 64<<10), maxStreamLine)
	s := &archiveStream{name: a.Name, sc: sc, pub: pub}
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("archive %s: %w", a.Name, err)
		}
		return nil, fmt.Errorf("archive %s: empty file", a.Name)
	}
	if json.Unmarshal(sc.Bytes(), &s.hdr) != nil || s.hdr.Type != "archive" || s.hdr.Count < 1 {
		return nil, fmt.Errorf("archive %s: the first line is not an archive header", a.Name)
	}
	return s, nil
}

func (s *archiveStream) fail(format string, args ...any) (AuditEvent, bool, error) {
	return AuditEvent{}, false, fmt.Errorf("archive %s (%s): %s", s.name, s.hdr.Month, fmt.Sprintf(format, args...))
}

func (s *archiveStream) next() (AuditEvent, bool, error) {
	if s.closed {
		return AuditEvent{}, false, nil
	}
	for s.sc.Scan() {
		var r struct {
			AuditRecord
			KeyID     string `json:"key_id"`
			Signature string `json:"signature"`
		}
		if err := json.Unmarshal(s.sc.Bytes(), &r); err != nil {
			return s.fail("line %d is not JSON", s.n+2)
		}
		switch r.Type {
		case "event":
			if s.cp != nil {
				return s.fail("an event follows the checkpoint")
			}
			ev := r.Event()
			if s.n > 0 && ev.Seq <= s.last.Seq {
				return s.fail("event %d follows event %d: not in seq order", ev.Seq, s.last.Seq)
			}
			if s.n == 0 {
				s.first = ev
			}
			s.n++
			s.last = ev
			return ev, true, nil
		case "checkpoint":
			if s.cp != nil {
				return s.fail("two checkpoints")
			}
			s.cp = &Checkpoint{Type: r.Type, Seq: r.Seq, Hash: r.Hash, At: r.At, KeyID: r.KeyID, Signature: r.Signature}
		default:
			return s.fail("line %d is neither an event nor a checkpoint", s.n+2)
		}
	}
	if err := s.sc.Err(); err != nil {
		return s.fail("%v", err)
	}
	s.closed = true
	h := s.hdr
	switch {
	case s.n != h.Count:
		return s.fail("holds %d events, its header says %d: events missing", s.n, h.Count)
	case s.first.Seq != h.FirstSeq || s.first.PrevHash != h.FirstPrevHash || s.last.Seq != h.LastSeq || s.last.Hash != h.LastHash:
		return s.fail("its events run from seq %d to %d, not as its header says (%d to %d, or other hashes)", s.first.Seq, s.last.Seq, h.FirstSeq, h.LastSeq)
	case s.cp == nil:
		return s.fail("no checkpoint line: the file was cut short")
	case s.cp.Seq != h.LastSeq || s.cp.Hash != h.LastHash:
		return s.fail("its checkpoint is of seq %d, not of its last event %d", s.cp.Seq, h.LastSeq)
	}
	if err := s.cp.Verify(s.pub); err != nil {
		return s.fail("%v", err)
	}
	return AuditEvent{}, false, nil
}

// mergeBySeq yields the events of every source in seq order (each source
// in seq order itself); archive events at or before after are skipped.
func mergeBySeq(db func() (AuditEvent, bool, error), archives []*archiveStream, after int64) func() (AuditEvent, bool, error) {
	type head struct {
		next func() (AuditEvent, bool, error)
		ev   AuditEvent
		ok   bool
	}
	heads := []*head{{next: db}}
	for _, a := range archives {
		next := a.next
		heads = append(heads, &head{next: func() (AuditEvent, bool, error) {
			for {
				ev, ok, err := next()
				if err != nil || !ok || ev.Seq > after {
					return ev, ok, err
				}
			}
		}})
	}
	primed := false
	return func() (AuditEvent, bool, error) {
		if !primed {
			primed = true
			for _, h := range heads {
				var err error
				if h.ev, h.ok, err = h.next(); err != nil {
					return AuditEvent{}, false, err
				}
			}
		}
		var min *head
		for _, h := range heads {
			if h.ok && (min == nil || h.ev.Seq < min.ev.Seq) {
				min = h
			}
		}
		if min == nil {
			return AuditEvent{}, false, nil
		}
		ev := min.ev
		var err error
		if min.ev, min.ok, err = min.next(); err != nil {
			return AuditEvent{}, false, err
		}
		return ev, true, nil
	}
}

// DetachArchivedMonth detaches hdr's partition from audit_events once its
// archive was written and verified: in the same transaction, holding the
// partition locked, it checks that the partition holds exactly the
// archived events (count, first and last seq and hash), or detaches
// nothing. The detached table is kept, not dropped.
func DetachArchivedMonth(ctx context.Context, db *DB, hdr ArchiveHeader) error {
	part := pgx.Identifier{hdr.Partition}.Sanitize()
	return db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("ALTER TABLE audit_events DETACH PARTITION " + part).Error; err != nil {
			return fmt.Errorf("detach %s: %w", hdr.Partition, err)
		}
		var got ArchiveHeader
		if err := tx.Raw(`SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0),
			coalesce((SELECT prev_hash FROM `+part+` ORDER BY seq LIMIT 1), ''),
			coalesce((SELECT hash FROM `+part+` ORDER BY seq DESC LIMIT 1), '') FROM `+part).Row().Scan(
			&got.Count, &got.FirstSeq, &got.LastSeq, &got.FirstPrevHash, &got.LastHash); err != nil {
			return fmt.Errorf("detach %s: %w", hdr.Partition, err)
		}
		if got.Count != hdr.Count || got.FirstSeq != hdr.FirstSeq || got.LastSeq != hdr.LastSeq ||
			got.FirstPrevHash != hdr.FirstPrevHash || got.LastHash != hdr.LastHash {
			return fmt.Errorf("detach %s: it holds %d events (seq %d to %d), the archive %d (seq %d to %d): nothing detached",
				hdr.Partition, got.Count, got.FirstSeq, got.LastSeq, hdr.Count, hdr.FirstSeq, hdr.LastSeq)
		}
		return nil
	})
}
