package models

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// WebhookSignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
// body under the configured secret, for the receiver to check.
const WebhookSignatureHeader = "X-Gatehouse-Signature"

// DefaultWebhookBackoff is how long a delivery waits after its first,
// second, … failure; the last delay repeats.
var DefaultWebhookBackoff = []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}

// webhookRow is a queued delivery of an alert to the webhook.
type webhookRow struct {
	ID            int64 `gorm:"primaryKey"`
	AlertID       int64
	Body          []byte
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	ClaimedUntil  *time.Time
	LastError     string
	SentAt        *time.Time
}

func (webhookRow) TableName() string { return "alert_webhooks" }

// WebhookAlert is the JSON body posted for a new alert.
type WebhookAlert struct {
	ID          int64     `json:"id"`
	Rule        string    `json:"rule"`
	Kind        string    `json:"kind"`
	Severity    string    `json:"severity"`
	SubjectKind string    `json:"subject_kind"`
	Subject     string    `json:"subject"`
	Workspace   string    `json:"workspace,omitempty"`
	Summary     string    `json:"summary"`
	OpenedAt    time.Time `json:"opened_at"`
}

// queueWebhook queues a's delivery in tx, the transaction that raised it.
func queueWebhook(tx *gorm.DB, now time.Time, a Alert) error {
	body, err := json.Marshal(WebhookAlert{
		ID: a.ID, Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, SubjectKind: a.SubjectKind,
		Subject: a.Subject, Workspace: a.Workspace, Summary: a.Summary, OpenedAt: a.OpenedAt.UTC(),
	})
	if err != nil {
		return err
	}
	r := webhookRow{AlertID: a.ID, Body: body, Status: MailQueued, NextAttemptAt: now.UTC()}
	if err := tx.Create(&r).Error; err != nil {
		return fmt.Errorf("alert %d webhook: %w", a.ID, err)
	}
	return nil
}

// SignWebhook is the signature header's value for body under secret.
func SignWebhook(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// WebhookWorker posts queued alerts to the webhook: it claims due rows
// with a lease in a short transaction (SKIP LOCKED on PostgreSQL), posts
// outside any transaction, then marks each sent or schedules a retry
// with backoff; after MaxAttempts a delivery is failed, with an audit
// event. A 2xx answer is success; anything else, or no answer within
// Timeout, is retried.
type WebhookWorker struct {
	DB          *DB
	URL         string
	Secret      []byte
	Client      *http.Client // http.DefaultClient's transport with Timeout when nil
	Now         func() time.Time
	Logger      *slog.Logger
	Timeout     time.Duration // one post (10s when 0)
	Poll        time.Duration // between rounds when idle (5s when 0)
	MaxAttempts int           // 8 when 0
	Backoff     []time.Duration
}

func (w *WebhookWorker) defaults() {
	if w.Timeout <= 0 {
		w.Timeout = 10 * time.Second
	}
	if w.Client == nil {
		w.Client = &http.Client{Timeout: w.Timeout}
	}
	if w.Poll <= 0 {
		w.Poll = 5 * time.Second
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 8
	}
	if w.Backoff == nil {
		w.Backoff = DefaultWebhookBackoff
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run delivers until ctx ends.
func (w *WebhookWorker) Run(ctx context.Context) error {
	w.defaults()
	return every(ctx, w.Poll, func() {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.Logger.Error("alert webhook", "error", err)
		}
	})
}

// RunOnce claims the due deliveries and posts each; it returns how many
// the webhook took.
func (w *WebhookWorker) RunOnce(ctx context.Context) (int, error) {
	w.defaults()
	now := w.Now().UTC()
	var rows []webhookRow
	err := w.DB.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Where("status = ? AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)", MailQueued, now, now).
			Order("next_attempt_at, id").Limit(10)
		if w.DB.Dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Find(&rows).Error; err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]int64, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
			rows[i].Attempts++
		}
		until := now.Add(time.Duration(len(rows))*w.Timeout + time.Minute)
		return tx.Model(&webhookRow{}).Where("id IN ?", ids).
			Updates(map[string]any{"claimed_until": until, "attempts": gorm.Expr("attempts + 1")}).Error
	})
	if err != nil {
		return 0, fmt.Errorf("alert webhook: claim: %w", err)
	}
	sent := 0
	for i := range rows {
		if ctx.Err() != nil {
			break // the lease runs out and another round retries
		}
		postErr := w.post(ctx, rows[i].Body)
		if err := w.record(ctx, &rows[i], postErr); err != nil {
			return sent, err
		}
		if postErr == nil {
			sent++
		}
	}
	return sent, nil
}

// post sends one body, signed.
func (w *WebhookWorker) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Alerts/1")
	req.Header.Set(WebhookSignatureHeader, SignWebhook(w.Secret, body))
	resp, err := w.Client.Do(req) // #nosec G704 -- the URL is the operator's setting, not a request's
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// record marks a delivery sent, or schedules its retry, or fails it for
// good with an audit event.
func (w *WebhookWorker) record(ctx context.Context, r *webhookRow, postErr error) error {
	now := w.Now().UTC()
	ctx = context.WithoutCancel(ctx)
	return w.DB.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cols := map[string]any{"claimed_until": nil}
		switch {
		case postErr == nil:
			cols["status"], cols["sent_at"], cols["last_error"] = MailSent, now, ""
		case r.Attempts >= w.MaxAttempts:
			cols["status"], cols["last_error"] = MailFailed, auditText(postErr.Error(), 500)
			if _, err := AppendAudit(ctx, tx, AuditEntry{
				At: now, Actor: SystemActor, Action: ActionAlertWebhookFailed, Target: alertTarget(r.AlertID),
				Reason: auditText(postErr.Error(), 500), Detail: map[string]any{"attempts": r.Attempts},
			}); err != nil {
				return err
			}
		default:
			delay := w.Backoff[min(r.Attempts, len(w.Backoff))-1]
			cols["next_attempt_at"], cols["last_error"] = now.Add(delay), auditText(postErr.Error(), 500)
		}
		return tx.Model(&webhookRow{}).Where("id = ?", r.ID).Updates(cols).Error
	})
}
