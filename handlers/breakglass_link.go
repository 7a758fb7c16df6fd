package handlers

import (
	"errors"
	"net/http"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// The workspace owner's break-glass link. Like the consent link it needs
// no login (its token is the credential), sends the same headers, and
// follows the same rules: GET and HEAD only show (a GET records that the
// page was shown, up to linkViews per address); ending is a POST from
// the page; unknown or expired tokens and bad forms count against the
// client address, which gets 429 once it has too many.

func (h *Handler) breakglassLinkShow(c echo.Context) error {
	h.consentHeaders(c)
	ip, now := c.RealIP(), h.now()
	ctx := c.Request().Context()
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	v, err := models.OpenBreakglassLink(ctx, h.db.Read, now, c.Param("token"))
	if errors.Is(err, models.ErrBadToken) {
		ch.fail()
		return h.render(c, http.StatusNotFound, views.BreakglassLinkInvalid(h.breakglassLinkChrome(c)))
	}
	if err != nil {
		return err
	}
	if _, err := linkViewedPaging(c); err != nil {
		return err
	}
	if err := h.recordLinkShown(c, now, func() error {
		return models.AuditBreakglassLinkShown(ctx, h.db.Write, now, v, ip, c.Request().UserAgent())
	}); err != nil {
		return err
	}
	return h.renderBreakglassLink(c, http.StatusOK, v, views.BreakglassLinkView{})
}

func (h *Handler) breakglassLinkEnd(c echo.Context) error {
	h.consentHeaders(c)
	ip, now := c.RealIP(), h.now()
	ctx := c.Request().Context()
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	token := c.Param("token")
	invalid := func() error {
		ch.fail()
		return h.render(c, http.StatusNotFound, views.BreakglassLinkInvalid(h.breakglassLinkChrome(c)))
	}
	v, err := models.OpenBreakglassLink(ctx, h.db.Read, now, token)
	if errors.Is(err, models.ErrBadToken) {
		return invalid()
	}
	if err != nil {
		return err
	}
	post, err := h.post(ctx, v.Use.Workspace)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	note := c.FormValue("note")
	_, err = models.EndBreakglassByLink(ctx, h.db.Write, now, post, models.BreakglassLinkInput{Token: token, Note: note, IP: ip, UserAgent: c.Request().UserAgent()})
	if errs := breakglassErrors(err); len(errs) > 0 {
		ch.fail()
		return h.renderBreakglassLink(c, http.StatusUnprocessableEntity, v, views.BreakglassLinkView{Errors: errs, Note: note})
	}
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, "/emergency/"+token)
	case errors.Is(err, models.ErrBadToken):
		return invalid()
	case errors.Is(err, models.ErrConflict):
		if v, err = models.OpenBreakglassLink(ctx, h.db.Read, now, token); err != nil {
			return invalid()
		}
		return h.renderBreakglassLink(c, http.StatusConflict, v, views.BreakglassLinkView{Problem: "This access has already ended. Nothing was changed; the page shows where it stands now."})
	}
	return err
}

func (h *Handler) breakglassLinkChrome(c echo.Context) views.Chrome {
	ch := h.chrome(c, "Emergency access to your workspace")
	ch.Viewer, ch.Nav = nil, nil
	return ch
}

// renderBreakglassLink shows the owner v: the access, what was viewed
// under it, and the end button while it is open. page brings the form's
// values and messages.
func (h *Handler) renderBreakglassLink(c echo.Context, status int, v models.BreakglassLinkView, page views.BreakglassLinkView) error {
	ctx, now := c.Request().Context(), h.now()
	u := v.Use
	name := u.Workspace
	ws, err := models.FindWorkspace(ctx, h.product, u.Workspace)
	switch {
	case err == nil:
		name = ws.Name
	case !errors.Is(err, models.ErrNotFound):
		return err
	}
	page.Token, page.Company, page.Workspace, page.Name, page.Recipient = c.Param("token"), h.company, u.Workspace, name, v.Link.Recipient
	page.Opener, page.OpenerTier = u.Opener.Name, string(u.Opener.Tier)
	page.Incident, page.Justification, page.OpenedAt, page.EndsAt = u.Incident, u.Justification, u.OpenedAt, u.EndsAt
	page.Open = v.CanEnd(now)
	if g := u.Grant; g != nil {
		if g.EndedAt != nil && g.EndedAt.Before(g.EndsAt) {
			page.EndedAt, page.EndedBy, page.EndedWhy = *g.EndedAt, g.EndedBy, g.EndedWhy
		}
		if page.Viewed, err = h.linkViewed(c, *g); err != nil {
			return err
		}
	}
	return h.render(c, status, views.BreakglassLinkPage(h.breakglassLinkChrome(c), page))
}
