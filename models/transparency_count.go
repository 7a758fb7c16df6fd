package models

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// reportActions are the events a report counts; a workspace with one of
// them in the period is active.
var reportActions = []Action{
	ActionDataViewed, ActionFieldRevealed, ActionBreakglassOpened,
	ActionRequestCreated, ActionRequestApproved, ActionRequestDenied, ActionRequestCancelled, ActionRequestExpired,
	ActionConsentGranted, ActionConsentDenied, ActionConsentReported,
}

// ActiveWorkspaces returns, sorted, the workspaces with a reported event
// in [from, to). It reads the period only, through audit_events_action_at
// (action, at) — on PostgreSQL within the period's monthly partitions.
func ActiveWorkspaces(ctx context.Context, db *gorm.DB, from, to time.Time) ([]string, error) {
	var out []string
	err := db.WithContext(ctx).Model(&AuditEvent{}).Distinct("workspace").
		Where("action IN ? AND at >= ? AND at < ? AND workspace <> ''", reportActions, from.UTC(), to.UTC()).
		Order("workspace").Pluck("workspace", &out).Error
	if err != nil {
		return nil, fmt.Errorf("active workspaces: %w", err)
	}
	return out, nil
}

// CountReports counts the figures of each of workspaces for [from, to)
// from the audit log, in four statements whatever their number: one
// grouped query over the workspaces' events of the period, their
// break-glass uses, their decisions, and the decided requests' creation
// (audit_events_target). The period's events are read from
// audit_events_workspace within the period's partitions on PostgreSQL,
// and from audit_events_workspace_at on SQLite, named there: the planner
// would otherwise read every workspace's break-glass uses or decisions
// of the period from (action, at). Every workspace asked about has an
// entry, the idle ones empty figures. Alerts are not the audit log's: the
// job adds them.
func CountReports(ctx context.Context, db *gorm.DB, workspaces []string, from, to time.Time) (map[string]ReportFigures, error) {
	out := make(map[string]ReportFigures, len(workspaces))
	for _, ws := range workspaces {
		out[ws] = ReportFigures{}
	}
	if len(workspaces) == 0 {
		return out, nil
	}
	period := func() *gorm.DB {
		q := db.WithContext(ctx).Model(&AuditEvent{})
		if db.Dialector.Name() != "postgres" {
			q = q.Table("audit_events INDEXED BY audit_events_workspace_at")
		}
		return q.Where("workspace IN ? AND at >= ? AND at < ?", workspaces, from.UTC(), to.UTC())
	}
	var groups []struct {
		Workspace string
		Action    Action
		Actor     string
		TableName string
		N         int64
	}
	err := period().Select("workspace, action, actor, table_name, COUNT(*) AS n").Where("action IN ?", reportActions).
		Group("workspace, action, actor, table_name").Order("workspace, actor, table_name").Scan(&groups).Error
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	for _, g := range groups {
		f := out[g.Workspace]
		r := &f.Requests
		counters := map[Action]*int64{
			ActionRequestCreated: &r.Created, ActionRequestApproved: &r.Approved, ActionRequestDenied: &r.Denied,
			ActionRequestCancelled: &r.Cancelled, ActionRequestExpired: &r.Expired,
			ActionConsentGranted: &r.Granted, ActionConsentDenied: &r.Refused, ActionConsentReported: &r.Reported,
		}
		switch c := (StaffTableCount{Staff: g.Actor, Table: g.TableName, Count: g.N}); {
		case g.Action == ActionDataViewed:
			f.Views = append(f.Views, c)
		case g.Action == ActionFieldRevealed:
			f.Reveals = append(f.Reveals, c)
		case counters[g.Action] != nil:
			*counters[g.Action] += g.N
		}
		out[g.Workspace] = f
	}
	var opened []AuditEvent
	if err := period().Where("action = ?", ActionBreakglassOpened).Order("workspace, at, seq").Find(&opened).Error; err != nil {
		return nil, fmt.Errorf("reports: break-glass: %w", err)
	}
	for _, e := range opened {
		f := out[e.Workspace]
		f.Breakglass = append(f.Breakglass, BreakglassFigure{Staff: e.Actor, At: e.At.UTC(), Justification: e.Reason})
		out[e.Workspace] = f
	}
	waits, err := decisionWaits(ctx, db, period)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	for ws, w := range waits {
		f := out[ws]
		f.Decided, f.MedianDecision = len(w), median(w)
		out[ws] = f
	}
	return out, nil
}

// decidedTargets is how many requests' creation one statement looks up.
const decidedTargets = 1000

// decisionWaits returns, by workspace, the time from creation of each
// request decided (approved or denied) in the period.
func decisionWaits(ctx context.Context, db *gorm.DB, period func() *gorm.DB) (map[string][]time.Duration, error) {
	var decisions []AuditEvent
	if err := period().Select("workspace, target, at").Where("action IN ?", []Action{ActionRequestApproved, ActionRequestDenied}).Find(&decisions).Error; err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	targets := make([]string, 0, len(decisions))
	for _, d := range decisions {
		targets = append(targets, d.Target)
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	at := make(map[string]time.Time, len(targets))
	for chunk := range slices.Chunk(targets, decidedTargets) {
		// By their targets (audit_events_target, a partial index: hence
		// "target <> ''"), named on SQLite, whose planner otherwise reads
		// every request.created event of the log.
		var created []AuditEvent
		q := db.WithContext(ctx).Model(&AuditEvent{})
		if db.Dialector.Name() != "postgres" {
			q = q.Table("audit_events INDEXED BY audit_events_target")
		}
		if err := q.Select("target, at").
			Where("target IN ? AND target <> '' AND action = ?", chunk, ActionRequestCreated).Find(&created).Error; err != nil {
			return nil, fmt.Errorf("requests decided: %w", err)
		}
		for _, c := range created {
			at[c.Target] = c.At
		}
	}
	waits := map[string][]time.Duration{}
	for _, d := range decisions {
		if c, ok := at[d.Target]; ok {
			waits[d.Workspace] = append(waits[d.Workspace], d.At.Sub(c))
		}
	}
	return waits, nil
}

// median is the median of ds, which it sorts; zero when there are none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	m := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		m = (ds[len(ds)/2-1] + m) / 2
	}
	return m
}
