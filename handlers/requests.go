package handlers

import (
	"context"
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

const requestPageSize = 50

// requestStatuses are the values of the list's status filter: a
// whitelist, one line to extend. "granted" is a live grant, "ended" one
// that ended.
var requestStatuses = []string{"pending", "approved", "granted", "ended", "denied", "cancelled", "expired", "refused", "reported"}

func (h *Handler) requestList(c echo.Context) error {
	ctx := c.Request().Context()
	f := models.RequestFilter{
		Status:    models.RequestStatus(strings.TrimSpace(c.QueryParam("status"))),
		Workspace: strings.TrimSpace(c.QueryParam("workspace")),
		Ticket:    strings.TrimSpace(c.QueryParam("ticket")),
	}
	now := h.now()
	f.Now = now
	filters := url.Values{"status": {string(f.Status)}, "workspace": {f.Workspace}, "ticket": {f.Ticket}}
	k, errs := listKeyset(c, models.RequestSorts, requestPageSize)
	if f.Status != "" && !slices.Contains(requestStatuses, string(f.Status)) {
		errs["status"] = "Choose a status from the list."
	}
	if len(f.Workspace) > 100 {
		errs["workspace"] = "Enter a workspace's slug."
	}
	if len(f.Ticket) > 100 {
		errs["ticket"] = "Enter a ticket reference of at most 100 characters."
	}
	v := viewerOf(c)
	view := views.RequestListView{
		Status: string(f.Status), Statuses: requestStatuses, Workspace: f.Workspace, Ticket: f.Ticket,
		Errors: errs, CanCreate: h.allowed(v, policy.RequestCreate),
	}
	in, err := models.RequestWorkspacesIn(ctx, h.db.Read, h.product, scopeOf(c))
	if err != nil {
		return err
	}
	f.In = in
	page, nav, status, err := readList(errs, "/requests", filters, models.RequestSorts, k, func() (models.Page[models.RequestListing], models.Count, error) {
		return models.PageRequests(ctx, h.db.Read, f, k)
	})
	if err != nil {
		return err
	}
	view.Nav = nav
	rows, err := h.requestRows(c, page.Rows)
	if err != nil {
		return err
	}
	for i, row := range rows {
		r := page.Rows[i]
		row.NeedsYou = row.Status == string(models.RequestPending) && h.allowed(v, policy.RequestApprove) && v.Staff.ID != r.RequesterID && v.Staff.ID != r.GranteeID
		view.Rows = append(view.Rows, row)
	}
	return h.render(c, status, views.RequestList(h.chrome(c, "Access requests"), view))
}

// staffNames returns a lookup of staff names by id for one page, reading
// each person once.
func (h *Handler) staffNames(c echo.Context) func(int64) string {
	seen := map[int64]string{}
	return func(id int64) string {
		if n, ok := seen[id]; ok {
			return n
		}
		s, err := models.FindStaff(c.Request().Context(), h.db.Read, id)
		n := fmt.Sprintf("staff %d", id)
		if err == nil {
			n = s.Name
		}
		seen[id] = n
		return n
	}
}

func (h *Handler) requestShow(c echo.Context) error {
	return h.renderRequest(c, http.StatusOK, "", nil)
}

// renderRequest shows request :id with what the viewer may do to it.
func (h *Handler) renderRequest(c echo.Context, status int, note string, errs views.Errors) error {
	return h.renderRequestWith(c, status, actionForm{note: note}, errs)
}

// actionForm is what an action form of the request page showed back:
// the note sent, the form it was sent with ("" for the decision form),
// and a notice that it was kept across a step-up sign-in.
type actionForm struct {
	note, form, kept string
}

// renderRequestWith is renderRequest with an action form's values.
func (h *Handler) renderRequestWith(c echo.Context, status int, af actionForm, errs views.Errors) error {
	ctx := c.Request().Context()
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return fmt.Errorf("request %q: %w", models.Clip(c.Param("id")), models.ErrNotFound)
	}
	r, err := models.FindRequest(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	now, v := h.now(), viewerOf(c)
	// A request on a workspace outside the viewer's scope is not found.
	ws, err := models.FindWorkspaceIn(ctx, h.product, scopeOf(c), r.Workspace)
	if err != nil {
		return err
	}
	mr, err := letters.RequestFacts(ctx, h.db.Read, r, ws.Name)
	if err != nil {
		return err
	}
	st := r.StatusAt(now)
	view := views.RequestView{
		ID: r.ID, Workspace: r.Workspace, Name: mr.Name,
		Requester: mr.Requester, Grantee: mr.Grantee + " (" + mr.GranteeTier + ")",
		Reason: r.Reason, Ticket: r.Ticket, Scope: mr.Scope, Mode: mr.Mode, Duration: mr.Duration,
		Status: string(st), Created: r.CreatedAt, Note: af.note, NoteForm: af.form, Errors: errs, Kept: af.kept, Now: now,
		CanApprove: st == models.RequestPending && h.allowed(v, policy.RequestApprove) && v.Staff.ID != r.RequesterID && v.Staff.ID != r.GranteeID,
		CanCancel:  st == models.RequestPending && v.Staff.ID == r.RequesterID,
	}
	switch st {
	case models.RequestPending:
		view.Expires = &r.ExpiresAt
	case models.RequestApproved:
		view.Expires = r.ConsentDeadline
	}
	if r.DecidedByID != nil {
		verb := "Approved"
		if r.Status == models.RequestDenied {
			verb = "Denied"
		}
		view.DecidedBy = h.staffNames(c)(*r.DecidedByID)
		view.Decision = fmt.Sprintf("%s (“%s”)", verb, r.DecisionNote)
	}
	if r.GrantID != nil {
		gl, err := models.FindGrantEnding(ctx, h.db.Read, *r.GrantID)
		if err != nil {
			return err
		}
		g := gl.Grant
		view.GrantID, view.GrantLive, view.GrantEnds = g.ID, g.Live(now), g.EndsAt
		view.Status, view.End = string(models.RequestStatusWith(r, gl, now)), endView(gl.Ending(now))
		view.CanDone = view.GrantLive && v.Staff.ID == r.GranteeID
		view.CanRevoke = view.GrantLive && h.allowed(v, policy.GrantRevoke)
		if view.Viewed, err = h.viewedRows(c.Request().Context(), g); err != nil {
			return err
		}
	}
	events, err := models.RequestTimeline(ctx, h.db.Read, r.ID)
	if err != nil {
		return err
	}
	for _, e := range events {
		view.Timeline = append(view.Timeline, views.TimelineEntry{At: e.At, Actor: e.Actor, What: timelineWhat(e.Action), Note: e.Reason})
	}
	return h.render(c, status, views.RequestShow(h.chrome(c, formTitle(fmt.Sprintf("Request %d", r.ID), errs)), view))
}

func timelineWhat(a models.Action) string {
	switch a {
	case models.ActionRequestCreated:
		return "asked for access"
	case models.ActionRequestApproved:
		return "approved; the workspace owners were asked for consent"
	case models.ActionRequestDenied:
		return "denied"
	case models.ActionRequestCancelled:
		return "cancelled"
	case models.ActionRequestExpired:
		return "expired"
	case models.ActionConsentShown:
		return "opened the consent page"
	case models.ActionConsentGranted:
		return "granted access"
	case models.ActionConsentDenied:
		return "refused access"
	case models.ActionConsentReported:
		return "reported the request as suspicious"
	case models.ActionGrantRevoked:
		return "revoked access"
	case models.ActionGrantDone:
		return "finished and closed access"
	case models.ActionGrantExpired:
		return "access ended at its time"
	}
	return string(a)
}

// viewedRows lists what was viewed under g, from the audit log: every
// table (its first record ids, with complete counts) and the first
// reveals.
func (h *Handler) viewedRows(ctx context.Context, g models.Grant) ([]views.ViewedRow, error) {
	v, err := models.ViewedUnder(ctx, h.db.Read, g.Workspace, g.ID)
	if err != nil {
		return nil, err
	}
	reveals, err := models.RevealsUnder(ctx, h.db.Read, g.Workspace, g.ID, 0, models.SummaryReveals)
	if err != nil {
		return nil, err
	}
	return letters.ViewedRows(v, reveals), nil
}

// requestRows are requests as lists show them, with their state now and
// their workspaces' names.
func (h *Handler) requestRows(c echo.Context, rs []models.RequestListing) ([]views.RequestRow, error) {
	slugs := make([]string, 0, len(rs))
	for _, r := range rs {
		if !slices.Contains(slugs, r.Workspace) {
			slugs = append(slugs, r.Workspace)
		}
	}
	wsNames, err := models.WorkspaceNamesOf(c.Request().Context(), h.product, slugs)
	if err != nil {
		return nil, err
	}
	names, now := h.staffNames(c), h.now()
	out := make([]views.RequestRow, 0, len(rs))
	for _, r := range rs {
		row := requestRow(r, names, now)
		row.Name = wsNames[r.Workspace]
		out = append(out, row)
	}
	return out, nil
}

// requestRow is a request as lists show it, with its state at now.
func requestRow(r models.RequestListing, names func(int64) string, now time.Time) views.RequestRow {
	return views.RequestRow{
		ID: r.ID, Workspace: r.Workspace, Requester: names(r.RequesterID), Grantee: names(r.GranteeID),
		Ticket: r.Ticket, Status: string(r.StatusAt(now)), Duration: models.FormatDuration(r.Duration()), Created: r.CreatedAt,
		End: endView(r.Ending(now)),
	}
}

// endView is a grant's ending as the pages show it; nil while it has not
// ended.
func endView(e models.GrantEnding) *views.GrantEndView {
	if !e.Ended() {
		return nil
	}
	return &views.GrantEndView{How: string(e.How), At: e.At, By: e.By, Note: e.Note}
}
