package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
)

const (
	alertPageSize     = 50
	alertEvidenceShow = 200
	dashboardAlerts   = 10
	// dashboardIncidents: the open incidents a dashboard lists.
	dashboardIncidents = 10
)

var alertStates = []string{string(models.AlertOpen), string(models.AlertAcknowledged), string(models.AlertResolved)}

// alertList is /alerts, filtered by state, rule and severity; a filter
// value not in its list is refused (400) and reads nothing.
func (h *Handler) alertList(c echo.Context) error {
	f := models.AlertFilter{
		State:    models.AlertState(strings.TrimSpace(c.QueryParam("state"))),
		Rule:     strings.TrimSpace(c.QueryParam("rule")),
		Severity: strings.TrimSpace(c.QueryParam("severity")),
	}
	filters := url.Values{"state": {string(f.State)}, "rule": {f.Rule}, "severity": {f.Severity}}
	k, ferrs := listKeyset(c, models.AlertSorts, alertPageSize)
	view := views.AlertListView{
		State: string(f.State), Rule: f.Rule, Severity: f.Severity,
		States: alertStates, Severities: policy.Severities, Filter: ferrs,
	}
	for _, r := range h.detection {
		view.Rules = append(view.Rules, r.Name)
	}
	// The access reviews raise alerts of their own rule.
	view.Rules = append(view.Rules, models.ReviewOverdueRule.Name)
	if f.State != "" && !slices.Contains(alertStates, string(f.State)) {
		ferrs["state"] = "Choose a state from the list."
	}
	if f.Rule != "" && !slices.Contains(view.Rules, f.Rule) {
		ferrs["rule"] = "Choose a rule from the list."
	}
	if f.Severity != "" && !slices.Contains(policy.Severities, f.Severity) {
		ferrs["severity"] = "Choose a severity from the list."
	}
	f.Page = k
	page, nav, status, err := readList(ferrs, "/alerts", filters, models.AlertSorts, k, func() (models.Page[models.Alert], models.Count, error) {
		return models.ListAlerts(c.Request().Context(), h.db.Read, f)
	})
	if err != nil {
		return err
	}
	view.Nav = nav
	for _, a := range page.Rows {
		view.Rows = append(view.Rows, alertRow(a))
	}
	return h.render(c, status, views.AlertList(h.chrome(c, "Alerts"), view))
}

func alertRow(a models.Alert) views.AlertRow {
	return views.AlertRow{
		ID: a.ID, Rule: a.Rule, Severity: a.Severity, SubjectKind: a.SubjectKind, Subject: a.Subject,
		Workspace: a.Workspace, Summary: a.Summary, State: string(a.State), OpenedAt: a.OpenedAt, EvidenceCount: a.EvidenceCount,
	}
}

func alertID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("alert id %q: %w", c.Param("id"), models.ErrNotFound)
	}
	return id, nil
}

func (h *Handler) alertShow(c echo.Context) error {
	id, err := alertID(c)
	if err != nil {
		return err
	}
	return h.renderAlert(c, http.StatusOK, id, views.AlertView{Done: doneWord(c.QueryParam("done"))})
}

// doneWord is the flash of a change just made, from a fixed list.
func doneWord(s string) string {
	if s == "acknowledged" || s == "resolved" {
		return s
	}
	return ""
}

func (h *Handler) renderAlert(c echo.Context, status int, id int64, view views.AlertView) error {
	ctx := c.Request().Context()
	a, err := models.GetAlert(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	evs, err := models.AlertEvidence(ctx, h.db.Read, id, alertEvidenceShow+1)
	if err != nil {
		return err
	}
	if len(evs) > alertEvidenceShow {
		evs, view.MoreEvidence = evs[:alertEvidenceShow], true
	}
	view.Row = alertRow(a)
	view.AcknowledgedBy, view.AcknowledgedAt, view.AcknowledgedNote = a.AcknowledgedBy, a.AcknowledgedAt, a.AcknowledgedNote
	view.ResolvedBy, view.ResolvedAt, view.ResolvedNote = a.ResolvedBy, a.ResolvedAt, a.ResolvedNote
	manage := h.allowed(viewerOf(c), policy.AlertManage)
	view.CanAcknowledge = manage && a.State == models.AlertOpen
	view.CanResolve = manage && a.State != models.AlertResolved
	view.CanDeclare = h.allowed(viewerOf(c), policy.IncidentManage)
	if h.allowed(viewerOf(c), policy.IncidentRead) {
		incs, err := models.IncidentsFromAlert(ctx, h.db.Read, id)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			view.Incidents = append(view.Incidents, views.IncidentLink{ID: inc.ID, Title: inc.Title})
		}
	}
	for _, ev := range evs {
		view.Evidence = append(view.Evidence, views.AlertEvidenceRow{
			Seq: ev.Seq, At: ev.At, Actor: ev.Actor, Action: string(ev.Action), Workspace: ev.Workspace,
			// A space after each comma lets a long list wrap between ids.
			Table: ev.Table, Records: strings.ReplaceAll(ev.RecordIDs, ",", ", "), AuditURL: evidenceAuditURL(ev),
		})
	}
	return h.render(c, status, views.AlertPage(h.chrome(c, "Alert "+strconv.FormatInt(id, 10)), view))
}

// evidenceAuditURL finds ev in the audit log: its actor's (or its
// workspace's) events in the minute it happened.
func evidenceAuditURL(ev models.AuditEvent) string {
	at := ev.At.UTC().Truncate(time.Minute)
	q := url.Values{"since": {at.Format("2006-01-02T15:04")}, "until": {at.Add(time.Minute).Format("2006-01-02T15:04")}}
	switch {
	case ev.Actor != "":
		q.Set("actor", ev.Actor)
	case ev.Workspace != "":
		q.Set("workspace", ev.Workspace)
	}
	return "/audit?" + q.Encode()
}

// alertAcknowledge and alertResolve move an alert with a note: 303 back
// to its page; 422 without a real note; 409 when its state does not
// allow the move. Either changes nothing when refused.
func (h *Handler) alertAcknowledge(c echo.Context) error {
	return h.moveAlert(c, models.AcknowledgeAlert, "acknowledged")
}

func (h *Handler) alertResolve(c echo.Context) error {
	return h.moveAlert(c, models.ResolveAlert, "resolved")
}

type alertMove func(ctx context.Context, db *gorm.DB, act models.Act, id int64, note string) (models.Alert, error)

func (h *Handler) moveAlert(c echo.Context, move alertMove, done string) error {
	id, err := alertID(c)
	if err != nil {
		return err
	}
	note := c.FormValue("note")
	_, err = move(c.Request().Context(), h.db.Write, h.act(c), id, note)
	if errs := breakglassErrors(err); len(errs) > 0 {
		return h.renderAlert(c, http.StatusUnprocessableEntity, id, views.AlertView{Errors: errs, Note: note})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/alerts/%d?done=%s", id, done))
}
