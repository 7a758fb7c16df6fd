package handlers

import (
	"fmt"
	"net/http"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// roleNames lists every role a staff member may be given: the built-in
// tiers, then the custom roles.
func roleNames(roles *policy.Roles) []string {
	var out []string
	for _, t := range roles.Names() {
		out = append(out, string(t))
	}
	return out
}

// permissionCodes writes permissions as their "object:action" codes.
func permissionCodes(ps []policy.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// roleRow is role as the roles pages show it, from the request's snapshot.
func roleRow(roles *policy.Roles, role policy.Tier, holders map[policy.Tier]int64) views.RoleRow {
	r := views.RoleRow{Name: string(role), BuiltIn: role.Valid(), Permissions: permissionCodes(roles.Permissions(role)), Holders: holders[role]}
	if d, ok := roles.Role(role); ok {
		r.Description, r.Scope = d.Description, d.Scope
	}
	return r
}

func (h *Handler) roleList(c echo.Context) error {
	return h.renderRoleList(c, http.StatusOK, views.RoleForm{Permissions: []string{policy.PortalEnter.String()}}, nil)
}

// renderRoleList shows every role, read from the request's snapshot (so
// as every check of this request sees them), with form and its errors.
func (h *Handler) renderRoleList(c echo.Context, status int, form views.RoleForm, errs views.Errors) error {
	v := viewerOf(c)
	holders, err := models.CountHolders(c.Request().Context(), h.db.Read)
	if err != nil {
		return err
	}
	view := views.RoleListView{
		Catalogue:   permissionCodes(policy.All),
		Form:        form,
		Errors:      errs,
		CanCreate:   h.allowed(v, policy.StaffManage),
		Fresh:       v.Session.SignedInWithin(h.now(), h.stepUpWindow),
		Description: policy.MaxRoleDescription,
	}
	for _, role := range v.Roles.Names() {
		view.Roles = append(view.Roles, roleRow(v.Roles, role, holders))
	}
	return h.render(c, status, views.RoleList(h.chrome(c, formTitle("Roles", errs)), view))
}

func (h *Handler) roleShow(c echo.Context) error {
	return h.renderRole(c, http.StatusOK, nil, nil)
}

// renderRole shows the role named in the path; form, when not nil, is
// what a change sent, shown again with errs.
func (h *Handler) renderRole(c echo.Context, status int, form *views.RoleForm, errs views.Errors) error {
	return h.renderRoleWith(c, status, form, errs, "")
}

// renderRoleWith is renderRole with the reason a proposed deletion sent.
func (h *Handler) renderRoleWith(c echo.Context, status int, form *views.RoleForm, errs views.Errors, deleteReason string) error {
	ctx, v := c.Request().Context(), viewerOf(c)
	role := policy.Tier(c.Param("name"))
	if !v.Roles.Known(role) {
		return fmt.Errorf("role %q: %w", role, models.ErrNotFound)
	}
	holders, err := models.ActiveStaffOfTier(ctx, h.db.Read, role)
	if err != nil {
		return err
	}
	row := roleRow(v.Roles, role, map[policy.Tier]int64{role: int64(len(holders))})
	view := views.RoleView{
		Role:         row,
		Catalogue:    permissionCodes(policy.All),
		Errors:       errs,
		Done:         c.QueryParam("done"),
		CanChange:    !row.BuiltIn && h.allowed(v, policy.StaffManage),
		DeleteReason: deleteReason,
		Fresh:        v.Session.SignedInWithin(h.now(), h.stepUpWindow),
		Description:  policy.MaxRoleDescription,
		Form:         views.RoleForm{Name: row.Name, Description: row.Description, Permissions: row.Permissions, Scope: row.Scope},
	}
	if form != nil {
		view.Form = *form
	}
	for _, s := range holders {
		view.Holders = append(view.Holders, h.staffRow(s))
	}
	return h.render(c, status, views.RolePage(h.chrome(c, formTitle(row.Name, errs)), view))
}
