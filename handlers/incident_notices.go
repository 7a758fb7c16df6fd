package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// noticeDraft saves a notice for a second sysadmin's approval: 303 back,
// 422 with the messages.
func (h *Handler) noticeDraft(c echo.Context) error {
	id, err := incidentID(c, "id")
	if err != nil {
		return err
	}
	body := c.FormValue("body")
	_, err = models.DraftNotice(c.Request().Context(), h.db.Write, h.act(c), id, viewerOf(c).Staff.ID, body)
	if fe := (models.FieldErrors{}); errors.As(err, &fe) {
		return h.renderIncident(c, http.StatusUnprocessableEntity, id, views.IncidentView{Errors: views.Errors(fe), NoticeBody: body})
	}
	if err != nil {
		return incidentRefusal(err)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/incidents/%d?done=notice", id))
}

// noticePreview shows a notice as one owner of one affected workspace
// (the query's workspace, else the first) will read it: the same view
// and text the mail is made of, with a placeholder for the link.
func (h *Handler) noticePreview(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := incidentID(c, "id")
	if err != nil {
		return err
	}
	nid, err := incidentID(c, "notice")
	if err != nil {
		return err
	}
	inc, err := models.FindIncident(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	n, err := models.FindNotice(ctx, h.db.Read, id, nid)
	if err != nil {
		return err
	}
	ws, err := inc.Workspaces()
	if err != nil {
		return err
	}
	if len(ws) == 0 {
		return fmt.Errorf("incident %d has no affected workspace to preview: %w", id, models.ErrNotFound)
	}
	w := ws[0]
	if slug := c.QueryParam("workspace"); slug != "" {
		i := -1
		for j := range ws {
			if ws[j].Slug == slug {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("workspace %q is not affected by incident %d: %w", slug, id, models.ErrNotFound)
		}
		w = ws[i]
	}
	owners, err := models.Owners(ctx, h.product, w.Slug)
	if err != nil {
		return err
	}
	to := "(this workspace has no owner to write to)"
	if len(owners) > 0 {
		to = strings.Join(owners, ", ")
	}
	earlier := 0
	notices, err := models.ListNotices(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	for _, o := range notices {
		if o.Approved() && o.ID != n.ID && (!n.Approved() || !o.ApprovedAt.After(*n.ApprovedAt)) {
			earlier++
		}
	}
	m := letters.IncidentMailView(h.company, inc, n, w, earlier > 0)
	// Each owner's own link; "…" stands for its token (unescaped, so the
	// preview reads as a placeholder, not as an address).
	m.LinkURL = h.baseURL.JoinPath("/incident-notice").String() + "/…"
	page := views.NoticePreviewView{Incident: id, Notice: nid, Recipient: to, Mail: m, Text: views.IncidentMailText(m), Workspaces: affectedRows(ws)}
	return h.render(c, http.StatusOK, views.NoticePreview(h.chrome(c, fmt.Sprintf("Preview of notice %d", nid)), page))
}

// noticeApprove approves a notice written by another sysadmin and sends
// it to every owner of every affected workspace: 303 back; 403 for its
// author; 409 when another approval came first.
func (h *Handler) noticeApprove(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := incidentID(c, "id")
	if err != nil {
		return err
	}
	nid, err := incidentID(c, "notice")
	if err != nil {
		return err
	}
	inc, err := models.FindIncident(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	ws, err := inc.Workspaces()
	if err != nil {
		return err
	}
	owners := map[string][]string{}
	for _, w := range ws {
		if owners[w.Slug], err = models.Owners(ctx, h.product, w.Slug); err != nil {
			return err
		}
	}
	post := models.Post{Outbox: h.outbox, Letters: h.letters}
	_, err = models.ApproveNotice(ctx, h.db.Write, h.act(c), post, models.NoticeApproval{Incident: id, Notice: nid, ApproverID: viewerOf(c).Staff.ID, Owners: owners})
	if err != nil {
		return incidentRefusal(err)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/incidents/%d?done=approved", id))
}

// incidentContain ends the sessions and grants of the named staff, or of
// everyone: 303 back (to the login page when the sysadmin's own session
// ended), 422 with the messages.
func (h *Handler) incidentContain(c echo.Context) error {
	id, err := incidentID(c, "id")
	if err != nil {
		return err
	}
	staff := c.FormValue("staff")
	in := models.Containment{Incident: id, ByID: viewerOf(c).Staff.ID, Everyone: c.FormValue("everyone") == "on", Note: c.FormValue("note")}
	var errs views.Errors
	list := splitList(staff)
	if len(list) > incidentFormMax {
		errs = views.Errors{"staff": fmt.Sprintf("Name at most %d staff members at a time.", incidentFormMax)}
	}
	for _, e := range list {
		email, err := models.NormalizeEmail(e)
		if err != nil {
			errs = views.Errors{"staff": fmt.Sprintf("%q is not an email address.", e)}
			break
		}
		in.Emails = append(in.Emails, email)
	}
	if errs == nil {
		_, err = models.Contain(c.Request().Context(), h.db.Write, h.act(c), in)
		if fe := (models.FieldErrors{}); errors.As(err, &fe) {
			errs = views.Errors(fe)
		} else if err != nil {
			return incidentRefusal(err)
		}
	}
	if errs != nil {
		return h.renderIncident(c, http.StatusUnprocessableEntity, id, views.IncidentView{Errors: errs, Contain: staff})
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/incidents/%d?done=contained", id))
}

// incidentClose records the post-mortem and closes the incident: 303
// back, 422 with the message, 409 when it is already closed.
func (h *Handler) incidentClose(c echo.Context) error {
	id, err := incidentID(c, "id")
	if err != nil {
		return err
	}
	pm := c.FormValue("postmortem")
	err = models.CloseIncident(c.Request().Context(), h.db.Write, h.act(c), id, viewerOf(c).Staff.ID, pm)
	if fe := (models.FieldErrors{}); errors.As(err, &fe) {
		return h.renderIncident(c, http.StatusUnprocessableEntity, id, views.IncidentView{Errors: views.Errors(fe), Draft: pm})
	}
	if err != nil {
		return incidentRefusal(err)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/incidents/%d?done=closed", id))
}

// incidentLinkShow is an owner's notice, through the link in their
// mail. Like the consent link it needs no login (the token is the
// credential), sends the same headers, and a GET records that it was
// shown (up to linkViews per address); unknown or expired tokens count
// against the client address. It changes nothing else.
func (h *Handler) incidentLinkShow(c echo.Context) error {
	h.consentHeaders(c)
	ip, now := c.RealIP(), h.now()
	ctx := c.Request().Context()
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	chrome := h.chrome(c, "A security notice about your workspace")
	chrome.Viewer, chrome.Nav = nil, nil
	v, err := models.OpenIncidentLink(ctx, h.db.Read, now, c.Param("token"))
	if errors.Is(err, models.ErrBadToken) {
		ch.fail()
		return h.render(c, http.StatusNotFound, views.IncidentLinkInvalid(chrome))
	}
	if err != nil {
		return err
	}
	if err := h.recordLinkShown(c, now, func() error {
		return models.AuditIncidentLinkShown(ctx, h.db.Write, now, v, ip, c.Request().UserAgent())
	}); err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.IncidentLinkPage(chrome, letters.IncidentMailView(h.company, v.Incident, v.Notice, v.Workspace, v.FollowUp)))
}
