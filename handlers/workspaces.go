package handlers

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const workspacePageSize = 25

func (h *Handler) workspaceList(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = max(page, 1)
	rows, total, err := models.SearchWorkspaces(c.Request().Context(), h.product, q, workspacePageSize, (page-1)*workspacePageSize)
	if err != nil {
		return err
	}
	view := views.WorkspaceListView{Query: q, Total: total, Page: page, PageSize: workspacePageSize}
	for _, w := range rows {
		view.Rows = append(view.Rows, workspaceRow(w))
	}
	return h.render(c, http.StatusOK, views.WorkspaceList(h.chrome(c, "Workspaces"), view))
}

func (h *Handler) workspaceShow(c echo.Context) error {
	return h.renderWorkspace(c, http.StatusOK, views.DeletionForm{}, nil)
}

// renderWorkspace shows a workspace's page; form and errs are the
// deletion-request form's values and messages after a refused POST.
func (h *Handler) renderWorkspace(c echo.Context, status int, form views.DeletionForm, errs views.Errors) error {
	ctx := c.Request().Context()
	w, err := models.FindWorkspace(ctx, h.product, c.Param("slug"))
	if err != nil {
		return err
	}
	owners, err := models.Owners(ctx, h.product, w.Slug)
	if err != nil {
		return err
	}
	grants, err := models.ListGrants(ctx, h.db.Read, w.Slug, 100)
	if err != nil {
		return err
	}
	view := views.WorkspaceView{Workspace: workspaceRow(w), Owners: owners, Now: h.now()}
	if view.Grants, err = h.grantRows(ctx, grants); err != nil {
		return err
	}
	rs, _, err := models.ListRequests(ctx, h.db.Read, models.RequestFilter{Workspace: w.Slug, Limit: 20})
	if err != nil {
		return err
	}
	names := h.staffNames(c)
	for _, r := range rs {
		view.Requests = append(view.Requests, requestRow(r, names, h.now()))
	}
	view.CanRequest = h.allowed(viewerOf(c), policy.RequestCreate)
	if v := viewerOf(c); h.allowed(v, policy.TenantDataRead) {
		if view.Tables, view.Live, err = h.grantedTables(ctx, v.Staff.ID, w); err != nil {
			return err
		}
	}
	if view.Retention, err = h.workspaceRetention(c, w, form, errs); err != nil {
		return err
	}
	return h.render(c, status, views.WorkspacePage(h.chrome(c, w.Name), view))
}

// workspaceRetention is the workspace page's retention card: the rule
// that applies and why, the deletion requests, and the form to record
// one. The particulars of a legal hold (its case and reason) are for
// sysadmins; others see that a hold applies.
func (h *Handler) workspaceRetention(c echo.Context, w models.Workspace, form views.DeletionForm, errs views.Errors) (views.WorkspaceRetentionView, error) {
	v := viewerOf(c)
	st, err := models.WorkspaceRetention(c.Request().Context(), h.db.Read, h.product, h.now(), h.retention, w.Slug)
	if err != nil {
		return views.WorkspaceRetentionView{}, err
	}
	out := views.WorkspaceRetentionView{
		Slug: w.Slug, Status: retentionStatusView(st), Form: form, Errors: errs, Done: c.QueryParam("done"),
		CanRecord: h.allowed(v, policy.DeletionRequest), CanManage: h.allowed(v, policy.RetentionManage), RequestOpen: st.Request != nil,
	}
	if st.Hold != nil && !out.CanManage {
		out.Status.Explanation = "A legal hold applies to this workspace: nothing is deleted and no notice is sent while it lasts. Sysadmins see its particulars."
	}
	if out.Requests, err = h.deletionRequestRows(c, w.Slug); err != nil {
		return views.WorkspaceRetentionView{}, err
	}
	return out, nil
}

// grantedTables lists the catalogued, non-restricted tables the viewer's
// live grants on workspace open, in catalog order, and those grants.
func (h *Handler) grantedTables(ctx context.Context, staffID int64, w models.Workspace) ([]string, []views.LiveGrant, error) {
	live, err := models.LiveGrants(ctx, h.db.Read, h.now(), staffID, w.Slug)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	var grants []views.LiveGrant
	for _, g := range live {
		grants = append(grants, liveGrant(g, w.Name))
		scope, err := g.Scope()
		if err != nil {
			return nil, nil, err
		}
		for _, t := range h.catalog.Tables() {
			if !t.Restricted && scope.CoversTable(t.Name) && !slices.Contains(out, t.Name) {
				out = append(out, t.Name)
			}
		}
	}
	return out, grants, nil
}

// liveGrant is g as its holder sees it, with the way to end it.
func liveGrant(g models.Grant, name string) views.LiveGrant {
	return views.LiveGrant{ID: g.ID, Workspace: g.Workspace, Name: name, EndsAt: g.EndsAt, EndHref: endHref(g)}
}

func (h *Handler) grantRows(ctx context.Context, grants []models.Grant) ([]views.GrantRow, error) {
	names := map[int64]string{}
	now := h.now()
	var out []views.GrantRow
	for _, g := range grants {
		if _, ok := names[g.GranteeID]; !ok {
			s, err := models.FindStaff(ctx, h.db.Read, g.GranteeID)
			if err != nil {
				return nil, err
			}
			names[g.GranteeID] = s.Email
		}
		r := views.GrantRow{
			ID: g.ID, Grantee: names[g.GranteeID], Scope: scopeText(g), Unmask: g.Unmask,
			StartsAt: g.StartsAt, EndsAt: g.EndsAt, EndedBy: g.EndedBy, EndedWhy: g.EndedWhy,
		}
		switch {
		case g.EndedAt != nil:
			r.State = "ended"
		case g.Live(now):
			r.State = "live"
		case now.Before(g.StartsAt):
			r.State = "scheduled"
		default:
			r.State = "expired"
		}
		out = append(out, r)
	}
	return out, nil
}

func scopeText(g models.Grant) string {
	s, err := g.Scope()
	if err != nil {
		return "unreadable scope"
	}
	return letters.ScopeWords(s)
}

func workspaceRow(w models.Workspace) views.WorkspaceRow {
	return views.WorkspaceRow{
		Slug: w.Slug, Name: w.Name, Plan: w.Plan, Status: w.Status, Members: w.MemberCount,
		LastLogin: w.LastLoginAt, Subscription: w.SubscriptionState, Renewal: w.RenewalDate,
		Created: w.CreatedAt, CancelledAt: w.CancelledAt,
	}
}
