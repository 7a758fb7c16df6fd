package handlers

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const workspacePageSize = 25

func (h *Handler) workspaceList(c echo.Context) error {
	f := models.WorkspaceFilter{
		Query:     strings.TrimSpace(c.QueryParam("q")),
		Plan:      strings.TrimSpace(c.QueryParam("plan")),
		Status:    strings.TrimSpace(c.QueryParam("status")),
		Retention: models.RetentionState(strings.TrimSpace(c.QueryParam("retention"))),
	}
	filters := url.Values{"q": {f.Query}, "plan": {f.Plan}, "status": {f.Status}, "retention": {string(f.Retention)}}
	k, errs := listKeyset(c, models.WorkspaceSorts, workspacePageSize)
	if f.Plan != "" && !slices.Contains(models.WorkspacePlans, f.Plan) {
		errs["plan"] = "Choose a plan from the list."
	}
	if f.Status != "" && !slices.Contains(models.WorkspaceStatuses, f.Status) {
		errs["status"] = "Choose a status from the list."
	}
	if f.Retention != "" && !slices.Contains(models.RetentionStates(), f.Retention) {
		errs["retention"] = "Choose a retention state from the list."
	}
	if len(f.Query) > 200 {
		errs[""] = "Search for at most 200 characters."
	}
	if n := utf8.RuneCountInString(f.Query); n > 0 && n < models.SearchMinLen {
		// The search's indexes find substrings of 3 characters or more.
		errs[""] = "Search for at least 3 characters of a name, slug or owner's email."
	}
	view := views.WorkspaceListView{
		Query: f.Query, Plan: f.Plan, Status: f.Status, Retention: string(f.Retention),
		Plans: models.WorkspacePlans, Statuses: models.WorkspaceStatuses, Errors: errs,
	}
	for _, s := range models.RetentionStates() {
		view.Retentions = append(view.Retentions, string(s))
	}
	list := models.WorkspaceList{DB: h.db.Read, Product: h.product, Now: h.now(), Policy: h.retention, Scope: scopeOf(c), Sample: h.search}
	page, nav, status, err := readList(errs, "/workspaces", filters, models.WorkspaceSorts, k, func() (models.Page[models.Workspace], models.Count, error) {
		return list.Page(c.Request().Context(), f, k)
	})
	if err != nil {
		return err
	}
	view.Nav = nav
	for _, w := range page.Rows {
		view.Rows = append(view.Rows, workspaceRow(w))
	}
	return h.render(c, status, views.WorkspaceList(h.chrome(c, "Workspaces"), view))
}

func (h *Handler) workspaceShow(c echo.Context) error {
	return h.renderWorkspace(c, http.StatusOK, views.DeletionForm{}, nil)
}

// renderWorkspace shows a workspace's page; form and errs are the
// deletion-request form's values and messages after a refused POST.
func (h *Handler) renderWorkspace(c echo.Context, status int, form views.DeletionForm, errs views.Errors) error {
	ctx := c.Request().Context()
	w, err := models.FindWorkspaceIn(ctx, h.product, scopeOf(c), c.Param("slug"))
	if err != nil {
		return err
	}
	owners, err := models.Owners(ctx, h.product, w.Slug)
	if err != nil {
		return err
	}
	grants, err := models.ListGrantEndings(ctx, h.db.Read, w.Slug, 100)
	if err != nil {
		return err
	}
	view := views.WorkspaceView{Workspace: workspaceRow(w), Owners: owners, Now: h.now()}
	if view.Grants, err = h.grantRows(ctx, grants); err != nil {
		return err
	}
	rs, _, err := models.ListRequests(ctx, h.db.Read, models.RequestFilter{Workspace: w.Slug, Now: h.now(), Limit: 20})
	if err != nil {
		return err
	}
	if view.Requests, err = h.requestRows(c, rs); err != nil {
		return err
	}
	view.CanRequest = h.allowed(viewerOf(c), policy.RequestCreate)
	if w.Status == models.WorkspaceDeleted {
		if view.DeletedAt, err = h.deletedAt(ctx, w); err != nil {
			return err
		}
	}
	if v := viewerOf(c); h.allowed(v, policy.TenantDataRead) {
		if view.Tables, view.Live, err = h.grantedTables(ctx, v.Staff.ID, w); err != nil {
			return err
		}
	}
	if view.Retention, err = h.workspaceRetention(c, w, form, errs); err != nil {
		return err
	}
	if h.allowed(viewerOf(c), policy.AuditRead) {
		if view.Reach, err = h.workspaceReach(ctx, w); err != nil {
			return err
		}
	}
	return h.render(c, status, views.WorkspacePage(h.chrome(c, formTitle(w.Name, errs)), view))
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

// deletedAt is when deleted workspace w was deleted: retention's record
// of it, or, for one the registry marks deleted without it, its last
// change we know of (never zero, so the page still says it was deleted).
func (h *Handler) deletedAt(ctx context.Context, w models.Workspace) (*time.Time, error) {
	rec, err := models.FindRetentionRecord(ctx, h.db.Read, w.Slug)
	if err != nil {
		return nil, err
	}
	if rec.DeletedAt != nil {
		return rec.DeletedAt, nil
	}
	t := rec.UpdatedAt
	if t.IsZero() {
		t = w.CreatedAt
	}
	return &t, nil
}

func (h *Handler) grantRows(ctx context.Context, grants []models.GrantListing) ([]views.GrantRow, error) {
	names := map[int64]string{}
	now := h.now()
	var out []views.GrantRow
	for _, gl := range grants {
		g := gl.Grant
		if _, ok := names[g.GranteeID]; !ok {
			s, err := models.FindStaff(ctx, h.db.Read, g.GranteeID)
			if err != nil {
				return nil, err
			}
			names[g.GranteeID] = s.Email
		}
		r := views.GrantRow{
			ID: g.ID, Grantee: names[g.GranteeID], Scope: scopeText(g), Unmask: g.Unmask,
			StartsAt: g.StartsAt, EndsAt: g.EndsAt, End: endView(gl.Ending(now)),
		}
		switch {
		case r.End != nil:
			r.State = "ended"
		case g.Live(now):
			r.State = "live"
		default:
			r.State = "scheduled"
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
