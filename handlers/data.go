package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gatehouse/models"
	"gatehouse/models/tenantdb"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const dataPageSize = 50

// dataAccess is what a data request may read: the workspace, the
// catalogued table, the record (0 on a table page) and the live grant
// covering them.
type dataAccess struct {
	ws    models.Workspace
	table policy.Table
	id    int64
	grant models.Grant
	scope models.GrantScope
}

// columns are the table's shown columns after the id: catalogued, never
// restricted.
func (a dataAccess) columns() []policy.Column {
	return slices.DeleteFunc(a.table.Visible(), func(c policy.Column) bool { return c.Name == "id" })
}

func (a dataAccess) query(after int64) tenantdb.Query {
	q := tenantdb.Query{Workspace: tenantdb.Workspace{Slug: a.ws.Slug, DSN: a.ws.DSN}, Table: a.table.Name, AfterID: after, Limit: dataPageSize}
	for _, c := range a.columns() {
		q.Columns = append(q.Columns, c.Name)
	}
	if a.id > 0 {
		q.IDs = []int64{a.id}
	} else {
		q.IDs = a.scope.IDs(a.table.Name)
	}
	return q
}

func (h *Handler) dataTable(c echo.Context) error {
	after, err := int64(0), error(nil)
	if raw := c.QueryParam("after"); raw != "" {
		after, err = strconv.ParseInt(raw, 10, 64)
	}
	if err != nil || after < 0 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "after must be a record id.")
	}
	a, err := h.openData(c, false)
	if err != nil {
		return err
	}
	page, err := h.tenants.Rows(c.Request().Context(), a.query(after))
	if errors.Is(err, tenantdb.ErrNotFound) {
		err = fmt.Errorf("%w: %w", models.ErrNotFound, err)
	}
	if err != nil {
		return err
	}
	if err := h.auditView(c, a, page.IDs(), nil); err != nil {
		return err
	}
	view := views.DataTableView{Slug: a.ws.Slug, Name: a.ws.Name, Table: a.table.Name, GrantID: a.grant.ID, GrantEnds: minuteUTC(&a.grant.EndsAt), Unmask: a.grant.Unmask}
	cols := a.columns()
	view.Columns = viewColumns(cols)
	view.Rows = make([]views.DataRow, 0, len(page.Rows))
	for _, r := range page.Rows {
		view.Rows = append(view.Rows, views.DataRow{ID: r.ID, Cells: cells(a, cols, r, nil)})
	}
	if page.HasNext {
		view.Next = page.Rows[len(page.Rows)-1].ID
	}
	return h.render(c, http.StatusOK, views.DataTable(h.chrome(c, a.ws.Name+" · "+a.table.Name), view))
}

func (h *Handler) dataRecord(c echo.Context) error {
	a, err := h.openData(c, true)
	if err != nil {
		return err
	}
	return h.renderRecord(c, http.StatusOK, a, views.DataRecordView{})
}

// renderRecord reads one record and the fields the viewer revealed,
// audits the view, then shows it.
func (h *Handler) renderRecord(c echo.Context, status int, a dataAccess, view views.DataRecordView) error {
	ctx := c.Request().Context()
	q := a.query(0)
	row, err := h.tenants.Row(ctx, q.Workspace, q.Table, q.Columns, a.id)
	if errors.Is(err, tenantdb.ErrNotFound) {
		err = fmt.Errorf("%w: %w", models.ErrNotFound, err)
	}
	if err != nil {
		return err
	}
	revealed, err := models.RevealedFields(ctx, h.db.Read, h.now(), viewerOf(c).Staff.ID, a.grant.ID, a.ws.Slug, a.table.Name, a.id)
	if err != nil {
		return err
	}
	if err := h.auditView(c, a, []int64{row.ID}, revealed); err != nil {
		return err
	}
	view.Slug, view.Name, view.Table, view.ID = a.ws.Slug, a.ws.Name, a.table.Name, row.ID
	view.GrantID, view.GrantEnds = a.grant.ID, minuteUTC(&a.grant.EndsAt)
	cols := a.columns()
	view.Columns, view.Cells = viewColumns(cols), cells(a, cols, row, revealed)
	return h.render(c, status, views.DataRecord(h.chrome(c, fmt.Sprintf("%s · %s %d", a.ws.Name, a.table.Name, row.ID)), view))
}

func (h *Handler) dataReveal(c echo.Context) error {
	field, reason := c.FormValue("field"), strings.TrimSpace(c.FormValue("reason"))
	a, err := h.openData(c, true)
	if err != nil {
		return err
	}
	errs := views.Errors{}
	if !slices.Contains(a.columns(), policy.Column{Name: field, Class: policy.Personal}) {
		errs["field"] = "Only a personal field of this table can be revealed."
	}
	if len([]rune(reason)) < 10 || len(reason) > 1000 {
		errs["reason"] = "Say in a sentence why you need to see this field (at least 10 characters)."
	}
	if len(errs) > 0 {
		return h.renderRecord(c, http.StatusUnprocessableEntity, a, views.DataRecordView{Errors: errs, Field: field, Reason: reason})
	}
	_, err = models.RevealField(c.Request().Context(), h.db.Write, h.now(), h.actor(c), models.NewReveal{
		StaffID: viewerOf(c).Staff.ID, Grant: a.grant, Workspace: a.ws.Slug, Table: a.table.Name, RecordID: a.id, Field: field, Reason: reason,
	})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/workspaces/%s/data/%s/%d", a.ws.Slug, a.table.Name, a.id))
}

// openData resolves the request's workspace, table and record and finds
// the viewer's live grant covering them, read from the database now.
// Every refusal is audited (data.refused) before it is answered: 404 for
// an unknown workspace, record id, or a table not catalogued or
// restricted; 403 when no grant covers it.
func (h *Handler) openData(c echo.Context, withID bool) (dataAccess, error) {
	ctx := c.Request().Context()
	slug, table, rawID := c.Param("slug"), c.Param("table"), c.Param("id")
	var a dataAccess
	if withID {
		id, err := strconv.ParseInt(rawID, 10, 64)
		if err != nil || id <= 0 {
			return a, h.refuse(c, "no such record", fmt.Errorf("record id %q: %w", rawID, models.ErrNotFound))
		}
		a.id = id
	}
	var err error
	if a.ws, err = models.FindLiveWorkspace(ctx, h.product, slug); err != nil {
		return a, h.refuse(c, "no such workspace", err)
	}
	var ok bool
	if a.table, ok = h.catalog.Table(table); !ok || a.table.Restricted {
		return a, h.refuse(c, "table not shown", fmt.Errorf("table %q: %w", table, models.ErrNotFound))
	}
	a.grant, a.scope, err = models.GrantFor(ctx, h.db.Read, h.now(), viewerOf(c).Staff.ID, a.ws.Slug, a.table.Name, a.id)
	if err != nil {
		return a, h.refuse(c, "no live grant", echo.NewHTTPError(http.StatusForbidden,
			"None of your grants covers this page: access may have expired, been revoked or closed, or never covered it. Nothing was shown.").SetInternal(err))
	}
	return a, nil
}

// refuse audits a refused data request, then returns err; if the refusal
// cannot be recorded the answer is 503.
func (h *Handler) refuse(c echo.Context, why string, err error) error {
	e := models.AuditEntry{
		At: h.now(), Actor: h.actor(c), Action: models.ActionDataRefused,
		Workspace: clip(c.Param("slug")), Table: clip(c.Param("table")), Reason: why,
	}
	if id := c.Param("id"); id != "" {
		e.Detail = map[string]string{"record": clip(id)}
		if _, perr := strconv.ParseInt(id, 10, 64); perr == nil {
			e.RecordIDs = []string{id}
		}
	}
	if _, aerr := h.audit.Append(c.Request().Context(), e); aerr != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable).SetInternal(fmt.Errorf("audit refusal (%v): %w", err, aerr))
	}
	return err
}

// auditView records a view of ids before anything of them is shown; if
// that fails, nothing is (503).
func (h *Handler) auditView(c echo.Context, a dataAccess, ids []int64, revealed []string) error {
	e := models.AuditEntry{
		At: h.now(), Actor: h.actor(c), Action: models.ActionDataViewed, Workspace: a.ws.Slug, Table: a.table.Name,
		GrantID: &a.grant.ID, BreakglassID: a.grant.BreakglassID, Reason: grantOrigin(a.grant),
	}
	for _, id := range ids {
		e.RecordIDs = append(e.RecordIDs, strconv.FormatInt(id, 10))
	}
	if len(revealed) > 0 {
		e.Detail = map[string]any{"revealed": revealed}
	}
	if _, err := h.audit.Append(c.Request().Context(), e); err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable).SetInternal(fmt.Errorf("audit view: %w", err))
	}
	return nil
}

func grantOrigin(g models.Grant) string {
	switch {
	case g.BreakglassID != nil:
		return fmt.Sprintf("break-glass %d", *g.BreakglassID)
	case g.RequestID != nil:
		return fmt.Sprintf("access request %d", *g.RequestID)
	}
	return fmt.Sprintf("grant %d", g.ID)
}

// cells turns a row of cols (a.columns()) into view cells, masking
// personal values unless the grant unmasks or the field was revealed.
func cells(a dataAccess, cols []policy.Column, r tenantdb.Row, revealed []string) []views.DataCell {
	out := make([]views.DataCell, len(r.Values))
	for i, col := range cols {
		if col.Class == policy.Personal && !a.grant.Unmask && !slices.Contains(revealed, col.Name) {
			out[i] = views.DataCell{Masked: true}
			continue
		}
		out[i] = views.DataCell{Text: r.Values[i].Text, Null: r.Values[i].Null}
	}
	return out
}

func viewColumns(cols []policy.Column) []views.DataColumn {
	out := make([]views.DataColumn, len(cols))
	for i, c := range cols {
		out[i] = views.DataColumn{Name: c.Name, Class: string(c.Class)}
	}
	return out
}

// clip bounds a path value recorded in the audit log and keeps it text
// both databases store (valid UTF-8, no NUL).
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
