package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// GrantScope is what a grant covers in its workspace. A nil Tables map is
// the whole workspace (every catalogued, non-restricted table); a table
// mapped to nil is the whole table, to ids only those records.
type GrantScope struct {
	Tables map[string][]int64 `json:"tables,omitempty"`
}

// Whole reports whether the scope is the whole workspace.
func (s GrantScope) Whole() bool { return s.Tables == nil }

// CoversTable reports whether any of table is in scope.
func (s GrantScope) CoversTable(table string) bool {
	if s.Whole() {
		return true
	}
	_, ok := s.Tables[table]
	return ok
}

// IDs returns the record ids of table in scope, or nil for all of them.
// Call it only for a table CoversTable accepts.
func (s GrantScope) IDs(table string) []int64 {
	if s.Whole() {
		return nil
	}
	return s.Tables[table]
}

// Covers reports whether record id of table is in scope.
func (s GrantScope) Covers(table string, id int64) bool {
	if !s.CoversTable(table) {
		return false
	}
	ids := s.IDs(table)
	return ids == nil || slices.Contains(ids, id)
}

func (s GrantScope) encode() (string, error) {
	if s.Whole() {
		return "", nil
	}
	for t, ids := range s.Tables {
		sorted := slices.Clone(ids)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		s.Tables[t] = slices.Compact(sorted)
	}
	b, err := json.Marshal(s)
	return string(b), err
}

func decodeScope(raw string) (GrantScope, error) {
	if raw == "" {
		return GrantScope{}, nil
	}
	var s GrantScope
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return GrantScope{}, fmt.Errorf("grant scope: %w", err)
	}
	if s.Tables == nil {
		// A stored scope that names nothing must never widen to everything.
		s.Tables = map[string][]int64{}
	}
	return s, nil
}

// Grant lets one staff member read one workspace's data within a scope,
// from StartsAt until EndsAt or until it is ended.
type Grant struct {
	ID           int64 `gorm:"primaryKey"`
	Workspace    string
	GranteeID    int64
	ScopeJSON    string     `gorm:"column:scope"`
	Mode         AccessMode `gorm:"column:access_mode"` // what the customer consented to
	Unmask       bool       // personal fields are shown unmasked: Mode == ModeUnmasked
	StartsAt     time.Time
	EndsAt       time.Time
	EndedAt      *time.Time
	EndedBy      string
	EndedWhy     string
	RequestID    *int64
	BreakglassID *int64
	CreatedAt    time.Time
}

// TableName is the grants table's name.
func (Grant) TableName() string { return "grants" }

// Scope decodes the grant's scope.
func (g Grant) Scope() (GrantScope, error) { return decodeScope(g.ScopeJSON) }

// Live reports whether the grant is in force at now.
func (g Grant) Live(now time.Time) bool {
	return g.EndedAt == nil && !now.Before(g.StartsAt) && now.Before(g.EndsAt)
}

// NewGrant describes a grant to create.
type NewGrant struct {
	Workspace    string
	GranteeID    int64
	Scope        GrantScope
	Mode         AccessMode // when empty, legacyMode(Unmask)
	Unmask       bool       // only read when Mode is empty
	StartsAt     time.Time
	Duration     time.Duration
	RequestID    *int64
	BreakglassID *int64
	// Attributes are the workspace's registry attributes
	// (Workspace.Attributes): the grantee's scope must admit them.
	Attributes map[string]string
}

// CreateGrant stores a grant. The workflow that decides to grant (consent,
// break-glass) calls it inside its own transaction, which also audits.
func CreateGrant(ctx context.Context, tx *gorm.DB, now time.Time, n NewGrant) (Grant, error) {
	if n.Workspace == "" || n.GranteeID == 0 || n.Duration <= 0 {
		return Grant{}, errors.New("create grant: workspace, grantee and a positive duration are required")
	}
	if n.Mode == "" {
		n.Mode = legacyMode(n.Unmask)
	}
	if !n.Mode.Valid() || (n.Unmask && !n.Mode.Unmasks()) {
		return Grant{}, fmt.Errorf("create grant: access mode %q (unmask %t) is not a mode", n.Mode, n.Unmask)
	}
	scope, err := n.Scope.encode()
	if err != nil {
		return Grant{}, err
	}
	// The last word on scopes: whatever workflow got here, no grant is
	// made for a grantee whose scope does not admit the workspace (nor
	// when the caller did not say what the workspace is).
	grantee, err := FindStaff(ctx, tx, n.GranteeID)
	if err != nil {
		return Grant{}, fmt.Errorf("create grant: %w", err)
	}
	roles, err := LoadRoles(ctx, tx)
	if err != nil {
		return Grant{}, fmt.Errorf("create grant: %w", err)
	}
	if !ScopeOf(grantee, roles).Admits(n.Attributes) {
		return Grant{}, fmt.Errorf("create grant: %w: %w", &ConflictError{Message: OutOfScopeMessage(grantee)}, ErrOutOfScope)
	}
	g := Grant{
		Workspace: n.Workspace, GranteeID: n.GranteeID, ScopeJSON: scope, Mode: n.Mode, Unmask: n.Mode.Unmasks(),
		StartsAt: n.StartsAt.UTC(), EndsAt: n.StartsAt.Add(n.Duration).UTC(),
		RequestID: n.RequestID, BreakglassID: n.BreakglassID, CreatedAt: now.UTC(),
	}
	if err := tx.WithContext(ctx).Create(&g).Error; err != nil {
		return Grant{}, fmt.Errorf("create grant: %w", err)
	}
	// A new grant changes access too: what replicas cached of the
	// grantee's grants must not hide it (see AccessCache).
	if err := bumpEpoch(tx.WithContext(ctx)); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// LiveGrants returns the grants of staffID on workspace in force at now,
// read from the database on every call so an ended grant stops the very
// next request on every replica.
func LiveGrants(ctx context.Context, db *gorm.DB, now time.Time, staffID int64, workspace string) ([]Grant, error) {
	all, err := liveGrantRows(ctx, db, staffID, workspace)
	if err != nil {
		return nil, fmt.Errorf("live grants: %w", err)
	}
	live := all[:0]
	for _, g := range all {
		if g.Live(now) {
			live = append(live, g)
		}
	}
	return live, nil
}

// liveGrantRows reads the grants of staffID on workspace not ended, by id.
func liveGrantRows(ctx context.Context, db *gorm.DB, staffID int64, workspace string) ([]Grant, error) {
	rows, err := queryRows(ctx, db, "SELECT * FROM grants WHERE grantee_id = ? AND workspace = ? AND ended_at IS NULL ORDER BY id", staffID, workspace)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []Grant
	for rows.Next() {
		var g Grant
		if err := db.ScanRows(rows, &g); err != nil {
			return nil, err
		}
		all = append(all, g)
	}
	return all, rows.Err()
}

// GrantQuery asks for a grant of one staff member covering a table of a
// workspace and, when Record > 0, that record.
type GrantQuery struct {
	StaffID   int64
	Workspace string
	Table     string
	Record    int64
}

// GrantFor returns a live grant covering q at now, preferring one that
// shows the most (unmasked, then reveal, then masked). It returns ErrNoGrant when none does.
func GrantFor(ctx context.Context, db *gorm.DB, now time.Time, q GrantQuery) (Grant, GrantScope, error) {
	grants, err := LiveGrants(ctx, db, now, q.StaffID, q.Workspace)
	if err != nil {
		return Grant{}, GrantScope{}, err
	}
	return pickGrant(grants, q)
}

// pickGrant returns the grant among grants, all live, that covers q and
// shows the most, or ErrNoGrant.
func pickGrant(grants []Grant, q GrantQuery) (Grant, GrantScope, error) {
	var found *Grant
	var scope GrantScope
	for i := range grants {
		s, err := grants[i].Scope()
		if err != nil {
			return Grant{}, GrantScope{}, err
		}
		ok := s.CoversTable(q.Table)
		if q.Record > 0 {
			ok = s.Covers(q.Table, q.Record)
		}
		if ok && (found == nil || grants[i].Mode.rank() > found.Mode.rank()) {
			found, scope = &grants[i], s
		}
	}
	if found == nil {
		return Grant{}, GrantScope{}, fmt.Errorf("%s.%s for staff %d: %w", q.Workspace, q.Table, q.StaffID, ErrNoGrant)
	}
	return *found, scope, nil
}

// ListGrants returns a workspace's grants, newest first.
func ListGrants(ctx context.Context, db *gorm.DB, workspace string, limit int) ([]Grant, error) {
	var out []Grant
	err := db.WithContext(ctx).Where("workspace = ?", workspace).Order("id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return out, nil
}

// EndGrant ends a live grant at once, saying who and why, and audits it.
func EndGrant(ctx context.Context, db *gorm.DB, now time.Time, by Actor, id int64, why string) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Grant{}).Where("id = ? AND ended_at IS NULL", id).
			Updates(map[string]any{"ended_at": now.UTC(), "ended_by": by.Email, "ended_why": why})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("grant %d is not live: %w", id, ErrConflict)
		}
		var g Grant
		if err := tx.Where("id = ?", id).Take(&g).Error; err != nil {
			return err
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionGrantEnded, Workspace: g.Workspace, GrantID: &g.ID, Reason: why})
		return err
	})
}

// mayHold reports whether s, as they are now, could obtain g: only an
// active staff member whose role (in roles) may hold that kind of grant.
func (s Staff) mayHold(roles *policy.Roles, g Grant) bool {
	switch {
	case s.Status != StatusActive:
		return false
	case g.BreakglassID != nil:
		return roles.MayBreakGlass(s.Tier)
	}
	return roles.MayHoldGrant(s.Tier)
}

// endGrantsBeyond ends, inside the caller's transaction, every grant of
// each of holders not yet over that they, as changed (demoted, suspended,
// offboarded, their role changed), could not have obtained, with one
// grant.ended event each so that every grant's history says how it
// ended: a grant their role may not hold, and one on a workspace outside
// what they may now work on when their role limits workspaces (a custom
// role's scope; ScopeOf). The attributes such a check needs are read
// from product, the registry, for the workspaces of those grants only;
// one the registry no longer has is outside (fail closed). product may
// be nil where no holder's role has a scope (a built-in tier, or a
// holder no longer active, who keeps nothing). The caller holds each
// holder's row lock, so no new grant for them appears meanwhile. The
// sweep later tells the owners and sends them what was viewed, as for
// any grant that ends.
func endGrantsBeyond(ctx context.Context, tx, product *gorm.DB, act Act, why string, holders ...Staff) error {
	roles, err := LoadRoles(ctx, tx)
	if err != nil {
		return err
	}
	scoped := func(s Staff) bool { return s.Status == StatusActive && !roles.Scope(s.Tier).Unrestricted() }
	var ids []int64
	for _, s := range holders {
		if scoped(s) {
			ids = append(ids, s.ID)
		}
	}
	var attrs workspaceAttrs
	if len(ids) > 0 {
		if attrs, err = liveGrantAttrs(ctx, tx, product, act.Now, ids); err != nil {
			return err
		}
	}
	for _, s := range holders {
		detail := map[string]any{"grantee": s.Email, "tier": s.Tier, "status": s.Status}
		keep := func(g Grant) bool { return s.mayHold(roles, g) }
		if scoped(s) {
			sc := ScopeOf(s, roles)
			keep = func(g Grant) bool { return s.mayHold(roles, g) && sc.Admits(attrs[g.Workspace]) }
		}
		if _, err := endGrantsOf(ctx, tx, act, s, why, detail, keep); err != nil {
			return err
		}
	}
	return nil
}

// endGrantsOf ends, as endGrantsBeyond does, every grant of s not yet
// over but those keep allows, each event with detail, and returns how
// many it ended. A detail without the grantee's status reads as a
// sysadmin's revocation (staffChangeEnd).
func endGrantsOf(ctx context.Context, tx *gorm.DB, act Act, s Staff, why string, detail map[string]any, keep func(Grant) bool) (int, error) {
	var grants []Grant
	err := tx.WithContext(ctx).Where("grantee_id = ? AND ended_at IS NULL AND ends_at > ?", s.ID, act.Now.UTC()).
		Order("id").Find(&grants).Error
	if err != nil {
		return 0, fmt.Errorf("grants of staff %d: %w", s.ID, err)
	}
	ended := 0
	for _, g := range grants {
		if keep(g) {
			continue
		}
		res := tx.Model(&Grant{}).Where("id = ? AND ended_at IS NULL", g.ID).
			Updates(map[string]any{"ended_at": act.Now.UTC(), "ended_by": act.By.Email, "ended_why": why})
		if res.Error != nil {
			return 0, fmt.Errorf("end grant %d: %w", g.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			continue // ended meanwhile by someone else, who audited it
		}
		target := ""
		if g.RequestID != nil {
			target = RequestTarget(*g.RequestID)
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At:           act.Now,
			Actor:        act.By,
			Action:       ActionGrantEnded,
			Workspace:    g.Workspace,
			GrantID:      &g.ID,
			BreakglassID: g.BreakglassID,
			Target:       target,
			Reason:       why,
			Detail:       detail,
		})
		if err != nil {
			return 0, err
		}
		ended++
	}
	return ended, nil
}

// FindGrant returns grant id, or a wrapped ErrNotFound.
func FindGrant(ctx context.Context, db *gorm.DB, id int64) (Grant, error) {
	var g Grant
	err := db.WithContext(ctx).Where("id = ?", id).Take(&g).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return g, fmt.Errorf("grant %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return g, fmt.Errorf("grant %d: %w", id, err)
	}
	return g, nil
}

// Origin says what a grant came from, as a data view's audit event
// records it: a break-glass, an access request, or the grant itself.
func (g Grant) Origin() string {
	switch {
	case g.BreakglassID != nil:
		return fmt.Sprintf("break-glass %d", *g.BreakglassID)
	case g.RequestID != nil:
		return fmt.Sprintf("access request %d", *g.RequestID)
	}
	return fmt.Sprintf("grant %d", g.ID)
}
