package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

func (h *Handler) requestNew(c echo.Context) error {
	// No grantee is chosen for the requester: they choose one.
	f := views.RequestForm{Workspace: strings.TrimSpace(c.QueryParam("workspace")), Duration: "2h", Mode: string(models.ModeMasked)}
	return h.renderRequestForm(c, http.StatusOK, f)
}

func (h *Handler) renderRequestForm(c echo.Context, status int, f views.RequestForm) error {
	ctx := c.Request().Context()
	pol := h.requests
	for _, d := range models.DurationPresets {
		if d <= pol.MaxDuration {
			f.Durations = append(f.Durations, views.Option{Value: models.FormatDuration(d), Label: letters.DurationWords(d)})
		}
	}
	if !slices.ContainsFunc(f.Durations, func(o views.Option) bool { return o.Value == models.FormatDuration(pol.MaxDuration) }) {
		f.Durations = append(f.Durations, views.Option{Value: models.FormatDuration(pol.MaxDuration), Label: letters.DurationWords(pol.MaxDuration) + " (the most allowed)"})
	}
	f.MaxDuration = letters.DurationWords(pol.MaxDuration)
	f.TicketHint = "like SUP-1234"
	seniors, err := models.Grantees(ctx, h.db.Read, h.clearance, h.now())
	if err != nil {
		return err
	}
	// Seniors first: they do the work; sysadmins follow.
	slices.SortStableFunc(seniors, func(a, b models.Staff) int {
		return cmpBool(a.Tier != policy.TierSenior, b.Tier != policy.TierSenior)
	})
	for _, s := range seniors {
		f.Grantees = append(f.Grantees, views.Option{Value: s.Email, Label: fmt.Sprintf("%s (%s)", s.Name, s.Tier)})
	}
	for _, t := range h.catalog.Tables() {
		if !t.Restricted {
			f.Tables = append(f.Tables, views.Option{Value: t.Name, Label: t.Name})
		}
	}
	if f.Workspace != "" {
		if ws, err := models.FindWorkspaceIn(ctx, h.product, scopeOf(c), f.Workspace); err == nil {
			f.WorkspaceName = ws.Name
			if _, ok := f.Errors["workspace"]; !ok && ws.Status == models.WorkspaceDeleted {
				if f.Errors == nil {
					f.Errors = views.Errors{}
				}
				if f.Errors["workspace"], err = h.deletedMessage(c, ws); err != nil {
					return err
				}
			}
		}
	}
	if f.Suggestions, err = h.workspaceSuggestions(c); err != nil {
		return err
	}
	return h.render(c, status, views.RequestNew(h.chrome(c, formTitle("New access request", f.Errors)), f))
}

// suggestionsMax bounds the workspace field's suggestions: the page stays
// small however many workspaces there are.
const suggestionsMax = 100

// workspaceSuggestions are the first live workspaces by slug, for the
// workspace field's datalist.
func (h *Handler) workspaceSuggestions(c echo.Context) ([]views.Option, error) {
	ws, err := models.SearchWorkspaces(c.Request().Context(), h.product, scopeOf(c), "", suggestionsMax)
	if err != nil {
		return nil, err
	}
	var out []views.Option
	for _, w := range ws {
		if w.Status != models.WorkspaceDeleted {
			out = append(out, views.Option{Value: w.Slug, Label: w.Name})
		}
	}
	return out, nil
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// requestCreate stores a new access request: 303 to it, or the form
// again with every message (422).
func (h *Handler) requestCreate(c echo.Context) error {
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	f, n := h.readRequestForm(form)
	n.Requester = viewerOf(c).Staff
	// Outside the requester's scope is not found, as an unknown slug.
	ws, err := models.FindWorkspaceIn(ctx, h.product, scopeOf(c), f.Workspace)
	deleted := err == nil && ws.Status == models.WorkspaceDeleted
	switch {
	case deleted:
		if f.Errors["workspace"], err = h.deletedMessage(c, ws); err != nil {
			return err
		}
	case err == nil:
		n.Workspace, n.Attributes = ws.Slug, ws.Attributes()
	case !errors.Is(err, models.ErrNotFound):
		return err
	}
	if n.Grantee, err = h.requestGrantee(c, f.Grantee); err != nil {
		return err
	}
	if f.Grantee != "" && n.Grantee.ID == 0 {
		f.Errors["grantee"] = "There is no staff member " + models.Clip(f.Grantee) + "."
	}
	for k, v := range models.ValidateRequest(h.requests, viewerOf(c).Roles, h.now(), n) {
		if k == "requester" {
			k = ""
		}
		if _, ok := f.Errors[k]; !ok {
			f.Errors[k] = v
		}
	}
	if n.Workspace == "" && !deleted {
		f.Errors["workspace"] = "There is no workspace " + strconv.Quote(models.Clip(f.Workspace)) + "."
	}
	if len(f.Errors) > 0 {
		return h.renderRequestForm(c, http.StatusUnprocessableEntity, f)
	}
	post, err := h.post(ctx, n.Workspace)
	if err != nil {
		return err
	}
	r, err := models.CreateRequest(ctx, h.db.Write, h.act(c), post, h.requests, n)
	if err != nil {
		return err
	}
	h.setFlash(c, fmt.Sprintf("created.%d", r.ID))
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/requests/%d", r.ID))
}

// readRequestForm reads the new-request form without looking anything
// up: f is the form as it is shown again, with a message for each field
// that cannot be read; n is the request it asks for, but for the
// requester, the workspace and the grantee, which the caller finds.
func (h *Handler) readRequestForm(form url.Values) (views.RequestForm, models.NewRequest) {
	f := views.RequestForm{
		Workspace: strings.TrimSpace(form.Get("workspace")),
		Reason:    form.Get("reason"),
		Ticket:    strings.TrimSpace(form.Get("ticket")),
		Duration:  strings.TrimSpace(form.Get("duration")),
		Grantee:   strings.TrimSpace(form.Get("grantee")),
		Scope:     form["scope"],
		Records:   strings.TrimSpace(form.Get("records")),
		Errors:    views.Errors{},
	}
	n := models.NewRequest{Reason: f.Reason, Ticket: f.Ticket}
	n.Mode = requestMode(form, &f)
	var err error
	if n.Duration, err = models.ParseDuration(f.Duration); err != nil {
		f.Errors["duration"] = "Choose how long the access should last, like 2h."
	}
	n.Scope = h.requestScope(&f)
	return f, n
}

// deletedMessage tells why nobody may ask for access to deleted
// workspace w.
func (h *Handler) deletedMessage(c echo.Context, w models.Workspace) (string, error) {
	at, err := h.deletedAt(c.Request().Context(), w)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (%s) was deleted on %s. Its data is gone; nobody can ask for access to it.", w.Name, w.Slug, at.UTC().Format(time.DateOnly)), nil
}

// requestMode reads the access mode the form asks for: `mode` (masked,
// reveal or unmasked), or, for forms made before modes, `unmask` = "on"
// alone, which meant unmasked. A missing, repeated or unknown mode, or one
// that contradicts `unmask`, is the form's message on "mode"; the form
// then shows what was sent, or nothing chosen.
func requestMode(form url.Values, f *views.RequestForm) models.AccessMode {
	modes, unmask := form["mode"], form.Get("unmask") == "on"
	switch {
	case len(modes) == 0 && unmask:
		f.Mode = string(models.ModeUnmasked)
		return models.ModeUnmasked
	case len(modes) != 1:
		f.Errors["mode"] = models.ModeMessage
		return ""
	}
	m := models.AccessMode(strings.TrimSpace(modes[0]))
	switch {
	case !m.Valid():
		f.Errors["mode"] = models.ModeMessage
		return ""
	case unmask && !m.Unmasks():
		f.Errors["mode"] = "The form asks for personal fields both unmasked and " + string(m) + ": choose one."
		return ""
	}
	f.Mode = string(m)
	return m
}

// requestGrantee finds the staff member the form names; a senior who
// names nobody asks for themselves. Zero when there is no such person.
func (h *Handler) requestGrantee(c echo.Context, named string) (models.Staff, error) {
	if named == "" {
		if v := viewerOf(c); v.Staff.Tier == policy.TierSenior {
			return v.Staff, nil
		}
		return models.Staff{}, nil
	}
	email, err := models.NormalizeEmail(named)
	if err != nil {
		return models.Staff{}, nil
	}
	s, err := models.FindStaffByEmail(c.Request().Context(), h.db.Read, email)
	if errors.Is(err, models.ErrNotFound) {
		return models.Staff{}, nil
	}
	return s, err
}

// requestScope reads the tables and record ids the form asks for, adding
// the form's messages to f.Errors.
func (h *Handler) requestScope(f *views.RequestForm) models.GrantScope {
	var scope models.GrantScope
	if len(f.Scope) > 0 {
		scope.Tables = map[string][]int64{}
		for _, t := range f.Scope {
			table, ok := h.catalog.Table(t)
			switch {
			case !ok:
				f.Errors["scope"] = fmt.Sprintf("There is no table %q.", models.Clip(t))
			case table.Restricted:
				f.Errors["scope"] = fmt.Sprintf("%s is restricted: nobody may see it, whatever the grant.", t)
			default:
				scope.Tables[t] = nil
			}
		}
	}
	if f.Records == "" {
		return scope
	}
	ids, msg := parseRecordIDs(f.Records)
	switch {
	case msg != "":
		f.Errors["records"] = msg
	case len(f.Scope) == 0:
		f.Errors["records"] = "Choose the tables these records belong to."
	default:
		for t := range scope.Tables {
			scope.Tables[t] = ids
		}
	}
	return scope
}

// parseRecordIDs reads "12, 15,40" into ids: at most 200, each positive.
// What is wrong comes back as the form's message.
func parseRecordIDs(s string) (ids []int64, msg string) {
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Sprintf("%q is not a record id: use numbers separated by commas.", models.Clip(part))
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 || len(ids) > 200 {
		return nil, "Give between 1 and 200 record ids."
	}
	return ids, ""
}
