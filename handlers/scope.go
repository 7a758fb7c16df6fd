package handlers

import (
	"errors"
	"fmt"
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
	return models.ScopeOf(v.Staff, v.Roles)
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

// staffScope proposes a new scope for a staff member (the two-person
// rule, as for a role change): nothing changes until another sysadmin
// approves it on the proposal's page, where this answers 303.
func (h *Handler) staffScope(c echo.Context) error {
	return h.staffChangeTo(c, func(id int64, by models.Actor) (string, string, error) {
		text := strings.TrimSpace(c.FormValue("scope"))
		if len(text) > 500 {
			return "scope", "", models.Invalid("scope", "Enter a scope of at most 500 characters.")
		}
		p, err := models.Propose(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: by}, models.ProposalInput{
			Kind:    models.KindStaffScope,
			Payload: models.StaffScopeChange{StaffID: id, Scope: text},
			Reason:  c.FormValue("reason"),
		})
		if errors.Is(err, models.ErrProposalRefused) {
			return "scope", "", fmt.Errorf("%w: %w", policy.ErrDenied, err)
		}
		return "scope", fmt.Sprintf("/proposals/%d?done=proposed", p.ID), err
	})
}
