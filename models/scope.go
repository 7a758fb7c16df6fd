package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// ActionStaffScopeChanged records a change of a staff member's scope,
// with the before and after.
const ActionStaffScopeChanged Action = "staff.scope_changed"

// ScopeOf is the scope s works under: the one place that says which
// workspaces a staff member may touch, so every check agrees. It is what
// both their own scope and their role's (in roles) admit. A stored scope
// that no longer parses, and a role roles does not know, admit nothing
// (fail closed).
func ScopeOf(s Staff, roles *policy.Roles) policy.Scope {
	sc, err := policy.ParseScope(s.Scope)
	if err != nil {
		return policy.NoWorkspaces()
	}
	return sc.And(roles.Scope(s.Tier))
}

// Attributes are w's registry attributes a scope may name.
func (w Workspace) Attributes() map[string]string {
	return map[string]string{"region": w.Region, "plan": w.Plan}
}

// scopeColumns maps each scope attribute to its registry column: the
// only names that reach SQL.
var scopeColumns = map[string]string{"region": "region", "plan": "plan"}

// scopeWhere limits q, a query over the registry's workspaces, to those
// sc admits: one IN per condition, which the registry's (region, slug)
// and (plan, ...) indexes serve. A condition without values, or on an
// attribute without a column, matches nothing.
func scopeWhere(q *gorm.DB, sc policy.Scope) *gorm.DB {
	if cond, args := scopeSQL(sc); cond != "" {
		q = q.Where(cond, args...)
	}
	return q
}

// scopeSQL is scopeWhere's condition as SQL text and its arguments ("" for
// an unrestricted scope), for queries written out in full.
func scopeSQL(sc policy.Scope) (string, []any) {
	var conds []string
	var args []any
	for _, c := range sc.Conditions() {
		col, ok := scopeColumns[c.Attribute]
		if !ok || len(c.Values) == 0 {
			return "1 = 0", nil
		}
		conds = append(conds, col+" IN ?")
		args = append(args, c.Values)
	}
	return strings.Join(conds, " AND "), args
}

// FindWorkspaceIn is FindWorkspace for a reader limited to sc: a
// workspace sc does not admit is ErrNotFound, worded as for one that does
// not exist, so a page cannot tell the two apart.
func FindWorkspaceIn(ctx context.Context, product *gorm.DB, sc policy.Scope, slug string) (Workspace, error) {
	w, err := FindWorkspace(ctx, product, slug)
	if err != nil {
		return Workspace{}, err
	}
	if !sc.Admits(w.Attributes()) {
		return Workspace{}, fmt.Errorf("workspace %q: %w", slug, ErrNotFound)
	}
	return w, nil
}

// FindLiveWorkspaceIn is FindLiveWorkspace limited to sc, as
// FindWorkspaceIn.
func FindLiveWorkspaceIn(ctx context.Context, product *gorm.DB, sc policy.Scope, slug string) (Workspace, error) {
	w, err := FindLiveWorkspace(ctx, product, slug)
	if err != nil {
		return Workspace{}, err
	}
	if !sc.Admits(w.Attributes()) {
		return Workspace{}, fmt.Errorf("workspace %q: %w", slug, ErrNotFound)
	}
	return w, nil
}

// WorkspacesAdmitted returns which of slugs sc admits, in one query; a
// slug the registry does not know is not admitted by a restricted scope.
// An unrestricted scope admits every slug without reading anything.
func WorkspacesAdmitted(ctx context.Context, product *gorm.DB, sc policy.Scope, slugs []string) (map[string]bool, error) {
	out := make(map[string]bool, len(slugs))
	if sc.Unrestricted() {
		for _, s := range slugs {
			out[s] = true
		}
		return out, nil
	}
	if len(slugs) == 0 {
		return out, nil
	}
	var in []string
	set, arg := jsonSlugs(product, slugs)
	q := scopeWhere(product.WithContext(ctx).Model(&Workspace{}).Where("slug IN "+set, arg), sc)
	if err := q.Pluck("slug", &in).Error; err != nil {
		return nil, fmt.Errorf("workspaces in scope: %w", err)
	}
	for _, s := range in {
		out[s] = true
	}
	return out, nil
}

// ErrOutOfScope is a grant or break-glass refused because its grantee's
// scope does not admit the workspace.
var ErrOutOfScope = errors.New("workspace outside the grantee's scope")

// OutOfScopeMessage is what a form says of a grantee whose scope does not
// admit the workspace.
func OutOfScopeMessage(s Staff) string {
	return s.Email + " may not work on this workspace (their scope does not include it)."
}

// SetStaffScope sets staff member id's scope to text (policy.ParseScope),
// audited as staff.scope_changed with the before and after, and ends, in
// the same transaction, their grants and break-glass on workspaces the
// new scope does not admit. db may be a transaction. The workspaces'
// attributes are read from product first; a grant on a workspace that
// cannot be found there ends (fail closed). A scope that does not parse
// is FieldErrors on "scope" and nothing is written.
func SetStaffScope(ctx context.Context, db, product *gorm.DB, act Act, id int64, text string) error {
	sc, err := policy.ParseScope(strings.TrimSpace(text))
	if err != nil {
		return Invalid("scope", "The scope "+err.Error()+".")
	}
	text = sc.String()
	// The attributes of every workspace they hold a grant on, read
	// before the transaction: the registry is another database.
	attrs, err := liveGrantAttrs(ctx, db, product, act.Now, []int64{id})
	if err != nil {
		return fmt.Errorf("set scope of staff %d: %w", id, err)
	}
	err = changeStaff(ctx, db, act, staffChange{ID: id, Action: ActionStaffScopeChanged, withScope: true}, func(tx *gorm.DB, s *Staff) error {
		if err := mustBeActive(s); err != nil {
			return err
		}
		if s.Scope == text {
			return conflictf("%s already has this scope.", s.Email)
		}
		s.Scope = text
		roles, err := LoadRoles(ctx, tx)
		if err != nil {
			return err
		}
		now := ScopeOf(*s, roles)
		keep := func(g Grant) bool { return now.Admits(attrs[g.Workspace]) }
		detail := map[string]any{"grantee": s.Email, "scope": text}
		_, err = endGrantsOf(ctx, tx, act, *s, "grantee's scope no longer includes the workspace", detail, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("set scope: %w", err)
	}
	return nil
}

// workspaceAttrs are registry attributes (Workspace.Attributes) by slug,
// as a check of grants against a scope reads them. A workspace missing
// from it is one the registry does not have: only an unrestricted scope
// admits it (fail closed).
type workspaceAttrs map[string]map[string]string

// registryAttrs reads the attributes of the workspaces slugs from
// product, the registry, in one statement.
func registryAttrs(ctx context.Context, product *gorm.DB, slugs []string) (workspaceAttrs, error) {
	attrs := make(workspaceAttrs, len(slugs))
	if len(slugs) == 0 {
		return attrs, nil
	}
	if product == nil {
		return nil, errors.New("registry attributes: no registry to read them from")
	}
	var ws []Workspace
	set, arg := jsonSlugs(product, slugs)
	if err := product.WithContext(ctx).Where("slug IN "+set, arg).Find(&ws).Error; err != nil {
		return nil, fmt.Errorf("registry attributes: %w", err)
	}
	for _, w := range ws {
		attrs[w.Slug] = w.Attributes()
	}
	return attrs, nil
}

// liveGrantAttrs reads, in db, the workspaces of the grants of grantees
// not yet over at now, and their attributes from product.
func liveGrantAttrs(ctx context.Context, db, product *gorm.DB, now time.Time, grantees []int64) (workspaceAttrs, error) {
	var slugs []string
	err := db.WithContext(ctx).Model(&Grant{}).Where("grantee_id IN ? AND ended_at IS NULL AND ends_at > ?", grantees, now.UTC()).
		Distinct().Pluck("workspace", &slugs).Error
	if err != nil {
		return nil, fmt.Errorf("workspaces of live grants: %w", err)
	}
	return registryAttrs(ctx, product, slugs)
}

// WorkspaceSet limits a list of requests or break-glass to some
// workspaces. The zero WorkspaceSet limits nothing.
type WorkspaceSet struct {
	restricted bool
	slugs      []string
}

// where limits q to the set, on column (a trusted column name).
func (s WorkspaceSet) where(q *gorm.DB, column string) *gorm.DB {
	switch {
	case !s.restricted:
		return q
	case len(s.slugs) == 0:
		return q.Where("1 = 0")
	}
	return q.Where(column+" IN ?", s.slugs)
}

// admittedChunk is how many slugs one registry query checks.
const admittedChunk = 500

// workspacesIn is the set of workspaces named in model's workspace
// column that sc admits: the distinct slugs (read from the column's
// index), checked against the registry a chunk at a time. Only a
// restricted scope reads anything. The set grows with the workspaces
// ever named there, not with the registry.
func workspacesIn(ctx context.Context, db, product *gorm.DB, sc policy.Scope, model any) (WorkspaceSet, error) {
	if sc.Unrestricted() {
		return WorkspaceSet{}, nil
	}
	var named []string
	if err := db.WithContext(ctx).Model(model).Distinct().Pluck("workspace", &named).Error; err != nil {
		return WorkspaceSet{}, fmt.Errorf("workspaces named: %w", err)
	}
	out := WorkspaceSet{restricted: true, slugs: []string{}}
	for start := 0; start < len(named); start += admittedChunk {
		chunk := named[start:min(start+admittedChunk, len(named))]
		in, err := WorkspacesAdmitted(ctx, product, sc, chunk)
		if err != nil {
			return WorkspaceSet{}, err
		}
		for _, s := range chunk {
			if in[s] {
				out.slugs = append(out.slugs, s)
			}
		}
	}
	return out, nil
}

// RequestWorkspacesIn is the set of workspaces with requests that sc
// admits, for RequestFilter.In.
func RequestWorkspacesIn(ctx context.Context, db, product *gorm.DB, sc policy.Scope) (WorkspaceSet, error) {
	return workspacesIn(ctx, db, product, sc, &AccessRequest{})
}

// BreakglassWorkspacesIn is the set of workspaces with break-glass that
// sc admits, for the break-glass lists.
func BreakglassWorkspacesIn(ctx context.Context, db, product *gorm.DB, sc policy.Scope) (WorkspaceSet, error) {
	return workspacesIn(ctx, db, product, sc, &Breakglass{})
}
