package models

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// shipBatch is how many events one write to the stream carries; the
// position moves after each.
const shipBatch = 500

// AuditShipper copies the audit log to a stream for a SIEM: each event in
// seq order as a JSON line {"type":"event",…}, and signed checkpoints of
// the chain head. Of all the replicas, only the one holding the stream's
// claim ships; the others try to take it on every round. The position
// shipped is kept in the database (audit_stream), moved after each batch
// is written (and synced, for a StreamFile), so after a crash the stream
// resumes at the first event not shipped: exactly once for a StreamFile,
// which is read back on claiming; at least once for any other writer.
type AuditShipper struct {
	db     *DB
	out    io.Writer          // nil: ship no events, only log checkpoints
	key    ed25519.PrivateKey // nil: no checkpoints
	now    func() time.Time
	log    *slog.Logger
	holder string // this process, as audit_stream names it

	claim  *streamClaim // nil while not held
	fresh  bool         // claimed and not yet resumed
	after  int64        // while claimed: seq of the last event in the stream
	stored int64        // while claimed: the position as stored
	buf    []byte
}

// NewAuditShipper prepares a shipper writing to out (a *StreamFile for a
// file shared by replicas).
func NewAuditShipper(db *DB, out io.Writer, key ed25519.PrivateKey, now func() time.Time, log *slog.Logger) *AuditShipper {
	host, _ := os.Hostname()
	return &AuditShipper{db: db, out: out, key: key, now: now, log: log, holder: host + ":" + strconv.Itoa(os.Getpid())}
}

// Ship writes every event not yet in the stream, up to the current head,
// when this shipper holds the stream's claim or can take it; otherwise it
// does nothing.
func (s *AuditShipper) Ship(ctx context.Context) error {
	if s.out == nil {
		return nil
	}
	_, err := s.round(ctx, s.ship)
	return err
}

// round runs fn holding the stream's claim, and the file's lock for a
// StreamFile; held is false, and fn not run, while another process holds
// the claim. On any error the claim is given up: the next round, here or
// in another replica, resumes from what the database and the file hold.
func (s *AuditShipper) round(ctx context.Context, fn func(context.Context) error) (held bool, err error) {
	if s.claim == nil {
		c, ok, err := claimStream(ctx, s.db)
		if err != nil || !ok {
			return false, err
		}
		s.claim, s.fresh = c, true
	}
	file, _ := s.out.(*StreamFile)
	if file != nil {
		if err := file.lock(ctx); err != nil {
			s.release()
			return true, err
		}
	}
	// Only now, with the file locked, is the claim checked: a replica that
	// takes the stream over reads the file's end under the same lock.
	err = s.claim.check(ctx)
	if err == nil && s.fresh {
		err = s.resume(ctx, file)
	}
	if err == nil {
		err = fn(ctx)
	}
	if file != nil {
		if uerr := file.unlock(); err == nil {
			err = uerr
		}
	}
	if err != nil {
		s.release()
	}
	return true, err
}

// resume finds where the stream stands after claiming it: after the
// stored position, or after the file's last event when the file holds
// more (a holder stopped between syncing the file and moving the
// position).
func (s *AuditShipper) resume(ctx context.Context, file *StreamFile) error {
	pos, err := s.claim.position(ctx)
	if err != nil {
		return err
	}
	head, err := locklessHead(s.db.Read.WithContext(ctx))
	if err != nil {
		return err
	}
	var last int64
	if file != nil {
		if last, err = file.resume(); err != nil {
			return err
		}
	}
	if top := max(pos, last); top > head.Seq {
		return fmt.Errorf("audit stream: shipped up to seq %d (position %d, the file's last event %d) but the chain ends at %d: events were removed, or the stream belongs to another database; not shipping", top, pos, last, head.Seq)
	}
	if _, err := s.claim.exec(ctx, "UPDATE audit_stream SET holder = ?, claimed_at = ? WHERE id = 1", s.holder, s.now().UTC()); err != nil {
		return fmt.Errorf("audit stream claim: %w", err)
	}
	s.after, s.stored, s.fresh = max(pos, last), pos, false
	if s.log != nil {
		s.log.Info("audit stream claimed", "holder", s.holder, "resume_after", s.after, "position", pos, "file_last_event", last)
	}
	return nil
}

// ship writes the events after s.after in batches; after each batch is
// written and synced, the position follows.
func (s *AuditShipper) ship(ctx context.Context) error {
	file, _ := s.out.(*StreamFile)
	for {
		var evs []AuditEvent
		err := s.db.Read.WithContext(ctx).Where("seq > ?", s.after).Order("seq ASC").Limit(shipBatch).Find(&evs).Error
		if err != nil {
			return fmt.Errorf("read audit events: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		s.buf = s.buf[:0]
		for _, ev := range evs {
			if s.buf, err = AppendJSONLine(s.buf, "event", ev); err != nil {
				return err
			}
		}
		if _, err := s.out.Write(s.buf); err != nil {
			return fmt.Errorf("audit stream: %w", err)
		}
		if file != nil {
			if err := file.f.Sync(); err != nil {
				return fmt.Errorf("audit stream: %w", err)
			}
		}
		last := evs[len(evs)-1].Seq
		if err := s.claim.advance(ctx, s.stored, last, s.now()); err != nil {
			return err
		}
		s.after, s.stored = last, last
		if len(evs) < shipBatch {
			return nil
		}
	}
}

// release gives the claim up, if held.
func (s *AuditShipper) release() {
	if s.claim != nil {
		s.claim.release()
		s.claim, s.fresh = nil, false
	}
}

// Checkpoint signs the chain head and keeps a copy. The holder of the
// stream first ships every event up to the head, and writes the
// checkpoint to the stream after them; any other shipper writes it only
// to the log.
func (s *AuditShipper) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if s.key == nil {
		return Checkpoint{}, errors.New("audit checkpoint: no signing key")
	}
	var cp Checkpoint
	if s.out != nil {
		held, err := s.round(ctx, func(ctx context.Context) error {
			var err error
			if cp, err = s.sign(ctx, true); err != nil {
				return err
			}
			b, err := json.Marshal(cp)
			if err != nil {
				return err
			}
			if _, err := s.out.Write(append(b, '\n')); err != nil {
				return fmt.Errorf("audit stream: %w", err)
			}
			if file, ok := s.out.(*StreamFile); ok {
				return file.f.Sync()
			}
			return nil
		})
		if err != nil {
			return Checkpoint{}, err
		}
		if held {
			s.logCheckpoint(cp)
			return cp, nil
		}
	}
	cp, err := s.sign(ctx, false)
	if err != nil {
		return Checkpoint{}, err
	}
	s.logCheckpoint(cp)
	return cp, nil
}

// sign signs the head as it is now (after shipping up to it, when ship)
// and keeps a copy for the dashboard.
func (s *AuditShipper) sign(ctx context.Context, ship bool) (Checkpoint, error) {
	head, err := locklessHead(s.db.Read.WithContext(ctx))
	if err != nil {
		return Checkpoint{}, err
	}
	if ship {
		if err := s.ship(ctx); err != nil {
			return Checkpoint{}, err
		}
	}
	cp := SignCheckpoint(s.key, head, s.now())
	if err := saveCheckpoint(ctx, s.db.Write, cp); err != nil {
		return Checkpoint{}, err
	}
	return cp, nil
}

func (s *AuditShipper) logCheckpoint(cp Checkpoint) {
	if s.log != nil {
		s.log.Info("audit checkpoint", "type", cp.Type, "seq", cp.Seq, "hash", cp.Hash, "at", cp.At, "key_id", cp.KeyID, "signature", cp.Signature)
	}
}

// Run ships on every tick of ship and writes a checkpoint on every tick
// of checkpoint, until ctx ends; then it ships what is left, writes a
// final checkpoint and gives the claim up, so another replica takes the
// stream over on its next tick. A failed round is logged and retried on
// the next tick.
func (s *AuditShipper) Run(ctx context.Context, ship, checkpoint <-chan time.Time) error {
	defer s.release()
	for {
		select {
		case <-ctx.Done():
			// The portal's context is gone; finish with a fresh one.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if s.key == nil {
				return s.Ship(fctx)
			}
			_, err := s.Checkpoint(fctx)
			return err
		case <-ship:
			if err := s.Ship(ctx); err != nil && s.log != nil && ctx.Err() == nil {
				s.log.Error("audit stream", "error", err)
			}
		case <-checkpoint:
			if s.key == nil {
				continue
			}
			if _, err := s.Checkpoint(ctx); err != nil && s.log != nil && ctx.Err() == nil {
				s.log.Error("audit checkpoint", "error", err)
			}
		}
	}
}
