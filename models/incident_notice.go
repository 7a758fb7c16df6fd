package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// IncidentNotice is a notice to the owners of an incident's affected
// workspaces, as its author wrote it; the mail adds each workspace's
// facts. It is sent when a sysadmin other than its author approves it.
type IncidentNotice struct {
	ID         int64 `gorm:"primaryKey"`
	IncidentID int64
	Body       string
	AuthorID   int64
	CreatedAt  time.Time
	ApprovedBy *int64
	ApprovedAt *time.Time
}

// TableName is the incident notices table's name.
func (IncidentNotice) TableName() string { return "incident_notices" }

// Approved reports whether the notice was approved, and so sent.
func (n IncidentNotice) Approved() bool { return n.ApprovedBy != nil }

// IncidentDelivery is one owner's copy of an approved notice: its mail in
// the outbox and the link to read it, of which only the hash is kept.
type IncidentDelivery struct {
	ID        int64 `gorm:"primaryKey"`
	NoticeID  int64
	Workspace string
	Recipient string
	MailID    int64
	TokenHash string
	CreatedAt time.Time
}

// TableName is the incident deliveries table's name.
func (IncidentDelivery) TableName() string { return "incident_deliveries" }

// BreachNotice is the mail of an incident notice to one owner of one
// affected workspace, with the facts of that workspace and the owner's
// link (Token) to read it again.
type BreachNotice struct {
	Incident  Incident
	Notice    IncidentNotice
	Workspace AffectedWorkspace
	Owner     string
	Token     string
	FollowUp  bool
}

func (n BreachNotice) address() (string, string, *int64) { return n.Owner, n.Workspace.Slug, nil }

// IncidentLinkValid is how long an owner's link to a notice can be read.
const IncidentLinkValid = 90 * 24 * time.Hour

// IncidentTokenHash is the stored form of a notice link's token. Its
// prefix differs from the other links', so no kind of token opens another.
func IncidentTokenHash(token string) string {
	sum := sha256.Sum256([]byte("gatehouse incident notice v1\x00" + token))
	return hex.EncodeToString(sum[:])
}

// DraftNotice records a notice written by authorID for incident id. The
// incident must be open and have affected workspaces.
func DraftNotice(ctx context.Context, db *gorm.DB, act Act, id, authorID int64, body string) (IncidentNotice, error) {
	body = strings.TrimSpace(body)
	if err := CheckReason(body, 40); err != nil {
		return IncidentNotice{}, Invalid("body", noteMessage(err, "Write the notice in sentences the customer can act on (at least 40 characters)."))
	}
	n := IncidentNotice{IncidentID: id, Body: body, AuthorID: authorID, CreatedAt: act.Now.UTC()}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockActiveSysadminFor(tx, authorID); err != nil {
			return err
		}
		inc, err := lockOpenIncident(tx, id)
		if err != nil {
			return err
		}
		if inc.Affected == "" {
			return conflictf("Find the affected workspaces first: a notice goes to their owners.")
		}
		if err := tx.Create(&n).Error; err != nil {
			return err
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{
			At: act.Now, Actor: act.By, Action: ActionIncidentNoticeDrafted, Target: IncidentTarget(id),
			Detail: map[string]any{"notice": n.ID},
		})
		return err
	})
	if err != nil {
		return IncidentNotice{}, fmt.Errorf("draft notice: %w", err)
	}
	return n, nil
}

// FindNotice returns notice nid of incident id, or a wrapped ErrNotFound.
func FindNotice(ctx context.Context, db *gorm.DB, id, nid int64) (IncidentNotice, error) {
	var n IncidentNotice
	err := db.WithContext(ctx).Where("id = ? AND incident_id = ?", nid, id).Take(&n).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return n, fmt.Errorf("notice %d of incident %d: %w", nid, id, ErrNotFound)
	}
	return n, err
}

// ListNotices returns an incident's notices, oldest first.
func ListNotices(ctx context.Context, db *gorm.DB, id int64) ([]IncidentNotice, error) {
	var out []IncidentNotice
	if err := db.WithContext(ctx).Where("incident_id = ?", id).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("notices of incident %d: %w", id, err)
	}
	return out, nil
}

// NoticeApproval is a second sysadmin's approval of a notice. Owners are
// the owners of each affected workspace, read from the registry before
// the transaction; a follow-up goes to the recipients of the first
// notice sent instead.
type NoticeApproval struct {
	Incident   int64
	Notice     int64
	ApproverID int64
	Owners     map[string][]string
}

// ApproveNotice approves a notice and sends it, in one transaction: one
// mail per owner of each affected workspace (each owner once per
// workspace), each with its own link, through the outbox, and the
// incident.notice_approved event. The author cannot approve their own
// (ErrIncidentRefused); of racing approvals exactly one wins, the others
// get a ConflictError and nothing is sent twice.
func ApproveNotice(ctx context.Context, db *gorm.DB, act Act, post Post, a NoticeApproval) (int, error) {
	if post.Outbox == nil || post.Letters == nil {
		return 0, errors.New("approve notice: letters and an outbox are required")
	}
	sent := 0
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockActiveSysadminFor(tx, a.ApproverID); err != nil {
			return err
		}
		inc, err := lockOpenIncident(tx, a.Incident)
		if err != nil {
			return err
		}
		n, err := FindNotice(ctx, tx, a.Incident, a.Notice)
		if err != nil {
			return err
		}
		if n.AuthorID == a.ApproverID {
			return fmt.Errorf("notice %d: its author cannot approve it: %w", n.ID, ErrIncidentRefused)
		}
		now := act.Now.UTC()
		res := tx.Model(&IncidentNotice{}).Where("id = ? AND approved_by IS NULL AND author_id <> ?", n.ID, a.ApproverID).
			Updates(map[string]any{"approved_by": a.ApproverID, "approved_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return conflictf("This notice has already been approved and sent by another sysadmin. Nothing was sent again.")
		}
		n.ApprovedBy, n.ApprovedAt = &a.ApproverID, &now
		recipients, followUp, err := noticeRecipients(tx, inc, a.Owners)
		if err != nil {
			return err
		}
		for _, r := range recipients {
			raw := make([]byte, 32)
			rand.Read(raw) // never fails (crypto/rand)
			token := base64.RawURLEncoding.EncodeToString(raw)
			id, err := post.enqueue(ctx, tx, now, BreachNotice{Incident: inc, Notice: n, Workspace: r.ws, Owner: r.to, Token: token, FollowUp: followUp})
			if err != nil {
				return err
			}
			d := IncidentDelivery{NoticeID: n.ID, Workspace: r.ws.Slug, Recipient: r.to, MailID: id, TokenHash: IncidentTokenHash(token), CreatedAt: now}
			if err := tx.Create(&d).Error; err != nil {
				return err
			}
		}
		sent = len(recipients)
		_, err = AppendAudit(ctx, tx, AuditEntry{
			At: act.Now, Actor: act.By, Action: ActionIncidentNoticeApproved, Target: IncidentTarget(inc.ID),
			Detail: map[string]any{"notice": n.ID, "author": n.AuthorID, "follow_up": followUp, "recipients": len(recipients)},
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("approve notice %d: %w", a.Notice, err)
	}
	return sent, nil
}

type recipient struct {
	ws AffectedWorkspace
	to string
}

// noticeRecipients are who an incident's next notice goes to: the
// recipients of its first notice sent, when there is one (a follow-up),
// or else each owner of each affected workspace, once.
func noticeRecipients(tx *gorm.DB, inc Incident, owners map[string][]string) ([]recipient, bool, error) {
	ws, err := inc.Workspaces()
	if err != nil {
		return nil, false, err
	}
	bySlug := map[string]AffectedWorkspace{}
	for _, w := range ws {
		bySlug[w.Slug] = w
	}
	var first IncidentNotice
	err = tx.Where("incident_id = ? AND approved_by IS NOT NULL AND id IN (SELECT notice_id FROM incident_deliveries)", inc.ID).Order("approved_at, id").Take(&first).Error
	switch {
	case err == nil:
		var ds []IncidentDelivery
		if err := tx.Where("notice_id = ?", first.ID).Order("workspace, recipient").Find(&ds).Error; err != nil {
			return nil, false, err
		}
		out := make([]recipient, 0, len(ds))
		for _, d := range ds {
			out = append(out, recipient{ws: bySlug[d.Workspace], to: d.Recipient})
		}
		return out, true, nil
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return nil, false, err
	}
	var out []recipient
	for _, w := range ws {
		tos := slices.Clone(owners[w.Slug])
		slices.Sort(tos)
		for _, to := range slices.Compact(tos) {
			out = append(out, recipient{ws: w, to: to})
		}
	}
	if len(out) == 0 {
		return nil, false, conflictf("The affected workspaces have no owners to write to. Nothing was sent.")
	}
	return out, false, nil
}

// Delivery is one recipient's copy of a notice with the state of its
// mail in the outbox.
type Delivery struct {
	NoticeID  int64
	Workspace string
	Recipient string
	MailID    int64
	Status    string // MailQueued, MailSent or MailFailed
	Attempts  int
	SentAt    *time.Time
}

// IncidentDeliveries returns every delivery of an incident's notices,
// with each mail's state read from the outbox, in one query.
func IncidentDeliveries(ctx context.Context, db *gorm.DB, id int64) ([]Delivery, error) {
	var out []Delivery
	err := db.WithContext(ctx).Table("incident_deliveries AS d").
		Select("d.notice_id, d.workspace, d.recipient, d.mail_id, m.status, m.attempts, m.sent_at").
		Joins("JOIN incident_notices n ON n.id = d.notice_id").
		Joins("JOIN mail_outbox m ON m.id = d.mail_id").
		Where("n.incident_id = ?", id).Order("d.notice_id, d.workspace, d.recipient").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("deliveries of incident %d: %w", id, err)
	}
	return out, nil
}

// IncidentLink is what an owner's notice link opens.
type IncidentLink struct {
	Delivery  IncidentDelivery
	Notice    IncidentNotice
	Incident  Incident
	Workspace AffectedWorkspace
	FollowUp  bool
}

// OpenIncidentLink looks token up without changing anything. An unknown
// token, or one older than IncidentLinkValid, is ErrBadToken.
func OpenIncidentLink(ctx context.Context, db *gorm.DB, now time.Time, token string) (IncidentLink, error) {
	var v IncidentLink
	if len(token) != 43 {
		return v, ErrBadToken
	}
	err := db.WithContext(ctx).Where("token_hash = ?", IncidentTokenHash(token)).Take(&v.Delivery).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrBadToken
	}
	if err != nil {
		return v, fmt.Errorf("notice link: %w", err)
	}
	if now.After(v.Delivery.CreatedAt.Add(IncidentLinkValid)) {
		return IncidentLink{}, ErrBadToken
	}
	if err := db.WithContext(ctx).Where("id = ?", v.Delivery.NoticeID).Take(&v.Notice).Error; err != nil {
		return v, fmt.Errorf("notice link: %w", err)
	}
	if v.Incident, err = FindIncident(ctx, db, v.Notice.IncidentID); err != nil {
		return v, err
	}
	ws, err := v.Incident.Workspaces()
	if err != nil {
		return v, err
	}
	v.Workspace = AffectedWorkspace{Slug: v.Delivery.Workspace, Name: v.Delivery.Workspace}
	for _, w := range ws {
		if w.Slug == v.Delivery.Workspace {
			v.Workspace = w
		}
	}
	var earlier int64
	err = db.WithContext(ctx).Model(&IncidentNotice{}).
		Where("incident_id = ? AND approved_by IS NOT NULL AND id <> ? AND approved_at <= ?", v.Notice.IncidentID, v.Notice.ID, v.Notice.ApprovedAt).
		Count(&earlier).Error
	v.FollowUp = earlier > 0
	return v, err
}

// AuditIncidentLinkShown records that an owner's notice page was shown;
// it changes nothing else.
func AuditIncidentLinkShown(ctx context.Context, db *gorm.DB, now time.Time, v IncidentLink, ip, ua string) error {
	_, err := AppendAudit(ctx, db, AuditEntry{
		At: now, Actor: Actor{Email: v.Delivery.Recipient, Tier: "customer", IP: ip, UserAgent: ua}, Action: ActionIncidentNoticeShown,
		Workspace: v.Delivery.Workspace, Target: IncidentTarget(v.Incident.ID), Detail: map[string]any{"notice": v.Notice.ID},
	})
	return err
}
