package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// The customer's consent page. It needs no login: the link's token is the
// credential. GET and HEAD only show (and a GET records that the page was
// shown, up to linkViews per address); every decision is a POST from the
// page. Failures — unknown,
// altered or expired tokens, bad forms — count against the client
// address, which is refused with 429 once it has too many.

func (h *Handler) consentHeaders(c echo.Context) {
	hd := c.Response().Header()
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Robots-Tag", "noindex, nofollow")
}

func (h *Handler) consentShow(c echo.Context) error {
	h.consentHeaders(c)
	ip, now := c.RealIP(), h.now()
	ctx := c.Request().Context()
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	v, err := models.OpenConsent(ctx, h.db.Read, now, c.Param("token"))
	if errors.Is(err, models.ErrBadToken) {
		ch.fail()
		return h.render(c, http.StatusNotFound, views.ConsentInvalid(h.consentChrome(c)))
	}
	if err != nil {
		return err
	}
	if _, err := linkViewedPaging(c); err != nil {
		return err
	}
	if err := h.recordLinkShown(c, now, func() error {
		return models.AuditConsentShown(ctx, h.db.Write, now, v, ip, c.Request().UserAgent())
	}); err != nil {
		return err
	}
	return h.renderConsent(c, http.StatusOK, v, "")
}

func (h *Handler) consentDecide(c echo.Context) error {
	h.consentHeaders(c)
	ip, now := c.RealIP(), h.now()
	ctx := c.Request().Context()
	ch, err := h.linkFailures.take(c, now)
	if err != nil {
		return err
	}
	defer ch.settle(ctx)
	token := c.Param("token")
	v, err := models.OpenConsent(ctx, h.db.Read, now, token)
	if errors.Is(err, models.ErrBadToken) {
		ch.fail()
		return h.render(c, http.StatusNotFound, views.ConsentInvalid(h.consentChrome(c)))
	}
	if err != nil {
		return err
	}
	page, err := h.consentPage(c, v)
	if err != nil {
		return err
	}
	decision := models.ConsentDecision(c.FormValue("decision"))
	switch decision {
	case models.ConsentGrant, models.ConsentDeny, models.ConsentReport, models.ConsentRevoke:
	default:
		ch.fail()
		return h.renderConsent(c, http.StatusUnprocessableEntity, v, "Choose grant, deny or report.")
	}
	if decision != models.ConsentRevoke {
		// The link's recipient must still own the workspace: someone
		// removed as an owner no longer decides for it. (Revoking stays
		// open to every link: ending access is always allowed.)
		owners, err := models.Owners(ctx, h.product, v.Request.Workspace)
		if err != nil {
			return err
		}
		if !slices.Contains(owners, v.Link.Recipient) {
			return h.renderConsent(c, http.StatusForbidden, v, "This address is no longer an owner of the workspace, so it cannot decide on this request.")
		}
	}
	in := models.ConsentInput{Token: token, Decision: decision, ShownHash: c.FormValue("shown"), PageHash: page.ShownHash, IP: ip, UserAgent: c.Request().UserAgent()}
	if decision == models.ConsentGrant {
		// The grantee's scope must admit the workspace (checked in models).
		ws, err := models.FindWorkspace(ctx, h.product, v.Request.Workspace)
		if err != nil {
			return err
		}
		in.Attributes = ws.Attributes()
	}
	post, err := h.post(ctx, v.Request.Workspace)
	if err != nil {
		return err
	}
	_, err = models.DecideConsent(ctx, h.db.Write, now, post, in, h.clearance)
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, "/consent/"+token)
	case errors.Is(err, models.ErrBadToken):
		ch.fail()
		return h.render(c, http.StatusNotFound, views.ConsentInvalid(h.consentChrome(c)))
	case errors.Is(err, models.ErrConsentChanged):
		// A valid link: an honest customer (a double click, a page left
		// open) must not be locked out for this.
		return h.renderConsent(c, http.StatusConflict, v, "The request changed since this page was shown. Please read it again before deciding.")
	case errors.Is(err, models.ErrConflict):
		v, err = models.OpenConsent(ctx, h.db.Read, now, token)
		if err != nil {
			return h.render(c, http.StatusNotFound, views.ConsentInvalid(h.consentChrome(c)))
		}
		return h.renderConsent(c, http.StatusConflict, v, "This request has already been decided, or can no longer be decided. The page shows where it stands now.")
	}
	return err
}

func (h *Handler) consentChrome(c echo.Context) views.Chrome {
	ch := h.chrome(c, "Access to your workspace")
	ch.Viewer, ch.Nav = nil, nil
	return ch
}

func (h *Handler) renderConsent(c echo.Context, status int, v models.ConsentView, problem string) error {
	page, err := h.consentPage(c, v)
	if err != nil {
		return err
	}
	page.Error = problem
	return h.render(c, status, views.ConsentPage(h.consentChrome(c), page))
}

// consentPage is what the customer is shown for v; its ShownHash covers
// every fact on it that the decision rests on.
func (h *Handler) consentPage(c echo.Context, v models.ConsentView) (views.ConsentView, error) {
	ctx, now := c.Request().Context(), h.now()
	ws, err := models.FindWorkspace(ctx, h.product, v.Request.Workspace)
	if err != nil {
		return views.ConsentView{}, err
	}
	mr, err := letters.RequestFacts(ctx, h.db.Read, v.Request, ws.Name)
	if err != nil {
		return views.ConsentView{}, err
	}
	page := views.ConsentView{
		Token: c.Param("token"), Company: h.company, Workspace: mr.Workspace, Name: mr.Name, Recipient: v.Link.Recipient,
		Grantee: mr.Grantee, GranteeTier: mr.GranteeTier, Requester: mr.Requester, Reason: mr.Reason, Ticket: mr.Ticket,
		Scope: mr.Scope, Mode: mr.Mode, Duration: mr.Duration,
		CanDecide: v.CanDecide(now), CanRevoke: v.CanRevoke(now), Now: now,
	}
	sum := sha256.New()
	for _, s := range []string{strconv.FormatInt(v.Request.ID, 10), page.Company, page.Workspace, page.Name, page.Grantee, page.GranteeTier,
		page.Requester, page.Reason, page.Ticket, page.Scope, page.Mode, page.Duration} {
		fmt.Fprintf(sum, "%d:%s\n", len(s), s)
	}
	page.ShownHash = hex.EncodeToString(sum.Sum(nil))
	page.RequestStatus, page.DecideBy = string(v.Request.StatusAt(now)), v.Link.ExpiresAt
	if g := v.Grant; g != nil {
		page.Granted, page.GrantLive, page.GrantEnds = true, g.Live(now), g.EndsAt
	}
	if d := v.Decision; d != nil {
		page.Decided = &views.ConsentDecided{By: d.Recipient, Decision: string(d.Decision), At: d.DecidedAt}
	}
	if v.Grant != nil {
		if page.Viewed, err = h.linkViewed(c, *v.Grant); err != nil {
			return views.ConsentView{}, err
		}
	}
	return page, nil
}

// The consent page pages through what was viewed: ?table=T&page=N shows
// the N-th page of table T's record ids, ?reveals=N the N-th page of the
// revealed fields. Totals and the per-table rows are always complete.
const (
	viewedIDsPage     = 500
	viewedRevealsPage = 50
	viewedMaxPage     = 1_000_000
)

// viewedPaging is the consent page's place in what was viewed.
type viewedPaging struct {
	table         string // "" for no table's records
	page, reveals int    // from 1
}

// linkViewedPaging reads a customer link page's paging through what was
// viewed; a page that is not a number from 1 is a 400.
func linkViewedPaging(c echo.Context) (viewedPaging, error) {
	p := viewedPaging{table: c.QueryParam("table"), page: 1, reveals: 1}
	for _, q := range []struct {
		name string
		to   *int
	}{{"page", &p.page}, {"reveals", &p.reveals}} {
		s := c.QueryParam(q.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > viewedMaxPage {
			return p, echo.NewHTTPError(http.StatusBadRequest, "The page number in the link is not valid; open the link from the mail again.")
		}
		*q.to = n
	}
	if len(p.table) > 200 {
		return p, echo.NewHTTPError(http.StatusBadRequest, "The table name in the link is not valid; open the link from the mail again.")
	}
	return p, nil
}

// linkViewed is what was viewed under g, at the customer link page's place in it.
func (h *Handler) linkViewed(c echo.Context, g models.Grant) (views.ViewedSummary, error) {
	ctx := c.Request().Context()
	p, err := linkViewedPaging(c)
	if err != nil {
		return views.ViewedSummary{}, err
	}
	all, err := models.ViewedUnder(ctx, h.db.Read, g.Workspace, g.ID)
	if err != nil {
		return views.ViewedSummary{}, err
	}
	offset := (p.reveals - 1) * viewedRevealsPage
	reveals, err := models.RevealsUnder(ctx, h.db.Read, g.Workspace, g.ID, offset, viewedRevealsPage)
	if err != nil {
		return views.ViewedSummary{}, err
	}
	out := letters.Viewed(all, reveals, offset+1)
	out.RevealsPage = p.reveals
	if p.table != "" {
		t, _ := all.Table(p.table)
		from := min((p.page-1)*viewedIDsPage, len(t.Records))
		to := min(from+viewedIDsPage, len(t.Records))
		out.Detail = &views.ViewedDetail{
			Table: p.table, Records: strings.Join(t.Records[from:to], ","),
			From: from + 1, To: to, Of: len(t.Records), Page: p.page, HasNext: to < len(t.Records),
		}
	}
	return out, nil
}
