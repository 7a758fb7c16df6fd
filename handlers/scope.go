package handlers

import (
	"strings"

	"gatehouse/models"
	"gatehouse/policy"

	"github.com/labstack/echo/v4"
)

// scopeOf is the scope of the request's staff member (models.ScopeOf);
// without one, no workspace (fail closed).
func scopeOf(c echo.Context) policy.Scope {
	v := viewerOf(c)
	if v == nil {
		return policy.NoWorkspaces()
	}
	return models.ScopeOf(v.Staff)
}

// inScope guards every route naming a workspace (:slug): a workspace the
// viewer's scope does not admit is not found, as one that does not exist.
// It runs after authorize, so a route the viewer may not use at all stays
// 403. An unknown workspace passes on, for the handler's own 404.
func (h *Handler) inScope(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sc := scopeOf(c)
		if sc.Unrestricted() {
			return next(c)
		}
		if _, err := models.FindWorkspaceIn(c.Request().Context(), h.product, sc, c.Param("slug")); err != nil {
			return err
		}
		return next(c)
	}
}

// workspaceInScope is nil when the viewer's scope admits workspace slug,
// else ErrNotFound (404): for pages reached by an id (a request, a
// break-glass) whose workspace is outside the scope.
func (h *Handler) workspaceInScope(c echo.Context, slug string) error {
	sc := scopeOf(c)
	if sc.Unrestricted() {
		return nil
	}
	_, err := models.FindWorkspaceIn(c.Request().Context(), h.product, sc, slug)
	return err
}

// namesWorkspace reports whether a route's path names a workspace that
// inScope guards. The data routes are left to the data API, which refuses
// a workspace outside the scope itself (404) and records the refusal, as
// it does every other.
func namesWorkspace(path string) bool {
	return strings.Contains(path, "/:slug") && !strings.Contains(path, "/data/")
}

// staffScope sets a staff member's scope from the form's scope field.
// Until scope changes go through proposals (two sysadmins), a sysadmin
// sets it directly, after a fresh sign-in.
func (h *Handler) staffScope(c echo.Context) error {
	return h.staffChange(c, "scope", func(id int64, by models.Actor) (string, error) {
		text := c.FormValue("scope")
		if len(text) > 500 {
			return "scope", models.Invalid("scope", "Enter a scope of at most 500 characters.")
		}
		return "scope", models.SetStaffScope(c.Request().Context(), h.db.Write, h.product, models.Act{Now: h.now(), By: by}, id, text)
	})
}
