package handlers

import (
	"errors"
	"net/http"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// The workspace owner's transparency report link. Like the consent link
// it needs no login (its token is the credential), sends the same
// headers and follows the same rules: GET and HEAD only show (a GET
// records that the page was shown, up to linkViews per address);
// turning the mail off is a POST from the page; unknown or expired
// tokens count against the client address, which gets 429 once it has
// too many.

func (h *Handler) transparencyShow(c echo.Context) error {
	h.consentHeaders(c)
	ip, now := c.RealIP(), h.now()
	ctx := c.Request().Context()
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	v, err := models.OpenTransparencyLink(ctx, h.db.Read, now, c.Param("token"))
	if errors.Is(err, models.ErrBadToken) {
		ch.fail()
		return h.render(c, http.StatusNotFound, views.TransparencyLinkInvalid(h.transparencyChrome(c)))
	}
	if err != nil {
		return err
	}
	if err := h.recordLinkShown(c, now, func() error {
		return models.AuditTransparencyShown(ctx, h.db.Write, now, v, ip, c.Request().UserAgent())
	}); err != nil {
		return err
	}
	return h.renderTransparency(c, http.StatusOK, v, views.TransparencyLinkView{Done: c.QueryParam("done") == "mail-off" && v.MailOff})
}

func (h *Handler) transparencyMailOff(c echo.Context) error {
	h.consentHeaders(c)
	now := h.now()
	ctx := c.Request().Context()
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	token := c.Param("token")
	_, err = models.TurnTransparencyMailOff(ctx, h.db.Write, now, models.TransparencyLinkInput{Token: token, IP: c.RealIP(), UserAgent: c.Request().UserAgent()})
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, "/transparency/"+token+"?done=mail-off")
	case errors.Is(err, models.ErrBadToken):
		ch.fail()
		return h.render(c, http.StatusNotFound, views.TransparencyLinkInvalid(h.transparencyChrome(c)))
	case errors.Is(err, models.ErrConflict):
		v, err := models.OpenTransparencyLink(ctx, h.db.Read, now, token)
		if err != nil {
			return err
		}
		return h.renderTransparency(c, http.StatusConflict, v, views.TransparencyLinkView{Problem: "The report mail is already off for you. Nothing was changed."})
	}
	return err
}

func (h *Handler) transparencyChrome(c echo.Context) views.Chrome {
	ch := h.chrome(c, "Who accessed your workspace")
	ch.Viewer, ch.Nav = nil, nil
	return ch
}

// renderTransparency shows the owner v's report and the mail setting.
func (h *Handler) renderTransparency(c echo.Context, status int, v models.TransparencyLinkView, page views.TransparencyLinkView) error {
	name := v.Report.Workspace
	ws, err := models.FindWorkspace(c.Request().Context(), h.product, v.Report.Workspace)
	switch {
	case err == nil:
		name = ws.Name
	case !errors.Is(err, models.ErrNotFound):
		return err
	}
	page.Report = h.letters.TransparencyReport(v.Report, v.Figures, name)
	page.Token, page.Recipient, page.MailOff = c.Param("token"), v.Link.Recipient, v.MailOff
	return h.render(c, status, views.TransparencyLinkPage(h.transparencyChrome(c), page))
}
