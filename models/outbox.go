package models

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Mail is one message to one recipient. Text and HTML are the two parts
// of a multipart/alternative body; both are sealed in the outbox. Subject
// and recipient are stored in clear and must never carry a secret (a
// consent link's token belongs in the body only).
type Mail struct {
	Kind      string // e.g. "consent.request", "request.approved"; free text, for the list and metrics
	To        string // one address
	Subject   string
	Text      string // plain-text part
	HTML      string // HTML part (rendered templ component)
	Workspace string // optional, for the record
	RequestID *int64 // optional
}

// Mail states in the outbox.
const (
	MailQueued = "queued"
	MailSent   = "sent"
	MailFailed = "failed"
)

// Outbox seals mail bodies on their way into the mail_outbox table and
// opens them on their way out. The key is derived from the portal's
// session key, so a database dump alone does not reveal the consent links
// the bodies carry.
type Outbox struct {
	aead cipher.AEAD
}

// outboxKeyInfo is the HKDF info string; a new format gets a new version.
const outboxKeyInfo = "gatehouse mail outbox v1"

// sealVersion prefixes every sealed body, so the format can change.
const sealVersion = 1

// NewOutbox derives the sealing key (HKDF-SHA256) from secret, the
// session key, which must be at least 32 bytes.
func NewOutbox(secret []byte) (*Outbox, error) {
	if len(secret) < 32 {
		return nil, errors.New("outbox: secret shorter than 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, outboxKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("outbox key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Outbox{aead: aead}, nil
}

// mailParts is the plaintext of a sealed body.
type mailParts struct {
	Text string `json:"text"`
	HTML string `json:"html"`
}

// additionalData binds a sealed body to the clear columns of its row, so
// a body moved to another row (another recipient) does not open.
func additionalData(kind, to, subject string) []byte {
	return []byte(kind + "\x00" + to + "\x00" + subject)
}

func (o *Outbox) seal(kind, to, subject string, p mailParts) ([]byte, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+o.aead.NonceSize(), 1+o.aead.NonceSize()+len(plain)+o.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return o.aead.Seal(out, out[1:], plain, additionalData(kind, to, subject)), nil
}

func (o *Outbox) open(r *outboxRow) (mailParts, error) {
	n := o.aead.NonceSize()
	if len(r.Body) < 1+n || r.Body[0] != sealVersion {
		return mailParts{}, errors.New("sealed body has an unknown format")
	}
	plain, err := o.aead.Open(nil, r.Body[1:1+n], r.Body[1+n:], additionalData(r.Kind, r.ToAddr, r.Subject))
	if err != nil {
		return mailParts{}, errors.New("sealed body does not open (was the session key changed?)")
	}
	var p mailParts
	if err := json.Unmarshal(plain, &p); err != nil {
		return mailParts{}, fmt.Errorf("sealed body: %w", err)
	}
	return p, nil
}

// outboxRow is a row of mail_outbox.
type outboxRow struct {
	ID            int64 `gorm:"primaryKey"`
	Kind          string
	ToAddr        string
	Subject       string
	Body          []byte
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	ClaimedUntil  *time.Time
	ClaimedBy     string
	Workspace     string
	RequestID     *int64
	CreatedAt     time.Time
	SentAt        *time.Time
}

func (outboxRow) TableName() string { return "mail_outbox" }

// Enqueue seals m and adds it to the outbox inside tx, the transaction
// of the change the mail tells about: the mail exists if and only if the
// change was committed. It returns the mail's id.
func (o *Outbox) Enqueue(ctx context.Context, tx *gorm.DB, now time.Time, m Mail) (int64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	body, err := o.seal(m.Kind, m.To, m.Subject, mailParts{Text: m.Text, HTML: m.HTML})
	if err != nil {
		return 0, fmt.Errorf("outbox: seal: %w", err)
	}
	now = now.UTC()
	r := outboxRow{
		Kind: m.Kind, ToAddr: m.To, Subject: m.Subject, Body: body, Status: MailQueued,
		NextAttemptAt: now, Workspace: m.Workspace, RequestID: m.RequestID, CreatedAt: now,
	}
	if err := tx.WithContext(ctx).Create(&r).Error; err != nil {
		return 0, fmt.Errorf("outbox: enqueue %s mail: %w", m.Kind, err)
	}
	return r.ID, nil
}

// check refuses a mail that cannot be sent or could smuggle headers.
func (m Mail) check() error {
	var problems []string
	if m.Kind == "" {
		problems = append(problems, "no kind")
	}
	if a, err := mail.ParseAddress(m.To); err != nil || a.Address != m.To {
		problems = append(problems, fmt.Sprintf("recipient %q is not one plain address", m.To))
	}
	if strings.TrimSpace(m.Subject) == "" || strings.ContainsAny(m.Subject, "\r\n") {
		problems = append(problems, "subject empty or on several lines")
	}
	if strings.TrimSpace(m.Text) == "" {
		problems = append(problems, "no plain-text part")
	}
	if len(problems) > 0 {
		return fmt.Errorf("outbox: mail %s: %s", m.Kind, strings.Join(problems, "; "))
	}
	return nil
}

// OutboxMail is a mail in the outbox with its delivery state, opened.
type OutboxMail struct {
	ID int64
	Mail
	Status        string // MailQueued, MailSent or MailFailed
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	SentAt        *time.Time
	// Unreadable is set, and Text and HTML empty, when the body does not
	// open (a mail sealed under another session key).
	Unreadable bool
}

func (o *Outbox) mailOf(r *outboxRow) OutboxMail {
	m := OutboxMail{
		ID:     r.ID,
		Mail:   Mail{Kind: r.Kind, To: r.ToAddr, Subject: r.Subject, Workspace: r.Workspace, RequestID: r.RequestID},
		Status: r.Status, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LastError: r.LastError,
		CreatedAt: r.CreatedAt, SentAt: r.SentAt,
	}
	if p, err := o.open(r); err != nil {
		m.Unreadable = true
	} else {
		m.Text, m.HTML = p.Text, p.HTML
	}
	return m
}

// List returns the newest mails of the outbox, whatever their state,
// newest first and opened: the development mailbox.
func (o *Outbox) List(ctx context.Context, db *gorm.DB, limit int) ([]OutboxMail, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var rows []outboxRow
	if err := db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	out := make([]OutboxMail, len(rows))
	for i := range rows {
		out[i] = o.mailOf(&rows[i])
	}
	return out, nil
}

// Get returns one mail of the outbox, opened.
func (o *Outbox) Get(ctx context.Context, db *gorm.DB, id int64) (OutboxMail, error) {
	var r outboxRow
	err := db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return OutboxMail{}, fmt.Errorf("mail %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return OutboxMail{}, fmt.Errorf("outbox: mail %d: %w", id, err)
	}
	return o.mailOf(&r), nil
}

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

// mailActor is who the audit log names for the worker's events.
var mailActor = Actor{Email: "gatehouse", Tier: "system"}

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
		At: now, Actor: mailActor, Action: action, Workspace: r.Workspace,
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
// coming, otherwise every PollInterval.
func (w *MailWorker) Run(ctx context.Context) {
	w.defaults()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
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
