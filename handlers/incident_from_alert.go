package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gatehouse/models"
	"gatehouse/views"
)

// An incident declared from an alert: the declare form and the finder
// filled in from it.

// trimForMessage cuts what a person typed to a length a message can
// quote.
func trimForMessage(s string) string {
	const max = 40
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// incidentTimeLayout is how the declare form's datetime-local fields
// write a time (UTC, to the minute).
const incidentTimeLayout = "2006-01-02T15:04"

// formFromAlert is the declare form filled in from alert a: its rule and
// subject as the title, its summary as what happened, its severity, the
// first evidence as the start and its raising as the detection (both to
// the minute, never detected before started), and its number.
func (h *Handler) formFromAlert(ctx context.Context, a models.Alert) (views.IncidentForm, error) {
	evs, err := models.AlertEvidence(ctx, h.db.Read, a.ID, 1)
	if err != nil {
		return views.IncidentForm{}, err
	}
	started := a.OpenedAt
	if len(evs) > 0 && evs[0].At.Before(started) {
		started = evs[0].At
	}
	started, detected := started.UTC().Truncate(time.Minute), a.OpenedAt.UTC().Truncate(time.Minute)
	if detected.Before(started) {
		detected = started
	}
	title := []rune(fmt.Sprintf("%s: %s %s", a.Rule, a.SubjectKind, a.Subject))
	if len(title) > 200 {
		title = append(title[:199], '…')
	}
	sev := a.Severity
	if !slices.Contains(models.Severities, sev) {
		sev = "high"
	}
	return views.IncidentForm{
		Title:    string(title),
		Summary:  fmt.Sprintf("Alert %d (rule %s, %s severity): %s", a.ID, a.Rule, a.Severity, a.Summary),
		Severity: sev, Started: started.Format(incidentTimeLayout), Detected: detected.Format(incidentTimeLayout),
		Alert: strconv.FormatInt(a.ID, 10), FromAlert: alertRow(a),
	}, nil
}

// findFromAlert is the finder filled in from the alert incident inc came
// from: the staff member it is about, or else the workspace it concerns,
// from an hour before the incident's start (the detection rules count in
// the hour up to the event that crossed, so the views that led up to it
// are found too). Zero when it came from no alert, or one about an
// address.
func (h *Handler) findFromAlert(ctx context.Context, inc models.Incident) (views.FindForm, int64, error) {
	if inc.AlertID == nil || inc.Closed() {
		return views.FindForm{}, 0, nil
	}
	a, err := models.GetAlert(ctx, h.db.Read, *inc.AlertID)
	if errors.Is(err, models.ErrNotFound) {
		return views.FindForm{}, 0, nil // declared before alerts were checked
	}
	if err != nil {
		return views.FindForm{}, 0, err
	}
	since := inc.StartedAt.UTC().Add(-time.Hour).Format(incidentTimeLayout)
	switch {
	case a.SubjectKind == models.SubjectStaff:
		return views.FindForm{Method: "staff", Staff: a.Subject, Since: since}, a.ID, nil
	case a.Workspace != "":
		return views.FindForm{Method: "slugs", Slugs: a.Workspace, Since: since}, a.ID, nil
	}
	return views.FindForm{}, 0, nil
}
