package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The proposal audit actions. Each is a step of the two-person rule and
// none is read-only: they move the security epoch.
const (
	ActionProposalCreated   Action = "proposal.created"
	ActionProposalApproved  Action = "proposal.approved"
	ActionProposalRejected  Action = "proposal.rejected"
	ActionProposalWithdrawn Action = "proposal.withdrawn"
	ActionProposalStale     Action = "proposal.stale"
)

// ProposalKind names what a proposal changes; each kind has an Applier
// in proposalKinds.
type ProposalKind string

// ProposalStatus is where a proposal stands. Every status but pending is
// final.
type ProposalStatus string

// The proposal statuses.
const (
	ProposalPending   ProposalStatus = "pending"
	ProposalApproved  ProposalStatus = "approved"
	ProposalRejected  ProposalStatus = "rejected"
	ProposalWithdrawn ProposalStatus = "withdrawn"
	// ProposalStale is a proposal whose subject changed between the
	// proposal and its approval: nothing was applied.
	ProposalStale ProposalStatus = "stale"
)

// ErrProposalRefused is a person who may not take a step on a proposal:
// not an active sysadmin, the proposer approving or rejecting their own,
// or someone else withdrawing it.
var ErrProposalRefused = errors.New("a proposal is decided by an active sysadmin other than its proposer, and withdrawn only by its proposer")

// Proposal is a policy change that waits for a second sysadmin (the
// two-person rule). Payload is the change asked for and Before the state
// it was asked against, both JSON written by the kind's Applier.
type Proposal struct {
	ID            int64 `gorm:"primaryKey"`
	Kind          ProposalKind
	Subject       string
	Payload       string
	Before        string `gorm:"column:before"`
	Reason        string
	ProposedBy    int64
	ProposerEmail string
	ProposedAt    time.Time
	Status        ProposalStatus
	DecidedBy     *int64
	DeciderEmail  string
	DecidedAt     *time.Time
	DecisionNote  string
}

// TableName is the proposals table's name.
func (Proposal) TableName() string { return "policy_proposals" }

// ProposalTarget is a proposal as audit events name it.
func ProposalTarget(id int64) string { return fmt.Sprintf("proposal:%d", id) }

// ProposalWords are a proposal in the words a sysadmin reads before
// deciding: what it changes, and the state before and after.
type ProposalWords struct {
	Change string // e.g. "Tier of eve@example.com"
	Before string
	After  string
}

// Applier is one kind of proposal: it checks a change against the
// current state, applies it, and says it in words. A payload is JSON the
// applier decodes strictly; an unknown field is an error.
type Applier interface {
	// Check validates payload against the state in db (a transaction at
	// approval, where it locks what it reads) and returns the subject
	// the change is about and the state it changes. A change that cannot
	// be made is FieldErrors or a ConflictError.
	Check(ctx context.Context, db *gorm.DB, payload json.RawMessage) (subject string, before any, err error)
	// Apply makes the change inside tx, auditing it as a direct change
	// would be; product is the product database, for a change that must
	// read the registry (a scope's workspaces).
	Apply(ctx context.Context, tx, product *gorm.DB, act Act, payload json.RawMessage) error
	// Describe says a proposal's change and its before state in words.
	Describe(payload, before json.RawMessage) (ProposalWords, error)
}

// proposalKinds are the kinds of proposal there are. Add a kind here
// with its Applier.
var proposalKinds = map[ProposalKind]Applier{
	KindStaffTier:  staffTierApplier{},
	KindStaffScope: staffScopeApplier{},
	KindRoleCreate: roleApplier{create: true},
	KindRoleChange: roleApplier{},
	KindRoleDelete: roleDeleteApplier{},
}

func applierOf(kind ProposalKind) (Applier, error) {
	a, ok := proposalKinds[kind]
	if !ok {
		return nil, fmt.Errorf("unknown proposal kind %q", kind)
	}
	return a, nil
}

// Words are p in the words of its kind.
func (p Proposal) Words() (ProposalWords, error) {
	a, err := applierOf(p.Kind)
	if err != nil {
		return ProposalWords{}, err
	}
	return a.Describe(json.RawMessage(p.Payload), json.RawMessage(p.Before))
}

// ProposalInput is a change a sysadmin proposes.
type ProposalInput struct {
	Kind    ProposalKind
	Payload any // marshalled to JSON, then checked by the kind's Applier
	Reason  string
}

// Propose stores a change as a pending proposal, after its kind's Applier
// checked it against the current state, and audits proposal.created with
// the before and after. Nothing changes until a second sysadmin approves
// it. The proposer (act.By) must be an active sysadmin. Only one proposal
// per kind and subject may be pending: the partial unique index
// policy_proposals_one_pending holds it across replicas, and a check in
// the transaction gives the message.
func Propose(ctx context.Context, db *gorm.DB, act Act, in ProposalInput) (Proposal, error) {
	applier, err := applierOf(in.Kind)
	if err != nil {
		return Proposal{}, err
	}
	reason := strings.TrimSpace(in.Reason)
	if err := CheckReason(reason, 10); err != nil {
		return Proposal{}, Invalid("reason", noteMessage(err, "Say in a sentence (at least 10 characters) why this change is needed."))
	}
	payload, err := json.Marshal(in.Payload)
	if err != nil {
		return Proposal{}, fmt.Errorf("propose %s: %w", in.Kind, err)
	}
	var p Proposal
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		proposer, err := activeSysadminNamed(tx, act.By.Email, false)
		if err != nil {
			return err
		}
		subject, before, err := applier.Check(ctx, tx, payload)
		if err != nil {
			return err
		}
		b, err := json.Marshal(before)
		if err != nil {
			return err
		}
		if err := noOtherPending(tx, in.Kind, subject); err != nil {
			return err
		}
		p = Proposal{
			Kind:          in.Kind,
			Subject:       subject,
			Payload:       string(payload),
			Before:        string(b),
			Reason:        reason,
			ProposedBy:    proposer.ID,
			ProposerEmail: proposer.Email,
			ProposedAt:    act.Now.UTC(),
			Status:        ProposalPending,
		}
		if err := tx.Create(&p).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				// Proposed meanwhile on another replica (the failed insert
				// aborted the transaction on PostgreSQL: nothing more to read).
				return conflictf("A proposal about %s is already waiting for a second sysadmin: approve, reject or withdraw it first.", subject)
			}
			return err
		}
		return auditProposal(ctx, tx, act, ActionProposalCreated, p, reason, nil)
	})
	if err != nil {
		return Proposal{}, fmt.Errorf("propose %s: %w", in.Kind, err)
	}
	return p, nil
}

// noOtherPending refuses a second pending proposal of kind on subject.
func noOtherPending(tx *gorm.DB, kind ProposalKind, subject string) error {
	var other Proposal
	err := tx.Where("kind = ? AND subject = ? AND status = ?", kind, subject, ProposalPending).Take(&other).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil
	case err != nil:
		return err
	}
	return conflictf("Proposal %d about %s is already waiting for a second sysadmin: approve, reject or withdraw it first.", other.ID, subject)
}

// activeSysadminNamed loads the staff member act.By names by email and
// refuses (ErrProposalRefused) anyone but an active sysadmin. With lock,
// the row is locked until the transaction ends, so a suspension cannot
// slip between the check and the change.
func activeSysadminNamed(tx *gorm.DB, email string, lock bool) (Staff, error) {
	q := tx
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var s Staff
	err := q.Where("email = ?", strings.ToLower(strings.TrimSpace(email))).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Staff{}, fmt.Errorf("%s is not staff: %w", email, ErrProposalRefused)
	}
	if err != nil {
		return Staff{}, err
	}
	if !s.Tier.MayBreakGlass() || s.Status != StatusActive {
		return Staff{}, fmt.Errorf("%s is not an active sysadmin: %w", s.Email, ErrProposalRefused)
	}
	return s, nil
}

// FindProposal returns proposal id, or a wrapped ErrNotFound.
func FindProposal(ctx context.Context, db *gorm.DB, id int64) (Proposal, error) {
	var p Proposal
	err := db.WithContext(ctx).Where("id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Proposal{}, fmt.Errorf("proposal %d: %w", id, ErrNotFound)
	}
	return p, err
}

// PendingProposals returns up to limit pending proposals, oldest first,
// and how many are pending in all.
func PendingProposals(ctx context.Context, db *gorm.DB, limit int) ([]Proposal, int64, error) {
	var out []Proposal
	var n int64
	q := db.WithContext(ctx).Model(&Proposal{}).Where("status = ?", ProposalPending)
	if err := q.Count(&n).Error; err != nil {
		return nil, 0, fmt.Errorf("pending proposals: %w", err)
	}
	if err := q.Order("id").Limit(limit).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("pending proposals: %w", err)
	}
	return out, n, nil
}

// DecidedProposals returns the limit most recently proposed proposals
// that are decided, newest first.
func DecidedProposals(ctx context.Context, db *gorm.DB, limit int) ([]Proposal, error) {
	var out []Proposal
	err := db.WithContext(ctx).Where("status <> ?", ProposalPending).Order("id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("decided proposals: %w", err)
	}
	return out, nil
}

// auditProposal records one step of proposal p, with its before and
// after and, when the step found the subject changed, why it is stale.
func auditProposal(ctx context.Context, tx *gorm.DB, act Act, action Action, p Proposal, reason string, extra map[string]any) error {
	detail := map[string]any{
		"proposal": p.ID,
		"kind":     p.Kind,
		"subject":  p.Subject,
		"proposer": p.ProposerEmail,
		"before":   json.RawMessage(p.Before),
		"after":    json.RawMessage(p.Payload),
	}
	for k, v := range extra {
		detail[k] = v
	}
	_, err := AppendAudit(ctx, tx, AuditEntry{
		At:     act.Now,
		Actor:  act.By,
		Action: action,
		Target: ProposalTarget(p.ID),
		Reason: reason,
		Detail: detail,
	})
	return err
}
