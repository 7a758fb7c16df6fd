package handlers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const requestPageSize = 50

var requestStatuses = []string{"pending", "approved", "granted", "denied", "cancelled", "expired", "refused", "reported"}

func (h *Handler) requestList(c echo.Context) error {
	ctx := c.Request().Context()
	status := c.QueryParam("status")
	if !slices.Contains(requestStatuses, status) {
		status = ""
	}
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = max(page, 1)
	rs, total, err := models.ListRequests(ctx, h.db.Read, models.RequestFilter{Status: models.RequestStatus(status), Limit: requestPageSize, Offset: (page - 1) * requestPageSize})
	if err != nil {
		return err
	}
	v := viewerOf(c)
	view := views.RequestListView{Status: status, Statuses: requestStatuses, Total: total, Page: page, PageSize: requestPageSize, CanCreate: h.allowed(v, policy.RequestCreate)}
	names := h.staffNames(c)
	now := h.now()
	for _, r := range rs {
		row := requestRow(r, names, now)
		row.NeedsYou = row.Status == string(models.RequestPending) && h.allowed(v, policy.RequestApprove) && v.Staff.ID != r.RequesterID && v.Staff.ID != r.GranteeID
		view.Rows = append(view.Rows, row)
	}
	return h.render(c, http.StatusOK, views.RequestList(h.chrome(c, "Access requests"), view))
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
	ws, err := models.FindWorkspace(ctx, h.product, r.Workspace)
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
		Status: string(st), Created: r.CreatedAt, Note: note, Errors: errs, Now: now,
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
		g, err := models.FindGrant(ctx, h.db.Read, *r.GrantID)
		if err != nil {
			return err
		}
		view.GrantID, view.GrantLive, view.GrantEnds = g.ID, g.Live(now), g.EndsAt
		switch {
		case g.EndedAt != nil:
			view.GrantEndedAt, view.GrantEndedWhy = *g.EndedAt, g.EndedWhy
		case !g.Live(now):
			view.GrantEndedAt, view.GrantEndedWhy = g.EndsAt, "expired"
		}
		view.CanDone = view.GrantLive && v.Staff.ID == r.GranteeID
		view.CanRevoke = view.GrantLive && h.allowed(v, policy.GrantRevoke)
		if view.Viewed, err = h.viewedRows(c.Request().Context(), g); err != nil {
			return err
		}
		if !view.GrantLive {
			view.Status = "ended"
		}
	}
	events, err := models.RequestTimeline(ctx, h.db.Read, r.ID)
	if err != nil {
		return err
	}
	for _, e := range events {
		view.Timeline = append(view.Timeline, views.TimelineEntry{At: e.At, Actor: e.Actor, What: timelineWhat(e.Action), Note: e.Reason})
	}
	return h.render(c, status, views.RequestShow(h.chrome(c, fmt.Sprintf("Request %d", r.ID)), view))
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

// requestRow is a request as lists show it, with its state at now.
func requestRow(r models.AccessRequest, names func(int64) string, now time.Time) views.RequestRow {
	return views.RequestRow{
		ID: r.ID, Workspace: r.Workspace, Requester: names(r.RequesterID), Grantee: names(r.GranteeID),
		Ticket: r.Ticket, Status: string(r.StatusAt(now)), Duration: models.FormatDuration(r.Duration()), Created: r.CreatedAt,
	}
}
