package models

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// Retention states are computed, not stored, but computing them for the
// whole registry costs O(registry). RetentionClasses computes them from
// what is due instead:
//
//   - a workspace retention never acted on (no retention row, live hold or
//     live deletion request in the portal's database) is classified by the
//     registry alone, in SQL, by an indexed query over the dates and
//     statuses that drive each state (registryClass);
//   - the workspaces retention acted on are read from the portal's tables,
//     in batches, and run through EvaluateRetention, so the rules stay in
//     one place.
//
// A state's members are then (registryClass(state) and not acted) or
// (acted and evaluated to state), one SQL condition over the registry.

// freeSQL is isFree in SQL; the statuses are constants, written out so
// that PostgreSQL matches the partial indexes on them.
const freeSQL = "(status = '" + WorkspaceFree + "' OR (plan = 'free' AND status = '" + WorkspaceActive + "'))"

// idleSinceSQL is a free workspace's clock start in SQL: its last login
// when after its creation, else its creation (freeLifecycle's since).
func idleSinceSQL(db *gorm.DB) string {
	if db.Dialector.Name() == "postgres" {
		return "GREATEST(created_at, COALESCE(last_login_at, created_at))"
	}
	return "MAX(created_at, COALESCE(last_login_at, created_at))"
}

// registryClass is the condition over the registry of the workspaces
// retention never acted on that are in state; ok is false for a state
// only acting on a workspace reaches.
func registryClass(product *gorm.DB, state RetentionState, now time.Time, p RetentionPolicy) (cond string, args []any, ok bool) {
	keep, notice := now.Add(-p.CancelledKeep).UTC(), now.Add(-p.FreeNotice).UTC()
	idle := freeSQL + " AND " + idleSinceSQL(product) + " <= ?"
	switch state {
	case RetentionDeleted:
		return "status = '" + WorkspaceDeleted + "'", nil, true
	case RetentionDeletionDue:
		return "status = '" + WorkspaceCancelled + "' AND cancelled_at <= ?", []any{keep}, true
	case RetentionCancelled:
		return "status = '" + WorkspaceCancelled + "' AND (cancelled_at IS NULL OR cancelled_at > ?)", []any{keep}, true
	case RetentionNoticeDue:
		return idle, []any{notice}, true
	case RetentionActive:
		return "status NOT IN ('" + WorkspaceDeleted + "', '" + WorkspaceCancelled + "') AND NOT (" + idle + ")", []any{notice}, true
	}
	return "", nil, false
}

// StateCount is how many workspaces are in State: N, or more than N
// (CountCap) when Capped, or about N when About (an estimate).
type StateCount struct {
	State  RetentionState
	N      int
	Capped bool
	About  bool
}

// RetentionCursor is a row's place in the retention queue, ordered by
// state (queue order) and slug.
type RetentionCursor struct {
	State RetentionState
	Slug  string
}

// RetentionClasses classifies the registry's workspaces by retention
// state at Now (see above). Its methods read the acted-on workspaces once.
type RetentionClasses struct {
	DB      *gorm.DB // the portal's database
	Product *gorm.DB // the registry
	Now     time.Time
	Policy  RetentionPolicy
	// Scope is the reader's (ScopeOf): Page lists only the workspaces it
	// admits.
	Scope policy.Scope

	acted *actedSet
}

// actedSet is the workspaces retention acted on that are in the
// registry: each one's state, and the state the registry alone gives it.
type actedSet struct {
	notices  bool                        // the plain notices are in (see loadActed)
	all      []string                    // sorted
	in       map[RetentionState][]string // sorted, by state
	registry map[RetentionState][]string // sorted, by the state the registry alone gives them
}

// noticeStates are the only states a plain first notice (a retention row
// with a notice and nothing else, no hold, no request) moves a workspace
// into or out of: for every other state such a workspace is where the
// registry alone puts it (freeLifecycle ignores a notice before its day,
// and a cancelled, paid or deleted workspace's notice). Plain notices are
// most of what retention acted on (every idle free workspace gets one),
// so they are read only for these states.
var noticeStates = []RetentionState{RetentionNoticeDue, RetentionNoticed, RetentionMarkDue}

// plainNoticeSQL is a retention row that is a plain first notice; the
// index retention_acted (migration 00024) holds the others.
const plainNoticeSQL = "noticed_at IS NOT NULL AND marked_at IS NULL AND second_noticed_at IS NULL AND deleted_at IS NULL AND deletion_started_at IS NULL"

// liveHoldsOrRequestsSQL is the workspaces under a legal hold or with a
// live deletion request: retention acted on them whatever their row says.
const liveHoldsOrRequestsSQL = "SELECT slug FROM legal_holds WHERE lifted_at IS NULL" +
	" UNION SELECT slug FROM deletion_requests WHERE status IN ('" + string(DeletionPending) + "', '" + string(DeletionConfirmed) + "')"

// loadActed reads and evaluates the workspaces retention acted on: what
// retention recorded for them (their rows are the acted-on set) and their
// registry entries, in one query each. Without notices it leaves out the
// plain first notices (see noticeStates), so what it reads is the holds,
// requests, marks and deletions: a handful beside the registry.
func (c *RetentionClasses) loadActed(ctx context.Context, notices bool) (*actedSet, error) {
	if c.acted != nil && (c.acted.notices || !notices) {
		return c.acted, nil
	}
	var snap retentionSnapshot
	var err error
	if notices {
		snap, err = loadRetention(ctx, c.DB, nil)
	} else {
		var some []string
		err = c.DB.WithContext(ctx).Raw("SELECT slug FROM retention WHERE NOT (" + plainNoticeSQL + ") UNION " + liveHoldsOrRequestsSQL).Scan(&some).Error
		if err != nil {
			return nil, fmt.Errorf("retention: %w", err)
		}
		snap, err = loadRetention(ctx, c.DB, append([]string{}, some...)) // never nil: nil reads every row
	}
	if err != nil {
		return nil, err
	}
	var slugs []string
	for slug := range snap.records {
		slugs = append(slugs, slug)
	}
	for slug := range snap.holds {
		slugs = append(slugs, slug)
	}
	for slug := range snap.requests {
		slugs = append(slugs, slug)
	}
	slices.Sort(slugs)
	slugs = slices.Compact(slugs)
	// A deleted workspace the registry also marks deleted is deleted
	// either way: the registry's class holds it (read through the
	// workspaces_deleted index), and it needs no evaluation. Deleted
	// workspaces pile up; the others acted on do not.
	var deleted, gone []string
	for _, slug := range slugs {
		if r, ok := snap.records[slug]; ok && r.DeletedAt != nil {
			deleted = append(deleted, slug)
		}
	}
	if len(deleted) > 0 {
		set, arg := jsonSlugs(c.Product, deleted)
		if err := c.Product.WithContext(ctx).Raw("SELECT slug FROM workspaces WHERE status = '"+WorkspaceDeleted+"' AND slug IN "+set, arg).Scan(&gone).Error; err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		slices.Sort(gone)
		slugs = slices.DeleteFunc(slugs, func(s string) bool { _, found := slices.BinarySearch(gone, s); return found })
	}
	a := &actedSet{notices: notices, in: map[RetentionState][]string{}, registry: map[RetentionState][]string{}}
	var ws []Workspace
	set, arg := jsonSlugs(c.Product, slugs)
	err = c.Product.WithContext(ctx).Select("slug", "plan", "status", "created_at", "last_login_at", "cancelled_at").
		Where("slug IN "+set, arg).Order("slug").Find(&ws).Error
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	for _, w := range ws {
		st := snap.state(w, c.Now, c.Policy)
		a.all = append(a.all, w.Slug)
		a.in[st] = append(a.in[st], w.Slug)
		class := RetentionStateOf(w, RetentionRecord{}, nil, nil, c.Now, c.Policy)
		a.registry[class] = append(a.registry[class], w.Slug)
	}
	c.acted = a
	return a, nil
}

// where narrows q, over the registry, to the workspaces in state.
func (c *RetentionClasses) where(ctx context.Context, q *gorm.DB, state RetentionState) (*gorm.DB, error) {
	if !slices.Contains(RetentionStates(), state) {
		return nil, fmt.Errorf("retention state %q: %w", state, ErrNotFound)
	}
	a, err := c.loadActed(ctx, slices.Contains(noticeStates, state))
	if err != nil {
		return nil, err
	}
	inSet, inArg := jsonSlugs(c.Product, a.in[state])
	cond, args, ok := registryClass(c.Product, state, c.Now, c.Policy)
	if !ok {
		return q.Where("slug IN "+inSet, inArg), nil
	}
	// Only the acted-on workspaces the registry puts in state can match
	// its condition: they alone are left out of it.
	allSet, allArg := jsonSlugs(c.Product, a.registry[state])
	return q.Where("(("+cond+") AND slug NOT IN "+allSet+") OR slug IN "+inSet, append(append(args, allArg), inArg)...), nil
}

// Counts counts the workspaces in each state, in queue order; a count
// past CountCap is capped.
func (c *RetentionClasses) Counts(ctx context.Context) ([]StateCount, error) {
	return c.count(ctx, RetentionStates(), CountCap)
}

// CountsOf is Counts for states alone. Without a state of noticeStates
// or the active one it reads no plain notice and every count comes from an
// index: the queue's cost, not the registry's.
func (c *RetentionClasses) CountsOf(ctx context.Context, states []RetentionState) ([]StateCount, error) {
	return c.count(ctx, states, CountCap)
}

// Census counts the CountedStates, whatever the registry's size: the
// retention job's count (StoreRetentionCounts), not a page's. Every state
// but the active one is counted exactly: the notice states from the idle
// class (noticeCounts), the others from indexes. The active one, most of
// the registry, is the registry's size (EstimateWorkspaces: an estimate
// on a large PostgreSQL registry) less the others, so that nothing reads
// the whole registry.
func (c *RetentionClasses) Census(ctx context.Context) ([]StateCount, error) {
	others := slices.DeleteFunc(RetentionStates(), func(s RetentionState) bool {
		return s == RetentionActive || slices.Contains(noticeStates, s)
	})
	counts, err := c.count(ctx, others, 0)
	if err != nil {
		return nil, err
	}
	notices, err := c.noticeCounts(ctx)
	if err != nil {
		return nil, err
	}
	counts = append(counts, notices...)
	total, about, err := EstimateWorkspaces(ctx, c.Product)
	if err != nil {
		return nil, err
	}
	for _, n := range counts {
		total -= int64(n.N)
	}
	counts = append(counts, StateCount{State: RetentionActive, N: int(max(total, 0)), About: about})
	return slices.DeleteFunc(counts, func(n StateCount) bool { return !slices.Contains(CountedStates(), n.State) }), nil
}

// noticeCounts counts the noticeStates exactly. Their workspaces are all
// in the idle class (readIdle). Those with a notice that counts sent since
// recent, and no hold, request or deletion, are noticed: their mark is not
// due, whatever their last login. The rest (no notice yet, an older one,
// a hold, a request, a deletion) is evaluated from its registry entry:
// O(what is due or marked), where reading every plain notice, as the
// queue's pages of these states do, costs O(every notice ever sent).
func (c *RetentionClasses) noticeCounts(ctx context.Context) ([]StateCount, error) {
	idle, err := readIdle(ctx, c.DB, c.Product, c.Now, c.Policy)
	if err != nil {
		return nil, err
	}
	var live []string
	err = c.DB.WithContext(ctx).Raw(liveHoldsOrRequestsSQL).Scan(&live).Error
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	slices.Sort(live)
	n := map[RetentionState]int{}
	var eval []string
	for _, slug := range idle.slugs {
		r, ok := idle.rows[slug]
		_, held := slices.BinarySearch(live, slug)
		if ok && !held && r.DeletedAt == nil && idle.after(r.NoticedAt) && r.NoticedAt.After(idle.recent) {
			n[RetentionNoticed]++ // its mark is not due, done or not
			continue
		}
		eval = append(eval, slug)
	}
	err = eachEntry(ctx, c.DB, c.Product, eval, func(ws []Workspace, snap retentionSnapshot) error {
		for _, w := range ws {
			n[snap.state(w, c.Now, c.Policy)]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []StateCount
	for _, s := range noticeStates {
		out = append(out, StateCount{State: s, N: n[s]})
	}
	return out, nil
}

// count counts states up to limit (0: no limit).
func (c *RetentionClasses) count(ctx context.Context, states []RetentionState, limit int) ([]StateCount, error) {
	notices := slices.ContainsFunc(states, func(s RetentionState) bool { return slices.Contains(noticeStates, s) })
	a, err := c.loadActed(ctx, notices)
	if err != nil {
		return nil, err
	}
	var out []StateCount
	for _, s := range states {
		n := len(a.in[s])
		if cond, args, ok := registryClass(c.Product, s, c.Now, c.Policy); ok {
			// Count the registry's class up to the cap plus the acted-on
			// workspaces it holds, which are counted by their own state.
			q := c.Product.Model(&Workspace{}).Select("1").Where(cond, args...)
			if limit > 0 {
				q = q.Limit(limit + 1 + len(a.registry[s]))
			}
			var got int64
			if err := c.Product.WithContext(ctx).Table("(?) AS counted", q).Count(&got).Error; err != nil {
				return nil, fmt.Errorf("count %s: %w", s, err)
			}
			if limit > 0 && int(got) >= limit+1+len(a.registry[s]) {
				out = append(out, StateCount{State: s, N: limit, Capped: true})
				continue
			}
			n += int(got) - len(a.registry[s])
		}
		if limit > 0 && n > limit {
			out = append(out, StateCount{State: s, N: limit, Capped: true})
			continue
		}
		out = append(out, StateCount{State: s, N: n})
	}
	return out, nil
}

// Page returns up to limit workspaces of states (in their order, each by
// slug) after cursor (nil: from the start), evaluated in full, and the
// cursor of the next page (nil when none). query, when not empty, keeps
// the workspaces whose slug or name contains it (any case).
func (c *RetentionClasses) Page(ctx context.Context, states []RetentionState, query string, after *RetentionCursor, limit int) ([]RetentionStatus, *RetentionCursor, error) {
	if limit <= 0 {
		limit = 50
	}
	start := 0
	if after != nil {
		if start = slices.Index(states, after.State); start < 0 {
			return nil, nil, ErrBadCursor
		}
	}
	var ws []Workspace
	var in []RetentionState // each row's state
	for i, s := range states[start:] {
		from := ""
		if i == 0 && after != nil {
			from = after.Slug
		}
		got, err := c.slugOrder(ctx, s, query, from, limit+1-len(ws))
		if err != nil {
			return nil, nil, err
		}
		ws = append(ws, got...)
		for range got {
			in = append(in, s)
		}
		if len(ws) > limit {
			break
		}
	}
	var next *RetentionCursor
	if len(ws) > limit {
		ws = ws[:limit]
		next = &RetentionCursor{State: in[limit-1], Slug: ws[limit-1].Slug}
	}
	out, err := c.evaluate(ctx, ws)
	if err != nil {
		return nil, nil, err
	}
	return out, next, nil
}

// slugOrdered are the states whose registry class has an index in slug
// order (RegistryRetentionIndexes).
var slugOrdered = []RetentionState{RetentionDeletionDue, RetentionCancelled, RetentionDeleted}

// slugOrder reads up to limit workspaces of state, in slug order, after
// slug from ("" from the start), whose name or slug contains query when
// it is not empty. On PostgreSQL the registry's class is read a page at a
// time from its slug-ordered index where it has one (slugOrdered), and
// otherwise through its own index and sorted (OFFSET 0 keeps the planner
// from walking the whole registry in slug order to find a few rows),
// except for the active state, which holds most of the registry and is
// read in slug order.
func (c *RetentionClasses) slugOrder(ctx context.Context, state RetentionState, query, from string, limit int) ([]Workspace, error) {
	if !slices.Contains(RetentionStates(), state) {
		return nil, fmt.Errorf("retention state %q: %w", state, ErrNotFound)
	}
	a, err := c.loadActed(ctx, slices.Contains(noticeStates, state))
	if err != nil {
		return nil, err
	}
	// The acted-on workspaces of state after from, as many as the page
	// can hold: each one is in state.
	in := a.in[state]
	at, _ := slices.BinarySearch(in, from)
	if at < len(in) && in[at] == from {
		at++
	}
	in = in[at:]
	if query == "" {
		in = in[:min(len(in), limit)]
	}
	inSet, inArg := jsonSlugs(c.Product, in)
	filter, fargs := "slug > ?", []any{from}
	if query = strings.ToLower(strings.TrimSpace(query)); query != "" {
		like := "%" + escapeLike(query) + "%"
		filter += " AND (LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(slug) LIKE ? ESCAPE '\\')"
		fargs = append(fargs, like, like)
	}
	if cond, sargs := scopeSQL(c.Scope); cond != "" {
		filter += " AND " + cond
		fargs = append(fargs, sargs...)
	}
	// The slugs first (index-only where the class's index covers it),
	// then the page's entries.
	sql := "SELECT slug FROM workspaces WHERE slug IN " + inSet + " AND " + filter
	args := append([]any{inArg}, fargs...)
	if cond, cargs, ok := registryClass(c.Product, state, c.Now, c.Policy); ok {
		allSet, allArg := jsonSlugs(c.Product, a.registry[state])
		fence, fargs2 := " OFFSET 0", []any{}
		switch {
		case state == RetentionActive || c.Product.Dialector.Name() != "postgres":
			fence = ""
		case query == "" && slices.Contains(slugOrdered, state):
			// A page of the class in slug order, which the planner
			// reads by walking the class's slug-ordered index until it
			// has one (workspaces_cancelled_slug, workspaces_deleted).
			fence, fargs2 = " ORDER BY slug LIMIT ?", []any{limit}
		}
		sql = "SELECT slug FROM (SELECT slug FROM workspaces WHERE (" + cond + ") AND slug NOT IN " + allSet + " AND " + filter + fence + ") AS class UNION ALL " + sql
		args = append(append(append(append(cargs, allArg), fargs...), fargs2...), args...)
	}
	var ws []Workspace
	sql = "SELECT * FROM workspaces WHERE slug IN (SELECT slug FROM (" + sql + ") AS page ORDER BY slug LIMIT ?) ORDER BY slug"
	if err := c.Product.WithContext(ctx).Raw(sql, append(args, limit)...).Scan(&ws).Error; err != nil {
		return nil, fmt.Errorf("retention %s: %w", state, err)
	}
	return ws, nil
}

// OverdueDeletions returns up to limit workspaces due for deletion that
// the reader's scope admits, the longest overdue first (by the day
// deletion became due, then slug): the sysadmin dashboard's list. The
// registry's class is read in that order through workspaces_cancelled
// (cancelled_at, slug), so it stops after a page however many are due;
// the acted-on workspaces in the state (confirmed requests, marked free
// workspaces past their day) are few, and evaluated.
func (c *RetentionClasses) OverdueDeletions(ctx context.Context, limit int) ([]RetentionStatus, error) {
	a, err := c.loadActed(ctx, false)
	if err != nil {
		return nil, err
	}
	cond, args, _ := registryClass(c.Product, RetentionDeletionDue, c.Now, c.Policy)
	allSet, allArg := jsonSlugs(c.Product, a.registry[RetentionDeletionDue])
	inSet, inArg := jsonSlugs(c.Product, a.in[RetentionDeletionDue])
	var class, acted []Workspace
	err = scopeWhere(c.Product.WithContext(ctx).Where(cond, args...).Where("slug NOT IN "+allSet, allArg), c.Scope).
		Order("cancelled_at, slug").Limit(limit).Find(&class).Error
	if err != nil {
		return nil, fmt.Errorf("retention %s: %w", RetentionDeletionDue, err)
	}
	if err := scopeWhere(c.Product.WithContext(ctx).Where("slug IN "+inSet, inArg), c.Scope).Find(&acted).Error; err != nil {
		return nil, fmt.Errorf("retention %s: %w", RetentionDeletionDue, err)
	}
	out, err := c.evaluate(ctx, append(class, acted...))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b RetentionStatus) int {
		return cmp.Or(a.NextAt.Compare(b.NextAt), cmp.Compare(a.Slug, b.Slug))
	})
	return out[:min(len(out), limit)], nil
}

// evaluate evaluates ws in full, in their order.
func (c *RetentionClasses) evaluate(ctx context.Context, ws []Workspace) ([]RetentionStatus, error) {
	slugs := make([]string, len(ws))
	for i, w := range ws {
		slugs[i] = w.Slug
	}
	snap, err := loadRetention(ctx, c.DB, slugs)
	if err != nil {
		return nil, err
	}
	out := make([]RetentionStatus, len(ws))
	for i, w := range ws {
		out[i] = snap.evaluate(w, c.Now, c.Policy)
	}
	return out, nil
}

// ObsoleteRegistryIndexes are the registry indexes an earlier version
// asked for that a newer one replaced: workspaces_free_idle, by
// workspaces_free_idle_cover.
var ObsoleteRegistryIndexes = []string{"workspaces_free_idle"}

// RegistryIndex is an index the product should create on its registry.
type RegistryIndex struct {
	Name, SQL string
}

// RegistryRetentionIndexes are the registry's indexes that serve the
// retention classes and the job's due queries (registryClass,
// dueRetention), written for product's dialect. The registry is the
// product's: production creates them on the product database (README);
// the demo registry has them.
func RegistryRetentionIndexes(product *gorm.DB) []RegistryIndex {
	// The idle class's index holds the columns of its expression, so that
	// reading the class's slugs is index-only: PostgreSQL reads an
	// expression's columns from the table otherwise.
	cover := ") INCLUDE (created_at, last_login_at"
	if product.Dialector.Name() != "postgres" {
		cover = ", created_at, last_login_at"
	}
	return []RegistryIndex{
		{"workspaces_free_idle_cover", "CREATE INDEX IF NOT EXISTS workspaces_free_idle_cover ON workspaces ((" + idleSinceSQL(product) + "), slug" + cover + ") WHERE " + freeSQL},
		{"workspaces_cancelled", "CREATE INDEX IF NOT EXISTS workspaces_cancelled ON workspaces (cancelled_at, slug) WHERE status = '" + WorkspaceCancelled + "'"},
		{"workspaces_cancelled_slug", "CREATE INDEX IF NOT EXISTS workspaces_cancelled_slug ON workspaces (slug, cancelled_at) WHERE status = '" + WorkspaceCancelled + "'"},
		{"workspaces_deleted", "CREATE INDEX IF NOT EXISTS workspaces_deleted ON workspaces (slug) WHERE status = '" + WorkspaceDeleted + "'"},
	}
}
