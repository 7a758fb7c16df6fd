package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// The retention queue and a workspace's retention page (sysadmins): the
// lifecycle of every workspace under the data-retention policy, legal
// holds, and the deletion a sysadmin confirms.

// stateWords says each retention state in words.
var stateWords = map[models.RetentionState]string{
	models.RetentionDeletionDue:       "deletion due",
	models.RetentionNoticeDue:         "first notice due",
	models.RetentionMarkDue:           "marking due",
	models.RetentionDeletionRequested: "deletion requested",
	models.RetentionHeld:              "legal hold",
	models.RetentionMarked:            "marked for deletion",
	models.RetentionNoticed:           "noticed",
	models.RetentionCancelled:         "cancelled, kept",
	models.RetentionActive:            "active",
	models.RetentionDeleted:           "deleted",
}

var nextWords = map[models.RetentionAction]string{
	models.NextNotice: "First notice",
	models.NextMark:   "Mark for deletion, second notice",
	models.NextDelete: "Deletion",
}

func retentionStatusView(st models.RetentionStatus) views.RetentionStatusView {
	v := views.RetentionStatusView{
		State: string(st.State), StateText: stateWords[st.State], Rule: st.Rule, Explanation: st.Explanation,
		Next: nextWords[st.Next], Due: st.Due, Held: st.Hold != nil,
	}
	if st.Next != models.NextNone {
		v.NextAt = st.NextAt
	}
	if r := st.Request; r != nil && r.Status == models.DeletionPending && st.Next == models.NextNone {
		v.Next, v.NextAt, v.NextBy = "Owners' confirmations", r.ExpiresAt, true
	}
	if !st.DeleteAt.IsZero() {
		v.DeleteAt = &st.DeleteAt
	}
	for _, s := range st.Steps {
		v.Steps = append(v.Steps, views.RetentionStepRow{Name: s.Name, Due: s.Due, Done: s.Done})
	}
	return v
}

func (h *Handler) retentionPolicyView() views.RetentionPolicyView {
	p := h.retention
	return views.RetentionPolicyView{
		CancelledKeep: int(p.CancelledKeep / models.Day), FreeNotice: int(p.FreeNotice / models.Day), FreeMark: int(p.FreeMark / models.Day),
		FreeDelete: int(p.FreeDelete / models.Day), RequestValid: int(p.DeletionRequestValid / models.Day),
	}
}

// attention is the states of the default queue: everything with a
// notice or deletion due or planned, a request or a hold; active and
// deleted workspaces are left out.
func attention() []models.RetentionState {
	return slices.DeleteFunc(models.RetentionStates(), func(s models.RetentionState) bool {
		return s == models.RetentionActive || s == models.RetentionDeleted
	})
}

// retentionPageSize is how many workspaces a page of the queue lists.
const retentionPageSize = 50

// retentionQueue lists the workspaces of a state (or those needing
// attention, or all), computed in SQL (models.RetentionClasses), by state
// in queue order and then slug, a page at a time by keyset.
func (h *Handler) retentionQueue(c echo.Context) error {
	ctx := c.Request().Context()
	state, query := c.QueryParam("state"), c.QueryParam("q")
	states := attention()
	switch {
	case state == "all":
		states = models.RetentionStates()
	case state != "" && !slices.Contains(models.RetentionStates(), models.RetentionState(state)):
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Choose a retention state from the list.")
	case state != "":
		states = []models.RetentionState{models.RetentionState(state)}
	}
	var after *models.RetentionCursor
	if cur, err := models.ParseCursor(c.QueryParam("after")); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	} else if cur != nil {
		after = &models.RetentionCursor{State: models.RetentionState(cur.Value), Slug: cur.ID}
	}
	classes := &models.RetentionClasses{DB: h.db.Read, Product: h.product, Now: h.now(), Policy: h.retention, Scope: scopeOf(c)}
	rows, next, err := classes.Page(ctx, states, query, after, retentionPageSize)
	if errors.Is(err, models.ErrBadCursor) {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	if err != nil {
		return err
	}
	counts, countedAt, err := classes.QueueCounts(ctx)
	if err != nil {
		return err
	}
	view := views.RetentionQueueView{Policy: h.retentionPolicyView(), State: state, Query: query}
	for _, n := range counts {
		sc := views.StateCount{State: string(n.State), Text: stateWords[n.State], N: n.N, Capped: n.Capped, About: n.About, Selected: state == string(n.State)}
		if !countedAt.IsZero() && slices.Contains(models.CountedStates(), n.State) {
			sc.AsOf = &countedAt
		}
		view.Counts = append(view.Counts, sc)
	}
	if !countedAt.IsZero() {
		view.CountedAt = &countedAt
	}
	for _, st := range rows {
		view.Rows = append(view.Rows, views.RetentionRow{Slug: st.Slug, Name: st.Name, Plan: st.Plan, Retention: retentionStatusView(st)})
	}
	link := func(after string) string {
		q := url.Values{}
		for k, v := range map[string]string{"state": state, "q": query, "after": after} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if len(q) == 0 {
			return "/retention"
		}
		return "/retention?" + q.Encode()
	}
	if after != nil {
		view.First = link("")
	}
	if next != nil {
		view.Next = link(models.Cursor{Value: string(next.State), ID: next.Slug}.Encode())
	}
	holds, err := models.ListHolds(ctx, h.db.Read, "", false)
	if err != nil {
		return err
	}
	slugs := make([]string, 0, len(holds))
	for _, hd := range holds {
		slugs = append(slugs, hd.Slug)
	}
	admitted, err := models.WorkspacesAdmitted(ctx, h.product, scopeOf(c), slugs)
	if err != nil {
		return err
	}
	for _, hd := range holds {
		if !admitted[hd.Slug] {
			continue
		}
		view.Holds = append(view.Holds, holdRow(hd))
	}
	return h.render(c, http.StatusOK, views.RetentionQueue(h.chrome(c, "Retention"), view))
}

func holdRow(hd models.LegalHold) views.HoldRow {
	return views.HoldRow{
		ID: hd.ID, Slug: hd.Slug, Reference: hd.Reference, Reason: hd.Reason, PlacedBy: hd.PlacedBy, PlacedAt: hd.PlacedAt,
		LiftedBy: hd.LiftedBy, LiftedAt: hd.LiftedAt, LiftReason: hd.LiftReason, Live: hd.Live(),
	}
}

func (h *Handler) retentionShow(c echo.Context) error {
	return h.renderRetention(c, http.StatusOK, views.RetentionPageView{Done: c.QueryParam("done")})
}

func (h *Handler) renderRetention(c echo.Context, status int, view views.RetentionPageView) error {
	ctx, now := c.Request().Context(), h.now()
	w, err := models.FindWorkspace(ctx, h.product, c.Param("slug"))
	if err != nil {
		return err
	}
	st, err := models.WorkspaceRetention(ctx, h.db.Read, h.product, now, h.retention, w.Slug)
	if err != nil {
		return err
	}
	view.Workspace, view.Policy, view.Status = workspaceRow(w), h.retentionPolicyView(), retentionStatusView(st)
	view.CanDelete = models.RefuseDeletion(w, st) == nil
	view.Fresh = viewerOf(c).Session.SignedInWithin(now, h.stepUpWindow)
	schema, err := models.TenantSchema(w.Slug)
	if err != nil {
		return err
	}
	view.Location = "schema " + schema
	if h.productDB.Dialect == models.SQLite {
		view.Location = "file " + schema + ".db"
	}
	holds, err := models.ListHolds(ctx, h.db.Read, w.Slug, true)
	if err != nil {
		return err
	}
	for _, hd := range holds {
		view.Holds = append(view.Holds, holdRow(hd))
	}
	if view.Requests, err = h.deletionRequestRows(c, w.Slug); err != nil {
		return err
	}
	rec, err := models.FindRetentionRecord(ctx, h.db.Read, w.Slug)
	if err != nil {
		return err
	}
	if rec.DeletedAt != nil && rec.DeletionReport != "" {
		var rep models.DeletionReport
		if err := json.Unmarshal([]byte(rec.DeletionReport), &rep); err != nil {
			return fmt.Errorf("deletion report of %s: %w", w.Slug, err)
		}
		r := &views.DeletionReportView{
			Engine: string(rep.Engine), Location: rep.Location, DeletedAt: rep.DeletedAt, DeletedBy: rep.DeletedBy, Rule: rep.Rule,
			Missing: rep.Missing, CountsUnknown: rep.CountsUnknown, Files: rep.Files,
		}
		if rep.RequestID != nil {
			r.RequestID = *rep.RequestID
		}
		r.EndedGrants, r.ClosedRequests = idList(rep.EndedGrants), idList(rep.ClosedRequests)
		for _, t := range rep.Tables {
			r.Tables = append(r.Tables, views.TableRowsView{Table: t.Table, Rows: t.Rows})
		}
		view.Report = r
	}
	events, err := models.RetentionHistory(ctx, h.db.Read, w.Slug, 200)
	if err != nil {
		return err
	}
	for _, e := range events {
		view.Events = append(view.Events, views.EventRow{At: e.At, Actor: e.Actor, Action: string(e.Action), Reason: e.Reason, Detail: e.Detail})
	}
	return h.render(c, status, views.RetentionPage(h.chrome(c, formTitle("Retention of "+w.Name, view.Errors)), view))
}

// deletionRequestRows are the deletion requests of a workspace with who
// of its owners confirmed each.
func (h *Handler) deletionRequestRows(c echo.Context, slug string) ([]views.DeletionRequestRow, error) {
	ctx, now := c.Request().Context(), h.now()
	reqs, err := models.ListDeletionRequests(ctx, h.db.Read, slug)
	if err != nil {
		return nil, err
	}
	names := h.staffNames(c)
	var out []views.DeletionRequestRow
	for _, r := range reqs {
		row := views.DeletionRequestRow{
			ID: r.ID, Slug: r.Slug, Status: string(r.StatusAt(now)), Note: r.Note, RequestedBy: names(r.RequestedBy),
			Created: r.CreatedAt, Expires: r.ExpiresAt, Confirmed: r.ConfirmedAt, Needed: r.NeededConfirmations,
		}
		links, err := models.DeletionLinks(ctx, h.db.Read, r.ID)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			row.Links = append(row.Links, views.DeletionLinkRow{Recipient: l.Recipient, ConfirmedAt: l.ConfirmedAt})
			if l.ConfirmedAt != nil {
				row.Got++
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// holdPlace places a legal hold: 303 back to the page, or 422 with the
// form's messages.
func (h *Handler) holdPlace(c echo.Context) error {
	ctx := c.Request().Context()
	w, err := models.FindWorkspace(ctx, h.product, c.Param("slug"))
	if err != nil {
		return err
	}
	form := views.HoldForm{Reference: strings.TrimSpace(c.FormValue("reference")), Reason: strings.TrimSpace(c.FormValue("reason"))}
	_, err = models.PlaceHold(ctx, h.db.Write, h.act(c), w.Slug, form.Reference, form.Reason)
	var fe models.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.renderRetention(c, http.StatusUnprocessableEntity, views.RetentionPageView{HoldForm: form, Errors: views.Errors(fe)})
	case errors.Is(err, models.ErrConflict):
		return h.renderRetention(c, http.StatusConflict, views.RetentionPageView{HoldForm: form, Errors: views.Errors{"": "This workspace has been deleted; there is nothing left to hold."}})
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, retentionHref(w.Slug)+"?done=held")
}

// holdLift lifts a legal hold (fresh sign-in): 303 back to the page, 422
// without a reason, 409 when it was already lifted.
func (h *Handler) holdLift(c echo.Context) error {
	ctx := c.Request().Context()
	w, err := models.FindWorkspace(ctx, h.product, c.Param("slug"))
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("hold %q: %w", c.Param("id"), models.ErrNotFound)
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	_, err = models.LiftHold(ctx, h.db.Write, h.act(c), w.Slug, id, reason)
	var fe models.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.renderRetention(c, http.StatusUnprocessableEntity, views.RetentionPageView{LiftID: id, Lift: reason, Errors: views.Errors(fe)})
	case errors.Is(err, models.ErrConflict):
		return h.renderRetention(c, http.StatusConflict, views.RetentionPageView{Errors: views.Errors{"": "That hold was already lifted. Nothing was changed."}})
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, retentionHref(w.Slug)+"?done=lifted")
}

// workspaceDelete deletes a workspace whose deletion is due, after a
// fresh sign-in and with its slug typed as confirmation: 303 back to the
// page; 422 without the confirmation; 409 when a hold or the policy stops
// it. A refusal changes nothing.
func (h *Handler) workspaceDelete(c echo.Context) error {
	ctx := c.Request().Context()
	w, err := models.FindWorkspace(ctx, h.product, c.Param("slug"))
	if err != nil {
		return err
	}
	confirm := strings.TrimSpace(c.FormValue("confirm"))
	if confirm != w.Slug {
		return h.renderRetention(c, http.StatusUnprocessableEntity, views.RetentionPageView{Confirm: confirm,
			Errors: views.Errors{"confirm": "Type the workspace's slug exactly as shown to confirm the deletion."}})
	}
	// Once started, a deletion runs to its end even if the browser goes
	// away: cut off between its two commits it would leave the data gone
	// and the deletion unrecorded until the retention job settles it.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	_, err = models.DeleteWorkspace(dctx, models.Stores{Portal: h.db, Product: h.productDB, TenantsDir: h.tenantsDir}, h.act(c), w.Slug, h.retention)
	if err == nil {
		h.data.Forget(w)
	}
	switch {
	case errors.Is(err, models.ErrHeld):
		return h.renderRetention(c, http.StatusConflict, views.RetentionPageView{Errors: views.Errors{"": "A legal hold stops the deletion of this workspace. Nothing was deleted."}})
	case errors.Is(err, models.ErrNotDue):
		return h.renderRetention(c, http.StatusConflict, views.RetentionPageView{Errors: views.Errors{"": "This workspace's deletion is not due. Nothing was deleted."}})
	case errors.Is(err, models.ErrConflict):
		return h.renderRetention(c, http.StatusConflict, views.RetentionPageView{Errors: views.Errors{"": "This workspace cannot be deleted from here: " + conflictText(err) + " Nothing was deleted."}})
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, retentionHref(w.Slug)+"?done=deleted")
}

func retentionHref(slug string) string { return "/retention/" + url.PathEscape(slug) }

// idList writes ids as "#1, #2".
func idList(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "#" + strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ", ")
}
