package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Ending a break-glass early. Three kinds of people may: its opener ("I'm
// done", a note optional), any other active sysadmin (a note required),
// and an owner of the workspace through the link in their break-glass
// mail. Each ending ends the break-glass's grant with one conditional
// update, so of several racing exactly one wins and the others get a
// ConflictError; it writes one breakglass.ended audit event.

// Audited actions of ending a break-glass.
const (
	ActionBreakglassEnded     Action = "breakglass.ended"
	ActionBreakglassLinkShown Action = "breakglass.link_shown"
)

// BreakglassLinkHistory is how long after a break-glass ended its owners'
// links still show it and what was viewed under it.
const BreakglassLinkHistory = 30 * 24 * time.Hour

// BreakglassLink lets one owner of the workspace see a break-glass and end
// it. Only the SHA-256 of its token is stored; the token itself exists in
// the mail and nowhere else.
type BreakglassLink struct {
	ID           int64 `gorm:"primaryKey"`
	BreakglassID int64
	Recipient    string
	TokenHash    string
	CreatedAt    time.Time
}

// TableName is the break-glass links table's name.
func (BreakglassLink) TableName() string { return "breakglass_links" }

// BreakglassEnder is who ended a break-glass early.
type BreakglassEnder string

// The people who may end a break-glass early.
const (
	EndedByOpener   BreakglassEnder = "opener"
	EndedBySysadmin BreakglassEnder = "sysadmin"
	EndedByOwner    BreakglassEnder = "owner"
)

// BreakglassEnding is one early end of a break-glass: who, as what, when
// and why.
type BreakglassEnding struct {
	Role BreakglassEnder
	By   string // the staff member's or the owner's email
	Note string
	At   time.Time
}

// BreakglassTokenHash is the stored form of a break-glass link's token.
// It differs from a consent token's, so neither kind opens the other.
func BreakglassTokenHash(token string) string {
	sum := sha256.Sum256([]byte("gatehouse breakglass v1\x00" + token))
	return hex.EncodeToString(sum[:])
}

// createBreakglassLink stores a new link to b for recipient in tx and
// returns its token: 256 random bits.
func createBreakglassLink(ctx context.Context, tx *gorm.DB, now time.Time, b Breakglass, recipient string) (string, error) {
	raw := make([]byte, 32)
	rand.Read(raw) // never fails (crypto/rand)
	token := base64.RawURLEncoding.EncodeToString(raw)
	link := BreakglassLink{BreakglassID: b.ID, Recipient: recipient, TokenHash: BreakglassTokenHash(token), CreatedAt: now.UTC()}
	if err := tx.WithContext(ctx).Create(&link).Error; err != nil {
		return "", fmt.Errorf("break-glass link: %w", err)
	}
	return token, nil
}

// EndBreakglass ends break-glass id early for staff member staffID: its
// opener ("I'm done", note optional) or another active sysadmin (note
// required). Anyone else gets ErrBreakglassRefused, a bad note
// FieldErrors on "note", a break-glass no longer open a ConflictError;
// none of them writes anything. The opener is told when someone else
// ended it.
func EndBreakglass(ctx context.Context, db *gorm.DB, act Act, post Post, id, staffID int64, note string) error {
	note = strings.TrimSpace(note)
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		s, err := lockActiveSysadmin(tx, staffID)
		if err != nil {
			return err
		}
		b, err := findBreakglassRow(tx, id)
		if err != nil {
			return err
		}
		e := BreakglassEnding{Role: EndedBySysadmin, By: s.Email, Note: note, At: act.Now.UTC()}
		if b.OpenerID == s.ID {
			e.Role = EndedByOpener
			if err := CheckNote(note, 0); err != nil {
				return Invalid("note", noteMessage(err, "Say briefly what you did."))
			}
			if e.Note == "" {
				e.Note = "done"
			}
		} else if err := CheckNote(note, 10); err != nil {
			return Invalid("note", noteMessage(err, "Say why you end this break-glass (at least 10 characters): its opener and the reviewer read it."))
		}
		return endBreakglass(ctx, tx, act, post, b, e)
	})
	if err != nil {
		return fmt.Errorf("end break-glass %d: %w", id, err)
	}
	return nil
}

func findBreakglassRow(tx *gorm.DB, id int64) (Breakglass, error) {
	var b Breakglass
	err := tx.Where("id = ?", id).Take(&b).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return b, fmt.Errorf("break-glass %d: %w", id, ErrNotFound)
	}
	return b, err
}

// endBreakglass ends b's grant in tx if it is still live, audits the
// ending and tells the opener when someone else ended it.
func endBreakglass(ctx context.Context, tx *gorm.DB, act Act, post Post, b Breakglass, e BreakglassEnding) error {
	now := act.Now
	if b.GrantID == nil {
		return conflictf("Break-glass %d gives no access to end.", b.ID)
	}
	// Conditional, so that of several endings racing exactly one matches.
	res := tx.Model(&Grant{}).Where("id = ? AND breakglass_id = ? AND ended_at IS NULL AND ends_at > ?", *b.GrantID, b.ID, now.UTC()).
		Updates(map[string]any{"ended_at": now.UTC(), "ended_by": e.By, "ended_why": e.Note})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return conflictf("Break-glass %d has already ended. Nothing was changed.", b.ID)
	}
	opener, err := FindStaff(ctx, tx, b.OpenerID)
	if err != nil {
		return err
	}
	if _, err := AppendAudit(ctx, tx, AuditEntry{
		At: now, Actor: act.By, Action: ActionBreakglassEnded, Workspace: b.Workspace,
		GrantID: b.GrantID, BreakglassID: &b.ID, Target: opener.Email, Reason: e.Note,
		Detail: map[string]any{"ended_by": string(e.Role), "incident": b.Incident, "ends_at": b.EndsAt},
	}); err != nil {
		return err
	}
	if e.Role == EndedByOpener {
		return nil
	}
	// Someone else ended it: the opener learns it now, not from a refusal.
	return post.send(ctx, tx, now, BreakglassNotice{Breakglass: b, Name: post.name(b.Workspace), Opener: opener, To: opener.Email, Ended: &e})
}

// BreakglassLinkView is what an owner's break-glass link opens.
type BreakglassLinkView struct {
	Link BreakglassLink
	Use  BreakglassUse
}

// CanEnd reports whether the link may still end the break-glass.
func (v BreakglassLinkView) CanEnd(now time.Time) bool { return v.Use.Open(now) }

// OpenBreakglassLink looks token up without changing anything. An unknown
// token, or one whose break-glass ended more than BreakglassLinkHistory
// ago, is ErrBadToken.
func OpenBreakglassLink(ctx context.Context, db *gorm.DB, now time.Time, token string) (BreakglassLinkView, error) {
	var v BreakglassLinkView
	if len(token) != 43 {
		return v, ErrBadToken
	}
	err := db.WithContext(ctx).Where("token_hash = ?", BreakglassTokenHash(token)).Take(&v.Link).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrBadToken
	}
	if err != nil {
		return v, fmt.Errorf("break-glass link: %w", err)
	}
	if v.Use, err = FindBreakglass(ctx, db, v.Link.BreakglassID); err != nil {
		return v, err
	}
	end := v.Use.EndsAt
	if g := v.Use.Grant; g != nil && g.EndedAt != nil && g.EndedAt.Before(end) {
		end = *g.EndedAt
	}
	if now.After(end.Add(BreakglassLinkHistory)) {
		return BreakglassLinkView{}, ErrBadToken
	}
	return v, nil
}

// BreakglassLinkInput is an owner's POST from the break-glass link page.
type BreakglassLinkInput struct {
	Token     string
	Note      string // optional
	IP        string
	UserAgent string
}

// EndBreakglassByLink ends the break-glass of an owner's link. A bad token
// is ErrBadToken, a bad note FieldErrors on "note", a break-glass no
// longer open a ConflictError; none of them writes anything. The opener
// is told.
func EndBreakglassByLink(ctx context.Context, db *gorm.DB, now time.Time, post Post, in BreakglassLinkInput) (BreakglassLinkView, error) {
	note := strings.TrimSpace(in.Note)
	if err := CheckNote(note, 0); err != nil {
		return BreakglassLinkView{}, Invalid("note", noteMessage(err, "Say briefly why, or leave it empty."))
	}
	var v BreakglassLinkView
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if v, err = OpenBreakglassLink(ctx, tx, now, in.Token); err != nil {
			return err
		}
		e := BreakglassEnding{Role: EndedByOwner, By: v.Link.Recipient, Note: note, At: now.UTC()}
		if e.Note == "" {
			e.Note = "ended by the workspace owner"
		}
		by := Actor{Email: v.Link.Recipient, Tier: "customer", IP: in.IP, UserAgent: in.UserAgent}
		return endBreakglass(ctx, tx, Act{Now: now, By: by}, post, v.Use.Breakglass, e)
	})
	return v, err
}

// AuditBreakglassLinkShown records that a break-glass link page was shown.
// It changes nothing else: a mail scanner following the link is recorded,
// and ends nothing.
func AuditBreakglassLinkShown(ctx context.Context, db *gorm.DB, now time.Time, v BreakglassLinkView, ip, ua string) error {
	_, err := AppendAudit(ctx, db, AuditEntry{
		At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip, UserAgent: ua}, Action: ActionBreakglassLinkShown,
		Workspace: v.Use.Workspace, GrantID: v.Use.GrantID, BreakglassID: &v.Use.ID, Target: v.Use.Opener.Email,
	})
	return err
}
