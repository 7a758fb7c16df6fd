package handlers

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// dashboard is the first page after sign-in: what needs the viewer first,
// then the audit log's state for those who read it, then who they are and
// what their tier lets them do.
func (h *Handler) dashboard(c echo.Context) error {
	v := viewerOf(c)
	ctx := c.Request().Context()
	page := views.DashboardView{
		Name: v.Staff.Name, Tier: string(v.Staff.Tier),
		AgreementMissing: !v.Staff.AgreementCurrent(h.agreement),
		AgreementVersion: h.agreement,
		Training:         h.trainingStatus(v.Staff),
		SignedInAt:       v.Session.CreatedAt,
		ExpiresAt:        v.Session.CreatedAt.Add(h.sessions.Absolute),
		WorkspaceCount:   -1,
		Now:              h.now(),
		CanFind:          h.allowed(v, policy.WorkspaceMetaRead),
		CanRequest:       h.allowed(v, policy.RequestCreate),
	}
	for _, p := range policy.All {
		if h.allowed(v, p) {
			page.Can = append(page.Can, p.String())
		}
	}
	if h.allowed(v, policy.AlertRead) {
		alerts, err := models.OpenAlerts(ctx, h.db.Read, dashboardAlerts)
		if err != nil {
			return err
		}
		page.ShowAlerts = true
		for _, a := range alerts {
			page.Alerts = append(page.Alerts, alertRow(a))
		}
	}
	if h.allowed(v, policy.IncidentRead) {
		incs, err := models.OpenIncidents(ctx, h.db.Read, dashboardIncidents)
		if err != nil {
			return err
		}
		page.ShowIncidents = true
		for _, inc := range incs {
			row, err := incidentRow(inc)
			if err != nil {
				return err
			}
			page.Incidents = append(page.Incidents, row)
		}
	}
	if h.allowed(v, policy.WorkspaceMetaRead) {
		n, about, err := models.EstimateWorkspacesIn(ctx, h.product, scopeOf(c))
		if err != nil {
			return err
		}
		page.WorkspaceCount, page.WorkspaceCountAbout = n, about
	}
	if h.allowed(v, policy.StaffManage) {
		counts, err := models.CountStaff(ctx, h.db.Read, h.clearance, h.now())
		if err != nil {
			return err
		}
		sc := views.StaffCounts(counts)
		page.Staff = &sc
		page.ShowProposals = true
		if page.Proposals, page.ProposalCount, err = h.pendingProposals(ctx, dashboardProposal); err != nil {
			return err
		}
	}
	if err := h.dashboardRequests(c, &page); err != nil {
		return err
	}
	if h.allowed(v, policy.BreakglassUse) {
		in, err := models.BreakglassWorkspacesIn(ctx, h.db.Read, h.product, scopeOf(c))
		if err != nil {
			return err
		}
		uses, err := models.UnreviewedBreakglass(ctx, h.db.Read, in, 50)
		if err != nil {
			return err
		}
		for _, u := range uses {
			page.Unreviewed = append(page.Unreviewed, h.breakglassRow(u))
		}
	}
	if h.allowed(v, policy.RetentionManage) {
		// The 50 deletions due the longest.
		classes := &models.RetentionClasses{DB: h.db.Read, Product: h.product, Now: h.now(), Policy: h.retention, Scope: scopeOf(c)}
		due, err := classes.OverdueDeletions(ctx, dashboardDeletions+1)
		if err != nil {
			return err
		}
		if len(due) > dashboardDeletions {
			due, page.MoreDeletionsDue = due[:dashboardDeletions], true
		}
		for _, st := range due {
			page.DeletionsDue = append(page.DeletionsDue, views.RetentionRow{Slug: st.Slug, Name: st.Name, Plan: st.Plan, Retention: retentionStatusView(st)})
		}
	}
	if err := h.dashboardReview(c, &page); err != nil {
		return err
	}
	if err := h.dashboardLive(c, &page); err != nil {
		return err
	}
	if err := h.dashboardAudit(c, &page); err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.Dashboard(h.chrome(c, "Dashboard"), page))
}

// dashboardDeletions is how many deletions due the dashboard lists.
const dashboardDeletions = 50

// reportedFor is how long a request a customer reported stays on the
// dashboards of those who may approve requests.
const reportedFor = 30 * 24 * time.Hour

// dashboardLive fills in the viewer's own grants in force, the soonest to
// end first, each with the way to end it.
func (h *Handler) dashboardLive(c echo.Context, page *views.DashboardView) error {
	ctx, v := c.Request().Context(), viewerOf(c)
	if !h.allowed(v, policy.TenantDataRead) {
		return nil
	}
	live, err := models.LiveGrantsOf(ctx, h.db.Read, page.Now, v.Staff.ID)
	if err != nil {
		return err
	}
	slugs := make([]string, 0, len(live))
	for _, g := range live {
		slugs = append(slugs, g.Workspace)
	}
	names, err := models.WorkspaceNamesOf(ctx, h.product, slugs)
	if err != nil {
		return err
	}
	for _, g := range live {
		name := cmp.Or(names[g.Workspace], g.Workspace)
		page.Live = append(page.Live, liveGrant(g, name))
	}
	return nil
}

// dashboardRequests fills in the requests waiting for the viewer's
// decision and the viewer's own requests with where each stands.
func (h *Handler) dashboardRequests(c echo.Context, page *views.DashboardView) error {
	ctx, v, now := c.Request().Context(), viewerOf(c), h.now()
	in, err := models.RequestWorkspacesIn(ctx, h.db.Read, h.product, scopeOf(c))
	if err != nil {
		return err
	}
	if h.allowed(v, policy.RequestApprove) {
		pending, _, err := models.ListRequests(ctx, h.db.Read, models.RequestFilter{Status: models.RequestPending, Now: now, Limit: 50, In: in})
		if err != nil {
			return err
		}
		pending = slices.DeleteFunc(pending, func(r models.RequestListing) bool {
			return r.RequesterID == v.Staff.ID || r.GranteeID == v.Staff.ID || r.StatusAt(now) != models.RequestPending
		})
		if page.ToDecide, err = h.requestRows(c, pending); err != nil {
			return err
		}
		reported, _, err := models.ListRequests(ctx, h.db.Read, models.RequestFilter{Status: models.RequestReported, Now: now, Limit: 20, In: in})
		if err != nil {
			return err
		}
		reported = slices.DeleteFunc(reported, func(r models.RequestListing) bool {
			return now.Sub(r.UpdatedAt) > reportedFor
		})
		if page.Reported, err = h.requestRows(c, reported); err != nil {
			return err
		}
	}
	if !h.allowed(v, policy.RequestRead) {
		return nil
	}
	mine, _, err := models.ListRequests(ctx, h.db.Read, models.RequestFilter{StaffID: v.Staff.ID, Now: now, Limit: 10, In: in})
	if err != nil {
		return err
	}
	rows, err := h.requestRows(c, mine)
	if err != nil {
		return err
	}
	for i, rr := range rows {
		g := mine[i].Grant()
		switch {
		case g.Live(now) && now.Add(models.ExpiryWarning).After(g.EndsAt):
			rr.StatusNote, rr.StatusAt = "access ends soon, at", &g.EndsAt
		case g.Live(now):
			rr.StatusNote, rr.StatusAt = "access open until", &g.EndsAt
		}
		page.Mine = append(page.Mine, rr)
	}
	return nil
}
