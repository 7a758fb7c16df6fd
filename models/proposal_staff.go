package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gatehouse/policy"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// KindStaffTier is a proposal to give a staff member another role: a
// built-in tier or a custom role (the staff table's tier column holds
// either).
const KindStaffTier ProposalKind = "staff.tier"

// StaffTierChange is the payload of a staff.tier proposal.
type StaffTierChange struct {
	StaffID int64       `json:"staff_id"`
	Tier    policy.Tier `json:"tier"`
}

// staffTierBefore is what a tier change is proposed against. The status
// is part of it: a person suspended (or reactivated) meanwhile makes the
// proposal stale, so the approver decides on what is true now.
type staffTierBefore struct {
	Tier   policy.Tier `json:"tier"`
	Status Status      `json:"status"`
}

// staffTierApplier applies staff.tier proposals through SetStaffRole, which
// ends, in the same transaction, what the new tier could not hold.
type staffTierApplier struct{}

func decodeStrict(payload json.RawMessage, v any) error {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("proposal payload: %w", err)
	}
	return nil
}

func (staffTierApplier) Check(ctx context.Context, db *gorm.DB, payload json.RawMessage) (string, any, error) {
	var c StaffTierChange
	if err := decodeStrict(payload, &c); err != nil {
		return "", nil, err
	}
	roles, err := LoadRoles(ctx, db)
	if err != nil {
		return "", nil, err
	}
	if !roles.Known(c.Tier) {
		return "", nil, Invalid("tier", "Choose a role from the list.")
	}
	var s Staff
	// Locked: at approval, nothing may change the person between this
	// check and SetStaffRole.
	err = db.WithContext(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", c.StaffID).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil, fmt.Errorf("staff %d: %w", c.StaffID, ErrNotFound)
	}
	if err != nil {
		return "", nil, err
	}
	if err := mustBeActive(&s); err != nil {
		return "", nil, err
	}
	if s.Tier == c.Tier {
		return "", nil, conflictf("%s is already %s.", s.Email, c.Tier)
	}
	return s.Email, staffTierBefore{Tier: s.Tier, Status: s.Status}, nil
}

func (staffTierApplier) Apply(ctx context.Context, tx, product *gorm.DB, act Act, payload json.RawMessage) error {
	var c StaffTierChange
	if err := decodeStrict(payload, &c); err != nil {
		return err
	}
	return SetStaffRole(ctx, tx, product, act, c.StaffID, c.Tier)
}

func (staffTierApplier) Describe(payload, before json.RawMessage) (ProposalWords, error) {
	var c StaffTierChange
	var b staffTierBefore
	if err := decodeStrict(payload, &c); err != nil {
		return ProposalWords{}, err
	}
	if err := decodeStrict(before, &b); err != nil {
		return ProposalWords{}, err
	}
	return ProposalWords{
		Change: "Role",
		Before: fmt.Sprintf("%s (%s)", b.Tier, b.Status),
		After:  string(c.Tier),
	}, nil
}
