package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const requestPageSize = 50

var requestStatuses = []string{"pending", "approved", "granted", "denied", "cancelled", "expired", "refused", "reported"}

func (h *Handler) requestList(c echo.Context) error {
	ctx := c.Request().Context()
	status := c.QueryParam("status")
	if !slices.Contains(requestStatuses, status) {
		status = ""
	}
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = max(page, 1)
	rs, total, err := models.ListRequests(ctx, h.db.Read, models.RequestFilter{Status: models.RequestStatus(status), Limit: requestPageSize, Offset: (page - 1) * requestPageSize})
	if err != nil {
		return err
	}
	v := viewerOf(c)
	view := views.RequestListView{Status: status, Statuses: requestStatuses, Total: total, Page: page, PageSize: requestPageSize, CanCreate: h.allowed(v, policy.RequestCreate)}
	names := h.staffNames(c)
	now := h.now()
	for _, r := range rs {
		row := requestRow(r, names, now)
		row.NeedsYou = row.Status == string(models.RequestPending) && h.allowed(v, policy.RequestApprove) && v.Staff.ID != r.RequesterID && v.Staff.ID != r.GranteeID
		view.Rows = append(view.Rows, row)
	}
	return h.render(c, http.StatusOK, views.RequestList(h.chrome(c, "Access requests"), view))
}

// staffNames returns a lookup of staff names by id for one page, reading
// each person once.
func (h *Handler) staffNames(c echo.Context) func(int64) string {
	seen := map[int64]string{}
	return func(id int64) string {
		if n, ok := seen[id]; ok {
			return n
		}
		s, err := models.FindStaff(c.Request().Context(), h.db.Read, id)
		n := fmt.Sprintf("staff %d", id)
		if err == nil {
			n = s.Name
		}
		seen[id] = n
		return n
	}
}

func (h *Handler) requestNew(c echo.Context) error {
	f := views.RequestForm{Workspace: strings.TrimSpace(c.QueryParam("workspace")), Duration: "2h"}
	if v := viewerOf(c); v.Staff.Tier == models.TierSenior {
		f.Grantee = v.Staff.Email
	}
	return h.renderRequestForm(c, http.StatusOK, f)
}

func (h *Handler) renderRequestForm(c echo.Context, status int, f views.RequestForm) error {
	ctx := c.Request().Context()
	pol := h.opts.Requests
	for _, d := range models.DurationPresets {
		if d <= pol.MaxDuration {
			f.Durations = append(f.Durations, views.Option{Value: models.FormatDuration(d), Label: humanDuration(d)})
		}
	}
	if !slices.ContainsFunc(f.Durations, func(o views.Option) bool { return o.Value == models.FormatDuration(pol.MaxDuration) }) {
		f.Durations = append(f.Durations, views.Option{Value: models.FormatDuration(pol.MaxDuration), Label: humanDuration(pol.MaxDuration) + " (the most allowed)"})
	}
	f.MaxDuration = humanDuration(pol.MaxDuration)
	f.TicketHint = "like SUP-1234"
	seniors, err := models.Grantees(ctx, h.db.Read, h.opts.AgreementVersion)
	if err != nil {
		return err
	}
	for _, s := range seniors {
		f.Grantees = append(f.Grantees, views.Option{Value: s.Email, Label: fmt.Sprintf("%s (%s)", s.Name, s.Tier)})
	}
	for _, t := range h.catalog.Tables() {
		if !t.Restricted {
			f.Tables = append(f.Tables, views.Option{Value: t.Name, Label: t.Name})
		}
	}
	if f.Workspace != "" {
		if ws, err := models.FindWorkspace(ctx, h.product, f.Workspace); err == nil {
			f.WorkspaceName = ws.Name
		}
	}
	return h.render(c, status, views.RequestNew(h.chrome(c, "New access request"), f))
}

func (h *Handler) requestCreate(c echo.Context) error {
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	f := views.RequestForm{
		Workspace: strings.TrimSpace(form.Get("workspace")), Reason: form.Get("reason"), Ticket: strings.TrimSpace(form.Get("ticket")),
		Duration: strings.TrimSpace(form.Get("duration")), Grantee: strings.TrimSpace(form.Get("grantee")),
		Scope: form["scope"], Records: strings.TrimSpace(form.Get("records")), Unmask: form.Get("unmask") == "on", Errors: views.Errors{},
	}
	n := models.NewRequest{Requester: viewerOf(c).Staff, Reason: f.Reason, Ticket: f.Ticket, Unmask: f.Unmask}
	if ws, err := models.FindLiveWorkspace(ctx, h.product, f.Workspace); err == nil {
		n.Workspace = ws.Slug
	} else if !errors.Is(err, models.ErrNotFound) {
		return err
	}
	if n.Duration, err = models.ParseDuration(f.Duration); err != nil {
		f.Errors["duration"] = "Choose how long the access should last, like 2h."
	}
	if f.Grantee != "" {
		if email, err := models.NormalizeEmail(f.Grantee); err == nil {
			if s, err := models.FindStaffByEmail(ctx, h.db.Read, email); err == nil {
				n.Grantee = s
			} else if !errors.Is(err, models.ErrNotFound) {
				return err
			}
		}
	}
	if n.Grantee.ID == 0 && viewerOf(c).Staff.Tier == models.TierSenior && f.Grantee == "" {
		n.Grantee = viewerOf(c).Staff
	}
	if len(f.Scope) > 0 {
		n.Scope.Tables = map[string][]int64{}
		for _, t := range f.Scope {
			table, ok := h.catalog.Table(t)
			switch {
			case !ok:
				f.Errors["scope"] = fmt.Sprintf("There is no table %q.", clip(t))
			case table.Restricted:
				f.Errors["scope"] = fmt.Sprintf("%s is restricted: nobody may see it, whatever the grant.", t)
			default:
				n.Scope.Tables[t] = nil
			}
		}
	}
	if f.Records != "" {
		ids, msg := parseRecordIDs(f.Records)
		switch {
		case msg != "":
			f.Errors["records"] = msg
		case len(f.Scope) == 0:
			f.Errors["records"] = "Choose the tables these records belong to."
		default:
			for t := range n.Scope.Tables {
				n.Scope.Tables[t] = ids
			}
		}
	}
	if f.Grantee != "" && n.Grantee.ID == 0 {
		f.Errors["grantee"] = "There is no staff member " + clip(f.Grantee) + "."
	}
	for k, v := range models.ValidateRequest(h.opts.Requests, n) {
		if k == "requester" {
			k = ""
		}
		if _, ok := f.Errors[k]; !ok {
			f.Errors[k] = v
		}
	}
	if n.Workspace == "" {
		f.Errors["workspace"] = "There is no workspace " + strconv.Quote(clip(f.Workspace)) + "."
	}
	if len(f.Errors) > 0 {
		return h.renderRequestForm(c, http.StatusUnprocessableEntity, f)
	}
	r, err := models.CreateRequest(ctx, h.db.Write, h.now(), h.actor(c), h.opts.Requests, n)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/requests/%d", r.ID))
}

func (h *Handler) requestShow(c echo.Context) error {
	return h.renderRequest(c, http.StatusOK, "", nil)
}

// renderRequest shows request :id with what the viewer may do to it.
func (h *Handler) renderRequest(c echo.Context, status int, note string, errs views.Errors) error {
	ctx := c.Request().Context()
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return fmt.Errorf("request %q: %w", clip(c.Param("id")), models.ErrNotFound)
	}
	r, err := models.FindRequest(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	now, v := h.now(), viewerOf(c)
	ws, err := models.FindWorkspace(ctx, h.product, r.Workspace)
	if err != nil {
		return err
	}
	mr, err := h.mailRequest(ctx, h.db.Read, r, ws.Name)
	if err != nil {
		return err
	}
	st := r.StatusAt(now)
	view := views.RequestView{
		ID: r.ID, Workspace: r.Workspace, Name: mr.Name,
		Requester: mr.Requester, Grantee: mr.Grantee + " (" + mr.GranteeTier + ")",
		Reason: r.Reason, Ticket: r.Ticket, Scope: mr.Scope, Unmask: r.Unmask, Duration: mr.Duration,
		Status: string(st), Created: minuteUTC(&r.CreatedAt), Note: note, Errors: errs,
		CanApprove: st == models.RequestPending && h.allowed(v, policy.RequestApprove) && v.Staff.ID != r.RequesterID && v.Staff.ID != r.GranteeID,
		CanCancel:  st == models.RequestPending && v.Staff.ID == r.RequesterID,
	}
	switch st {
	case models.RequestPending:
		view.Expires = minuteUTC(&r.ExpiresAt)
		view.StatusNote = "Waiting for a senior who is neither the requester nor the grantee. Expires " + view.Expires + "."
	case models.RequestApproved:
		view.Expires = minuteUTC(r.ConsentDeadline)
		view.StatusNote = "Approved; waiting for the customer's consent until " + view.Expires + "."
	}
	if r.DecidedByID != nil {
		verb := "Approved"
		if r.Status == models.RequestDenied {
			verb = "Denied"
		}
		view.DecidedBy = h.staffNames(c)(*r.DecidedByID)
		view.Decision = fmt.Sprintf("%s (“%s”)", verb, r.DecisionNote)
	}
	if r.GrantID != nil {
		g, err := models.FindGrant(ctx, h.db.Read, *r.GrantID)
		if err != nil {
			return err
		}
		view.GrantID, view.GrantLive, view.GrantEnds = g.ID, g.Live(now), minuteUTC(&g.EndsAt)
		switch {
		case g.EndedAt != nil:
			view.GrantEnded = minuteUTC(g.EndedAt) + " (" + g.EndedWhy + ")"
		case !g.Live(now):
			view.GrantEnded = minuteUTC(&g.EndsAt) + " (expired)"
		}
		view.CanDone = view.GrantLive && v.Staff.ID == r.GranteeID
		view.CanRevoke = view.GrantLive && h.allowed(v, policy.GrantRevoke)
		if view.Viewed, err = h.viewedRows(c.Request().Context(), g); err != nil {
			return err
		}
		if view.GrantLive {
			view.StatusNote = "Access is open until " + view.GrantEnds + "."
		} else {
			view.Status = "ended"
			view.StatusNote = "Access has ended: " + view.GrantEnded + "."
		}
	}
	events, err := models.RequestTimeline(ctx, h.db.Read, r.ID)
	if err != nil {
		return err
	}
	for _, e := range events {
		view.Timeline = append(view.Timeline, views.TimelineEntry{At: minuteUTC(&e.At), Actor: e.Actor, What: timelineWhat(e.Action), Note: e.Reason})
	}
	return h.render(c, status, views.RequestShow(h.chrome(c, fmt.Sprintf("Request %d", r.ID)), view))
}

func timelineWhat(a models.Action) string {
	switch a {
	case models.ActionRequestCreated:
		return "asked for access"
	case models.ActionRequestApproved:
		return "approved; the workspace owners were asked for consent"
	case models.ActionRequestDenied:
		return "denied"
	case models.ActionRequestCancelled:
		return "cancelled"
	case models.ActionRequestExpired:
		return "expired"
	case models.ActionConsentShown:
		return "opened the consent page"
	case models.ActionConsentGranted:
		return "granted access"
	case models.ActionConsentDenied:
		return "refused access"
	case models.ActionConsentReported:
		return "reported the request as suspicious"
	case models.ActionGrantRevoked:
		return "revoked access"
	case models.ActionGrantDone:
		return "finished and closed access"
	case models.ActionGrantExpired:
		return "access ended at its time"
	}
	return string(a)
}

// viewedRows lists what was viewed under g, from the audit log.
func (h *Handler) viewedRows(ctx context.Context, g models.Grant) ([]views.ViewedRow, error) {
	evs, err := models.GrantViews(ctx, h.db.Read, g.Workspace, g.ID, 1000)
	if err != nil {
		return nil, err
	}
	return viewedRows(evs), nil
}

// viewedRows shows views and reveals of tenant data as staff pages, the
// consent page and the owners' summary mail list them.
func viewedRows(evs []models.AuditEvent) []views.ViewedRow {
	out := make([]views.ViewedRow, 0, len(evs))
	for _, e := range evs {
		records := compactRecords(e.RecordIDs)
		if e.Action == models.ActionFieldRevealed {
			records += " (revealed a field)"
		}
		out = append(out, views.ViewedRow{At: minuteUTC(&e.At), Who: e.Actor, Table: e.Table, Records: records})
	}
	return out
}

// requestRow is a request as lists show it, with its state at now.
func requestRow(r models.AccessRequest, names func(int64) string, now time.Time) views.RequestRow {
	return views.RequestRow{
		ID: r.ID, Workspace: r.Workspace, Requester: names(r.RequesterID), Grantee: names(r.GranteeID),
		Ticket: r.Ticket, Status: string(r.StatusAt(now)), Duration: models.FormatDuration(r.Duration()), Created: minuteUTC(&r.CreatedAt),
	}
}

func compactRecords(ids string) string {
	if ids == "" {
		return "none"
	}
	return views.CompactIDs(ids)
}

// requestID parses :id, or answers 404.
func requestID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("request %q: %w", clip(c.Param("id")), models.ErrNotFound)
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
	d := models.Decision{Approve: approve, Approver: viewerOf(c).Staff, Note: note}
	if approve {
		if d.Owners, err = models.Owners(ctx, h.product, r.Workspace); err != nil {
			return err
		}
	}
	l, err := h.letters(ctx, r.Workspace)
	if err != nil {
		return err
	}
	_, err = models.DecideRequest(ctx, h.db.Write, h.now(), h.actor(c), h.opts.Requests, h.opts.Outbox, l, id, d)
	return h.afterRequestAction(c, id, note, err)
}

// afterRequestAction answers a request form: 303 back to the request, or
// its page again with what went wrong.
func (h *Handler) afterRequestAction(c echo.Context, id int64, note string, err error) error {
	var fe models.FieldErrors
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/requests/%d", id))
	case errors.As(err, &fe):
		return h.renderRequest(c, http.StatusUnprocessableEntity, note, views.Errors(fe))
	case errors.Is(err, models.ErrTwoPerson):
		return fmt.Errorf("%w: %w", policy.ErrDenied, echo.NewHTTPError(http.StatusForbidden, "A request is decided by a senior who is neither its requester nor its grantee."))
	case errors.Is(err, models.ErrConflict):
		return h.renderRequest(c, http.StatusConflict, note, views.Errors{"": conflictText(err)})
	}
	return err
}

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
	l, err := h.letters(ctx, r.Workspace)
	if err != nil {
		return err
	}
	_, err = models.CancelRequest(ctx, h.db.Write, h.now(), h.actor(c), h.opts.Outbox, l, id, viewerOf(c).Staff, note)
	return h.afterRequestAction(c, id, note, err)
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
	note := strings.TrimSpace(c.FormValue("note"))
	if note == "" {
		note = "done"
	}
	_, err = models.EndRequestGrant(ctx, h.db.Write, h.now(), h.actor(c), id, clip(note), models.ActionGrantDone)
	return h.afterRequestAction(c, id, note, err)
}

func (h *Handler) requestRevoke(c echo.Context) error {
	id, err := requestID(c)
	if err != nil {
		return err
	}
	note := strings.TrimSpace(c.FormValue("note"))
	if err := models.CheckReason(note, 10); err != nil {
		return h.renderRequest(c, http.StatusUnprocessableEntity, note, views.Errors{"note": "Say why you revoke this access (at least 10 characters)."})
	}
	_, err = models.EndRequestGrant(c.Request().Context(), h.db.Write, h.now(), h.actor(c), id, note, models.ActionGrantRevoked)
	return h.afterRequestAction(c, id, note, err)
}

func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d == time.Hour:
		return "1 hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	default:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
}

// parseRecordIDs reads "12, 15,40" into ids: at most 200, each positive.
// What is wrong comes back as the form's message.
func parseRecordIDs(s string) (ids []int64, msg string) {
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Sprintf("%q is not a record id: use numbers separated by commas.", clip(part))
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 || len(ids) > 200 {
		return nil, "Give between 1 and 200 record ids."
	}
	return ids, ""
}
