package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gatehouse/policy"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The proposal kinds for scopes and custom roles: like a role change,
// each waits for a second sysadmin (see Propose and ApproveProposal).
const (
	KindStaffScope ProposalKind = "staff.scope"
	KindRoleCreate ProposalKind = "role.create"
	KindRoleChange ProposalKind = "role.change"
	KindRoleDelete ProposalKind = "role.delete"
)

// StaffScopeChange is the payload of a staff.scope proposal: the scope's
// text as policy.ParseScope reads it ("" for every workspace).
type StaffScopeChange struct {
	StaffID int64  `json:"staff_id"`
	Scope   string `json:"scope"`
}

// staffScopeBefore is what a scope change is proposed against; as for a
// role change, the status is part of it.
type staffScopeBefore struct {
	Scope  string `json:"scope"`
	Status Status `json:"status"`
}

// staffScopeApplier applies staff.scope proposals through SetStaffScope,
// which ends what the new scope no longer admits.
type staffScopeApplier struct{}

func (staffScopeApplier) Check(ctx context.Context, db *gorm.DB, payload json.RawMessage) (string, any, error) {
	var c StaffScopeChange
	if err := decodeStrict(payload, &c); err != nil {
		return "", nil, err
	}
	sc, err := policy.ParseScope(c.Scope)
	if err != nil {
		return "", nil, Invalid("scope", "The scope "+err.Error()+".")
	}
	var s Staff
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
	if s.Scope == sc.String() {
		return "", nil, conflictf("%s already has this scope.", s.Email)
	}
	return s.Email, staffScopeBefore{Scope: s.Scope, Status: s.Status}, nil
}

func (staffScopeApplier) Apply(ctx context.Context, tx, product *gorm.DB, act Act, payload json.RawMessage) error {
	var c StaffScopeChange
	if err := decodeStrict(payload, &c); err != nil {
		return err
	}
	return SetStaffScope(ctx, tx, product, act, c.StaffID, c.Scope)
}

func (staffScopeApplier) Describe(payload, before json.RawMessage) (ProposalWords, error) {
	var c StaffScopeChange
	var b staffScopeBefore
	if err := decodeStrict(payload, &c); err != nil {
		return ProposalWords{}, err
	}
	if err := decodeStrict(before, &b); err != nil {
		return ProposalWords{}, err
	}
	return ProposalWords{
		Change: "Scope",
		Before: fmt.Sprintf("%s (%s)", scopeWords(b.Scope), b.Status),
		After:  scopeWords(c.Scope),
	}, nil
}

// scopeWords is a stored scope as the proposal page says it.
func scopeWords(s string) string {
	if s == "" {
		return "every workspace"
	}
	return s
}

// RoleProposal is the payload of a role.create or role.change proposal:
// the role as it is to be, permissions as "object:action" names.
type RoleProposal struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
	Scope       string   `json:"scope"`
}

// NewRoleProposal is d as a proposal's payload.
func NewRoleProposal(d policy.RoleDef) RoleProposal {
	d = d.Normalized()
	p := RoleProposal{Name: string(d.Name), Description: d.Description, Scope: d.Scope, Permissions: []string{}}
	for _, perm := range d.Permissions {
		p.Permissions = append(p.Permissions, perm.String())
	}
	return p
}

// def is p as the policy reads it; a permission name Gatehouse does not
// know is FieldErrors on "permissions".
func (p RoleProposal) def() (policy.RoleDef, error) {
	d := policy.RoleDef{Name: policy.Tier(p.Name), Description: p.Description, Scope: p.Scope}
	for _, name := range p.Permissions {
		perm, ok := policy.ParsePermission(name)
		if !ok {
			return d, Invalid("permissions", Clip(name)+" is not a permission Gatehouse knows.")
		}
		d.Permissions = append(d.Permissions, perm)
	}
	return checkRole(d)
}

// roleBefore is the role a role.change is proposed against (its stored
// form); a role.create is proposed against no role (Exists false).
type roleBefore struct {
	Exists      bool   `json:"exists"`
	Description string `json:"description,omitempty"`
	Permissions string `json:"permissions,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

// roleApplier applies role.create (create) and role.change proposals
// through CreateRole and ChangeRole; ChangeRole ends what the role's
// holders can no longer hold.
type roleApplier struct{ create bool }

func (a roleApplier) Check(ctx context.Context, db *gorm.DB, payload json.RawMessage) (string, any, error) {
	var p RoleProposal
	if err := decodeStrict(payload, &p); err != nil {
		return "", nil, err
	}
	d, err := p.def()
	if err != nil {
		return "", nil, err
	}
	r, err := lockRole(db.WithContext(ctx), string(d.Name), "UPDATE")
	switch {
	case errors.Is(err, ErrNotFound) && a.create:
		return RoleTarget(string(d.Name)), roleBefore{}, nil
	case err != nil:
		return "", nil, err
	case a.create:
		return "", nil, Invalid("name", fmt.Sprintf("A role named %s exists already.", d.Name))
	}
	if r.Description == d.Description && r.Permissions == policy.FormatPermissions(d.Permissions) && r.Scope == d.Scope {
		return "", nil, Invalid("", "Nothing to change: the role already reads exactly so.")
	}
	return RoleTarget(r.Name), beforeOf(r), nil
}

// beforeOf is stored role r as a proposal is made against it.
func beforeOf(r Role) roleBefore {
	return roleBefore{Exists: true, Description: r.Description, Permissions: r.Permissions, Scope: r.Scope}
}

func (a roleApplier) Apply(ctx context.Context, tx, product *gorm.DB, act Act, payload json.RawMessage) error {
	var p RoleProposal
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	d, err := p.def()
	if err != nil {
		return err
	}
	if a.create {
		_, err = CreateRole(ctx, tx, act, d)
	} else {
		_, err = ChangeRole(ctx, tx, product, act, p.Name, d)
	}
	return err
}

func (a roleApplier) Describe(payload, before json.RawMessage) (ProposalWords, error) {
	var p RoleProposal
	var b roleBefore
	if err := decodeStrict(payload, &p); err != nil {
		return ProposalWords{}, err
	}
	if err := decodeStrict(before, &b); err != nil {
		return ProposalWords{}, err
	}
	words := ProposalWords{Change: "Role " + p.Name, Before: "no such role"}
	if b.Exists {
		words.Before = roleWords(b.Description, b.Permissions, b.Scope)
	}
	d := policy.RoleDef{Description: p.Description, Scope: p.Scope}
	for _, name := range p.Permissions {
		if perm, ok := policy.ParsePermission(name); ok {
			d.Permissions = append(d.Permissions, perm)
		}
	}
	words.After = roleWords(d.Description, policy.FormatPermissions(d.Permissions), d.Scope)
	return words, nil
}

// RoleDeletion is the payload of a role.delete proposal: the custom role
// to delete.
type RoleDeletion struct {
	Name string `json:"name"`
}

// roleDeleteApplier applies role.delete proposals through DeleteRole. A
// role someone active or suspended holds cannot be proposed for
// deletion, and a proposal whose role has been given to someone since is
// stale.
type roleDeleteApplier struct{}

func (roleDeleteApplier) Check(ctx context.Context, db *gorm.DB, payload json.RawMessage) (string, any, error) {
	var p RoleDeletion
	if err := decodeStrict(payload, &p); err != nil {
		return "", nil, err
	}
	if policy.Tier(p.Name).Valid() {
		return "", nil, Invalid("", p.Name+" is a built-in tier: it is changed only in the reviewed policy file.")
	}
	tx := db.WithContext(ctx)
	r, err := lockRole(tx, p.Name, "UPDATE")
	if err != nil {
		return "", nil, err
	}
	if err := mayDeleteRole(tx, p.Name); err != nil {
		return "", nil, err
	}
	return RoleTarget(r.Name), beforeOf(r), nil
}

func (roleDeleteApplier) Apply(ctx context.Context, tx, _ *gorm.DB, act Act, payload json.RawMessage) error {
	var p RoleDeletion
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	return DeleteRole(ctx, tx, act, p.Name)
}

func (roleDeleteApplier) Describe(payload, before json.RawMessage) (ProposalWords, error) {
	var p RoleDeletion
	var b roleBefore
	if err := decodeStrict(payload, &p); err != nil {
		return ProposalWords{}, err
	}
	if err := decodeStrict(before, &b); err != nil {
		return ProposalWords{}, err
	}
	words := ProposalWords{Change: "Role " + p.Name, Before: "no such role", After: "deleted: nobody may be given it again"}
	if b.Exists {
		words.Before = roleWords(b.Description, b.Permissions, b.Scope)
	}
	return words, nil
}

// roleWords is a role's stored form in one line of a proposal's page.
func roleWords(description, permissions, scope string) string {
	return fmt.Sprintf("%s — may %s; workspaces: %s", description, permissions, scopeWords(scope))
}
