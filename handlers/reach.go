package handlers

import (
	"context"
	"net/http"
	"net/url"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// workspaceReachPage is "who can reach this customer?" on a page of its
// own, for those who audit (auditors read no workspace pages otherwise).
func (h *Handler) workspaceReachPage(c echo.Context) error {
	ctx := c.Request().Context()
	w, err := models.FindWorkspace(ctx, h.product, c.Param("slug"))
	if err != nil {
		return err
	}
	reach, err := h.workspaceReach(ctx, w)
	if err != nil {
		return err
	}
	reach.Own = true
	return h.render(c, http.StatusOK, views.ReachPage(h.chrome(c, "Who can reach "+w.Name), workspaceRow(w), *reach))
}

// workspaceReach answers "who can reach this customer?" for w's page:
// who could read its data today and by which paths (models.WhoCanReach),
// and who did in the last 90 days (models.WhoReached), linked to their
// reads in the audit log.
func (h *Handler) workspaceReach(ctx context.Context, w models.Workspace) (*views.ReachView, error) {
	now := h.now()
	reachers, err := models.WhoCanReach(ctx, h.db.Read, h.clearance, now, w)
	if err != nil {
		return nil, err
	}
	past, err := models.WhoReached(ctx, h.db.Read, w.Slug, now.Add(-models.ReachWindow))
	if err != nil {
		return nil, err
	}
	v := &views.ReachView{Slug: w.Slug, Days: int(models.ReachWindow.Hours() / 24)}
	for _, r := range reachers {
		row := views.ReachRow{ID: r.Staff.ID, Name: r.Staff.Name, Email: r.Staff.Email, Role: string(r.Staff.Tier), Breakglass: r.Breakglass, Request: r.Request}
		for _, g := range r.Grants {
			row.GrantsEnd = append(row.GrantsEnd, g.EndsAt)
		}
		v.Now = append(v.Now, row)
	}
	for _, p := range past {
		q := url.Values{"actor": {p.Email}, "workspace": {w.Slug}, "action": {string(models.ActionDataViewed)}}
		v.Past = append(v.Past, views.PastReaderRow{Email: p.Email, Grants: p.Grants, LastRead: p.LastRead, AuditURL: "/audit?" + q.Encode()})
	}
	return v, nil
}
