package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// ApproveProposal approves proposal id and applies it, in one
// transaction: the approver (act.By) must be an active sysadmin other
// than the proposer (ErrProposalRefused); a conditional update claims
// the pending proposal, so of racing approvals on any replica exactly one
// wins and the others get a ConflictError; the kind's Applier then checks
// the subject again, and if it is no longer in the state the proposal was
// made against, the proposal is marked stale and nothing is applied.
// Otherwise the change is applied and proposal.approved audited with the
// before and after. The proposal returned says which (Status).
func ApproveProposal(ctx context.Context, db, product *gorm.DB, act Act, id int64, note string) (Proposal, error) {
	note = strings.TrimSpace(note)
	if err := CheckNote(note, 0); err != nil {
		return Proposal{}, Invalid("note", noteMessage(err, "Check the note."))
	}
	var p Proposal
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if p, err = claimProposal(ctx, tx, act, id, ProposalApproved, note); err != nil {
			return err
		}
		applier, err := applierOf(p.Kind)
		if err != nil {
			return err
		}
		if why, err := staleness(ctx, tx, applier, p); err != nil || why != "" {
			if err != nil {
				return err
			}
			return markStale(ctx, tx, act, &p, why)
		}
		if err := applier.Apply(ctx, tx, product, act, json.RawMessage(p.Payload)); err != nil {
			return err
		}
		return auditProposal(ctx, tx, act, ActionProposalApproved, p, note, nil)
	})
	if err != nil {
		return Proposal{}, fmt.Errorf("approve proposal %d: %w", id, err)
	}
	return p, nil
}

// RejectProposal rejects proposal id with a note saying why; the
// rejecter must be an active sysadmin other than the proposer. Nothing is
// applied.
func RejectProposal(ctx context.Context, db *gorm.DB, act Act, id int64, note string) (Proposal, error) {
	note = strings.TrimSpace(note)
	if err := CheckReason(note, 10); err != nil {
		return Proposal{}, Invalid("note", noteMessage(err, "Say in a sentence (at least 10 characters) why you reject it."))
	}
	var p Proposal
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if p, err = claimProposal(ctx, tx, act, id, ProposalRejected, note); err != nil {
			return err
		}
		return auditProposal(ctx, tx, act, ActionProposalRejected, p, note, nil)
	})
	if err != nil {
		return Proposal{}, fmt.Errorf("reject proposal %d: %w", id, err)
	}
	return p, nil
}

// WithdrawProposal withdraws a pending proposal; only its proposer may.
// Nothing is applied.
func WithdrawProposal(ctx context.Context, db *gorm.DB, act Act, id int64) (Proposal, error) {
	var p Proposal
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if p, err = claimProposal(ctx, tx, act, id, ProposalWithdrawn, ""); err != nil {
			return err
		}
		return auditProposal(ctx, tx, act, ActionProposalWithdrawn, p, "", nil)
	})
	if err != nil {
		return Proposal{}, fmt.Errorf("withdraw proposal %d: %w", id, err)
	}
	return p, nil
}

// claimProposal moves pending proposal id to status for act.By, inside
// tx, by one conditional update: the first decision wins, a later one is
// a ConflictError saying how it was decided. A withdrawal is the
// proposer's; any other decision is an active sysadmin's other than the
// proposer (ErrProposalRefused otherwise).
//
// The proposal row is claimed before the decider's staff row is locked:
// the applier locks the subject's staff row next, and a decider who is
// also the subject of a racing approval would otherwise hold that row
// while waiting for the proposal (a deadlock on PostgreSQL).
func claimProposal(ctx context.Context, tx *gorm.DB, act Act, id int64, status ProposalStatus, note string) (Proposal, error) {
	p, err := FindProposal(ctx, tx, id)
	if err != nil {
		return Proposal{}, err
	}
	decider, err := FindStaffByEmail(ctx, tx, act.By.Email)
	if errors.Is(err, ErrNotFound) {
		return Proposal{}, fmt.Errorf("%s is not staff: %w", act.By.Email, ErrProposalRefused)
	}
	if err != nil {
		return Proposal{}, err
	}
	own := decider.ID == p.ProposedBy
	switch {
	case status == ProposalWithdrawn && !own:
		return Proposal{}, fmt.Errorf("only %s, who proposed it, can withdraw it: %w", p.ProposerEmail, ErrProposalRefused)
	case status != ProposalWithdrawn && own:
		return Proposal{}, fmt.Errorf("%s proposed it and cannot decide it: %w", decider.Email, ErrProposalRefused)
	}
	if p.Status != ProposalPending {
		return Proposal{}, alreadyDecided(p)
	}
	now := act.Now.UTC()
	res := tx.Model(&Proposal{}).Where("id = ? AND status = ?", id, ProposalPending).Updates(map[string]any{
		"status":        status,
		"decided_by":    decider.ID,
		"decider_email": decider.Email,
		"decided_at":    now,
		"decision_note": note,
	})
	if res.Error != nil {
		return Proposal{}, res.Error
	}
	if res.RowsAffected == 0 {
		// Decided on another replica since the read above.
		if p, err = FindProposal(ctx, tx, id); err != nil {
			return Proposal{}, err
		}
		return Proposal{}, alreadyDecided(p)
	}
	if status != ProposalWithdrawn {
		// Locked now, so a suspension of the decider waits for this
		// decision or comes first and refuses it.
		if _, err := activeSysadminNamed(tx, decider.Email, true); err != nil {
			return Proposal{}, err
		}
	}
	p.Status, p.DecidedBy, p.DeciderEmail, p.DecidedAt, p.DecisionNote = status, &decider.ID, decider.Email, &now, note
	return p, nil
}

func alreadyDecided(p Proposal) error {
	by := ""
	if p.DeciderEmail != "" {
		by = " by " + p.DeciderEmail
	}
	return conflictf("Proposal %d was already %s%s; nothing was changed.", p.ID, p.Status, by)
}

// staleness says why p can no longer be applied safely ("" when it can):
// its subject is no longer in the state it was proposed against, or the
// change can no longer be made at all.
func staleness(ctx context.Context, tx *gorm.DB, applier Applier, p Proposal) (string, error) {
	subject, before, err := applier.Check(ctx, tx, json.RawMessage(p.Payload))
	var fe FieldErrors
	var ce *ConflictError
	switch {
	case errors.As(err, &ce):
		return ce.Message, nil
	case errors.As(err, &fe):
		return fe.Error(), nil
	case errors.Is(err, ErrNotFound):
		return "Its subject no longer exists.", nil
	case err != nil:
		return "", err
	}
	now, err := json.Marshal(before)
	if err != nil {
		return "", err
	}
	if subject == p.Subject && string(now) == p.Before {
		return "", nil
	}
	was, err := applier.Describe(json.RawMessage(p.Payload), json.RawMessage(p.Before))
	if err != nil {
		return "", err
	}
	is, err := applier.Describe(json.RawMessage(p.Payload), now)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s of %s changed since it was proposed: it is %s now, it was %s.", was.Change, p.Subject, is.Before, was.Before), nil
}

// markStale turns the claimed approval of p into stale, saying why, and
// audits it; nothing is applied.
func markStale(ctx context.Context, tx *gorm.DB, act Act, p *Proposal, why string) error {
	err := tx.Model(&Proposal{}).Where("id = ? AND status = ?", p.ID, ProposalApproved).
		Updates(map[string]any{"status": ProposalStale, "decision_note": why}).Error
	if err != nil {
		return err
	}
	p.Status, p.DecisionNote = ProposalStale, why
	return auditProposal(ctx, tx, act, ActionProposalStale, *p, "", map[string]any{"why": why})
}
