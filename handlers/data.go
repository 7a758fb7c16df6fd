package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// Data pages ask models.TenantData, which checks the grant, records the
// view (or the refusal) and masks before anything comes back; these
// handlers only parse and render.

func (h *Handler) dataTable(c echo.Context) error {
	after, err := int64(0), error(nil)
	if raw := c.QueryParam("after"); raw != "" {
		after, err = strconv.ParseInt(raw, 10, 64)
	}
	if err != nil || after < 0 {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "after must be a record id.")
	}
	page, err := h.data.ReadTable(c.Request().Context(), h.dataViewer(c), dataRequest(c, after))
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.DataTable(h.chrome(c, dataTableTitle(page)), dataTableView(page, after, h.now())))
}

// dataTableTitle is a table page's title: the workspace, then the table.
func dataTableTitle(page models.DataPage) string {
	return page.Workspace.Name + " · " + page.Table
}

// dataTableView is what a table page shows of page, read after the
// record id after, at now.
func dataTableView(page models.DataPage, after int64, now time.Time) views.DataTableView {
	ws, g := page.Workspace, page.Grant
	view := views.DataTableView{
		Slug:      ws.Slug,
		Name:      ws.Name,
		Table:     page.Table,
		Columns:   viewColumns(page.Columns),
		Rows:      make([]views.DataRow, 0, len(page.Rows)),
		Next:      page.Next,
		Paged:     after > 0,
		Start:     page.Start,
		Total:     page.Total,
		Capped:    page.Capped,
		GrantID:   g.ID,
		GrantEnds: g.EndsAt,
		EndHref:   endHref(g),
		Now:       now,
		Unmask:    g.Unmask,
	}
	for _, r := range page.Rows {
		view.Rows = append(view.Rows, views.DataRow{ID: r.ID, Cells: viewCells(r.Cells)})
	}
	return view
}

func (h *Handler) dataRecord(c echo.Context) error {
	return h.renderRecord(c, http.StatusOK, views.DataRecordView{})
}

// renderRecord reads the record (recording the view) and shows it.
func (h *Handler) renderRecord(c echo.Context, status int, view views.DataRecordView) error {
	rec, err := h.data.ReadRecord(c.Request().Context(), h.dataViewer(c), dataRequest(c, 0))
	if err != nil {
		return err
	}
	ws := rec.Workspace
	view.Slug, view.Name, view.Table, view.ID = ws.Slug, ws.Name, rec.Table, rec.Row.ID
	view.GrantID, view.GrantEnds, view.Revealable = rec.Grant.ID, rec.Grant.EndsAt, rec.Grant.Mode.Reveals()
	view.EndHref, view.Now = endHref(rec.Grant), h.now()
	view.Columns, view.Cells = viewColumns(rec.Columns), viewCells(rec.Row.Cells)
	return h.render(c, status, views.DataRecord(h.chrome(c, formTitle(fmt.Sprintf("%s · %s %d", ws.Name, rec.Table, rec.Row.ID), view.Errors)), view))
}

func (h *Handler) dataReveal(c echo.Context) error {
	field, reason := c.FormValue("field"), strings.TrimSpace(c.FormValue("reason"))
	rv, err := h.data.RevealField(c.Request().Context(), h.dataViewer(c), dataRequest(c, 0), field, reason)
	var fe models.FieldErrors
	if errors.As(err, &fe) {
		return h.renderRecord(c, http.StatusUnprocessableEntity, views.DataRecordView{Errors: views.Errors(fe), Field: field, Reason: reason})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/workspaces/%s/data/%s/%d", rv.Workspace, rv.Table, rv.RecordID))
}

func (h *Handler) dataViewer(c echo.Context) models.Viewer {
	v := viewerOf(c)
	return models.Viewer{StaffID: v.Staff.ID, Actor: h.actor(c), Session: v.Session.IDHash}
}

// dataRequest is what the request's path asks for; on a table page the
// record is "".
func dataRequest(c echo.Context, after int64) models.DataRequest {
	return models.DataRequest{Slug: c.Param("slug"), Table: c.Param("table"), Record: c.Param("id"), After: after}
}

func viewColumns(cols []policy.Column) []views.DataColumn {
	out := make([]views.DataColumn, len(cols))
	for i, c := range cols {
		out[i] = views.DataColumn{Name: c.Name, Class: string(c.Class)}
	}
	return out
}

// viewCells is a row's cells as the page shows them; a time's text is
// parsed for its <time> element, and only a time's.
func viewCells(cells []models.DataCell) []views.DataCell {
	out := make([]views.DataCell, len(cells))
	for i, c := range cells {
		out[i] = views.DataCell{Text: c.Text, Null: c.Null, Masked: c.Masked}
		if !c.Time {
			continue
		}
		if t, err := time.Parse(time.RFC3339, c.Text); err == nil {
			out[i].At = &t
		}
	}
	return out
}

// endHref is where the holder of g ends it early: the request's "done"
// or the break-glass's "end"; "" when g has neither.
func endHref(g models.Grant) string {
	switch {
	case g.RequestID != nil:
		return fmt.Sprintf("/requests/%d/done", *g.RequestID)
	case g.BreakglassID != nil:
		return fmt.Sprintf("/breakglass/%d/end", *g.BreakglassID)
	}
	return ""
}
