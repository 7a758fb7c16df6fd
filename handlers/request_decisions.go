package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// requestID parses :id, or answers 404.
func requestID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("request %q: %w", models.Clip(c.Param("id")), models.ErrNotFound)
	}
	return id, nil
}

func (h *Handler) requestApprove(c echo.Context) error { return h.requestDecide(c, true) }
func (h *Handler) requestDeny(c echo.Context) error    { return h.requestDecide(c, false) }

func (h *Handler) requestDecide(c echo.Context, approve bool) error {
	ctx := c.Request().Context()
	id, err := requestID(c)
	if err != nil {
		return err
	}
	note := c.FormValue("note")
	r, err := models.FindRequest(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	ws, err := models.FindWorkspace(ctx, h.product, r.Workspace)
	if err != nil {
		return err
	}
	// The model refuses (404) an approver whose scope does not admit it.
	d := models.Decision{Request: id, Approve: approve, Approver: viewerOf(c).Staff, Note: note, Attributes: ws.Attributes()}
	if approve {
		if d.Owners, err = models.Owners(ctx, h.product, r.Workspace); err != nil {
			return err
		}
	}
	post, err := h.post(ctx, r.Workspace)
	if err != nil {
		return err
	}
	_, err = models.DecideRequest(ctx, h.db.Write, h.act(c), post, h.requests, d)
	done := "denied"
	if approve {
		done = "approved"
	}
	return h.afterRequestAction(c, id, note, done, err)
}

// afterRequestAction answers a request form: 303 back to the request,
// which confirms what was done (a key of flashes), or its page again with
// what went wrong.
func (h *Handler) afterRequestAction(c echo.Context, id int64, note, done string, err error) error {
	var fe models.FieldErrors
	switch {
	case err == nil:
		h.setFlash(c, done)
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/requests/%d", id))
	case errors.As(err, &fe):
		// The page shows the message, and the note, at the form sent.
		form := noteForms[done]
		errs := views.Errors{}
		for k, m := range fe {
			if k == "note" && form != "" {
				k = form
			}
			errs[k] = m
		}
		return h.renderRequestWith(c, http.StatusUnprocessableEntity, actionForm{note: note, form: form}, errs)
	case errors.Is(err, models.ErrTwoPerson):
		return fmt.Errorf("%w: %w", policy.ErrDenied, echo.NewHTTPError(http.StatusForbidden, "A request is decided by a senior who is neither its requester nor its grantee."))
	case errors.Is(err, models.ErrConflict):
		return h.renderRequestWith(c, http.StatusConflict, actionForm{note: note, form: noteForms[done]}, views.Errors{"": conflictText(err)})
	}
	return err
}

// noteForms names the action form of each action's confirmation: the
// decision form is "".
var noteForms = map[string]string{"approved": "", "denied": "", "cancelled": "cancel", "done": "done", "revoked": "revoke"}

func (h *Handler) requestCancel(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	note := c.FormValue("note")
	ctx := c.Request().Context()
	r, err := models.FindRequest(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	post, err := h.post(ctx, r.Workspace)
	if err != nil {
		return err
	}
	_, err = models.CancelRequest(ctx, h.db.Write, h.act(c), post, models.Cancellation{Request: id, Requester: viewerOf(c).Staff, Note: note})
	return h.afterRequestAction(c, id, note, "cancelled", err)
}

func (h *Handler) requestDone(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := requestID(c)
	if err != nil {
		return err
	}
	r, err := models.FindRequest(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	if r.GranteeID != viewerOf(c).Staff.ID {
		return fmt.Errorf("%w: only the grantee closes their own access", policy.ErrDenied)
	}
	note := c.FormValue("note")
	_, err = models.EndRequestGrant(ctx, h.db.Write, h.act(c), id, note, models.ActionGrantDone)
	return h.afterRequestAction(c, id, note, "done", err)
}

func (h *Handler) requestRevoke(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	note := c.FormValue("note")
	_, err = models.EndRequestGrant(c.Request().Context(), h.db.Write, h.act(c), id, note, models.ActionGrantRevoked)
	return h.afterRequestAction(c, id, note, "revoked", err)
}
