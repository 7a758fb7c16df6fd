package models

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// MailSender delivers one mail; models/mailer has the SMTP one.
type MailSender interface {
	Send(ctx context.Context, m Mail) error
}

// DefaultMailBackoff is how long a mail waits after its first, second, …
// failed attempt; the last delay repeats.
var DefaultMailBackoff = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}

// MailWorker sends the outbox's due mails. Several workers (one per
// replica) may run against one database: each claims rows by setting a
// lease on them in a short transaction (FOR UPDATE SKIP LOCKED on
// PostgreSQL; SQLite has a single writer), sends outside it, then marks
// each mail sent, or schedules a retry, in a transaction with its audit
// event.
//
// Delivery is at least once, as SMTP offers nothing better: a mail the
// server accepted is sent again only if the worker stops (crash, lost
// database) between the server's acceptance and the commit of "sent",
// after its lease ran out. A worker never starts a send that its lease
// might not cover, so a slow worker does not cause a second send.
type MailWorker struct {
	DB     *DB
	Outbox *Outbox
	Sender MailSender
	Now    func() time.Time
	Logger *slog.Logger

	// ID names this worker in claimed_by; a random one when empty.
	ID string
	// Batch is how many mails one claim takes (10 when 0).
	Batch int
	// PollInterval is how long Run waits when nothing is due (5s when 0).
	PollInterval time.Duration
	// SendTimeout bounds one delivery (30s when 0).
	SendTimeout time.Duration
	// MaxAttempts is how many deliveries a mail gets before it is marked
	// failed (6 when 0).
	MaxAttempts int
	// Backoff are the delays after each failed attempt (DefaultMailBackoff
	// when nil).
	Backoff []time.Duration
	// Observe, when set, is told each outcome: "sent", "retry" or "failed".
	Observe func(outcome string)
}

func (w *MailWorker) defaults() {
	if w.ID == "" {
		w.ID = "worker-" + rand.Text()[:10]
	}
	if w.Batch <= 0 {
		w.Batch = 10
	}
	if w.PollInterval <= 0 {
		w.PollInterval = 5 * time.Second
	}
	if w.SendTimeout <= 0 {
		w.SendTimeout = 30 * time.Second
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 6
	}
	if w.Backoff == nil {
		w.Backoff = DefaultMailBackoff
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
}

// lease is how long a claim holds: every send of a batch, one after the
// other, at their longest, and a margin.
func (w *MailWorker) lease() time.Duration {
	return time.Duration(w.Batch)*w.SendTimeout + time.Minute
}

// RunOnce claims one batch of due mails and delivers them. It returns how
// many were sent and how many attempts failed (to be retried, or marked
// failed for good).
func (w *MailWorker) RunOnce(ctx context.Context) (sent, failed int, err error) {
	w.defaults()
	now := w.Now().UTC()
	until := now.Add(w.lease())
	rows, err := w.claim(ctx, now, until)
	if err != nil {
		return 0, 0, err
	}
	for i := range rows {
		r := &rows[i]
		// Stop at shutdown, and never begin a send the lease may not
		// cover: another worker could take the mail when it runs out.
		if ctx.Err() != nil || !w.Now().Add(w.SendTimeout).Before(until) {
			if err := w.release(context.WithoutCancel(ctx), rows[i:]); err != nil {
				return sent, failed, err
			}
			break
		}
		ok, err := w.deliver(ctx, r)
		if err != nil {
			return sent, failed, err
		}
		if ok {
			sent++
		} else {
			failed++
		}
	}
	return sent, failed, nil
}

// claim leases up to Batch due mails to this worker and counts the
// attempt (so a mail that kills its worker still runs out of attempts).
func (w *MailWorker) claim(ctx context.Context, now, until time.Time) ([]outboxRow, error) {
	var rows []outboxRow
	err := w.DB.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Where("status = ? AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)", MailQueued, now, now).
			Order("next_attempt_at, id").Limit(w.Batch)
		if w.DB.Dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]int64, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
			rows[i].Attempts++
		}
		return tx.Model(&outboxRow{}).Where("id IN ?", ids).Updates(map[string]any{
			"claimed_until": until, "claimed_by": w.ID, "attempts": gorm.Expr("attempts + 1"),
		}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	return rows, nil
}

// release gives unsent claimed mails back, their attempt uncounted.
func (w *MailWorker) release(ctx context.Context, rows []outboxRow) error {
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	err := w.DB.Write.WithContext(ctx).Model(&outboxRow{}).Where("id IN ? AND claimed_by = ? AND status = ?", ids, w.ID, MailQueued).
		Updates(map[string]any{"claimed_until": nil, "claimed_by": "", "attempts": gorm.Expr("attempts - 1")}).Error
	if err != nil {
		return fmt.Errorf("outbox: release: %w", err)
	}
	return nil
}

// deliver sends one claimed mail and records the outcome.
func (w *MailWorker) deliver(ctx context.Context, r *outboxRow) (bool, error) {
	parts, err := w.Outbox.open(r)
	if err == nil {
		m := Mail{Kind: r.Kind, To: r.ToAddr, Subject: r.Subject, Text: parts.Text, HTML: parts.HTML, Workspace: r.Workspace, RequestID: r.RequestID}
		// An in-flight send finishes at shutdown: cutting it short would
		// leave the server's acceptance unknown.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.SendTimeout)
		err = w.Sender.Send(sctx, m)
		cancel()
		if err == nil {
			return true, w.markSent(context.WithoutCancel(ctx), r)
		}
	} else {
		err = fmt.Errorf("%w: %w", ErrMailRejected, err)
	}
	return false, w.markFailed(context.WithoutCancel(ctx), r, err)
}

func (w *MailWorker) markSent(ctx context.Context, r *outboxRow) error {
	now := w.Now().UTC()
	err := w.DB.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&outboxRow{}).Where("id = ? AND claimed_by = ? AND status = ?", r.ID, w.ID, MailQueued).
			Updates(map[string]any{"status": MailSent, "sent_at": now, "claimed_until": nil, "last_error": ""})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			// The lease ran out and another worker holds the mail: it
			// will send it again and record that.
			w.Logger.Warn("mail sent after its lease ran out; it may be sent twice", "mail_id", r.ID, "kind", r.Kind)
			return nil
		}
		return w.audit(ctx, tx, now, ActionMailSent, r, "")
	})
	if err != nil {
		return fmt.Errorf("outbox: mark mail %d sent: %w", r.ID, err)
	}
	w.observe(MailSent)
	w.Logger.Info("mail sent", "mail_id", r.ID, "kind", r.Kind, "attempts", r.Attempts)
	return nil
}

func (w *MailWorker) markFailed(ctx context.Context, r *outboxRow, sendErr error) error {
	now := w.Now().UTC()
	msg := sendErr.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	final := r.Attempts >= w.MaxAttempts || errors.Is(sendErr, ErrMailRejected)
	upd := map[string]any{"claimed_until": nil, "last_error": msg}
	if final {
		upd["status"] = MailFailed
	} else {
		upd["next_attempt_at"] = now.Add(w.Backoff[min(r.Attempts, len(w.Backoff))-1])
	}
	lost := false
	err := w.DB.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&outboxRow{}).Where("id = ? AND claimed_by = ? AND status = ?", r.ID, w.ID, MailQueued).Updates(upd)
		lost = res.Error == nil && res.RowsAffected == 0
		if res.Error != nil || lost || !final {
			return res.Error
		}
		return w.audit(ctx, tx, now, ActionMailFailed, r, msg)
	})
	if err != nil {
		return fmt.Errorf("outbox: mark mail %d failed: %w", r.ID, err)
	}
	switch {
	case lost:
		// Another worker holds the mail since our lease ran out.
		w.Logger.Warn("mail not sent, and its lease ran out", "mail_id", r.ID, "kind", r.Kind, "error", msg)
	case final:
		w.observe(MailFailed)
		w.Logger.Error("mail failed for good", "mail_id", r.ID, "kind", r.Kind, "attempts", r.Attempts, "error", msg)
	default:
		w.observe("retry")
		w.Logger.Warn("mail not sent; will retry", "mail_id", r.ID, "kind", r.Kind, "attempts", r.Attempts, "next_attempt_at", upd["next_attempt_at"], "error", msg)
	}
	return nil
}

func (w *MailWorker) audit(ctx context.Context, tx *gorm.DB, now time.Time, action Action, r *outboxRow, why string) error {
	detail := map[string]any{"kind": r.Kind, "to": r.ToAddr, "attempts": r.Attempts}
	if r.RequestID != nil {
		detail["request_id"] = *r.RequestID
	}
	_, err := AppendAudit(ctx, tx, AuditEntry{
		At: now, Actor: SystemActor, Action: action, Workspace: r.Workspace,
		Target: "mail:" + strconv.FormatInt(r.ID, 10), Reason: why, Detail: detail,
	})
	return err
}

func (w *MailWorker) observe(outcome string) {
	if w.Observe != nil {
		w.Observe(outcome)
	}
}

// Run delivers due mails until ctx ends: at once while full batches keep
// coming, otherwise every PollInterval. It returns nil when ctx ends.
func (w *MailWorker) Run(ctx context.Context) error {
	w.defaults()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		sent, failed, err := w.RunOnce(ctx)
		wait := w.PollInterval
		switch {
		case err != nil && ctx.Err() == nil:
			w.Logger.Error("mail worker", "error", err)
		case err == nil && sent+failed == w.Batch:
			wait = 0
		}
		t.Reset(wait)
	}
}
