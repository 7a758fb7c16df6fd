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
	"net/mail"
	"strings"
	"time"

	"gorm.io/gorm"
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
	// #nosec G407 -- the nonce is out[1:], filled from crypto/rand just above; out is only its backing buffer
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
