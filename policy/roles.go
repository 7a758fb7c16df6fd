package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// RoleDef is a custom role: a set of permissions from All that sysadmins
// define in the portal, next to the built-in tiers of policy.csv. Its
// Name is what a staff member's tier column holds when they have it.
type RoleDef struct {
	Name        Tier
	Description string
	Permissions []Permission
	// Scope limits the workspaces the role's holders may touch (see
	// ParseScope); empty for all. A holder's own scope applies too: they
	// may touch what both admit.
	Scope string
}

var roleName = regexp.MustCompile(`^[a-z][a-z0-9-]{2,39}$`)

// MaxRoleDescription bounds a custom role's description, in bytes.
const MaxRoleDescription = 300

// Normalized is d with its name and description trimmed, its permissions
// sorted by name without repeats and its scope (when it reads) written as
// ParseScope reads it back: the form it is stored in.
func (d RoleDef) Normalized() RoleDef {
	d.Name = Tier(strings.TrimSpace(string(d.Name)))
	d.Description = strings.TrimSpace(d.Description)
	ps := slices.Clone(d.Permissions)
	slices.SortFunc(ps, func(a, b Permission) int { return strings.Compare(a.String(), b.String()) })
	d.Permissions = slices.Compact(ps)
	d.Scope = strings.TrimSpace(d.Scope)
	if sc, err := ParseScope(d.Scope); err == nil {
		d.Scope = sc.String()
	}
	return d
}

// CheckRole says what is wrong with d as a custom role, keyed by field
// ("name", "description", "permissions"); empty when nothing is. A
// custom role is never a built-in name, must let its holders enter the
// portal, and never holds a permission a sysadmin does not: so no role
// defined in the portal can be more than the most trusted tier.
func (e *Enforcer) CheckRole(d RoleDef) map[string]string {
	d = d.Normalized()
	errs := map[string]string{}
	switch {
	case d.Name.Valid():
		errs["name"] = fmt.Sprintf("%s is a built-in role; choose another name.", d.Name)
	case !roleName.MatchString(string(d.Name)):
		errs["name"] = "Use 3 to 40 lower-case letters, digits and hyphens, starting with a letter."
	}
	if d.Description == "" || len(d.Description) > MaxRoleDescription {
		errs["description"] = fmt.Sprintf("Say in up to %d characters what the role is for.", MaxRoleDescription)
	}
	for _, p := range d.Permissions {
		switch {
		case !slices.Contains(All, p):
			errs["permissions"] = fmt.Sprintf("%s is not a permission Gatehouse knows.", p)
		case !e.Allowed(TierSysadmin, p):
			errs["permissions"] = fmt.Sprintf("%s is more than a sysadmin may do.", p)
		}
		if errs["permissions"] != "" {
			return errs
		}
	}
	if _, err := ParseScope(d.Scope); err != nil {
		errs["scope"] = "The scope " + err.Error() + "."
	}
	if !slices.Contains(d.Permissions, PortalEnter) {
		errs["permissions"] = "A role must include " + PortalEnter.String() + ": without it nobody holding it can sign in."
	}
	return errs
}

// ParsePermission reads "object:action" as one of All.
func ParsePermission(s string) (Permission, bool) {
	s = strings.TrimSpace(s)
	for _, p := range All {
		if p.String() == s {
			return p, true
		}
	}
	return Permission{}, false
}

// FormatPermissions writes ps as stored: sorted "object:action" names,
// comma-separated.
func FormatPermissions(ps []Permission) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ",")
}

// ParsePermissions reads what FormatPermissions wrote; a name that is not
// one of All is an error naming it.
func ParsePermissions(s string) ([]Permission, error) {
	var out []Permission
	for _, name := range strings.Split(s, ",") {
		if strings.TrimSpace(name) == "" {
			continue
		}
		p, ok := ParsePermission(name)
		if !ok {
			return nil, fmt.Errorf("unknown permission %q", name)
		}
		out = append(out, p)
	}
	return out, nil
}

// builtin is the enforcer of the embedded policy, built once: the files
// are compiled in and never change, so every caller may share it.
var builtin = sync.OnceValues(New)

// Builtin returns the enforcer of the embedded policy (see New).
func Builtin() (*Enforcer, error) { return builtin() }

// Roles is a snapshot of every role a staff member may hold: the
// built-in tiers and the custom roles, each with its permissions. It
// answers the questions Tier's methods answer for the built-in tiers,
// for every role; a name it does not know holds nothing (fail closed).
// It is read-only once made, so safe for concurrent use.
type Roles struct {
	held   map[Tier]map[Permission]bool
	scopes map[Tier]Scope // custom roles' scopes; built-in tiers have none
	custom []RoleDef      // by name; only the ones that pass CheckRole
}

// NewRoles builds the snapshot from e (the built-in tiers) and custom.
// A custom role that does not pass CheckRole — a name that is now
// built-in, a permission no longer known — holds nothing, rather than
// whatever part of it still reads.
func NewRoles(e *Enforcer, custom []RoleDef) *Roles {
	r := &Roles{held: map[Tier]map[Permission]bool{}, scopes: map[Tier]Scope{}}
	for _, t := range Tiers {
		r.held[t] = map[Permission]bool{}
		for _, p := range All {
			if e.Allowed(t, p) {
				r.held[t][p] = true
			}
		}
	}
	for _, d := range custom {
		d = d.Normalized()
		if len(e.CheckRole(d)) > 0 {
			continue
		}
		r.held[d.Name] = map[Permission]bool{}
		r.scopes[d.Name], _ = ParseScope(d.Scope) // CheckRole parsed it
		for _, p := range d.Permissions {
			r.held[d.Name][p] = true
		}
		r.custom = append(r.custom, d)
	}
	slices.SortFunc(r.custom, func(a, b RoleDef) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return r
}

// Allowed reports whether role holds p. Unknown roles, a nil snapshot
// and the zero permission are refusals; Public is allowed to all.
func (r *Roles) Allowed(role Tier, p Permission) bool {
	if p == Public {
		return true
	}
	if r == nil || p.IsZero() {
		return false
	}
	return r.held[role][p]
}

// Scope is the scope role limits its holders to: none (every workspace)
// for a built-in tier, the role's own for a custom role, and no
// workspace at all for a role the snapshot does not know (fail closed).
func (r *Roles) Scope(role Tier) Scope {
	if !r.Known(role) {
		return NoWorkspaces()
	}
	return r.scopes[role]
}

// Covers reports whether role a holds every permission role b holds:
// whether a holder of a may give b to someone without giving more than
// they have themselves.
func (r *Roles) Covers(a, b Tier) bool {
	for _, p := range All {
		if r.Allowed(b, p) && !r.Allowed(a, p) {
			return false
		}
	}
	return true
}

// Known reports whether role is a built-in tier or a custom role.
func (r *Roles) Known(role Tier) bool {
	if r == nil {
		return false
	}
	_, ok := r.held[role]
	return ok
}

// MayHoldGrant reports whether a holder of role may be the grantee of an
// access request's grant: whether it holds tenant_data:read.
func (r *Roles) MayHoldGrant(role Tier) bool { return r.Allowed(role, TenantDataRead) }

// MayBreakGlass reports whether a holder of role may open or review a
// break-glass, and so hold a break-glass grant: breakglass:use.
func (r *Roles) MayBreakGlass(role Tier) bool { return r.Allowed(role, BreakglassUse) }

// MayApprove reports whether a holder of role may decide other people's
// access requests: request:approve.
func (r *Roles) MayApprove(role Tier) bool { return r.Allowed(role, RequestApprove) }

// Holding returns every role that holds p, the built-in tiers first in
// Tiers order, then the custom roles by name: for a query's "tier IN ?".
func (r *Roles) Holding(p Permission) []Tier {
	var out []Tier
	for _, t := range r.Names() {
		if r.Allowed(t, p) {
			out = append(out, t)
		}
	}
	return out
}

// Names returns every role: the built-in tiers, then the custom roles by
// name.
func (r *Roles) Names() []Tier {
	if r == nil {
		return nil
	}
	out := slices.Clone(Tiers)
	for _, d := range r.custom {
		out = append(out, d.Name)
	}
	return out
}

// Permissions returns what role holds, in All's order.
func (r *Roles) Permissions(role Tier) []Permission {
	var out []Permission
	for _, p := range All {
		if r.Allowed(role, p) {
			out = append(out, p)
		}
	}
	return out
}

// Custom returns the custom roles, by name.
func (r *Roles) Custom() []RoleDef {
	if r == nil {
		return nil
	}
	return slices.Clone(r.custom)
}

// Role returns the custom role of that name.
func (r *Roles) Role(name Tier) (RoleDef, bool) {
	if r != nil {
		for _, d := range r.custom {
			if d.Name == name {
				return d, true
			}
		}
	}
	return RoleDef{}, false
}
