package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const incidentListSize = 200

// incidentFormMax bounds the pasted lists (slugs, staff emails).
const incidentFormMax = 500

// incidentList is /incidents. With ?from_alert=ID the declare form is
// filled in from that alert (a GET: nothing is stored); a from_alert that
// is not a number or names no alert is 422 with the empty form.
func (h *Handler) incidentList(c echo.Context) error {
	form := views.IncidentForm{Severity: "high"}
	raw, ok := c.QueryParams()["from_alert"]
	if !ok {
		return h.renderIncidentList(c, http.StatusOK, form, nil)
	}
	s := strings.TrimSpace(strings.Join(raw, ""))
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || len(raw) != 1 {
		return h.renderIncidentList(c, http.StatusUnprocessableEntity, form, views.Errors{
			"from_alert": fmt.Sprintf("%q is not an alert number. Open the alert and use its “Turn this alert into an incident” link.", trimForMessage(strings.Join(raw, ","))),
		})
	}
	ctx := c.Request().Context()
	a, err := models.GetAlert(ctx, h.db.Read, id)
	if errors.Is(err, models.ErrNotFound) {
		return h.renderIncidentList(c, http.StatusUnprocessableEntity, form, views.Errors{
			"from_alert": fmt.Sprintf("There is no alert %d, so there is nothing to fill the form from. Check the number in the alert list.", id),
		})
	}
	if err != nil {
		return err
	}
	if form, err = h.formFromAlert(ctx, a); err != nil {
		return err
	}
	return h.renderIncidentList(c, http.StatusOK, form, nil)
}

func (h *Handler) renderIncidentList(c echo.Context, status int, form views.IncidentForm, errs views.Errors) error {
	incs, err := models.ListIncidents(c.Request().Context(), h.db.Read, incidentListSize)
	if err != nil {
		return err
	}
	v := views.IncidentListView{Form: form, Errors: errs, CanManage: h.allowed(viewerOf(c), policy.IncidentManage)}
	for _, inc := range incs {
		row, err := incidentRow(inc)
		if err != nil {
			return err
		}
		v.Rows = append(v.Rows, row)
	}
	return h.render(c, status, views.IncidentList(h.chrome(c, formTitle("Incidents", errs)), v))
}

func incidentRow(inc models.Incident) (views.IncidentRow, error) {
	ws, err := inc.Workspaces()
	return views.IncidentRow{
		ID: inc.ID, Title: inc.Title, Severity: inc.Severity, StartedAt: inc.StartedAt, DetectedAt: inc.DetectedAt,
		DeclaredAt: inc.DeclaredAt, Closed: inc.Closed(), Workspaces: len(ws),
	}, err
}

// incidentDeclare declares an incident from the form: 303 to its page,
// or 422 with the form and its messages.
func (h *Handler) incidentDeclare(c echo.Context) error {
	form := views.IncidentForm{
		Title: strings.TrimSpace(c.FormValue("title")), Summary: strings.TrimSpace(c.FormValue("summary")),
		Severity: c.FormValue("severity"), Started: c.FormValue("started"), Detected: c.FormValue("detected"),
		Alert: strings.TrimSpace(c.FormValue("alert")),
	}
	in := models.NewIncident{Title: form.Title, Summary: form.Summary, Severity: form.Severity, DeclaredBy: viewerOf(c).Staff.ID}
	errs := views.Errors{}
	var err error
	if form.Started != "" {
		if in.StartedAt, err = models.ParseAuditTime(form.Started, false); err != nil {
			errs["started"] = "Give a date and time, e.g. 2026-11-20T14:05 (UTC)."
		}
	}
	if form.Detected != "" {
		if in.DetectedAt, err = models.ParseAuditTime(form.Detected, false); err != nil {
			errs["detected"] = "Give a date and time, e.g. 2026-11-20T14:05 (UTC)."
		}
	}
	if form.Alert != "" {
		id, err := strconv.ParseInt(form.Alert, 10, 64)
		if err != nil || id <= 0 {
			errs["alert"] = "An alert is named by its number."
		} else {
			in.AlertID = &id
			a, err := models.GetAlert(c.Request().Context(), h.db.Read, id)
			switch {
			case errors.Is(err, models.ErrNotFound):
				errs["alert"] = fmt.Sprintf("There is no alert %d. Leave it empty, or give the number of an alert in the alert list.", id)
			case err != nil:
				return err
			default:
				form.FromAlert = alertRow(a)
			}
		}
	}
	if fe := models.CheckIncident(in, h.now()); fe != nil {
		for k, m := range fe {
			if errs[k] == "" {
				errs[k] = m
			}
		}
	}
	if len(errs) > 0 {
		return h.renderIncidentList(c, http.StatusUnprocessableEntity, form, errs)
	}
	inc, err := models.DeclareIncident(c.Request().Context(), h.db.Write, h.act(c), in)
	if fe := (models.FieldErrors{}); errors.As(err, &fe) {
		return h.renderIncidentList(c, http.StatusUnprocessableEntity, form, views.Errors(fe))
	}
	if err != nil {
		return incidentRefusal(err)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/incidents/%d?done=declared", inc.ID))
}

// incidentRefusal is err as the answer a person reads.
func incidentRefusal(err error) error {
	switch {
	case errors.Is(err, models.ErrIncidentRefused):
		return echo.NewHTTPError(http.StatusForbidden, "Only an active sysadmin can do this, and a notice is approved by a sysadmin other than its author. Nothing was changed or sent.").SetInternal(err)
	case errors.Is(err, models.ErrConflict):
		return echo.NewHTTPError(http.StatusConflict, conflictText(err)).SetInternal(err)
	}
	return err
}

func incidentID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("incident %s %q: %w", name, c.Param(name), models.ErrNotFound)
	}
	return id, nil
}

// incidentShow is an incident's page. With find=1 in the query it also
// shows what the finder finds (a GET: nothing is stored).
func (h *Handler) incidentShow(c echo.Context) error {
	id, err := incidentID(c, "id")
	if err != nil {
		return err
	}
	v := views.IncidentView{Done: c.QueryParam("done")}
	status := http.StatusOK
	if h.allowed(viewerOf(c), policy.IncidentManage) {
		ctx := c.Request().Context()
		inc, err := models.FindIncident(ctx, h.db.Read, id)
		if err != nil {
			return err
		}
		if c.QueryParam("find") == "" {
			if v.FindForm, v.FindFrom, err = h.findFromAlert(ctx, inc); err != nil {
				return err
			}
		} else {
			var found []models.AffectedWorkspace
			v.FindForm, found, v.FoundHow, v.Errors, err = h.findAffected(c, inc, c.QueryParams().Get)
			if err != nil {
				return err
			}
			if len(v.Errors) > 0 {
				status = http.StatusUnprocessableEntity
			}
			v.Found = affectedRows(found)
		}
	}
	return h.renderIncident(c, status, id, v)
}

// incidentAffected finds the affected workspaces again from the posted
// finder values and stores them on the incident: 303 back, 422 with the
// messages, 409 once a notice was sent.
func (h *Handler) incidentAffected(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := incidentID(c, "id")
	if err != nil {
		return err
	}
	inc, err := models.FindIncident(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	form, found, how, errs, err := h.findAffected(c, inc, c.FormValue)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return h.renderIncident(c, http.StatusUnprocessableEntity, id, views.IncidentView{FindForm: form, Errors: errs})
	}
	err = models.SetAffected(ctx, h.db.Write, h.act(c), id, found, how)
	if fe := (models.FieldErrors{}); errors.As(err, &fe) {
		return h.renderIncident(c, http.StatusUnprocessableEntity, id, views.IncidentView{FindForm: form, Errors: views.Errors(fe)})
	}
	if err != nil {
		return incidentRefusal(err)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/incidents/%d?done=affected", id))
}

// findAffected reads the finder's values through get (the query or the
// form), checks each against the registry and the portal, and runs the
// finder. Refused values come back as messages, with nothing found.
func (h *Handler) findAffected(c echo.Context, inc models.Incident, get func(string) string) (views.FindForm, []models.AffectedWorkspace, string, views.Errors, error) {
	ctx := c.Request().Context()
	f := views.FindForm{
		Method: get("method"), Staff: strings.TrimSpace(get("staff")), Since: strings.TrimSpace(get("since")),
		Until: strings.TrimSpace(get("until")), Grant: strings.TrimSpace(get("grant")),
		Breakglass: strings.TrimSpace(get("breakglass")), Slugs: strings.TrimSpace(get("slugs")),
	}
	errs := views.Errors{}
	q := models.AffectedQuery{}
	window := func(byDefault bool) {
		var err error
		switch {
		case f.Since != "":
			if q.Since, err = models.ParseAuditTime(f.Since, false); err != nil {
				errs["since"] = "Give a date and time, e.g. 2026-11-20T14:05 (UTC)."
			}
		case byDefault:
			q.Since = inc.StartedAt
		}
		switch {
		case f.Until != "":
			if q.Until, err = models.ParseAuditTime(f.Until, true); err != nil {
				errs["until"] = "Give a date and time, e.g. 2026-11-20T15:05 (UTC)."
			}
		case byDefault:
			q.Until = h.now()
		}
	}
	number := func(field, s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			errs[field] = "Give its number."
		}
		return n
	}
	var how string
	switch f.Method {
	case "staff":
		window(true)
		email, err := models.NormalizeEmail(f.Staff)
		if err == nil {
			if _, err = models.FindStaffByEmail(ctx, h.db.Read, email); err != nil && !errors.Is(err, models.ErrNotFound) {
				return f, nil, "", nil, err
			}
		}
		if err != nil {
			errs["staff"] = "There is no staff member with this email."
		}
		q.Staff, how = email, "views by "+email
	case "grant":
		window(false)
		if q.Grant = number("grant", f.Grant); errs["grant"] == "" {
			if _, err := models.FindGrant(ctx, h.db.Read, q.Grant); errors.Is(err, models.ErrNotFound) {
				errs["grant"] = "There is no grant with this number."
			} else if err != nil {
				return f, nil, "", nil, err
			}
		}
		how = "reads under grant " + f.Grant
	case "breakglass":
		window(false)
		if q.Breakglass = number("breakglass", f.Breakglass); errs["breakglass"] == "" {
			if _, err := models.FindBreakglass(ctx, h.db.Read, q.Breakglass); errors.Is(err, models.ErrNotFound) {
				errs["breakglass"] = "There is no break-glass with this number."
			} else if err != nil {
				return f, nil, "", nil, err
			}
		}
		how = "reads under break-glass " + f.Breakglass
	case "slugs":
		window(true)
		slugs := splitList(f.Slugs)
		switch {
		case len(slugs) == 0:
			errs["slugs"] = "List at least one workspace slug."
		case len(slugs) > incidentFormMax:
			errs["slugs"] = fmt.Sprintf("List at most %d workspaces at a time.", incidentFormMax)
		}
		for _, s := range slugs {
			if errs["slugs"] != "" {
				break
			}
			if _, err := models.FindWorkspace(ctx, h.product, s); errors.Is(err, models.ErrNotFound) {
				errs["slugs"] = fmt.Sprintf("There is no workspace %q. Enter slugs as the workspace list shows them.", s)
			} else if err != nil {
				return f, nil, "", nil, err
			}
		}
		q.Slugs, how = slugs, "listed workspaces"
	default:
		errs["method"] = "Choose how to find the workspaces."
	}
	if len(errs) > 0 {
		return f, nil, "", errs, nil
	}
	found, err := models.FindAffected(ctx, h.db.Read, q)
	if fe := (models.FieldErrors{}); errors.As(err, &fe) {
		return f, nil, "", views.Errors(fe), nil
	}
	if err != nil {
		return f, nil, "", nil, err
	}
	if len(found) == 0 {
		return f, nil, "", views.Errors{"method": "The evidence shows no workspace read this way; nothing was found."}, nil
	}
	slugs := make([]string, len(found))
	for i, w := range found {
		slugs[i] = w.Slug
	}
	names, err := models.WorkspaceNamesOf(ctx, h.product, slugs)
	if err != nil {
		return f, nil, "", nil, err
	}
	for i := range found {
		if found[i].Name = names[found[i].Slug]; found[i].Name == "" {
			found[i].Name = found[i].Slug
		}
	}
	return f, found, how, nil, nil
}

// splitList splits pasted text at spaces, commas and line breaks.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
}

func affectedRows(ws []models.AffectedWorkspace) []views.AffectedRow {
	out := make([]views.AffectedRow, 0, len(ws))
	for _, w := range ws {
		out = append(out, views.AffectedRow{Slug: w.Slug, Name: w.Name, Accesses: letters.AccessRows(w.Accesses)})
	}
	return out
}

// staffNames names staff by id for a page, reading each once.
type staffNames struct {
	ctx   context.Context
	h     *Handler
	names map[int64]string
}

func (s *staffNames) of(id int64) (string, error) {
	if n, ok := s.names[id]; ok {
		return n, nil
	}
	st, err := models.FindStaff(s.ctx, s.h.db.Read, id)
	if err != nil {
		return "", err
	}
	s.names[id] = st.Name + " <" + st.Email + ">"
	return s.names[id], nil
}

func (h *Handler) renderIncident(c echo.Context, status int, id int64, v views.IncidentView) error {
	ctx := c.Request().Context()
	inc, err := models.FindIncident(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	viewer := viewerOf(c)
	names := &staffNames{ctx: ctx, h: h, names: map[int64]string{}}
	if v.Row, err = incidentRow(inc); err != nil {
		return err
	}
	v.Summary, v.Postmortem = inc.Summary, inc.Postmortem
	if inc.AlertID != nil {
		v.AlertID = *inc.AlertID
	}
	if v.DeclaredBy, err = names.of(inc.DeclaredBy); err != nil {
		return err
	}
	if inc.ClosedAt != nil && inc.ClosedBy != nil {
		v.ClosedAt = *inc.ClosedAt
		if v.ClosedBy, err = names.of(*inc.ClosedBy); err != nil {
			return err
		}
	}
	ws, err := inc.Workspaces()
	if err != nil {
		return err
	}
	v.Affected = affectedRows(ws)
	v.CanManage = h.allowed(viewer, policy.IncidentManage)
	v.Fresh = viewer.Session.SignedInWithin(h.now(), h.stepUpWindow)
	notices, err := models.ListNotices(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	for _, n := range notices {
		r := views.NoticeRow{ID: n.ID, Body: n.Body, CreatedAt: n.CreatedAt, Approved: n.Approved(), CanApprove: v.CanManage && n.AuthorID != viewer.Staff.ID}
		if r.Author, err = names.of(n.AuthorID); err != nil {
			return err
		}
		if n.Approved() {
			r.ApprovedAt = *n.ApprovedAt
			if r.Approver, err = names.of(*n.ApprovedBy); err != nil {
				return err
			}
		}
		v.Notices = append(v.Notices, r)
	}
	ds, err := models.IncidentDeliveries(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	for _, d := range ds {
		v.Deliveries = append(v.Deliveries, views.DeliveryRow{Notice: d.NoticeID, Workspace: d.Workspace, Recipient: d.Recipient, Status: d.Status, Attempts: d.Attempts})
	}
	acts, err := models.ListIncidentActions(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	for _, a := range acts {
		r := views.ContainmentRow{Staff: a.Staff, SessionsEnded: a.SessionsEnded, GrantsEnded: a.GrantsEnded, Note: a.Note, At: a.At}
		if r.By, err = names.of(a.ByID); err != nil {
			return err
		}
		v.Actions = append(v.Actions, r)
	}
	return h.render(c, status, views.IncidentPage(h.chrome(c, formTitle(fmt.Sprintf("Incident %d", id), v.Errors)), v))
}
