package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// Customer deletion requests: staff record one from the workspace page,
// each owner is mailed a link, and the owners confirm or cancel it on the
// page behind the link. Like the consent page it needs no login (the
// link's token is the credential), a GET only shows (and records that it
// was shown), and failures count against the client address.

// deletionRequestCreate records a customer's deletion request and mails
// the owners: 303 to the workspace page, or 422 with the form's messages.
func (h *Handler) deletionRequestCreate(c echo.Context) error {
	ctx := c.Request().Context()
	w, err := models.FindWorkspace(ctx, h.product, c.Param("slug"))
	if err != nil {
		return err
	}
	form := views.DeletionForm{Note: strings.TrimSpace(c.FormValue("note"))}
	post := models.Post{Outbox: h.outbox, Letters: h.letters}
	_, err = models.CreateDeletionRequest(ctx, h.db.Write, h.product, h.act(c), post,
		models.NewDeletionRequest{Slug: w.Slug, Requester: viewerOf(c).Staff, Note: form.Note, Valid: h.retention.DeletionRequestValid})
	var fe models.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.renderWorkspace(c, http.StatusUnprocessableEntity, form, views.Errors(fe))
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/workspaces/"+url.PathEscape(w.Slug)+"?done=deletion-requested#workspace-retention")
}

func (h *Handler) deletionShow(c echo.Context) error {
	h.consentHeaders(c)
	ip, now := c.RealIP(), h.now()
	ctx := c.Request().Context()
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	v, err := models.OpenDeletionLink(ctx, h.db.Read, now, c.Param("token"))
	if errors.Is(err, models.ErrBadToken) {
		ch.fail()
		return h.render(c, http.StatusNotFound, views.DeletionInvalid(h.consentChrome(c)))
	}
	if err != nil {
		return err
	}
	if err := h.recordLinkShown(c, now, func() error {
		return models.AuditDeletionShown(ctx, h.db.Write, now, v, ip, c.Request().UserAgent())
	}); err != nil {
		return err
	}
	return h.renderDeletion(c, http.StatusOK, v, "")
}

// deletionDecide confirms or cancels through a link: 303 back to the
// page; 404 for a bad link; 409 when the request can no longer take that
// decision; 422 for anything but confirm or cancel.
func (h *Handler) deletionDecide(c echo.Context) error {
	h.consentHeaders(c)
	ip, now := c.RealIP(), h.now()
	ctx, token := c.Request().Context(), c.Param("token")
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	v, err := models.OpenDeletionLink(ctx, h.db.Read, now, token)
	if errors.Is(err, models.ErrBadToken) {
		ch.fail()
		return h.render(c, http.StatusNotFound, views.DeletionInvalid(h.consentChrome(c)))
	}
	if err != nil {
		return err
	}
	switch c.FormValue("decision") {
	case "confirm":
		// Only a current owner confirms: someone removed as an owner
		// since the mail no longer decides for the workspace. (Cancelling
		// stays open to every link: stopping a deletion is always safe.)
		owners, oerr := models.Owners(ctx, h.product, v.Request.Slug)
		if oerr != nil {
			return oerr
		}
		if !slices.Contains(owners, v.Link.Recipient) {
			return h.renderDeletion(c, http.StatusForbidden, v, "This address is no longer an owner of the workspace, so it cannot confirm the deletion.")
		}
		w, werr := models.FindWorkspace(ctx, h.product, v.Request.Slug)
		if werr != nil {
			return werr
		}
		_, err = models.ConfirmDeletion(ctx, h.db.Write, now, token, ip, w.MemberCount)
	case "cancel":
		_, err = models.CancelDeletion(ctx, h.db.Write, now, token, ip)
	default:
		ch.fail()
		return h.renderDeletion(c, http.StatusUnprocessableEntity, v, "Choose confirm or cancel.")
	}
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, "/deletion/"+token)
	case errors.Is(err, models.ErrBadToken):
		ch.fail()
		return h.render(c, http.StatusNotFound, views.DeletionInvalid(h.consentChrome(c)))
	case errors.Is(err, models.ErrConflict):
		if v, err = models.OpenDeletionLink(ctx, h.db.Read, now, token); err != nil {
			return h.render(c, http.StatusNotFound, views.DeletionInvalid(h.consentChrome(c)))
		}
		return h.renderDeletion(c, http.StatusConflict, v, "This request can no longer take that decision. The page shows where it stands now.")
	}
	return err
}

// deletionStatusWords word where a deletion request stands; a pending
// one the page words itself, with its deadline.
var deletionStatusWords = map[models.DeletionStatus]string{
	models.DeletionConfirmed: "Confirmed. The workspace will be deleted by our administrators; until then you can still cancel.",
	models.DeletionCancelled: "Cancelled. Nothing will be deleted.",
	models.DeletionExpired:   "Expired without enough confirmations. Nothing will be deleted.",
	models.DeletionDone:      "Done. The workspace and its data have been deleted.",
}

func (h *Handler) renderDeletion(c echo.Context, status int, v models.DeletionLinkView, problem string) error {
	ctx, now := c.Request().Context(), h.now()
	w, err := models.FindWorkspace(ctx, h.product, v.Request.Slug)
	if err != nil {
		return err
	}
	page := views.DeletionView{
		Token: c.Param("token"), Company: h.company, Workspace: w.Slug, Name: w.Name, Recipient: v.Link.Recipient,
		Note: v.Request.Note, Created: v.Request.CreatedAt, Expires: v.Request.ExpiresAt,
		Status: deletionStatusWords[v.Request.StatusAt(now)], Got: v.Confirmed(),
		Needed:  v.Request.NeededConfirmations,
		Members: w.MemberCount, ConfirmedByYou: v.Link.ConfirmedAt != nil,
		CanConfirm: v.CanConfirm(now), CanCancel: v.CanCancel(now), Error: problem,
	}
	if v.Request.StatusAt(now) == models.DeletionPending {
		// As ConfirmDeletion will count them: by the members there are now.
		page.Needed = max(page.Needed, models.NeededConfirmations(w.MemberCount))
	}
	for _, l := range v.Links {
		if l.ConfirmedAt != nil {
			page.Confirmed = append(page.Confirmed, views.DeletionLinkRow{Recipient: l.Recipient, ConfirmedAt: l.ConfirmedAt})
		}
	}
	ch := h.consentChrome(c)
	ch.Title = "Deleting your workspace"
	return h.render(c, status, views.DeletionPage(ch, page))
}
