package handlers

import (
	"errors"
	"net/http"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/static"
	"gatehouse/views"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// render writes a component as the whole response.
func (h *Handler) render(c echo.Context, status int, page templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return page.Render(c.Request().Context(), c.Response())
}

// navigation lists the sections the viewer may open, in menu order.
var navigation = []struct {
	label, href string
	perm        policy.Permission
}{
	{"Dashboard", "/", policy.PortalEnter},
	{"Workspaces", "/workspaces", policy.WorkspaceMetaRead},
	{"Requests", "/requests", policy.RequestRead},
	{"Audit log", "/audit", policy.AuditRead},
	{"Staff", "/staff", policy.StaffManage},
	{"Roles", "/roles", policy.StaffManage},
	{"Break-glass", "/breakglass", policy.BreakglassUse},
	{"Retention", "/retention", policy.RetentionManage},
	{"Incidents", "/incidents", policy.IncidentRead},
	{"Access reviews", "/reviews", policy.ReviewRead},
}

// chrome is what every page's layout needs: the title, the signed-in
// person and the navigation they may use.
func (h *Handler) chrome(c echo.Context, title string) views.Chrome {
	ch := views.Chrome{Title: title, CSS: static.Path("app.css"), Dev: h.dev, Path: c.Request().URL.Path, Flash: h.takeFlash(c)}
	v := viewerOf(c)
	if v == nil {
		return ch
	}
	ch.Viewer = &views.Viewer{
		Name: v.Staff.Name, Email: v.Staff.Email, Tier: string(v.Staff.Tier),
		AgreementMissing: !v.Staff.AgreementCurrent(h.agreement),
	}
	for _, n := range navigation {
		if h.allowed(v, n.perm) {
			item := views.NavItem{Label: n.label, Href: n.href}
			if n.href == "/requests" {
				item.Waiting = h.awaitingDecision(c, v)
			}
			ch.Nav = append(ch.Nav, item)
		}
	}
	return ch
}

// awaitingDecision counts the requests v may decide, for the navigation.
// A failure shows no count rather than no page: the count only points the
// way, and the requests page itself reads the database again.
func (h *Handler) awaitingDecision(c echo.Context, v *viewer) int64 {
	n, err := h.cache.AwaitingDecision(c.Request().Context(), h.db.Read, h.product, h.clearance, h.now(), v.Staff)
	if err != nil {
		h.log.WarnContext(c.Request().Context(), "navigation count", "err", err)
		return 0
	}
	return n
}

// formTitle is the title of a page with a form: "Error: " first when the
// form came back with messages, so a screen reader hears it at once.
func formTitle(title string, errs views.Errors) string {
	if len(errs) > 0 {
		return "Error: " + title
	}
	return title
}

// errorPages are the texts of the error pages; internal detail never
// reaches the browser.
var errorPages = map[int][2]string{
	http.StatusUnauthorized:        {"Please sign in", "This page needs you to be signed in."},
	http.StatusForbidden:           {"Not allowed", "Your tier does not allow this, or your confidentiality agreement is not on record. Nothing was changed."},
	http.StatusNotFound:            {"Not found", "There is nothing at this address."},
	http.StatusMethodNotAllowed:    {"Not allowed", "This address does not accept that kind of request."},
	http.StatusConflict:            {"Conflict", "This conflicts with the record's current state. Nothing was changed."},
	http.StatusUnprocessableEntity: {"Please check the form", "Some of what was sent could not be accepted. Nothing was changed."},
	http.StatusTooManyRequests:     {"Too many attempts", "Please wait a minute and try again."},
	http.StatusServiceUnavailable:  {"Unavailable", "Gatehouse cannot serve this right now. Nothing was shown or changed. Please try again shortly."},
	http.StatusInternalServerError: {"Something went wrong", "The error has been logged. Nothing was changed."},
}

// noGrantMessage answers a data request no live grant covers.
const noGrantMessage = "None of your grants covers this page: access may have expired, been revoked or closed, or never covered it. Nothing was shown."

// revealRefusedMessage answers a reveal the customer did not consent to.
const revealRefusedMessage = "The customer did not consent to revealing single fields under this access. Nothing was revealed."

// notClearedMessage answers someone without the current agreement or
// security training who tries to touch customer data.
const notClearedMessage = "Touching customer data needs the current confidentiality agreement and security training that has not lapsed. Your dashboard says when yours expires. Nothing was shown or changed."

// handleError is the one place errors become responses: an access the
// audit log could not record, an attempt its limit could not count, or a
// database that cannot serve now → 503; a spent limit → 429; not found →
// 404, denied, no grant, not cleared or a reveal not consented to → 403,
// HTTP errors keep their code, a conflict → 409 with its message,
// refused form values → 422, anything else → 500 with a generic
// page and the detail in the log.
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		h.log.Error("error after response started", "request_id", requestIDOf(c), "error", err)
		return
	}
	status := http.StatusInternalServerError
	msg := ""
	var (
		he *echo.HTTPError
		ce *models.ConflictError
		fe models.FieldErrors
	)
	switch {
	case errors.Is(err, models.ErrUnaudited), errors.Is(err, errUncounted), models.Unavailable(err):
		// Nothing was shown or changed; the client may try again.
		status = http.StatusServiceUnavailable
		c.Response().Header().Set("Retry-After", "5")
	case errors.Is(err, models.ErrLimited):
		status = http.StatusTooManyRequests
	case errors.Is(err, models.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, models.ErrNoGrant):
		status, msg = http.StatusForbidden, noGrantMessage
	case errors.Is(err, models.ErrRevealRefused):
		status, msg = http.StatusForbidden, revealRefusedMessage
	case errors.Is(err, models.ErrNotCleared):
		status, msg = http.StatusForbidden, notClearedMessage
	case errors.Is(err, policy.ErrDenied):
		status = http.StatusForbidden
	case errors.As(err, &he):
		status = he.Code
		if s, ok := he.Message.(string); ok && status < 500 {
			msg = s
		}
	case errors.As(err, &ce):
		status, msg = http.StatusConflict, ce.Message
	case errors.Is(err, models.ErrConflict):
		status = http.StatusConflict
	case errors.As(err, &fe):
		status, msg = http.StatusUnprocessableEntity, fe[""]
	}
	if status >= 500 {
		h.log.Error("request failed", "request_id", requestIDOf(c), "path", c.Path(), "error", err)
	}
	text, ok := errorPages[status]
	if !ok {
		text = [2]string{http.StatusText(status), ""}
	}
	if msg != "" && status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		text[1] = msg
	}
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		// Echo's own texts ("Not Found") add nothing.
		text = errorPages[status]
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(status)
		return
	}
	title := text[0]
	if status == http.StatusUnprocessableEntity {
		title = "Error: " + title
	}
	if err := h.render(c, status, views.ErrorPage(h.chrome(c, title), status, text[0], text[1])); err != nil {
		h.log.Error("render error page", "request_id", requestIDOf(c), "error", err)
	}
}

// conflictText is the sentence a conflict carries for people, or a
// general one when it carries none.
func conflictText(err error) string {
	var ce *models.ConflictError
	if errors.As(err, &ce) {
		return ce.Message
	}
	return "This change conflicts with the record's current state."
}
