package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const breakglassListSize = 200

func (h *Handler) breakglassList(c echo.Context) error {
	return h.renderBreakglassList(c, http.StatusOK, views.BreakglassForm{}, nil)
}

func (h *Handler) renderBreakglassList(c echo.Context, status int, form views.BreakglassForm, errs views.Errors) error {
	in, err := models.BreakglassWorkspacesIn(c.Request().Context(), h.db.Read, h.product, scopeOf(c))
	if err != nil {
		return err
	}
	uses, err := models.ListBreakglass(c.Request().Context(), h.db.Read, in, breakglassListSize)
	if err != nil {
		return err
	}
	view := views.BreakglassListView{
		Form: form, Errors: errs, Window: h.breakglassWindow,
		Fresh: viewerOf(c).Session.SignedInWithin(h.now(), h.stepUpWindow),
	}
	for _, u := range uses {
		view.Rows = append(view.Rows, h.breakglassRow(u))
	}
	return h.render(c, status, views.BreakglassList(h.chrome(c, formTitle("Break-glass", errs)), view))
}

func (h *Handler) breakglassRow(u models.BreakglassUse) views.BreakglassRow {
	r := views.BreakglassRow{
		ID: u.ID, Workspace: u.Workspace, Incident: u.Incident, Opener: u.Opener.Name + " <" + u.Opener.Email + ">",
		OpenerTier: string(u.Opener.Tier), OpenedAt: u.OpenedAt, EndsAt: u.EndsAt,
		Open: u.Open(h.now()), Reviewed: u.Reviewed(),
	}
	if u.Reviewer != nil {
		r.Reviewer = u.Reviewer.Name
	}
	return r
}

// breakglassOpen opens a break-glass from the form in two steps: the
// first POST checks the values and shows them again with the button that
// opens (confirm=yes); only that POST opens it: 303 to its page. A form
// that cannot be accepted is 422 at either step; confirm=edit shows the
// form again with its values.
func (h *Handler) breakglassOpen(c echo.Context) error {
	ctx := c.Request().Context()
	form := views.BreakglassForm{
		Workspace: strings.TrimSpace(c.FormValue("workspace")), Incident: strings.TrimSpace(c.FormValue("incident")),
		Justification: strings.TrimSpace(c.FormValue("justification")),
	}
	var ws models.Workspace
	var owners []string
	unknown := false
	if form.Workspace != "" {
		var err error
		// Outside the opener's scope is not found, as an unknown slug.
		ws, err = models.FindLiveWorkspaceIn(ctx, h.product, scopeOf(c), form.Workspace)
		switch {
		case errors.Is(err, models.ErrNotFound):
			unknown = true
		case err != nil:
			return err
		default:
			if owners, err = models.Owners(ctx, h.product, ws.Slug); err != nil {
				return err
			}
		}
	}
	v := viewerOf(c)
	in := models.NewBreakglass{
		Workspace: ws.Slug, OpenerID: v.Staff.ID, Incident: form.Incident, Justification: form.Justification,
		Window: h.breakglassWindow, Clearance: h.clearance, Owners: owners, Attributes: ws.Attributes(),
	}
	var err error
	switch c.FormValue("confirm") {
	case "yes":
		var b models.Breakglass
		post := models.Post{Outbox: h.outbox, Letters: h.letters, Names: map[string]string{ws.Slug: ws.Name}}
		if b, err = models.OpenBreakglass(ctx, h.db.Write, h.act(c), post, in); err == nil {
			return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/breakglass/%d?done=opened", b.ID))
		}
	case "edit":
		return h.renderBreakglassList(c, http.StatusOK, form, nil)
	default:
		if fe := models.CheckBreakglass(in); fe != nil {
			err = fe
		} else if why := h.clearance.Lacking(v.Staff, h.now()); why != "" {
			err = fmt.Errorf("%s %s: %w", v.Staff.Email, why, models.ErrBreakglassRefused)
		}
	}
	errs := breakglassErrors(err)
	if unknown {
		if errs == nil {
			errs = views.Errors{}
		}
		errs["workspace"] = fmt.Sprintf("There is no workspace %q. Enter its slug as the workspace list shows it.", form.Workspace)
	}
	switch {
	case len(errs) > 0:
		return h.renderBreakglassList(c, http.StatusUnprocessableEntity, form, errs)
	case errors.Is(err, models.ErrBreakglassRefused):
		return echo.NewHTTPError(http.StatusForbidden, "Only an active sysadmin with the current confidentiality agreement and security training that has not lapsed can open break-glass. Nothing was opened.").SetInternal(err)
	case err != nil:
		return err
	}
	page := views.BreakglassConfirmView{Form: form, Name: ws.Name, Window: h.breakglassWindow, Owners: len(owners)}
	return h.render(c, http.StatusOK, views.BreakglassConfirm(h.chrome(c, "Confirm break-glass on "+ws.Name), page))
}

// breakglassErrors is the form's messages when err refused form values.
func breakglassErrors(err error) views.Errors {
	var fe models.FieldErrors
	if errors.As(err, &fe) {
		return views.Errors(fe)
	}
	return nil
}

func breakglassID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("break-glass id %q: %w", c.Param("id"), models.ErrNotFound)
	}
	return id, nil
}

func (h *Handler) breakglassShow(c echo.Context) error {
	id, err := breakglassID(c)
	if err != nil {
		return err
	}
	return h.renderBreakglass(c, http.StatusOK, id, views.BreakglassView{Done: c.QueryParam("done")})
}

func (h *Handler) renderBreakglass(c echo.Context, status int, id int64, view views.BreakglassView) error {
	ctx := c.Request().Context()
	u, err := models.FindBreakglass(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	if err := h.workspaceInScope(c, u.Workspace); err != nil {
		return err
	}
	v := viewerOf(c)
	view.Row, view.Justification, view.ReviewNote = h.breakglassRow(u), u.Justification, u.ReviewNote
	if u.ReviewedAt != nil {
		view.ReviewedAt = *u.ReviewedAt
	}
	if u.Grant != nil {
		if view.Viewed, err = h.viewedRows(ctx, *u.Grant); err != nil {
			return err
		}
		view.GrantID = u.Grant.ID
		if g := u.Grant; g.EndedAt != nil && g.EndedAt.Before(g.EndsAt) {
			view.GrantEnded = "ended early by " + g.EndedBy + ": " + g.EndedWhy
		}
	}
	if h.allowed(v, policy.AuditRead) {
		view.AuditURL = "/audit?" + url.Values{"workspace": {u.Workspace}, "breakglass": {strconv.FormatInt(u.ID, 10)}}.Encode()
	}
	view.IsOpener = u.OpenerID == v.Staff.ID
	// The opener ("I'm done") or any other sysadmin, while it is open.
	view.CanEnd = view.Row.Open
	// The route needs breakglass:use, which only sysadmins hold.
	view.CanReview = !view.IsOpener && !u.Reviewed()
	if view.IsOpener && view.Row.Open {
		if view.Tables, _, err = h.grantedTables(ctx, v.Staff.ID, models.Workspace{Slug: u.Workspace}); err != nil {
			return err
		}
	}
	return h.render(c, status, views.BreakglassPage(h.chrome(c, "Break-glass on "+u.Workspace), view))
}

// breakglassReview records a review by a sysadmin other than the opener:
// 303 back to the page; 422 without a real note; 403 for the opener; 409
// when someone reviewed it first.
func (h *Handler) breakglassReview(c echo.Context) error {
	id, err := breakglassID(c)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(c.FormValue("note"))
	err = models.ReviewBreakglass(c.Request().Context(), h.db.Write, h.act(c), id, viewerOf(c).Staff.ID, note)
	if errs := breakglassErrors(err); len(errs) > 0 {
		return h.renderBreakglass(c, http.StatusUnprocessableEntity, id, views.BreakglassView{Errors: errs, Note: note})
	}
	switch {
	case errors.Is(err, models.ErrBreakglassRefused):
		return echo.NewHTTPError(http.StatusForbidden, "You cannot review a break-glass you opened yourself. Another sysadmin must review it. Nothing was changed.").SetInternal(err)
	case errors.Is(err, models.ErrConflict):
		return echo.NewHTTPError(http.StatusConflict, "This break-glass has already been reviewed by another sysadmin. Nothing was changed.").SetInternal(err)
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/breakglass/%d?done=reviewed", id))
}

// breakglassEnd ends an open break-glass early: its opener ("I'm done",
// a note optional) or another sysadmin (a note required). 303 back to the
// page; 422 for a bad note; 403 for anyone but an active sysadmin; 409
// when it has already ended. Only the first of racing ends wins.
func (h *Handler) breakglassEnd(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := breakglassID(c)
	if err != nil {
		return err
	}
	u, err := models.FindBreakglass(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	post, err := h.post(ctx, u.Workspace)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	note := c.FormValue("note")
	err = models.EndBreakglass(ctx, h.db.Write, h.act(c), post, id, viewerOf(c).Staff.ID, note)
	if errs := breakglassErrors(err); len(errs) > 0 {
		return h.renderBreakglass(c, http.StatusUnprocessableEntity, id, views.BreakglassView{Errors: views.Errors{"end_note": errs["note"]}, EndNote: note})
	}
	switch {
	case errors.Is(err, models.ErrBreakglassRefused):
		return echo.NewHTTPError(http.StatusForbidden, "Only an active sysadmin can end a break-glass. Nothing was changed.").SetInternal(err)
	case errors.Is(err, models.ErrConflict):
		return echo.NewHTTPError(http.StatusConflict, conflictText(err)).SetInternal(err)
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/breakglass/%d?done=ended", id))
}
