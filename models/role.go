package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Audited actions of custom roles; each records the before and after.
const (
	ActionRoleCreated Action = "role.created"
	ActionRoleChanged Action = "role.changed"
	ActionRoleDeleted Action = "role.deleted"
)

// Role is a custom role as stored: a set of permissions next to the
// built-in tiers (see policy.Roles). Staff.Tier names one of these or a
// built-in tier.
type Role struct {
	Name        string `gorm:"primaryKey"`
	Description string
	Permissions string // policy.FormatPermissions
	Scope       string // policy.ParseScope; "" for every workspace
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName is the roles table's name.
func (Role) TableName() string { return "roles" }

// Def is r as the policy reads it. A stored permission Gatehouse no
// longer knows leaves the role with none, so it holds nothing.
func (r Role) Def() policy.RoleDef {
	ps, err := policy.ParsePermissions(r.Permissions)
	if err != nil {
		ps = nil
	}
	return policy.RoleDef{Name: policy.Tier(r.Name), Description: r.Description, Permissions: ps, Scope: r.Scope}
}

func (r Role) auditView() map[string]any {
	v := map[string]any{"description": r.Description, "permissions": r.Permissions}
	if r.Scope != "" {
		v["scope"] = r.Scope
	}
	return v
}

// LoadRoles reads every role a staff member may hold, from db (which may
// be a transaction, so a check sees the roles as that transaction does).
func LoadRoles(ctx context.Context, db *gorm.DB) (*policy.Roles, error) {
	e, err := policy.Builtin()
	if err != nil {
		return nil, err
	}
	rows, err := ListRoles(ctx, db)
	if err != nil {
		return nil, err
	}
	defs := make([]policy.RoleDef, len(rows))
	for i, r := range rows {
		defs[i] = r.Def()
	}
	return policy.NewRoles(e, defs), nil
}

// ListRoles returns the custom roles, by name.
func ListRoles(ctx context.Context, db *gorm.DB) ([]Role, error) {
	var rows []Role
	if err := db.WithContext(ctx).Order("name").Limit(1000).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	return rows, nil
}

// FindRole loads a custom role by name.
func FindRole(ctx context.Context, db *gorm.DB, name string) (Role, error) {
	var r Role
	err := db.WithContext(ctx).Where("name = ?", name).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Role{}, fmt.Errorf("role %q: %w", name, ErrNotFound)
	}
	return r, err
}

// checkRole normalises d and returns what is wrong with it as
// FieldErrors ("name", "description", "permissions").
func checkRole(d policy.RoleDef) (policy.RoleDef, error) {
	e, err := policy.Builtin()
	if err != nil {
		return d, err
	}
	d = d.Normalized()
	if errs := e.CheckRole(d); len(errs) > 0 {
		return d, FieldErrors(errs)
	}
	return d, nil
}

// CreateRole adds a custom role and audits it. Bad input is FieldErrors
// and writes nothing; a name in use is FieldErrors on "name".
func CreateRole(ctx context.Context, db *gorm.DB, act Act, d policy.RoleDef) (Role, error) {
	d, err := checkRole(d)
	if err != nil {
		return Role{}, fmt.Errorf("create role: %w", err)
	}
	now := act.Now.UTC()
	r := Role{Name: string(d.Name), Description: d.Description, Permissions: policy.FormatPermissions(d.Permissions), Scope: d.Scope, CreatedAt: now, UpdatedAt: now}
	taken := Invalid("name", fmt.Sprintf("A role named %s exists already.", d.Name))
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Role{}).Where("name = ?", r.Name).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return taken
		}
		if err := tx.Create(&r).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return taken // created concurrently since the count
			}
			return err
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: act.Now, Actor: act.By, Action: ActionRoleCreated, Target: RoleTarget(r.Name),
			Detail: map[string]any{"after": r.auditView()}})
		return err
	})
	if err != nil {
		return Role{}, fmt.Errorf("create role %s: %w", d.Name, err)
	}
	return r, nil
}

// ChangeRole replaces a custom role's description, permissions and scope
// and audits the before and after. In the same transaction it ends, for
// every holder, each grant and break-glass the changed role could not
// have obtained, as a tier change does: those of a permission taken
// away, and those on workspaces its scope no longer admits (their
// attributes read from product, the registry); so what is taken away is
// gone on the next request everywhere (the audit event moves the
// security epoch).
func ChangeRole(ctx context.Context, db, product *gorm.DB, act Act, name string, d policy.RoleDef) (Role, error) {
	d.Name = policy.Tier(name)
	d, err := checkRole(d)
	if err != nil {
		return Role{}, fmt.Errorf("change role: %w", err)
	}
	var r Role
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if r, err = lockRole(tx, name, "UPDATE"); err != nil {
			return err
		}
		before := r.auditView()
		perms := policy.FormatPermissions(d.Permissions)
		if r.Description == d.Description && r.Permissions == perms && r.Scope == d.Scope {
			return Invalid("", "Nothing to change: the role already reads exactly so.")
		}
		r.Description, r.Permissions, r.Scope, r.UpdatedAt = d.Description, perms, d.Scope, act.Now.UTC()
		if err := tx.Save(&r).Error; err != nil {
			return err
		}
		if _, err := AppendAudit(ctx, tx, AuditEntry{At: act.Now, Actor: act.By, Action: ActionRoleChanged, Target: RoleTarget(r.Name),
			Detail: map[string]any{"before": before, "after": r.auditView()}}); err != nil {
			return err
		}
		return endHoldersBeyond(ctx, tx, product, act, r.Name, "grantee's role "+r.Name+" changed")
	})
	if err != nil {
		return Role{}, fmt.Errorf("change role %s: %w", name, err)
	}
	return r, nil
}

// DeleteRole deletes custom role name, audited as role.deleted with what
// it was. Only a role nobody holds may go: one held by a staff member
// who is active or suspended (who could hold it again) is a
// ConflictError and nothing is written; an offboarded person keeps the
// name in their record, where, as any name that is neither a tier nor a
// stored role, it holds nothing. The role's row is locked first, and
// SetStaffRole reads a custom role it gives under a shared lock, so no
// one is given the role while it goes. The audit event moves the
// security epoch, so every replica forgets the role on its next request.
func DeleteRole(ctx context.Context, db *gorm.DB, act Act, name string) error {
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r, err := lockRole(tx, name, "UPDATE")
		if err != nil {
			return err
		}
		if err := mayDeleteRole(tx, name); err != nil {
			return err
		}
		if err := tx.Where("name = ?", name).Delete(&Role{}).Error; err != nil {
			return err
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{At: act.Now, Actor: act.By, Action: ActionRoleDeleted, Target: RoleTarget(r.Name),
			Detail: map[string]any{"before": r.auditView()}})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete role %s: %w", name, err)
	}
	return nil
}

// lockRole reads custom role name in tx under a row lock of strength
// ("UPDATE" or "SHARE"); a role that is not stored is ErrNotFound.
func lockRole(tx *gorm.DB, name, strength string) (Role, error) {
	var r Role
	err := tx.Clauses(clause.Locking{Strength: strength}).Where("name = ?", name).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, fmt.Errorf("role %q: %w", name, ErrNotFound)
	}
	return r, err
}

// mayDeleteRole refuses (ConflictError) while anyone not offboarded
// holds role name.
func mayDeleteRole(tx *gorm.DB, name string) error {
	var n int64
	if err := tx.Model(&Staff{}).Where("tier = ? AND status <> ?", name, StatusOffboarded).Count(&n).Error; err != nil {
		return fmt.Errorf("holders of role %s: %w", name, err)
	}
	if n > 0 {
		return conflictf("%d staff (active or suspended) hold %s: give them another role first.", n, name)
	}
	return nil
}

// endHoldersBeyond ends, inside tx, every grant of role's active holders
// that the role as it now stands could not obtain (endGrantsBeyond). The
// holders' rows are locked first, as a tier change locks its one row, so
// no grant for them is made meanwhile under the old role.
func endHoldersBeyond(ctx context.Context, tx, product *gorm.DB, act Act, role, why string) error {
	var holders []Staff
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("tier = ? AND status = ?", role, StatusActive).
		Order("id").Find(&holders).Error
	if err != nil {
		return fmt.Errorf("holders of role %s: %w", role, err)
	}
	return endGrantsBeyond(ctx, tx, product, act, why, holders...)
}

// RoleTarget is how the audit log names a custom role.
func RoleTarget(name string) string { return "role:" + name }

// SetStaffRole gives a staff member another role, built-in or custom. It
// ends, in the same transaction, every grant and break-glass the new role
// could not have obtained, those outside its scope included (read from
// product, the registry; nil only for a built-in tier, which has no
// scope); a promotion revives nothing. A role that does not exist is
// FieldErrors on "tier" and nothing is written.
func SetStaffRole(ctx context.Context, db, product *gorm.DB, act Act, id int64, role policy.Tier) error {
	role = policy.Tier(strings.TrimSpace(string(role)))
	return changeStaff(ctx, db, act, staffChange{ID: id, Action: ActionStaffTierChanged}, func(tx *gorm.DB, s *Staff) error {
		roles, err := LoadRoles(ctx, tx)
		if err != nil {
			return err
		}
		if !roles.Known(role) {
			return Invalid("tier", "Choose a role from the list.")
		}
		if err := mustBeActive(s); err != nil {
			return err
		}
		if s.Tier == role {
			return conflictf("%s is already %s.", s.Email, role)
		}
		if !role.Valid() {
			// A custom role, read under a shared lock: one being deleted
			// (DeleteRole) is waited for, then is no longer there. Taken
			// only once s does not hold it: a change of the role locks
			// the role, then its holders' rows, and s's row is locked
			// here already.
			if _, err := lockRole(tx, string(role), "SHARE"); errors.Is(err, ErrNotFound) {
				return Invalid("tier", "Choose a role from the list.")
			} else if err != nil {
				return err
			}
		}
		why := fmt.Sprintf("grantee's role changed from %s to %s", s.Tier, role)
		s.Tier = role
		return endGrantsBeyond(ctx, tx, product, act, why, *s)
	})
}

// CountHolders counts the active staff of each role, by role name.
func CountHolders(ctx context.Context, db *gorm.DB) (map[policy.Tier]int64, error) {
	var rows []struct {
		Tier policy.Tier
		N    int64
	}
	err := db.WithContext(ctx).Model(&Staff{}).Select("tier, COUNT(*) AS n").Where("status = ?", StatusActive).Group("tier").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count role holders: %w", err)
	}
	out := make(map[policy.Tier]int64, len(rows))
	for _, r := range rows {
		out[r.Tier] = r.N
	}
	return out, nil
}
