package handlers

import (
	"net/http"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// dashboard is the first page after sign-in: who you are, what your tier
// lets you do, and what needs attention.
func (h *Handler) dashboard(c echo.Context) error {
	v := viewerOf(c)
	ctx := c.Request().Context()
	page := views.DashboardView{
		Name: v.Staff.Name, Tier: string(v.Staff.Tier),
		AgreementMissing: !v.Staff.AgreementCurrent(h.opts.AgreementVersion),
		AgreementVersion: h.opts.AgreementVersion,
		SignedInAt:       v.Session.CreatedAt,
		ExpiresAt:        v.Session.CreatedAt.Add(h.opts.Sessions.Absolute),
		WorkspaceCount:   -1,
	}
	for _, p := range policy.All {
		if h.allowed(v, p) {
			page.Can = append(page.Can, p.String())
		}
	}
	if h.allowed(v, policy.WorkspaceMetaRead) {
		n, err := models.CountWorkspaces(ctx, h.product)
		if err != nil {
			return err
		}
		page.WorkspaceCount = n
	}
	if h.allowed(v, policy.StaffManage) {
		counts, err := models.CountStaff(ctx, h.db.Read, h.opts.AgreementVersion)
		if err != nil {
			return err
		}
		sc := views.StaffCounts(counts)
		page.Staff = &sc
	}
	return h.render(c, http.StatusOK, views.Dashboard(h.chrome(c, "Dashboard"), page))
}
