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

// A round, once begun, is not cut short when the shipper is told to stop:
// a write broken off halfway would cost the claim, which a replica gets
// back only once the server has ended the old session. It stops between
// batches instead, when told to or after its round time (a catch-up goes
// on in the next round), and its database work has roundTimeout.
const (
	defaultRoundTime = 5 * time.Second
	roundTimeout     = 30 * time.Second
)

// errStopped: a round ended between batches, with more to ship.
var errStopped = errors.New("audit stream: round ended between batches")

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
	// roundTime is how long a round ships before it leaves the rest to
	// the next (defaultRoundTime).
	roundTime time.Duration

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
	return &AuditShipper{
		db:        db,
		out:       out,
		key:       key,
		now:       now,
		log:       log,
		holder:    host + ":" + strconv.Itoa(os.Getpid()),
		roundTime: defaultRoundTime,
	}
}

// Ship writes every event not yet in the stream, up to the current head,
// when this shipper holds the stream's claim or can take it; otherwise it
// does nothing.
func (s *AuditShipper) Ship(ctx context.Context) error {
	if s.out == nil {
		return nil
	}
	_, err := s.round(ctx, func(work context.Context) error { return s.ship(work, ctx) })
	if errors.Is(err, errStopped) {
		return nil // the next round goes on
	}
	return err
}

// round runs fn holding the stream's claim, and the file's lock for a
// StreamFile; held is false, and fn not run, while another process holds
// the claim. fn works with a context that ctx's end does not cancel. On
// any error but errStopped the claim is given up: the next round, here or
// in another replica, resumes from what the database and the file hold.
func (s *AuditShipper) round(ctx context.Context, fn func(work context.Context) error) (held bool, err error) {
	if err := ctx.Err(); err != nil {
		return s.claim != nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), roundTimeout)
	defer cancel()
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
	if err != nil && !errors.Is(err, errStopped) {
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
// written and synced, the position follows. Between batches it ends the
// round with errStopped once stop has ended or after s.roundTime.
func (s *AuditShipper) ship(ctx, stop context.Context) error {
	file, _ := s.out.(*StreamFile)
	begun := time.Now()
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
		if stop.Err() != nil || time.Since(begun) >= s.roundTime {
			return errStopped
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
// checkpoint to the stream after them; any other shipper, or the holder
// still catching up, writes it only to the log.
func (s *AuditShipper) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if s.key == nil {
		return Checkpoint{}, errors.New("audit checkpoint: no signing key")
	}
	var cp Checkpoint
	if s.out != nil {
		held, err := s.round(ctx, func(work context.Context) error {
			var err error
			if cp, err = s.sign(work, ctx); err != nil {
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
		if err != nil && !errors.Is(err, errStopped) {
			return Checkpoint{}, err
		}
		if held && err == nil {
			s.logCheckpoint(cp)
			return cp, nil
		}
	}
	cp, err := s.sign(ctx, nil)
	if err != nil {
		return Checkpoint{}, err
	}
	s.logCheckpoint(cp)
	return cp, nil
}

// sign signs the head as it is now and keeps a copy for the dashboard;
// with a stop context, as the holder of the stream, it first ships up to
// the head.
func (s *AuditShipper) sign(ctx, stop context.Context) (Checkpoint, error) {
	head, err := locklessHead(s.db.Read.WithContext(ctx))
	if err != nil {
		return Checkpoint{}, err
	}
	if stop != nil {
		if err := s.ship(ctx, stop); err != nil {
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
