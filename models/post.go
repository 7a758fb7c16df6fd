package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Notice is something a change tells one person by mail: one of the
// *Notice types of this package. Letters write its mail.
type Notice interface {
	// address is who the mail goes to and what it is filed under.
	address() (to, workspace string, request *int64)
}

// Letters write the mails of notices; the letters package implements it
// with the views, so models never renders a mail. tx is the transaction
// the mail is enqueued in: a letter reads the portal's database only
// through it (a second connection could wait forever for a pool the
// transactions hold), and never the product database (a notice carries
// the workspace names it needs).
type Letters interface {
	Letter(ctx context.Context, tx *gorm.DB, n Notice) (Mail, error)
}

// Post is how a change tells people: Letters write each notice's mail and
// Outbox takes it in the change's transaction. Names are the names of the
// workspaces concerned (slug → name), read from the registry before the
// transaction; a workspace not in it is named by its slug.
type Post struct {
	Outbox  *Outbox
	Letters Letters
	Names   map[string]string
}

// send writes n's mail and enqueues it in tx.
func (p Post) send(ctx context.Context, tx *gorm.DB, now time.Time, n Notice) error {
	_, err := p.enqueue(ctx, tx, now, n)
	return err
}

// enqueue is send returning the mail's id, for a caller that tracks its
// delivery.
func (p Post) enqueue(ctx context.Context, tx *gorm.DB, now time.Time, n Notice) (int64, error) {
	to, workspace, request := n.address()
	m, err := p.Letters.Letter(ctx, tx, n)
	if err != nil {
		return 0, fmt.Errorf("mail to %s: %w", to, err)
	}
	m.To, m.Workspace, m.RequestID = to, workspace, request
	id, err := p.Outbox.Enqueue(ctx, tx, now, m)
	if err != nil {
		return 0, fmt.Errorf("mail to %s: %w", to, err)
	}
	return id, nil
}

// name is workspace slug's name.
func (p Post) name(slug string) string {
	if n, ok := p.Names[slug]; ok {
		return n
	}
	return slug
}

// ConsentRequestNotice asks an owner to decide on an approved request
// through the link with Token.
type ConsentRequestNotice struct {
	Request AccessRequest
	Name    string // the workspace's name
	Owner   string
	Token   string
}

// RequestUpdateNotice tells a requester or grantee what happened to a
// request; Event is what notifyStaff was told ("approved", "expiring",
// "consent grant", …).
type RequestUpdateNotice struct {
	Request AccessRequest
	Name    string // the workspace's name
	To      Staff
	Event   string
}

// RequestReportedNotice alerts a sysadmin that a customer reported a
// request as suspicious.
type RequestReportedNotice struct {
	Request AccessRequest
	Name    string // the workspace's name
	To      Staff
}

// ViewSummaryNotice tells an owner what was viewed under a grant that has
// ended.
type ViewSummaryNotice struct {
	Grant   Grant
	Name    string // the workspace's name
	Owner   string
	Viewed  GrantViewed
	Reveals []RevealSeen // the first SummaryReveals of Viewed.Reveals
}

// BreakglassNotice tells one recipient of an opened break-glass; sysadmin
// recipients are asked to review it, owners get the link with Token to
// see what was viewed and end it. With Ended set, it tells the opener
// that someone else ended their break-glass.
type BreakglassNotice struct {
	Breakglass Breakglass
	Name       string // the workspace's name
	Opener     Staff
	To         string
	Sysadmin   bool
	Token      string            // an owner's link token
	Ended      *BreakglassEnding // who ended it early, and why
}

// RetentionNotice tells an owner that an unused workspace will be deleted
// unless someone signs in: the first notice (Status.Next is NextNotice)
// or the second, when it is marked for deletion (NextMark).
type RetentionNotice struct {
	Workspace Workspace
	Owner     string
	Status    RetentionStatus
}

// DeletionLinkNotice asks an owner to confirm (or cancel) a deletion
// request through the link with Token.
type DeletionLinkNotice struct {
	Workspace Workspace
	Request   DeletionRequest
	Owner     string
	Token     string
}

func (n ConsentRequestNotice) address() (string, string, *int64) {
	return n.Owner, n.Request.Workspace, &n.Request.ID
}

func (n RequestUpdateNotice) address() (string, string, *int64) {
	return n.To.Email, n.Request.Workspace, &n.Request.ID
}

func (n RequestReportedNotice) address() (string, string, *int64) {
	return n.To.Email, n.Request.Workspace, &n.Request.ID
}

func (n ViewSummaryNotice) address() (string, string, *int64) {
	return n.Owner, n.Grant.Workspace, n.Grant.RequestID
}

func (n BreakglassNotice) address() (string, string, *int64) {
	return n.To, n.Breakglass.Workspace, nil
}

func (n RetentionNotice) address() (string, string, *int64) { return n.Owner, n.Workspace.Slug, nil }

func (n DeletionLinkNotice) address() (string, string, *int64) {
	return n.Owner, n.Workspace.Slug, nil
}
