package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// DeletionStatus is where a customer's deletion request stands.
type DeletionStatus string

// Deletion request states: pending → confirmed → done, or it ends
// cancelled (by an owner, through the link) or expired.
const (
	DeletionPending   DeletionStatus = "pending"   // waiting for the owners' confirmations
	DeletionConfirmed DeletionStatus = "confirmed" // deletion is due
	DeletionCancelled DeletionStatus = "cancelled" // an owner cancelled it
	DeletionExpired   DeletionStatus = "expired"   // not confirmed in time
	DeletionDone      DeletionStatus = "done"      // the workspace was deleted
)

// DeletionRequest is a customer's request to delete a workspace, recorded
// by staff. Its owners confirm it through emailed links: one owner for a
// workspace of one member, two different owners otherwise.
type DeletionRequest struct {
	ID                  int64 `gorm:"primaryKey"`
	Slug                string
	RequestedBy         int64 // staff id
	Note                string
	CreatedAt           time.Time
	ExpiresAt           time.Time
	Status              DeletionStatus
	NeededConfirmations int
	ConfirmedAt         *time.Time
	UpdatedAt           time.Time
}

// TableName is the deletion requests table's name.
func (DeletionRequest) TableName() string { return "deletion_requests" }

// Target is how the audit log names the request.
func (r DeletionRequest) Target() string { return "deletion_request/" + strconv.FormatInt(r.ID, 10) }

// StatusAt is the request's status at now: a pending request past its
// expiry is expired even before the job records it.
func (r DeletionRequest) StatusAt(now time.Time) DeletionStatus {
	if r.Status == DeletionPending && !now.Before(r.ExpiresAt) {
		return DeletionExpired
	}
	return r.Status
}

// DeletionLink is one owner's confirmation link of a deletion request
// (a row of deletion_confirmations). Only the SHA-256 of its token is
// stored; it confirms once.
type DeletionLink struct {
	ID          int64 `gorm:"primaryKey"`
	RequestID   int64
	Recipient   string
	TokenHash   string
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	IP          string `gorm:"column:ip"`
}

// TableName is the confirmation links table's name.
func (DeletionLink) TableName() string { return "deletion_confirmations" }

// deletionTokenHash is the stored form of a deletion link's token; its
// own prefix keeps it apart from consent tokens.
func deletionTokenHash(token string) string { return ConsentTokenHash("deletion\x00" + token) }

// NewDeletionRequest is what the staff form records.
type NewDeletionRequest struct {
	Slug      string
	Requester Staff
	Note      string // how and when the customer asked (e.g. the ticket)
	// Valid is how long the owners have to confirm: the retention
	// policy's DeletionRequestValid.
	Valid time.Duration
}

// NeededConfirmations is how many different owners must confirm the
// deletion of a workspace of members members.
func NeededConfirmations(members int) int {
	if members > 1 {
		return 2
	}
	return 1
}

// CreateDeletionRequest records a customer's deletion request and mails
// each owner of the workspace a confirmation link, audited. Problems come
// back as FieldErrors and nothing is written. product is the registry.
func CreateDeletionRequest(ctx context.Context, db, product *gorm.DB, act Act, post Post, n NewDeletionRequest) (DeletionRequest, error) {
	if n.Valid <= 0 {
		return DeletionRequest{}, errors.New("create deletion request: no validity given")
	}
	now := act.Now
	w, owners, err := deletionTarget(ctx, product, n)
	if err != nil {
		return DeletionRequest{}, err
	}
	need := NeededConfirmations(w.MemberCount)
	r := DeletionRequest{
		Slug: w.Slug, RequestedBy: n.Requester.ID, Note: strings.TrimSpace(n.Note), CreatedAt: now.UTC(),
		ExpiresAt: now.Add(n.Valid).UTC(), Status: DeletionPending, NeededConfirmations: need, UpdatedAt: now.UTC(),
	}
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rec, err := lockRetention(ctx, tx, w.Slug, now)
		if err != nil {
			return err
		}
		if rec.DeletedAt != nil {
			return FieldErrors{"workspace": "This workspace was deleted."}
		}
		var live int64
		if err := tx.Model(&DeletionRequest{}).Where("slug = ? AND status IN ? AND (status <> ? OR expires_at > ?)",
			w.Slug, []DeletionStatus{DeletionPending, DeletionConfirmed}, DeletionPending, now.UTC()).Count(&live).Error; err != nil {
			return err
		}
		if live > 0 {
			return FieldErrors{"workspace": "A deletion request for this workspace is already open."}
		}
		// A pending request past its expiry that the job has not closed yet.
		var stale []DeletionRequest
		if err := tx.Where("slug = ? AND status = ?", w.Slug, DeletionPending).Find(&stale).Error; err != nil {
			return err
		}
		for _, s := range stale {
			if _, err := expireDeletionRequest(ctx, tx, now, s); err != nil {
				return err
			}
		}
		if err := tx.Create(&r).Error; err != nil {
			return fmt.Errorf("create deletion request: %w", err)
		}
		for _, owner := range owners {
			token, _ := newConsentToken()
			link := DeletionLink{RequestID: r.ID, Recipient: owner, TokenHash: deletionTokenHash(token), CreatedAt: now.UTC()}
			if err := tx.Create(&link).Error; err != nil {
				return fmt.Errorf("deletion link: %w", err)
			}
			if err := post.send(ctx, tx, now, DeletionLinkNotice{Workspace: w, Request: r, Owner: owner, Token: token}); err != nil {
				return err
			}
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{At: now, Actor: act.By, Action: ActionDeletionRequested, Workspace: w.Slug, Target: r.Target(), Reason: r.Note,
			Detail: map[string]any{"needed_confirmations": need, "recipients": owners, "expires_at": r.ExpiresAt}})
		return err
	})
	if err != nil {
		return DeletionRequest{}, err
	}
	return r, nil
}

// deletionTarget finds the workspace n names and its owners, and says
// why a deletion request for it cannot be recorded (FieldErrors).
func deletionTarget(ctx context.Context, product *gorm.DB, n NewDeletionRequest) (Workspace, []string, error) {
	errs := FieldErrors{}
	if err := CheckReason(n.Note, 10); err != nil {
		errs["note"] = noteMessage(err, "Say how and when the customer asked for the deletion (e.g. the ticket).")
	}
	w, err := FindWorkspace(ctx, product, n.Slug)
	if errors.Is(err, ErrNotFound) {
		errs["workspace"] = "Choose a workspace that exists."
	} else if err != nil {
		return w, nil, err
	}
	owners, err := Owners(ctx, product, n.Slug)
	if err != nil {
		return w, nil, err
	}
	need := NeededConfirmations(w.MemberCount)
	switch {
	case w.Slug == "":
	case w.Status == WorkspaceDeleted:
		errs["workspace"] = "This workspace was deleted."
	case len(owners) == 0:
		errs["workspace"] = "This workspace has no owner who could confirm the deletion."
	case len(owners) < need:
		errs["workspace"] = "This workspace has several members but one owner; a second owner must confirm, so the customer must name one first."
	}
	if n.Requester.ID == 0 {
		errs["requester"] = "Only staff may record a deletion request."
	}
	if len(errs) > 0 {
		return w, nil, errs
	}
	return w, owners, nil
}

// FindDeletionRequest returns request id of workspace slug, or a wrapped
// ErrNotFound.
func FindDeletionRequest(ctx context.Context, db *gorm.DB, slug string, id int64) (DeletionRequest, error) {
	var r DeletionRequest
	err := db.WithContext(ctx).Where("id = ? AND slug = ?", id, slug).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, fmt.Errorf("deletion request %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("deletion request %d: %w", id, err)
	}
	return r, nil
}

// ListDeletionRequests returns the requests of slug ("" for every
// workspace), newest first, at most 500.
func ListDeletionRequests(ctx context.Context, db *gorm.DB, slug string) ([]DeletionRequest, error) {
	q := db.WithContext(ctx).Order("id DESC").Limit(500)
	if slug != "" {
		q = q.Where("slug = ?", slug)
	}
	var out []DeletionRequest
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("deletion requests: %w", err)
	}
	return out, nil
}

// DeletionLinks returns the confirmation links of request id (without
// their tokens, which are nowhere), by recipient.
func DeletionLinks(ctx context.Context, db *gorm.DB, id int64) ([]DeletionLink, error) {
	var out []DeletionLink
	if err := db.WithContext(ctx).Where("request_id = ?", id).Order("recipient").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("deletion links of %d: %w", id, err)
	}
	return out, nil
}

// DeletionLinkView is what a confirmation link opens: the link, its
// request and every owner's link of it (who confirmed).
type DeletionLinkView struct {
	Link    DeletionLink
	Request DeletionRequest
	Links   []DeletionLink
}

// Confirmed counts the different owners who confirmed.
func (v DeletionLinkView) Confirmed() int {
	seen := map[string]bool{}
	for _, l := range v.Links {
		if l.ConfirmedAt != nil {
			seen[l.Recipient] = true
		}
	}
	return len(seen)
}

// CanConfirm reports whether this link may still confirm.
func (v DeletionLinkView) CanConfirm(now time.Time) bool {
	return v.Request.StatusAt(now) == DeletionPending && v.Link.ConfirmedAt == nil
}

// CanCancel reports whether this link may still cancel the request.
func (v DeletionLinkView) CanCancel(now time.Time) bool {
	s := v.Request.StatusAt(now)
	return s == DeletionPending || s == DeletionConfirmed
}

// DeletionLinkHistory is how long after a request ends its links still
// open, to show what happened.
const DeletionLinkHistory = 30 * Day

// OpenDeletionLink looks token up without changing anything. An unknown
// token, or one whose request ended more than DeletionLinkHistory ago,
// is ErrBadToken.
func OpenDeletionLink(ctx context.Context, db *gorm.DB, now time.Time, token string) (DeletionLinkView, error) {
	var v DeletionLinkView
	if len(token) != 43 {
		return v, ErrBadToken
	}
	err := db.WithContext(ctx).Where("token_hash = ?", deletionTokenHash(token)).Take(&v.Link).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrBadToken
	}
	if err != nil {
		return v, fmt.Errorf("deletion link: %w", err)
	}
	if err := db.WithContext(ctx).Where("id = ?", v.Link.RequestID).Take(&v.Request).Error; err != nil {
		return v, fmt.Errorf("deletion request: %w", err)
	}
	end := v.Request.UpdatedAt
	if v.Request.StatusAt(now) == DeletionExpired {
		end = v.Request.ExpiresAt
	}
	if v.Request.StatusAt(now) != DeletionPending && v.Request.StatusAt(now) != DeletionConfirmed && now.After(end.Add(DeletionLinkHistory)) {
		return DeletionLinkView{}, ErrBadToken
	}
	if v.Links, err = DeletionLinks(ctx, db, v.Request.ID); err != nil {
		return v, err
	}
	return v, nil
}

// AuditDeletionShown records that a confirmation page was shown for a
// link; it decides nothing (a mail scanner following the link is only
// recorded).
func AuditDeletionShown(ctx context.Context, db *gorm.DB, now time.Time, v DeletionLinkView, ip, ua string) error {
	_, err := AppendAudit(ctx, db, AuditEntry{
		At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip, UserAgent: ua}, Action: ActionDeletionShown,
		Workspace: v.Request.Slug, Target: v.Request.Target(),
	})
	return err
}

// openLocked opens token inside tx with its request locked until tx ends,
// so concurrent confirmations of one request are taken one at a time.
func openLocked(ctx context.Context, tx *gorm.DB, now time.Time, token string) (DeletionLinkView, error) {
	v, err := OpenDeletionLink(ctx, tx, now, token)
	if err != nil || tx.Dialector.Name() != "postgres" {
		return v, err
	}
	if err := tx.Raw("SELECT id FROM deletion_requests WHERE id = ? FOR UPDATE", v.Request.ID).Scan(new(int64)).Error; err != nil {
		return v, fmt.Errorf("lock deletion request: %w", err)
	}
	return OpenDeletionLink(ctx, tx, now, token)
}

// ConfirmDeletion records an owner's confirmation through their link
// (once per link). When enough different owners have confirmed, the
// request is confirmed and the workspace's deletion becomes due (a
// sysadmin still deletes it). members is the workspace's member count now
// (from the registry): a workspace that has grown past one member since
// the request needs two owners. A link that cannot confirm is
// ErrConflict.
func ConfirmDeletion(ctx context.Context, db *gorm.DB, now time.Time, token, ip string, members int) (DeletionLinkView, error) {
	var v DeletionLinkView
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if v, err = openLocked(ctx, tx, now, token); err != nil {
			return err
		}
		if !v.CanConfirm(now) {
			return fmt.Errorf("deletion request %d is %s: %w", v.Request.ID, v.Request.StatusAt(now), ErrConflict)
		}
		u := tx.Model(&DeletionLink{}).Where("id = ? AND confirmed_at IS NULL", v.Link.ID).
			Updates(map[string]any{"confirmed_at": now.UTC(), "ip": clip(ip, 64)})
		if u.Error != nil {
			return fmt.Errorf("confirm deletion: %w", u.Error)
		}
		if u.RowsAffected != 1 {
			return fmt.Errorf("this link was used already: %w", ErrConflict)
		}
		t := now.UTC()
		v.Link.ConfirmedAt, v.Link.IP = &t, ip
		for i := range v.Links {
			if v.Links[i].ID == v.Link.ID {
				v.Links[i] = v.Link
			}
		}
		// The rule counts the members the workspace has now: one that
		// grew past one member since the request needs a second owner.
		if need := NeededConfirmations(members); need > v.Request.NeededConfirmations {
			if err := tx.Model(&DeletionRequest{}).Where("id = ?", v.Request.ID).Update("needed_confirmations", need).Error; err != nil {
				return fmt.Errorf("confirm deletion: %w", err)
			}
			v.Request.NeededConfirmations = need
		}
		got := v.Confirmed()
		complete := got >= v.Request.NeededConfirmations
		if complete {
			u := tx.Model(&DeletionRequest{}).Where("id = ? AND status = ?", v.Request.ID, DeletionPending).
				Updates(map[string]any{"status": DeletionConfirmed, "confirmed_at": t, "updated_at": t})
			if u.Error != nil {
				return fmt.Errorf("confirm deletion: %w", u.Error)
			}
			if u.RowsAffected != 1 {
				return fmt.Errorf("deletion request %d changed meanwhile: %w", v.Request.ID, ErrConflict)
			}
			v.Request.Status, v.Request.ConfirmedAt, v.Request.UpdatedAt = DeletionConfirmed, &t, t
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip}, Action: ActionDeletionConfirmed,
			Workspace: v.Request.Slug, Target: v.Request.Target(),
			Detail: map[string]any{"confirmations": got, "needed": v.Request.NeededConfirmations, "complete": complete},
		})
		return err
	})
	return v, err
}

// CancelDeletion cancels the request of token's link, for an owner who
// changed their mind, audited. A request that is no longer pending or
// confirmed is ErrConflict.
func CancelDeletion(ctx context.Context, db *gorm.DB, now time.Time, token, ip string) (DeletionLinkView, error) {
	var v DeletionLinkView
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if v, err = openLocked(ctx, tx, now, token); err != nil {
			return err
		}
		if !v.CanCancel(now) {
			return fmt.Errorf("deletion request %d is %s: %w", v.Request.ID, v.Request.StatusAt(now), ErrConflict)
		}
		u := tx.Model(&DeletionRequest{}).Where("id = ? AND status IN ?", v.Request.ID, []DeletionStatus{DeletionPending, DeletionConfirmed}).
			Updates(map[string]any{"status": DeletionCancelled, "updated_at": now.UTC()})
		if u.Error != nil {
			return fmt.Errorf("cancel deletion: %w", u.Error)
		}
		if u.RowsAffected != 1 {
			return fmt.Errorf("deletion request %d changed meanwhile: %w", v.Request.ID, ErrConflict)
		}
		v.Request.Status, v.Request.UpdatedAt = DeletionCancelled, now.UTC()
		_, err = AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip}, Action: ActionDeletionCancelled,
			Workspace: v.Request.Slug, Target: v.Request.Target(),
		})
		return err
	})
	return v, err
}
