package models

import (
	"context"
	"errors"
	"fmt"
	"gatehouse/policy"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// RequestStatus is where an access request stands.
type RequestStatus string

// Request states. A request moves pending → approved → granted, or ends
// denied, cancelled, expired, refused or reported. Once granted, whether
// access is still open is the grant's state.
const (
	RequestPending   RequestStatus = "pending"   // waiting for a second senior
	RequestApproved  RequestStatus = "approved"  // waiting for the customer
	RequestDenied    RequestStatus = "denied"    // by a senior
	RequestCancelled RequestStatus = "cancelled" // by the requester
	RequestExpired   RequestStatus = "expired"   // nobody decided in time
	RequestGranted   RequestStatus = "granted"   // the customer consented; see the grant
	RequestRefused   RequestStatus = "refused"   // the customer denied
	RequestReported  RequestStatus = "reported"  // the customer reported it as suspicious

	// RequestEnded is never stored: it is a granted request whose grant
	// has ended, as lists and their filter say (see RequestListing).
	RequestEnded RequestStatus = "ended"
)

// AccessRequest asks for a grant on one workspace for one grantee.
type AccessRequest struct {
	ID              int64 `gorm:"primaryKey"`
	Workspace       string
	RequesterID     int64
	GranteeID       int64
	Reason          string
	Ticket          string
	ScopeJSON       string     `gorm:"column:scope"`
	Mode            AccessMode `gorm:"column:access_mode"` // what the customer is asked to consent to
	Unmask          bool       // Mode == ModeUnmasked, kept for the unmask column
	DurationSeconds int64
	Status          RequestStatus
	CreatedAt       time.Time
	ExpiresAt       time.Time // a pending request expires then
	DecidedByID     *int64
	DecidedAt       *time.Time
	DecisionNote    string
	ConsentDeadline *time.Time // an approved request waits for the customer until then
	GrantID         *int64
	UpdatedAt       time.Time
}

// TableName is the access requests table's name.
func (AccessRequest) TableName() string { return "access_requests" }

// Duration is how long the grant runs once the customer consents.
func (r AccessRequest) Duration() time.Duration {
	return time.Duration(r.DurationSeconds) * time.Second
}

// Scope decodes the requested scope.
func (r AccessRequest) Scope() (GrantScope, error) { return decodeScope(r.ScopeJSON) }

// Target is how the audit log names the request.
func (r AccessRequest) Target() string { return RequestTarget(r.ID) }

// RequestTarget is the audit target of request id.
func RequestTarget(id int64) string { return "request/" + strconv.FormatInt(id, 10) }

// RequestPolicy is the company's configurable rules for requests.
type RequestPolicy struct {
	Ticket      *regexp.Regexp // a ticket reference's format
	MaxDuration time.Duration  // the longest grant a request may ask for
	PendingFor  time.Duration  // how long a request waits for approval
	ConsentFor  time.Duration  // how long a consent link stays valid for a decision
	Clearance   Clearance      // what requester, approver and grantee must hold
}

// NewRequest is what the request form asks.
type NewRequest struct {
	Workspace string // a slug the caller found in the registry
	Requester Staff
	Grantee   Staff // zero when the form named nobody
	Reason    string
	Ticket    string
	Scope     GrantScope
	Mode      AccessMode // ModeMasked when empty, the narrowest
	Duration  time.Duration
	// Attributes are the workspace's registry attributes
	// (Workspace.Attributes): requester and grantee scopes must admit them.
	Attributes map[string]string
}

// CanBeGrantee reports why s cannot receive a grant at now, or "": roles
// says whether s's role may hold one (tenant_data:read).
func CanBeGrantee(s Staff, roles *policy.Roles, cl Clearance, now time.Time) string {
	switch {
	case s.ID == 0:
		return "Name the senior who will do the work."
	case s.Status == StatusOffboarded:
		return s.Email + " has left the company."
	case s.Status != StatusActive:
		return s.Email + " is " + string(s.Status) + "."
	case !roles.MayHoldGrant(s.Tier):
		return s.Email + " is not a senior engineer; only seniors read customer data."
	case !cl.Cleared(s, now):
		return s.Email + " " + cl.Lacking(s, now)
	}
	return ""
}

// ValidateRequest returns what is wrong with n made at now, or nil; roles
// is the snapshot the grantee's role is judged by.
func ValidateRequest(pol RequestPolicy, roles *policy.Roles, now time.Time, n NewRequest) FieldErrors {
	errs := FieldErrors{}
	switch {
	case n.Requester.Status != StatusActive || !n.Requester.AgreementCurrent(pol.Clearance.Agreement):
		errs["requester"] = "You need to sign the current confidentiality agreement before asking for access."
	case !pol.Clearance.TrainingCurrent(n.Requester, now):
		errs["requester"] = "Your security training is not current; complete it before asking for access."
	}
	if why := CanBeGrantee(n.Grantee, roles, pol.Clearance, now); why != "" {
		errs["grantee"] = why
	}
	if n.Workspace == "" || !ScopeOf(n.Requester, roles).Admits(n.Attributes) {
		// Outside the requester's scope reads as unknown: no oracle.
		errs["workspace"] = "Choose a workspace that exists."
	} else if _, ok := errs["grantee"]; !ok && !ScopeOf(n.Grantee, roles).Admits(n.Attributes) {
		errs["grantee"] = OutOfScopeMessage(n.Grantee)
	}
	if err := CheckReason(n.Reason, 20); err != nil {
		errs["reason"] = noteMessage(err, "Say in a real sentence (at least 20 characters) why you need this access.")
	}
	ticket := strings.TrimSpace(n.Ticket)
	if pol.Ticket != nil && !pol.Ticket.MatchString(ticket) || len(ticket) > 64 {
		errs["ticket"] = "Give the ticket reference, like SUP-1234."
	}
	switch {
	case n.Duration <= 0:
		errs["duration"] = "Choose how long the access should last."
	case n.Duration > pol.MaxDuration:
		errs["duration"] = fmt.Sprintf("At most %s.", FormatDuration(pol.MaxDuration))
	}
	if _, err := n.Scope.encode(); err != nil {
		errs["scope"] = "The scope could not be read."
	}
	if n.Mode != "" && !n.Mode.Valid() {
		errs["mode"] = ModeMessage
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// CreateRequest validates n and stores it as pending, audited, and mails
// everyone who may decide it (see Approvers) through the outbox, in the
// same transaction. Problems come back as FieldErrors and nothing is
// written.
func CreateRequest(ctx context.Context, db *gorm.DB, act Act, post Post, pol RequestPolicy, n NewRequest) (AccessRequest, error) {
	now, by := act.Now, act.By
	roles, err := LoadRoles(ctx, db)
	if err != nil {
		return AccessRequest{}, err
	}
	if errs := ValidateRequest(pol, roles, now, n); errs != nil {
		return AccessRequest{}, errs
	}
	n.Reason, n.Ticket = strings.TrimSpace(n.Reason), strings.TrimSpace(n.Ticket)
	if n.Mode == "" {
		n.Mode = ModeMasked
	}
	scope, err := n.Scope.encode()
	if err != nil {
		return AccessRequest{}, err
	}
	r := AccessRequest{
		Workspace: n.Workspace, RequesterID: n.Requester.ID, GranteeID: n.Grantee.ID,
		Reason: n.Reason, Ticket: n.Ticket, ScopeJSON: scope, Mode: n.Mode, Unmask: n.Mode.Unmasks(),
		DurationSeconds: int64(n.Duration / time.Second), Status: RequestPending,
		CreatedAt: now.UTC(), ExpiresAt: now.Add(pol.PendingFor).UTC(), UpdatedAt: now.UTC(),
	}
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&r).Error; err != nil {
			return fmt.Errorf("create request: %w", err)
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: by, Action: ActionRequestCreated, Workspace: r.Workspace, Target: r.Target(), Reason: r.Reason,
			Detail: map[string]any{"ticket": r.Ticket, "grantee": n.Grantee.Email, "scope": scope, "mode": r.Mode, "unmask": r.Unmask, "duration": FormatDuration(n.Duration)},
		})
		if err != nil {
			return err
		}
		return askApprovers(ctx, tx, now, post, pol.Clearance, r, n.Attributes)
	})
	return r, err
}

// FindRequest returns request id, or a wrapped ErrNotFound.
func FindRequest(ctx context.Context, db *gorm.DB, id int64) (AccessRequest, error) {
	var r AccessRequest
	err := db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, fmt.Errorf("request %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("request %d: %w", id, err)
	}
	return r, nil
}

// Decision is a senior's answer to a pending request.
type Decision struct {
	Request  int64 // the pending request's id
	Approve  bool
	Approver Staff
	Note     string
	Owners   []string // the workspace's owners, who are asked for consent on approval
	// Attributes are the workspace's registry attributes
	// (Workspace.Attributes): an approver whose scope does not admit
	// them does not find the request; a grantee's must admit them.
	Attributes map[string]string
}

// DecideRequest approves or denies a pending request. Of concurrent
// decisions and cancellations exactly one changes it; the others get
// ErrConflict. An approval sends each owner a consent link through the
// outbox, in the same transaction.
func DecideRequest(ctx context.Context, db *gorm.DB, act Act, post Post, pol RequestPolicy, d Decision) (AccessRequest, error) {
	now, id := act.Now, d.Request
	d.Note = strings.TrimSpace(d.Note)
	errs := FieldErrors{}
	if err := CheckNote(d.Note, 5); err != nil {
		errs["note"] = noteMessage(err, "Add a short note (at least 5 characters) for the record.")
	}
	roles, err := LoadRoles(ctx, db)
	if err != nil {
		return AccessRequest{}, err
	}
	if d.Approver.Status != StatusActive || !roles.MayApprove(d.Approver.Tier) {
		return AccessRequest{}, fmt.Errorf("%s may not decide requests: %w", d.Approver.Email, ErrTwoPerson)
	}
	if why := pol.Clearance.Lacking(d.Approver, now); why != "" {
		return AccessRequest{}, fmt.Errorf("%s %s: %w", d.Approver.Email, strings.TrimSuffix(why, "."), ErrNotCleared)
	}
	if !ScopeOf(d.Approver, roles).Admits(d.Attributes) {
		return AccessRequest{}, fmt.Errorf("request %d: %w", id, ErrNotFound)
	}
	if d.Approve && len(d.Owners) == 0 {
		errs["note"] = "The workspace has no owner to ask for consent."
	}
	if len(errs) > 0 {
		return AccessRequest{}, errs
	}
	status, action := RequestDenied, ActionRequestDenied
	if d.Approve {
		status, action = RequestApproved, ActionRequestApproved
	}
	var r AccessRequest
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if r, err = FindRequest(ctx, tx, id); err != nil {
			return err
		}
		if r.RequesterID == d.Approver.ID || r.GranteeID == d.Approver.ID {
			return fmt.Errorf("request %d: %w", id, ErrTwoPerson)
		}
		if d.Approve {
			// Who the request names may have changed since it was made.
			why, grantee, scope, err := granteeProblem(ctx, tx, r.GranteeID, pol.Clearance, now)
			if err != nil {
				return err
			}
			if why != "" {
				return &ConflictError{Message: why}
			}
			if !scope.Admits(d.Attributes) {
				return &ConflictError{Message: OutOfScopeMessage(grantee)}
			}
		}
		set := map[string]any{"status": status, "decided_by_id": d.Approver.ID, "decided_at": now.UTC(), "decision_note": d.Note, "updated_at": now.UTC()}
		if d.Approve {
			set["consent_deadline"] = now.Add(pol.ConsentFor).UTC()
		}
		res := tx.Model(&AccessRequest{}).
			Where("id = ? AND status = ? AND expires_at > ? AND requester_id <> ? AND grantee_id <> ?", id, RequestPending, now.UTC(), d.Approver.ID, d.Approver.ID).
			Updates(set)
		if res.Error != nil {
			return fmt.Errorf("decide request %d: %w", id, res.Error)
		}
		if res.RowsAffected != 1 {
			return conflictf("Request %d is %s.", id, r.displayStatus(now))
		}
		if r, err = FindRequest(ctx, tx, id); err != nil {
			return err
		}
		if _, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: act.By, Action: action, Workspace: r.Workspace, Target: r.Target(), Reason: d.Note}); err != nil {
			return err
		}
		if d.Approve {
			if err := sendConsentLinks(ctx, tx, now, post, r, d.Owners); err != nil {
				return err
			}
		}
		return notifyStaff(ctx, tx, now, post, r, string(status))
	})
	return r, err
}

// displayStatus says what a request is at now, counting a pending request
// past its deadline as expired before the sweeper marks it.
func (r AccessRequest) displayStatus(now time.Time) RequestStatus {
	if r.Status == RequestPending && !now.Before(r.ExpiresAt) {
		return RequestExpired
	}
	if r.Status == RequestApproved && r.ConsentDeadline != nil && !now.Before(*r.ConsentDeadline) {
		return RequestExpired
	}
	return r.Status
}

// StatusAt is the request's state at now.
func (r AccessRequest) StatusAt(now time.Time) RequestStatus { return r.displayStatus(now) }

// Cancellation is a requester withdrawing their pending request.
type Cancellation struct {
	Request   int64
	Requester Staff
	Note      string
}

// CancelRequest lets the requester withdraw a pending request.
func CancelRequest(ctx context.Context, db *gorm.DB, act Act, post Post, c Cancellation) (AccessRequest, error) {
	now, id, requester := act.Now, c.Request, c.Requester
	c.Note = strings.TrimSpace(c.Note)
	if err := CheckNote(c.Note, 0); err != nil {
		return AccessRequest{}, Invalid("note", noteMessage(err, "Say briefly why you withdraw the request."))
	}
	var r AccessRequest
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if r, err = FindRequest(ctx, tx, id); err != nil {
			return err
		}
		if r.RequesterID != requester.ID {
			return fmt.Errorf("only the requester may cancel request %d: %w", id, ErrTwoPerson)
		}
		res := tx.Model(&AccessRequest{}).Where("id = ? AND status = ? AND expires_at > ?", id, RequestPending, now.UTC()).
			Updates(map[string]any{"status": RequestCancelled, "updated_at": now.UTC()})
		if res.Error != nil {
			return fmt.Errorf("cancel request %d: %w", id, res.Error)
		}
		if res.RowsAffected != 1 {
			return conflictf("Request %d is %s.", id, r.displayStatus(now))
		}
		r.Status = RequestCancelled
		if _, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: act.By, Action: ActionRequestCancelled, Workspace: r.Workspace, Target: r.Target(), Reason: c.Note}); err != nil {
			return err
		}
		return notifyStaff(ctx, tx, now, post, r, string(RequestCancelled))
	})
	return r, err
}

// EndRequestGrant ends the live grant of a granted request: the grantee
// pressing "done" (ActionGrantDone; a note is optional, why "done" without
// one) or a sysadmin revoking it (ActionGrantRevoked; a sentence why is
// required). A note that fails its check is FieldErrors on "note".
func EndRequestGrant(ctx context.Context, db *gorm.DB, act Act, id int64, why string, action Action) (AccessRequest, error) {
	now := act.Now
	why, err := endNote(why, action)
	if err != nil {
		return AccessRequest{}, err
	}
	var r AccessRequest
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if r, err = FindRequest(ctx, tx, id); err != nil {
			return err
		}
		if r.Status != RequestGranted || r.GrantID == nil {
			return conflictf("Request %d is %s.", id, r.displayStatus(now))
		}
		return endGrant(ctx, tx, act, *r.GrantID, why, action)
	})
	return r, err
}

// endNote checks the note of an ended grant: a revocation says why in a
// sentence; "I'm done" may say what was done, and says "done" otherwise.
func endNote(why string, action Action) (string, error) {
	why = strings.TrimSpace(why)
	if action == ActionGrantRevoked {
		if err := CheckReason(why, 10); err != nil {
			return "", Invalid("note", noteMessage(err, "Say why you revoke this access (at least 10 characters)."))
		}
		return why, nil
	}
	if err := CheckNote(why, 0); err != nil {
		return "", Invalid("note", noteMessage(err, "Say briefly what you did."))
	}
	if why == "" {
		why = "done"
	}
	return why, nil
}

// endGrant ends a live grant inside tx and audits it with action.
func endGrant(ctx context.Context, tx *gorm.DB, act Act, id int64, why string, action Action) error {
	now, by := act.Now, act.By
	res := tx.Model(&Grant{}).Where("id = ? AND ended_at IS NULL AND ends_at > ?", id, now.UTC()).
		Updates(map[string]any{"ended_at": now.UTC(), "ended_by": by.Email, "ended_why": why})
	if res.Error != nil {
		return fmt.Errorf("end grant %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return conflictf("Grant %d has already ended.", id)
	}
	var g Grant
	if err := tx.Where("id = ?", id).Take(&g).Error; err != nil {
		return err
	}
	target := ""
	if g.RequestID != nil {
		target = RequestTarget(*g.RequestID)
	}
	_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: action, Workspace: g.Workspace, GrantID: &g.ID, BreakglassID: g.BreakglassID, Target: target, Reason: why})
	return err
}

// Grantees returns the staff who may receive a grant at now: active
// seniors and sysadmins cleared by cl, by name.
func Grantees(ctx context.Context, db *gorm.DB, cl Clearance, now time.Time) ([]Staff, error) {
	var out []Staff
	roles, err := LoadRoles(ctx, db)
	if err != nil {
		return nil, err
	}
	q := db.WithContext(ctx).Where("status = ? AND tier IN ? AND agreement_version = ? AND agreement_signed_at IS NOT NULL", StatusActive, roles.Holding(policy.TenantDataRead), cl.Agreement)
	err = cl.trainedSince(q, now).Order("name").Limit(500).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("grantees: %w", err)
	}
	return out, nil
}
