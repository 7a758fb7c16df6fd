package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const auditPageSize = 50

// auditFilter reads and checks the audit filters from the query string
// (GET) or the form (export POST). status is the answer to give when errs
// is not empty: 400 for a search refused because no index serves it (a
// record without its workspace), 422 for a value that is not valid.
func auditFilter(get func(string) string) (views.AuditFilter, models.AuditQuery, views.Errors, int) {
	f := views.AuditFilter{
		Actor: strings.TrimSpace(get("actor")), Workspace: strings.TrimSpace(get("workspace")),
		Record: strings.TrimSpace(get("record")), Action: strings.TrimSpace(get("action")),
		Since: strings.TrimSpace(get("since")), Until: strings.TrimSpace(get("until")),
		Breakglass: strings.TrimSpace(get("breakglass")),
	}
	q := models.AuditQuery{Actor: f.Actor, Workspace: f.Workspace, Record: f.Record, Action: models.Action(f.Action)}
	errs := views.Errors{}
	if f.Breakglass != "" {
		id, err := strconv.ParseInt(f.Breakglass, 10, 64)
		if err != nil || id <= 0 {
			f.Breakglass = ""
			errs[""] = "The break-glass link is not valid; search again."
		}
		q.Breakglass = id
	}
	for field, v := range map[string]string{"actor": f.Actor, "workspace": f.Workspace, "record": f.Record} {
		if len(v) > 320 {
			errs[field] = "Too long."
		}
	}
	if f.Action != "" && !models.KnownAction(q.Action) {
		errs["action"] = "Choose an action from the list."
	}
	var err error
	if f.Since != "" {
		if q.Since, err = models.ParseAuditTime(f.Since, false); err != nil {
			errs["since"] = "Enter a date (2026-01-31) or a date and time in UTC (2026-01-31T09:00)."
		}
	}
	if f.Until != "" {
		if q.Until, err = models.ParseAuditTime(f.Until, true); err != nil {
			errs["until"] = "Enter a date (2026-01-31) or a date and time in UTC (2026-01-31T17:00)."
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		errs["until"] = "The end must come after the start."
	}
	if len(errs) > 0 {
		return f, q, errs, http.StatusUnprocessableEntity
	}
	var refused *models.AuditRefusal
	if errors.As(q.Check(), &refused) {
		errs[refused.Field] = refused.Message
		return f, q, errs, http.StatusBadRequest
	}
	return f, q, errs, http.StatusOK
}

// badAuditPage is the message of a page link that is not one this portal
// made for this search.
const badAuditPage = "The page link is not valid; start again from the first page."

func (h *Handler) auditList(c echo.Context) error {
	f, q, errs, status := auditFilter(c.QueryParam)
	if len(errs) > 0 {
		return h.renderAudit(c, status, views.AuditListView{Filter: f, Errors: errs})
	}
	after, err1 := models.ParseCursor(c.QueryParam("after"))
	before, err2 := models.ParseCursor(c.QueryParam("before"))
	if err1 != nil || err2 != nil || (after != nil && before != nil) {
		return h.renderAudit(c, http.StatusBadRequest, views.AuditListView{Filter: f, Errors: views.Errors{"": badAuditPage}})
	}
	page, err := models.SearchAuditPage(c.Request().Context(), h.db.Read, q, after, before, auditPageSize)
	if errors.Is(err, models.ErrBadCursor) {
		return h.renderAudit(c, http.StatusBadRequest, views.AuditListView{Filter: f, Errors: views.Errors{"": badAuditPage}})
	}
	if err != nil {
		return err
	}
	v := views.AuditListView{Filter: f, Paged: after != nil || before != nil}
	if page.Newer != nil {
		v.Newer = page.Newer.Encode()
	}
	if page.Older != nil {
		v.Older = page.Older.Encode()
	}
	rows, err := h.auditRows(c, page.Events)
	if err != nil {
		return err
	}
	v.Rows = rows
	return h.renderAudit(c, http.StatusOK, v)
}

// auditRows turns a page of events into table rows, linking the person,
// workspace and request or break-glass of each where the viewer may open
// them.
func (h *Handler) auditRows(c echo.Context, evs []models.AuditEvent) ([]views.AuditRow, error) {
	me := viewerOf(c)
	staffLinks := h.allowed(me, policy.StaffManage)
	var emails []string
	var grants []int64
	for _, e := range evs {
		if staffLinks && e.Actor != "" {
			emails = append(emails, e.Actor)
		}
		if e.GrantID != nil {
			grants = append(grants, *e.GrantID)
		}
	}
	links, err := models.FindAuditLinks(c.Request().Context(), h.db.Read, emails, grants)
	if err != nil {
		return nil, err
	}
	mayOpen := map[string]bool{
		"workspace":  h.allowed(me, policy.WorkspaceMetaRead),
		"request":    h.allowed(me, policy.RequestRead),
		"breakglass": h.allowed(me, policy.BreakglassUse),
	}
	var rows []views.AuditRow
	for _, e := range evs {
		r := views.AuditRow{
			Seq: e.Seq, At: e.At, Actor: e.Actor, Tier: e.ActorTier,
			Action: string(e.Action), Workspace: e.Workspace, Table: e.Table, Records: e.RecordIDs,
			Target: e.Target, Reason: e.Reason, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID, Detail: e.Detail,
		}
		if id, ok := links.StaffIDs[e.Actor]; ok {
			r.ActorHref = "/staff/" + strconv.FormatInt(id, 10)
		}
		if e.Workspace != "" && mayOpen["workspace"] {
			r.WorkspaceHref = "/workspaces/" + url.PathEscape(e.Workspace)
		}
		var request int64
		if id, ok := strings.CutPrefix(e.Target, "request/"); ok {
			request, _ = strconv.ParseInt(id, 10, 64)
		}
		if e.GrantID != nil {
			r.Grant = "grant " + strconv.FormatInt(*e.GrantID, 10)
			if request == 0 {
				request = links.GrantRequestIDs[*e.GrantID]
			}
		}
		switch {
		case e.BreakglassID != nil:
			id := strconv.FormatInt(*e.BreakglassID, 10)
			r.Subject = "break-glass " + id
			if mayOpen["breakglass"] {
				r.SubjectHref = "/breakglass/" + id
			}
		case request > 0:
			id := strconv.FormatInt(request, 10)
			r.Subject = "request " + id
			if mayOpen["request"] {
				r.SubjectHref = "/requests/" + id
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (h *Handler) renderAudit(c echo.Context, status int, v views.AuditListView) error {
	for _, a := range models.AuditActions() {
		v.Actions = append(v.Actions, string(a))
	}
	return h.render(c, status, views.AuditList(h.chrome(c, "Audit log"), v))
}
