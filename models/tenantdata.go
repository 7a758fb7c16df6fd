package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gatehouse/models/internal/tenantdb"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// dataPageSize is how many rows a table page shows.
const dataPageSize = 50

// TenantData is the one way to customer data. Every read resolves the
// live workspace, finds the viewer's live grant covering what is asked,
// reads, commits the view's audit event and masks what the grant does not
// unmask, in that order, so no caller can do it in another; every refusal
// is recorded (data.refused) before it is returned. Only an active staff
// member cleared at the time of the read (Clearance) reads anything. It is
// safe for concurrent use.
type TenantData struct {
	db        *DB
	clearance Clearance
	product   *gorm.DB
	tenants   *tenantdb.Reader
	catalog   *policy.Catalog
	audit     *AuditWriter
	cache     *AccessCache
	now       func() time.Time

	// beforeAudit, when set (by tests), runs after a read and before its
	// view is recorded: where an ending can race with the view.
	beforeAudit func()
}

// TenantDataConfig is what a TenantData reads from and writes to.
type TenantDataConfig struct {
	DB      *DB             // grants and reveals
	Product *gorm.DB        // the workspace registry
	Tenants *TenantReader   // the customer data
	Catalog *policy.Catalog // which tables and columns may be shown, and how
	Audit   *AuditWriter    // where views and refusals are recorded
	Now     func() time.Time
	// Clearance is what a viewer must hold at the time of each read.
	Clearance Clearance
	// Cache, when not nil, serves the viewer's staff record and grants
	// and the registry entry while the security epoch stands still.
	Cache *AccessCache
}

// NewTenantData returns the data-reading API over c.
func NewTenantData(c TenantDataConfig) *TenantData {
	return &TenantData{
		db:        c.DB,
		clearance: c.Clearance,
		product:   c.Product,
		tenants:   c.Tenants.r,
		catalog:   c.Catalog,
		audit:     c.Audit,
		cache:     c.Cache,
		now:       c.Now,
	}
}

// Viewer is who asks for tenant data: the staff member whose grants
// count, and the facts the audit log records of the request.
type Viewer struct {
	StaffID int64
	Actor   Actor
	// Session is the id hash of the viewer's session, "" when none: a
	// view checked under an older security epoch is refused once it has
	// ended.
	Session string
}

// DataRequest is what a data request asks for, as its path gave it: a
// refusal records these values (clipped), so they arrive unparsed.
type DataRequest struct {
	Slug   string
	Table  string
	Record string // the record id; "" on a table page
	After  int64  // on a table page, the last id of the previous page
}

// DataCell is one shown value. A masked one carries no text. A time's
// text is RFC 3339, in UTC.
type DataCell struct {
	Text   string
	Null   bool
	Masked bool
	Time   bool
}

// DataRow is one record as its viewer may see it.
type DataRow struct {
	ID    int64
	Cells []DataCell // one per DataView.Columns
}

// DataView is what every read returns besides its rows: the workspace,
// the table, its shown columns after the id (catalogued, never
// restricted) and the grant it was read under.
type DataView struct {
	Workspace Workspace
	Table     string
	Columns   []policy.Column
	Grant     Grant
}

// DataPage is a page of a table.
type DataPage struct {
	DataView
	Rows []DataRow
	Next int64 // the id the next page starts after; 0 on the last page
	// Start is the page's first row's place (1-based) among the rows the
	// grant covers, and Total how many they are; both count at most
	// dataCountCap rows, past which Capped is set and Start is 0 when
	// unknown.
	Start, Total int64
	Capped       bool
}

// dataCountCap is where a data page stops counting rows.
const dataCountCap = 10000

// DataRecord is one record.
type DataRecord struct {
	DataView
	Row DataRow
}

// ReadTable returns a page of r.Table in r.Slug after r.After: the
// records the grant covers, masked, once their view is recorded.
func (d *TenantData) ReadTable(ctx context.Context, v Viewer, r DataRequest) (DataPage, error) {
	now := d.now()
	ctx, err := d.cache.Begin(ctx)
	if err != nil {
		return DataPage{}, err
	}
	a, err := d.open(ctx, now, v, r, false)
	if err != nil {
		return DataPage{}, err
	}
	q := a.query(r.After)
	q.CountUpTo = dataCountCap
	page, pos, err := d.tenants.RowsAt(ctx, q)
	if err != nil {
		return DataPage{}, storageError(err)
	}
	if err := d.auditView(ctx, now, v, a, page.IDs(), nil); err != nil {
		return DataPage{}, err
	}
	out := DataPage{DataView: a.view(), Rows: make([]DataRow, 0, len(page.Rows)), Total: pos.Total, Capped: pos.Capped}
	if pos.Before <= dataCountCap && len(page.Rows) > 0 {
		out.Start = pos.Before + 1
	}
	if out.Capped {
		out.Total = dataCountCap
	}
	for _, row := range page.Rows {
		out.Rows = append(out.Rows, a.mask(row, nil))
	}
	if page.HasNext {
		out.Next = page.Rows[len(page.Rows)-1].ID
	}
	return out, nil
}

// ReadRecord returns record r.Record of r.Table in r.Slug, masked but for
// the fields the viewer revealed and may still see, once its view (naming
// those fields) is recorded.
func (d *TenantData) ReadRecord(ctx context.Context, v Viewer, r DataRequest) (DataRecord, error) {
	now := d.now()
	ctx, err := d.cache.Begin(ctx)
	if err != nil {
		return DataRecord{}, err
	}
	a, err := d.open(ctx, now, v, r, true)
	if err != nil {
		return DataRecord{}, err
	}
	q := a.query(0)
	row, err := d.tenants.Row(ctx, q.Workspace, q.Table, q.Columns, a.id)
	if err != nil {
		return DataRecord{}, storageError(err)
	}
	revealed, err := d.revealed(ctx, now, v, a)
	if err != nil {
		return DataRecord{}, err
	}
	if err := d.auditView(ctx, now, v, a, []int64{row.ID}, revealed); err != nil {
		return DataRecord{}, err
	}
	return DataRecord{DataView: a.view(), Row: a.mask(row, revealed)}, nil
}

// Forget lets go of what is held open of w's data, as after its
// deletion: an open SQLite handle would keep the removed file's space.
func (d *TenantData) Forget(w Workspace) {
	d.tenants.Forget(tenantdb.Workspace{Slug: w.Slug, DSN: w.DSN})
}

// access is what a data request may read: the workspace, the catalogued
// table and its shown columns, the record (0 on a table page) and the
// live grant covering them.
type access struct {
	ws      Workspace
	table   policy.Table
	columns []policy.Column
	id      int64
	grant   Grant
	scope   GrantScope
}

// open resolves r's workspace, table and record and finds v's live grant
// covering them, read from the database at now. Every refusal is recorded
// before it is returned: ErrNotCleared for a viewer who is not active and
// cleared; ErrNotFound for an unknown workspace or record id, or a table
// not catalogued or restricted; ErrNoGrant when no grant covers it.
func (d *TenantData) open(ctx context.Context, now time.Time, v Viewer, r DataRequest, withID bool) (access, error) {
	var a access
	staff, err := d.cache.staff(ctx, d.db.Read, v.StaffID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return a, err
	}
	if err != nil || staff.Status != StatusActive || !d.clearance.Cleared(staff, now) {
		return a, d.refuse(ctx, now, v, r, "not cleared", fmt.Errorf("staff %d: %w", v.StaffID, ErrNotCleared))
	}
	if withID {
		id, err := strconv.ParseInt(r.Record, 10, 64)
		if err != nil || id <= 0 {
			return a, d.refuse(ctx, now, v, r, "no such record", fmt.Errorf("record id %q: %w", r.Record, ErrNotFound))
		}
		a.id = id
	}
	if a.ws, err = d.cache.workspace(ctx, d.product, r.Slug); err != nil {
		why := "no such workspace"
		if !errors.Is(err, ErrNotFound) {
			why = "registry unreadable"
		}
		return a, d.refuse(ctx, now, v, r, why, err)
	}
	roles, err := d.cache.Roles(ctx, d.db.Read)
	if err != nil {
		return a, err
	}
	if !ScopeOf(staff, roles).Admits(a.ws.Attributes()) {
		// Not found, as for a workspace that does not exist; the
		// audit log says why.
		return a, d.refuse(ctx, now, v, r, "outside scope", fmt.Errorf("workspace %q: %w", r.Slug, ErrNotFound))
	}
	var ok bool
	if a.table, ok = d.catalog.Table(r.Table); !ok || a.table.Restricted {
		return a, d.refuse(ctx, now, v, r, "table not shown", fmt.Errorf("table %q: %w", r.Table, ErrNotFound))
	}
	a.columns = slices.DeleteFunc(a.table.Visible(), func(c policy.Column) bool { return c.Name == "id" })
	a.grant, a.scope, err = d.cache.grantFor(ctx, d.db.Read, now, GrantQuery{StaffID: v.StaffID, Workspace: a.ws.Slug, Table: a.table.Name, Record: a.id})
	if err != nil {
		if !errors.Is(err, ErrNoGrant) {
			// As before this API: a grant that cannot be read is no grant.
			err = fmt.Errorf("%w: %w", ErrNoGrant, err)
		}
		return a, d.refuse(ctx, now, v, r, "no live grant", err)
	}
	return a, nil
}

// refuse records a refused data request, then returns err; if the
// refusal cannot be recorded, ErrUnaudited.
func (d *TenantData) refuse(ctx context.Context, now time.Time, v Viewer, r DataRequest, why string, err error) error {
	e := AuditEntry{
		At:        now,
		Actor:     v.Actor,
		Action:    ActionDataRefused,
		Workspace: Clip(r.Slug),
		Table:     Clip(r.Table),
		Reason:    why,
	}
	if r.Record != "" {
		e.Detail = map[string]string{"record": Clip(r.Record)}
		if _, perr := strconv.ParseInt(r.Record, 10, 64); perr == nil {
			e.RecordIDs = []string{r.Record}
		}
	}
	if _, aerr := d.audit.Append(ctx, e); aerr != nil {
		return fmt.Errorf("%w: audit refusal (%v): %w", ErrUnaudited, err, aerr)
	}
	return err
}

// auditView commits the view of ids before anything of them is
// returned, and only while a's grant is still live (see
// AuditWriter.appendUnder): a grant that ended since open read it
// refuses the view, and its refusal is recorded instead.
func (d *TenantData) auditView(ctx context.Context, now time.Time, v Viewer, a access, ids []int64, revealed []string) error {
	if d.beforeAudit != nil {
		d.beforeAudit()
	}
	e := AuditEntry{
		At:           now,
		Actor:        v.Actor,
		Action:       ActionDataViewed,
		Workspace:    a.ws.Slug,
		Table:        a.table.Name,
		GrantID:      &a.grant.ID,
		BreakglassID: a.grant.BreakglassID,
		Reason:       a.grant.Origin(),
	}
	for _, id := range ids {
		e.RecordIDs = append(e.RecordIDs, strconv.FormatInt(id, 10))
	}
	if len(revealed) > 0 {
		e.Detail = map[string]any{"revealed": revealed}
	}
	refused := AuditEntry{
		At:           now,
		Actor:        v.Actor,
		Action:       ActionDataRefused,
		Workspace:    a.ws.Slug,
		Table:        a.table.Name,
		GrantID:      &a.grant.ID,
		BreakglassID: a.grant.BreakglassID,
		Reason:       refusedEnded,
	}
	if a.id > 0 {
		refused.RecordIDs = e.RecordIDs // the record asked for; a page's ids were not asked for
	}
	_, err := d.audit.appendUnder(ctx, e, d.underGrant(ctx, v, a.grant, a.ws), refused)
	if err != nil && !errors.Is(err, ErrNoGrant) {
		return fmt.Errorf("%w: audit view: %w", ErrUnaudited, err)
	}
	return err
}

// refusedEnded is the reason of a use refused because its grant ended
// after the use began: data may have been read, and none was shown.
const refusedEnded = "grant ended"

func (a access) view() DataView {
	return DataView{Workspace: a.ws, Table: a.table.Name, Columns: a.columns, Grant: a.grant}
}

// query reads a's record, or a page of the records a's grant covers.
func (a access) query(after int64) tenantdb.Query {
	q := tenantdb.Query{
		Workspace: tenantdb.Workspace{Slug: a.ws.Slug, DSN: a.ws.DSN},
		Table:     a.table.Name,
		AfterID:   after,
		Limit:     dataPageSize,
	}
	for _, c := range a.columns {
		q.Columns = append(q.Columns, c.Name)
	}
	if a.id > 0 {
		q.IDs = []int64{a.id}
	} else {
		q.IDs = a.scope.IDs(a.table.Name)
	}
	return q
}

// mask turns a row of a's columns into cells, masking personal values
// unless the grant unmasks or the field was revealed.
func (a access) mask(r tenantdb.Row, revealed []string) DataRow {
	out := DataRow{ID: r.ID, Cells: make([]DataCell, len(r.Values))}
	for i, col := range a.columns {
		if col.Class == policy.Personal && !a.grant.Mode.Unmasks() && !slices.Contains(revealed, col.Name) {
			out.Cells[i] = DataCell{Masked: true}
			continue
		}
		out.Cells[i] = DataCell{Text: r.Values[i].Text, Null: r.Values[i].Null, Time: r.Values[i].Time}
	}
	return out
}

// storageError makes tenant storage's "not found" (a record, a table or
// a workspace's data missing) this package's.
func storageError(err error) error {
	if errors.Is(err, tenantdb.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// refusedAccess is the reason of a use refused because its viewer's
// access (staff record or session) ended after the use began.
const refusedAccess = "access ended"

// underGrant is how the audit writer re-checks a view of a under v's
// access: against the epoch ctx carries, when the cache is on.
func (d *TenantData) underGrant(ctx context.Context, v Viewer, g Grant, ws Workspace) underGrant {
	u := underGrant{grant: g.ID, now: d.now, window: grantWindow{ID: g.ID, Starts: g.StartsAt, Ends: g.EndsAt}}
	u.epoch, u.known = requestEpoch(ctx)
	u.stillAllowed = func(ctx context.Context, tx *gorm.DB, at time.Time) (bool, error) {
		st, err := FindStaff(ctx, tx, v.StaffID)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		roles, err := LoadRoles(ctx, tx)
		if err != nil {
			return false, err
		}
		if st.Status != StatusActive || !d.clearance.Cleared(st, at) || string(st.Tier) != v.Actor.Tier || !ScopeOf(st, roles).Admits(ws.Attributes()) {
			return false, nil
		}
		if v.Session == "" {
			return true, nil
		}
		var n int64
		if err := tx.WithContext(ctx).Model(&Session{}).Where("id_hash = ? AND ended_at IS NULL", v.Session).Count(&n).Error; err != nil {
			return false, fmt.Errorf("re-check session: %w", err)
		}
		return n > 0, nil
	}
	return u
}
