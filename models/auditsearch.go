package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The audit search serves each filter from an index, at any size of the
// log: actor, workspace and action (audit_events_actor, _workspace,
// _action, ordered by seq), a record of a workspace (the record keys'
// GIN index on PostgreSQL, the workspace's on SQLite, with
// audit_events_target), a break-glass (audit_events_breakglass) and a
// time range (audit_events_at: a search with since or until is ordered
// by time, so that an old "until" reads one page). What no index serves
// is refused (AuditRefusal) rather than read from the whole log: a record
// without its workspace.

// AuditQuery selects audit events; zero fields match everything.
type AuditQuery struct {
	Actor     string
	Workspace string
	Table     string // table_name; only with Workspace
	Record    string // an id among record_ids, or the target; only with Workspace
	Action    Action
	Actions   []Action  // any of these (with Action, both must hold)
	Since     time.Time // at >= Since
	Until     time.Time // at < Until
	AfterSeq  int64     // seq > AfterSeq (SearchAudit: the page just newer)
	BeforeSeq int64     // seq < BeforeSeq
	Limit     int       // page size for SearchAudit; 50 when <= 0, at most 500

	// Breakglass keeps the events of one break-glass (breakglass_id).
	Breakglass int64
	// Grant keeps the events of one grant (grant_id, audit_events_grant).
	Grant int64
}

// ErrAuditScan is a search no index serves: it would read the whole log.
var ErrAuditScan = errors.New("audit search not served by an index")

// AuditRefusal is a search refused because no index serves it (it is
// ErrAuditScan); Field names the filter and Message says what to add.
type AuditRefusal struct {
	Field   string
	Message string
}

func (e *AuditRefusal) Error() string { return "audit search refused: " + e.Message }

// Is makes an AuditRefusal match ErrAuditScan.
func (e *AuditRefusal) Is(target error) bool { return target == ErrAuditScan }

// Check refuses a search that no index serves, before anything is read
// or recorded; nil when the search may run.
func (f AuditQuery) Check() error {
	switch {
	case f.Record != "" && f.Workspace == "":
		// The message asks for the workspace, so it stands by that field.
		return &AuditRefusal{Field: "workspace", Message: "Name the workspace of the record: a record search across every workspace would read the whole audit log."}
	case f.Table != "" && f.Workspace == "":
		return &AuditRefusal{Field: "workspace", Message: "Name the workspace of the table: a table search across every workspace would read the whole audit log."}
	}
	return nil
}

// byTime reports whether the search is ordered by time (at, seq), read
// from audit_events_at, rather than by seq.
func (f AuditQuery) byTime() bool { return !f.Since.IsZero() || !f.Until.IsZero() }

// where applies the filters (not the paging) to q; a search Check refuses
// makes q fail with its AuditRefusal.
func (f AuditQuery) where(q *gorm.DB) *gorm.DB {
	if err := f.Check(); err != nil {
		q.AddError(err)
		return q
	}
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Workspace != "" {
		q = q.Where("workspace = ?", f.Workspace)
	}
	if f.Action != "" {
		q = q.Where("action = ?", string(f.Action))
	}
	if f.Breakglass != 0 {
		q = q.Where("breakglass_id = ?", f.Breakglass)
	}
	if f.Grant != 0 {
		q = q.Where("grant_id = ?", f.Grant)
	}
	if len(f.Actions) > 0 {
		q = q.Where("action IN ?", f.Actions)
	}
	if f.Table != "" {
		q = q.Where("table_name = ?", f.Table)
	}
	if f.Record != "" {
		// record_ids is comma-separated and ids contain no comma, so
		// ",id," inside ",record_ids," matches exactly one whole id (and a
		// Record with a comma can only be a target). "target <> ''" beside
		// each "target = ?" lets the planner use the partial index
		// audit_events_target whatever the parameter's value.
		pos := "instr(',' || record_ids || ',', ?) > 0"
		pg := q.Dialector.Name() == "postgres"
		if pg {
			pos = "strpos(',' || record_ids || ',', ?) > 0"
		}
		switch {
		case strings.Contains(f.Record, ","):
			q = q.Where("target = ? AND target <> ''", f.Record)
		case pg:
			// The GIN index of migration 00005 (with audit_events_target)
			// finds the candidates; pos re-checks them exactly. The two are
			// separate conditions, (keys OR target) AND (pos OR target),
			// equal to (pos OR target) since pos implies keys, so that the
			// costly key function is only the bitmap's condition and never
			// re-run on each candidate row.
			q = q.Where("(audit_record_keys(workspace, record_ids) @> audit_record_keys(?, ?) OR (target = ? AND target <> '')) AND ("+pos+" OR target = ?)",
				f.Workspace, f.Record, f.Record, ","+f.Record+",", f.Record)
		default:
			q = q.Where("("+pos+" OR target = ?)", ","+f.Record+",", f.Record)
		}
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	return q
}

// bounds applies AfterSeq and BeforeSeq to q.
func (f AuditQuery) bounds(q *gorm.DB) *gorm.DB {
	if f.AfterSeq > 0 {
		q = q.Where("seq > ?", f.AfterSeq)
	}
	if f.BeforeSeq > 0 {
		q = q.Where("seq < ?", f.BeforeSeq)
	}
	return q
}

// order is the search's order, newest first unless asc.
func (f AuditQuery) order(q *gorm.DB, asc bool) *gorm.DB {
	dir := " DESC"
	if asc {
		dir = " ASC"
	}
	if f.byTime() {
		q = q.Order("at" + dir)
	}
	return q.Order("seq" + dir)
}

// auditLimit is a page size as SearchAudit bounds it.
func auditLimit(n int) int {
	if n <= 0 {
		return 50
	}
	return min(n, 500)
}

// SearchAudit returns one page of matching events, newest first (by time
// when Since or Until is set, else by seq), with AfterSeq and BeforeSeq
// as bounds: with AfterSeq the page just above it, else the newest.
func SearchAudit(ctx context.Context, db *gorm.DB, f AuditQuery) ([]AuditEvent, error) {
	asc := f.AfterSeq > 0
	var evs []AuditEvent
	err := customPlans(ctx, db, func(db *gorm.DB) error {
		return f.order(f.bounds(f.where(db.Model(&AuditEvent{}))), asc).Limit(auditLimit(f.Limit)).Find(&evs).Error
	})
	if err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
	}
	if asc {
		slices.Reverse(evs)
	}
	return evs, nil
}

// customPlans runs fn on db, on PostgreSQL in a transaction that plans
// each statement for its own values. The driver keeps each statement
// prepared, and after five runs PostgreSQL may settle on a generic plan,
// made without the values: one that reads a workspace's events newest
// first to find a record is cheap for the average workspace and reads
// millions of rows for a busy one, where the record keys' index finds it
// at once. Audit searches are few (people reading the log), so planning
// each costs nothing that matters.
func customPlans(ctx context.Context, db *gorm.DB, fn func(*gorm.DB) error) error {
	db = db.WithContext(ctx)
	if db.Dialector.Name() != "postgres" {
		return fn(db)
	}
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error; err != nil {
			return err
		}
		return fn(tx)
	})
}

// AuditPage is one page of an audit search, newest first, with the
// cursors of the pages either side (nil when there is none).
type AuditPage struct {
	Events       []AuditEvent
	Newer, Older *Cursor
}

// AuditCursor is ev's place in f's order, as a page link carries it.
func (f AuditQuery) AuditCursor(ev AuditEvent) Cursor {
	c := Cursor{ID: strconv.FormatInt(ev.Seq, 10)}
	if f.byTime() {
		c.Value = timeCursor(ev.At)
	}
	return c
}

// cursorWhere is the keyset condition of c in f's order: the rows after
// it going newer (newer) or older. A cursor that is not of f's order, or
// not one this portal made, is ErrBadCursor.
func (f AuditQuery) cursorWhere(q *gorm.DB, c Cursor, newer bool) (*gorm.DB, error) {
	seq, err := strconv.ParseInt(c.ID, 10, 64)
	if err != nil || seq <= 0 {
		return nil, ErrBadCursor
	}
	op := "<"
	if newer {
		op = ">"
	}
	if !f.byTime() {
		if c.Value != "" {
			return nil, ErrBadCursor
		}
		return q.Where("seq "+op+" ?", seq), nil
	}
	at, err := time.Parse(time.RFC3339Nano, c.Value)
	if err != nil {
		return nil, ErrBadCursor
	}
	return q.Where("(at, seq) "+op+" (?, ?)", at.UTC(), seq), nil
}

// pageQuery is SearchAuditPage's query: limit+1 rows, to tell whether
// another page follows.
func (f AuditQuery) pageQuery(db *gorm.DB, after, before *Cursor, limit int) (*gorm.DB, error) {
	q := f.bounds(f.where(db.Model(&AuditEvent{})))
	var err error
	switch {
	case after != nil:
		q, err = f.cursorWhere(q, *after, true)
	case before != nil:
		q, err = f.cursorWhere(q, *before, false)
	}
	if err != nil {
		return nil, err
	}
	return f.order(q, after != nil).Limit(limit + 1), nil
}

// SearchAuditPage returns the page of limit events (50 when <= 0, at most
// 500) matching f just older than before, just newer than after, or the
// newest; at most one of the two cursors is set. Paging is keyset (no
// OFFSET): a page costs the same at any depth, and events appended
// between two page loads are neither skipped nor shown twice.
func SearchAuditPage(ctx context.Context, db *gorm.DB, f AuditQuery, after, before *Cursor, limit int) (AuditPage, error) {
	if after != nil && before != nil {
		return AuditPage{}, ErrBadCursor
	}
	limit = auditLimit(limit)
	// A bad cursor is refused as it is, before any transaction.
	if _, err := f.pageQuery(db.Session(&gorm.Session{DryRun: true}), after, before, limit); err != nil {
		return AuditPage{}, err
	}
	var evs []AuditEvent
	err := customPlans(ctx, db, func(db *gorm.DB) error {
		q, err := f.pageQuery(db, after, before, limit)
		if err != nil {
			return err
		}
		return q.Find(&evs).Error
	})
	if err != nil {
		return AuditPage{}, fmt.Errorf("search audit: %w", err)
	}
	more := len(evs) > limit
	evs = evs[:min(len(evs), limit)]
	if after != nil {
		slices.Reverse(evs)
	}
	p := AuditPage{Events: evs}
	if len(evs) == 0 {
		return p, nil
	}
	first, last := f.AuditCursor(evs[0]), f.AuditCursor(evs[len(evs)-1])
	switch {
	case after != nil:
		p.Older = &last
		if more {
			p.Newer = &first
		}
	case before != nil:
		p.Newer = &first
		if more {
			p.Older = &last
		}
	case more:
		p.Older = &last
	}
	return p, nil
}

// RetentionActions are the actions of a workspace's retention history.
// Migration 00017's partial index audit_events_retention lists the same
// actions (TestRetentionHistory holds them in step).
var RetentionActions = []Action{
	ActionRetentionNoticed, ActionRetentionMarked, ActionLegalHoldPlaced, ActionLegalHoldLifted,
	ActionDeletionRequested, ActionDeletionShown, ActionDeletionConfirmed, ActionDeletionCancelled,
	ActionDeletionExpired, ActionWorkspaceDeletionStarted, ActionWorkspaceDeletionStopped, ActionWorkspaceDeleted,
}

// retentionActionsSQL is RetentionActions as SQL literals: written into
// the query (they are constants, never input) so that the planner can
// match it to the partial index's predicate, which a bound parameter
// does not let it prove.
var retentionActionsSQL = func() string {
	q := make([]string, len(RetentionActions))
	for i, a := range RetentionActions {
		q[i] = "'" + string(a) + "'"
	}
	return "action IN (" + strings.Join(q, ", ") + ")"
}()

// RetentionHistory returns the newest limit (at most 500) retention
// events of workspace slug, newest first, read from the partial index
// audit_events_retention: the cost of the history, not of the
// workspace's other events.
func RetentionHistory(ctx context.Context, db *gorm.DB, slug string, limit int) ([]AuditEvent, error) {
	var evs []AuditEvent
	if err := retentionHistoryQuery(db.WithContext(ctx), slug, limit).Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("retention history of %q: %w", slug, err)
	}
	return evs, nil
}

func retentionHistoryQuery(db *gorm.DB, slug string, limit int) *gorm.DB {
	return db.Model(&AuditEvent{}).Where("workspace = ?", slug).Where(retentionActionsSQL).Order("seq DESC").Limit(auditLimit(limit))
}
