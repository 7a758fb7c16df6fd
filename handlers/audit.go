package handlers

import (
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
// (GET) or the form (export POST).
func auditFilter(get func(string) string) (views.AuditFilter, models.AuditQuery, views.Errors) {
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
	return f, q, errs
}

func (h *Handler) auditList(c echo.Context) error {
	f, q, errs := auditFilter(c.QueryParam)
	for _, key := range []string{"after", "before"} {
		if raw := c.QueryParam(key); raw != "" {
			seq, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || seq <= 0 {
				errs[""] = "The page link is not valid; search again."
			}
			if key == "after" {
				q.AfterSeq = seq
			} else {
				q.BeforeSeq = seq
			}
		}
	}
	if len(errs) > 0 {
		return h.renderAudit(c, http.StatusUnprocessableEntity, views.AuditListView{Filter: f, Errors: errs})
	}
	q.Limit = auditPageSize + 1 // one more tells whether there is a further page
	evs, err := models.SearchAudit(c.Request().Context(), h.db.Read, q)
	if err != nil {
		return err
	}
	v := views.AuditListView{Filter: f}
	more := len(evs) > auditPageSize
	if q.AfterSeq > 0 {
		// Newest first: the extra event is the newest, beyond this page.
		if more {
			evs = evs[1:]
		}
	} else if more {
		evs = evs[:auditPageSize]
	}
	if len(evs) > 0 {
		if (q.AfterSeq > 0 && more) || q.BeforeSeq > 0 {
			v.NewerAfter = evs[0].Seq
		}
		if q.AfterSeq > 0 || more {
			v.OlderBelow = evs[len(evs)-1].Seq
		}
	}
	rows, err := h.auditRows(c, evs)
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
