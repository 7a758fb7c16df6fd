package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"gatehouse/policy"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ConsentLink lets one owner decide on one request. Only the SHA-256 of
// its token is stored; the token itself exists in the mail and nowhere
// else.
type ConsentLink struct {
	ID        int64 `gorm:"primaryKey"`
	RequestID int64
	Recipient string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time // a decision must come before then
}

// TableName is the consent links table's name.
func (ConsentLink) TableName() string { return "consent_links" }

// ConsentDecision is what a customer decided through a link.
type ConsentDecision string

// Customer decisions.
const (
	ConsentGrant  ConsentDecision = "grant"
	ConsentDeny   ConsentDecision = "deny"
	ConsentReport ConsentDecision = "report"
	ConsentRevoke ConsentDecision = "revoke"
)

// Consent is a customer's recorded decision: who, when, from where, and
// the hash of the exact text they were shown.
type Consent struct {
	ID        int64 `gorm:"primaryKey"`
	RequestID int64
	LinkID    int64
	Recipient string
	Decision  ConsentDecision
	DecidedAt time.Time
	IP        string `gorm:"column:ip"`
	UserAgent string
	ShownHash string
}

// TableName is the consents table's name.
func (Consent) TableName() string { return "consents" }

// ConsentHistory is how long after a grant ends its owners may still open
// the link to see what was viewed.
const ConsentHistory = 30 * 24 * time.Hour

// newConsentToken returns a 256-bit random token and its stored hash.
func newConsentToken() (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, ConsentTokenHash(token)
}

// ConsentTokenHash is the stored form of a consent token.
func ConsentTokenHash(token string) string {
	sum := sha256.Sum256([]byte("gatehouse consent v1\x00" + token))
	return hex.EncodeToString(sum[:])
}

// sendConsentLinks creates a link per owner of r and mails it, in tx.
func sendConsentLinks(ctx context.Context, tx *gorm.DB, now time.Time, post Post, r AccessRequest, owners []string) error {
	for _, owner := range owners {
		token, hash := newConsentToken()
		link := ConsentLink{RequestID: r.ID, Recipient: owner, TokenHash: hash, CreatedAt: now.UTC(), ExpiresAt: r.ConsentDeadline.UTC()}
		if err := tx.WithContext(ctx).Create(&link).Error; err != nil {
			return fmt.Errorf("consent link: %w", err)
		}
		n := ConsentRequestNotice{Request: r, Name: post.name(r.Workspace), Owner: owner, Token: token}
		if err := post.send(ctx, tx, now, n); err != nil {
			return err
		}
	}
	return nil
}

// notifyStaff mails the requester and the grantee (once if they are the
// same person) that event happened to r.
func notifyStaff(ctx context.Context, tx *gorm.DB, now time.Time, post Post, r AccessRequest, event string) error {
	ids := []int64{r.RequesterID}
	if r.GranteeID != r.RequesterID {
		ids = append(ids, r.GranteeID)
	}
	for _, id := range ids {
		s, err := FindStaff(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := post.send(ctx, tx, now, RequestUpdateNotice{Request: r, Name: post.name(r.Workspace), To: s, Event: event}); err != nil {
			return err
		}
	}
	return nil
}

// reportRequest alerts every active sysadmin that a customer reported r.
func reportRequest(ctx context.Context, tx *gorm.DB, now time.Time, post Post, r AccessRequest) error {
	admins, err := ActiveStaffOfTier(ctx, tx, policy.TierSysadmin)
	if err != nil {
		return err
	}
	for _, a := range admins {
		if err := post.send(ctx, tx, now, RequestReportedNotice{Request: r, Name: post.name(r.Workspace), To: a}); err != nil {
			return err
		}
	}
	return nil
}

// ConsentView is what a consent link opens: the link, its request, the
// grant if there is one, and the decision already taken.
type ConsentView struct {
	Link     ConsentLink
	Request  AccessRequest
	Grant    *Grant
	Decision *Consent // the grant, deny or report decision, by anyone
}

// CanDecide reports whether the link may still grant, deny or report.
func (v ConsentView) CanDecide(now time.Time) bool {
	return v.Decision == nil && v.Request.StatusAt(now) == RequestApproved && now.Before(v.Link.ExpiresAt)
}

// CanRevoke reports whether the link may end the grant now.
func (v ConsentView) CanRevoke(now time.Time) bool {
	return v.Grant != nil && v.Grant.Live(now)
}

// OpenConsent looks token up without changing anything. It returns
// ErrBadToken for an unknown token, and for one whose decision window
// has passed unless the request was granted (then the owner may revoke
// and see what was viewed until ConsentHistory after the grant ends).
func OpenConsent(ctx context.Context, db *gorm.DB, now time.Time, token string) (ConsentView, error) {
	var v ConsentView
	if len(token) != 43 {
		return v, ErrBadToken
	}
	err := db.WithContext(ctx).Where("token_hash = ?", ConsentTokenHash(token)).Take(&v.Link).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrBadToken
	}
	if err != nil {
		return v, fmt.Errorf("consent link: %w", err)
	}
	if v.Request, err = FindRequest(ctx, db, v.Link.RequestID); err != nil {
		return v, err
	}
	var c Consent
	err = db.WithContext(ctx).Where("request_id = ? AND decision <> ?", v.Request.ID, ConsentRevoke).Take(&c).Error
	switch {
	case err == nil:
		v.Decision = &c
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return v, fmt.Errorf("consent: %w", err)
	}
	if v.Request.GrantID != nil {
		var g Grant
		if err := db.WithContext(ctx).Where("id = ?", *v.Request.GrantID).Take(&g).Error; err != nil {
			return v, fmt.Errorf("grant: %w", err)
		}
		v.Grant = &g
		end := g.EndsAt
		if g.EndedAt != nil {
			end = *g.EndedAt
		}
		if now.After(end.Add(ConsentHistory)) {
			return ConsentView{}, ErrBadToken
		}
		return v, nil
	}
	if !now.Before(v.Link.ExpiresAt) && v.Decision == nil {
		return ConsentView{}, ErrBadToken
	}
	if v.Decision != nil && now.After(v.Decision.DecidedAt.Add(ConsentHistory)) {
		// A refused or reported request's page is kept as long as a
		// grant's, not for ever.
		return ConsentView{}, ErrBadToken
	}
	return v, nil
}

// ConsentInput is a customer's POST from the consent page.
type ConsentInput struct {
	Token     string
	Decision  ConsentDecision
	ShownHash string // the hash of the text the page showed, from the form
	// PageHash is the hash of the text the page shows now for this link,
	// computed by the caller; ShownHash must equal it.
	PageHash  string
	IP        string
	UserAgent string
	// Attributes are the workspace's registry attributes
	// (Workspace.Attributes), read by the caller: a grant is made only
	// for a grantee whose scope admits them.
	Attributes map[string]string
}

// DecideConsent records a customer's decision. Of concurrent decisions on
// one request exactly one wins; the others get ErrConflict. A grant
// creates the grant, running from now, for a grantee cleared by cl at
// now; a report denies and alerts the sysadmins.
func DecideConsent(ctx context.Context, db *gorm.DB, now time.Time, post Post, in ConsentInput, cl Clearance) (ConsentView, error) {
	d := consentCall{now: now, post: post, in: in}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		d.tx = tx
		if d.v, err = OpenConsent(ctx, tx, now, in.Token); err != nil {
			return err
		}
		if in.ShownHash != in.PageHash {
			return ErrConsentChanged
		}
		if in.Decision == ConsentRevoke {
			return d.revoke(ctx)
		}
		return d.decide(ctx, cl)
	})
	return d.v, err
}

// consentCall is one DecideConsent, inside its transaction tx.
type consentCall struct {
	tx   *gorm.DB
	now  time.Time
	post Post
	in   ConsentInput
	v    ConsentView
}

// who is the customer deciding, as the audit log names them.
func (d *consentCall) who() Actor {
	return Actor{Email: d.v.Link.Recipient, Tier: "customer", IP: d.in.IP, UserAgent: d.in.UserAgent}
}

// record stores the decision itself.
func (d *consentCall) record() (Consent, error) {
	c := Consent{
		RequestID: d.v.Request.ID, LinkID: d.v.Link.ID, Recipient: d.v.Link.Recipient, Decision: d.in.Decision, DecidedAt: d.now.UTC(),
		IP: d.in.IP, UserAgent: clip(d.in.UserAgent, 512), ShownHash: d.in.PageHash,
	}
	if err := d.tx.Create(&c).Error; err != nil {
		return c, fmt.Errorf("record consent: %w", err)
	}
	return c, nil
}

// revoke ends the request's live grant.
func (d *consentCall) revoke(ctx context.Context) error {
	if !d.v.CanRevoke(d.now) {
		return fmt.Errorf("nothing to revoke: %w", ErrConflict)
	}
	if err := endGrant(ctx, d.tx, Act{Now: d.now, By: d.who()}, d.v.Grant.ID, "revoked by the customer", ActionGrantRevoked); err != nil {
		return err
	}
	if _, err := d.record(); err != nil {
		return err
	}
	return notifyStaff(ctx, d.tx, d.now, d.post, d.v.Request, "consent revoke")
}

// decide grants, denies or reports the approved request.
func (d *consentCall) decide(ctx context.Context, cl Clearance) error {
	status, action := RequestGranted, ActionConsentGranted
	switch d.in.Decision {
	case ConsentGrant:
	case ConsentDeny:
		status, action = RequestRefused, ActionConsentDenied
	case ConsentReport:
		status, action = RequestReported, ActionConsentReported
	default:
		return fmt.Errorf("decision %q: %w", d.in.Decision, ErrBadToken)
	}
	r := d.v.Request
	if !d.v.CanDecide(d.now) {
		return fmt.Errorf("request %d is %s: %w", r.ID, r.StatusAt(d.now), ErrConflict)
	}
	if status == RequestGranted {
		// The grantee must still be able to receive access, read under
		// a share lock so that a suspension or offboarding (which
		// locks the row to end grants) cannot commit in between and
		// miss the grant made here.
		why, grantee, scope, err := granteeProblem(ctx, d.tx, r.GranteeID, cl, d.now)
		if err != nil {
			return err
		}
		if why != "" {
			return fmt.Errorf("%s: %w", why, ErrConflict)
		}
		if !scope.Admits(d.in.Attributes) {
			return fmt.Errorf("%s: %w", OutOfScopeMessage(grantee), ErrConflict)
		}
	}
	// Claim the decision first: of concurrent decisions one row update
	// wins and the others stop here, before doing any work.
	res := d.tx.Model(&AccessRequest{}).Where("id = ? AND status = ?", r.ID, RequestApproved).
		Updates(map[string]any{"status": status, "updated_at": d.now.UTC()})
	if res.Error != nil {
		return fmt.Errorf("consent: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("request %d was decided meanwhile: %w", r.ID, ErrConflict)
	}
	entry := AuditEntry{At: d.now, Actor: d.who(), Action: action, Workspace: r.Workspace, Target: r.Target(),
		Detail: map[string]any{"shown_hash": d.in.PageHash}}
	if status == RequestGranted {
		g, err := d.grant(ctx)
		if err != nil {
			return err
		}
		entry.GrantID, d.v.Request.GrantID, d.v.Grant = &g.ID, &g.ID, &g
	}
	c, err := d.record()
	if err != nil {
		return err
	}
	d.v.Decision, d.v.Request.Status = &c, status
	if _, err := AppendAudit(ctx, d.tx, entry); err != nil {
		return err
	}
	if status == RequestReported {
		if err := reportRequest(ctx, d.tx, d.now, d.post, d.v.Request); err != nil {
			return err
		}
	}
	return notifyStaff(ctx, d.tx, d.now, d.post, d.v.Request, "consent "+string(d.in.Decision))
}

// grant creates the grant the customer consented to, from now.
func (d *consentCall) grant(ctx context.Context) (Grant, error) {
	r := d.v.Request
	scope, err := r.Scope()
	if err != nil {
		return Grant{}, err
	}
	g, err := CreateGrant(ctx, d.tx, d.now, NewGrant{
		Workspace: r.Workspace, GranteeID: r.GranteeID, Scope: scope, Mode: r.Mode,
		StartsAt: d.now, Duration: r.Duration(), RequestID: &r.ID, Attributes: d.in.Attributes,
	})
	if err != nil {
		return Grant{}, err
	}
	if err := d.tx.Model(&AccessRequest{}).Where("id = ?", r.ID).Update("grant_id", g.ID).Error; err != nil {
		return Grant{}, fmt.Errorf("consent: %w", err)
	}
	return g, nil
}

// AuditConsentShown records that a consent page was shown for a link. It
// changes no workflow state: a mail scanner following the link is
// recorded, and decides nothing.
func AuditConsentShown(ctx context.Context, db *gorm.DB, now time.Time, v ConsentView, ip, ua string) error {
	_, err := AppendAudit(ctx, db, AuditEntry{
		At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip, UserAgent: ua}, Action: ActionConsentShown,
		Workspace: v.Request.Workspace, Target: v.Request.Target(),
	})
	return err
}

// RequestTimeline returns the audit events of request id, oldest first.
func RequestTimeline(ctx context.Context, db *gorm.DB, id int64) ([]AuditEvent, error) {
	var out []AuditEvent
	if err := db.WithContext(ctx).Where("target = ?", RequestTarget(id)).Order("seq").Limit(500).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("request %d timeline: %w", id, err)
	}
	return out, nil
}

// lockStaffShared reads staff id under a share lock on PostgreSQL (SQLite's
// single writer already serializes the transaction).
func lockStaffShared(ctx context.Context, tx *gorm.DB, id int64) (Staff, error) {
	q := tx.WithContext(ctx)
	if tx.Dialector.Name() == "postgres" {
		q = q.Clauses(clause.Locking{Strength: "SHARE"})
	}
	var s Staff
	if err := q.Where("id = ?", id).Take(&s).Error; err != nil {
		return s, fmt.Errorf("staff %d: %w", id, err)
	}
	return s, nil
}

// granteeProblem reads staff id under a share lock (see lockStaffShared)
// and says why they cannot receive a grant at now, or "", with the grantee
// as read and their scope (for the caller's scope check), judging their role by the roles
// as tx sees them after the lock: a role change locks its holders' rows,
// so it commits before or after, never in between.
func granteeProblem(ctx context.Context, tx *gorm.DB, id int64, cl Clearance, now time.Time) (string, Staff, policy.Scope, error) {
	grantee, err := lockStaffShared(ctx, tx, id)
	if err != nil {
		return "", Staff{}, policy.Scope{}, err
	}
	roles, err := LoadRoles(ctx, tx)
	if err != nil {
		return "", Staff{}, policy.Scope{}, err
	}
	return CanBeGrantee(grantee, roles, cl, now), grantee, ScopeOf(grantee, roles), nil
}
