package models

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Transparency reports: once a period (a UTC month by default) each
// workspace whose data staff touched gets a report of every access, from
// the audit log, mailed to its owners with a link to read it again and to
// turn the mail off.

// Audited actions of transparency reports.
const (
	ActionTransparencyReported Action = "transparency.reported"
	ActionTransparencyShown    Action = "transparency.shown"
	ActionTransparencyMailOff  Action = "transparency.mail_off"
)

// ReportPeriod is how often transparency reports are made.
type ReportPeriod string

// The report periods; months and quarters are UTC calendar ones, weeks
// start on Monday 00:00 UTC.
const (
	ReportMonthly   ReportPeriod = "monthly"
	ReportQuarterly ReportPeriod = "quarterly"
	ReportWeekly    ReportPeriod = "weekly"
	ReportOff       ReportPeriod = "off"
)

// ParseReportPeriod reads a period's name.
func ParseReportPeriod(s string) (ReportPeriod, error) {
	switch p := ReportPeriod(s); p {
	case ReportMonthly, ReportQuarterly, ReportWeekly, ReportOff:
		return p, nil
	}
	return "", fmt.Errorf("report period %q: want monthly, quarterly, weekly or off", s)
}

// Bounds is the period holding t: [from, to).
func (p ReportPeriod) Bounds(t time.Time) (from, to time.Time) {
	t = t.UTC()
	switch p {
	case ReportWeekly:
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		from = d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
		return from, from.AddDate(0, 0, 7)
	case ReportQuarterly:
		from = time.Date(t.Year(), t.Month()-(t.Month()-1)%3, 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 3, 0)
	}
	from = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return from, from.AddDate(0, 1, 0)
}

// Last is the last period that ended at or before now.
func (p ReportPeriod) Last(now time.Time) (from, to time.Time) {
	cur, _ := p.Bounds(now)
	return p.Bounds(cur.Add(-time.Nanosecond))
}

// TransparencyPolicy is when reports are made: every Period, and with
// Quiet also a short "nothing happened" report for the workspaces no one
// touched.
type TransparencyPolicy struct {
	Period ReportPeriod
	Quiet  bool
}

// DefaultTransparencyPolicy is monthly, for active workspaces only.
func DefaultTransparencyPolicy() TransparencyPolicy {
	return TransparencyPolicy{Period: ReportMonthly}
}

// ReportAlert is an alert that concerned a workspace, as its report
// states it.
type ReportAlert struct {
	Rule     string    `json:"rule"`
	Severity string    `json:"severity"`
	State    string    `json:"state"`
	At       time.Time `json:"at"`
}

// RequestFigures counts a period's access requests on a workspace and
// what became of them, from the audit log.
type RequestFigures struct {
	Created   int64 `json:"created"`
	Approved  int64 `json:"approved"`
	Denied    int64 `json:"denied"`
	Cancelled int64 `json:"cancelled"`
	Expired   int64 `json:"expired"`
	Granted   int64 `json:"granted"`  // the owners consented
	Refused   int64 `json:"refused"`  // the owners said no
	Reported  int64 `json:"reported"` // the owners reported it as suspicious
}

// StaffTableCount is how many times one staff member did something to
// one table.
type StaffTableCount struct {
	Staff string `json:"staff"`
	Table string `json:"table"`
	Count int64  `json:"count"`
}

// BreakglassFigure is one break-glass opened on the workspace.
type BreakglassFigure struct {
	Staff         string    `json:"staff"`
	At            time.Time `json:"at"`
	Justification string    `json:"justification"`
}

// ReportFigures is what a transparency report says.
type ReportFigures struct {
	Requests   RequestFigures     `json:"requests"`
	Views      []StaffTableCount  `json:"views"`   // pages of records shown, per staff member and table
	Reveals    []StaffTableCount  `json:"reveals"` // personal fields unmasked
	Breakglass []BreakglassFigure `json:"breakglass"`
	// Alerts is nil when alerts are not known to the job (no Alerts
	// source); the report then has no alerts section.
	Alerts []ReportAlert `json:"alerts"`
	// Decided counts the requests a senior approved or denied in the
	// period; MedianDecision is the median time from their creation.
	Decided        int           `json:"decided"`
	MedianDecision time.Duration `json:"median_decision"`
}

// Idle reports whether nothing happened: the "nothing happened" report.
func (f ReportFigures) Idle() bool {
	return f.Requests == (RequestFigures{}) && len(f.Views) == 0 && len(f.Reveals) == 0 && len(f.Breakglass) == 0 && len(f.Alerts) == 0
}

// TransparencyReport is one report: a row per workspace and period.
type TransparencyReport struct {
	ID          int64 `gorm:"primaryKey"`
	Workspace   string
	PeriodStart time.Time
	PeriodEnd   time.Time
	Figures     string // ReportFigures as JSON
	Recipients  int
	CreatedAt   time.Time
}

// TableName is the reports table's name.
func (TransparencyReport) TableName() string { return "transparency_reports" }

// TransparencyPeriod is a period whose reports are all made (with or
// without the idle workspaces' reports, Quiet): the job's runs for it read
// nothing more.
type TransparencyPeriod struct {
	PeriodStart time.Time `gorm:"primaryKey;autoIncrement:false"`
	PeriodEnd   time.Time `gorm:"primaryKey;autoIncrement:false"`
	Quiet       bool      `gorm:"primaryKey;autoIncrement:false"`
	CompletedAt time.Time
}

// TableName is the completed periods' table name.
func (TransparencyPeriod) TableName() string { return "transparency_periods" }

// periodSettled is how long after a period's end the job trusts that
// every event of the period is committed: an event is stamped before its
// transaction commits, and a run just after the end could miss one still
// committing, which the next hourly run then reports.
const periodSettled = time.Hour

// Target is how the audit log names the report.
func (r TransparencyReport) Target() string { return fmt.Sprintf("transparency/%d", r.ID) }

// Parsed returns the report's figures.
func (r TransparencyReport) Parsed() (ReportFigures, error) {
	var f ReportFigures
	if err := json.Unmarshal([]byte(r.Figures), &f); err != nil {
		return f, fmt.Errorf("transparency report %d: %w", r.ID, err)
	}
	return f, nil
}

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

// CountReport counts workspace's figures for [from, to) from the audit
// log: one grouped query over the workspace's events of the period, the
// break-glass uses, and the decisions with their requests' creation
// (audit_events_target). The period's events are read from
// audit_events_workspace within the period's partitions on PostgreSQL,
// and from audit_events_workspace_at on SQLite, named there: the planner
// would otherwise read every workspace's break-glass uses or decisions
// of the period from (action, at), once for each workspace reported.
// Alerts are not the audit log's: the job adds them.
func CountReport(ctx context.Context, db *gorm.DB, workspace string, from, to time.Time) (ReportFigures, error) {
	var f ReportFigures
	period := func() *gorm.DB {
		q := db.WithContext(ctx).Model(&AuditEvent{})
		if db.Dialector.Name() != "postgres" {
			q = q.Table("audit_events INDEXED BY audit_events_workspace_at")
		}
		return q.Where("workspace = ? AND at >= ? AND at < ?", workspace, from.UTC(), to.UTC())
	}
	var groups []struct {
		Action    Action
		Actor     string
		TableName string
		N         int64
	}
	err := period().Select("action, actor, table_name, COUNT(*) AS n").Where("action IN ?", reportActions).
		Group("action, actor, table_name").Order("actor, table_name").Scan(&groups).Error
	if err != nil {
		return f, fmt.Errorf("report of %s: %w", workspace, err)
	}
	r := &f.Requests
	counters := map[Action]*int64{
		ActionRequestCreated: &r.Created, ActionRequestApproved: &r.Approved, ActionRequestDenied: &r.Denied,
		ActionRequestCancelled: &r.Cancelled, ActionRequestExpired: &r.Expired,
		ActionConsentGranted: &r.Granted, ActionConsentDenied: &r.Refused, ActionConsentReported: &r.Reported,
	}
	for _, g := range groups {
		switch c := (StaffTableCount{Staff: g.Actor, Table: g.TableName, Count: g.N}); {
		case g.Action == ActionDataViewed:
			f.Views = append(f.Views, c)
		case g.Action == ActionFieldRevealed:
			f.Reveals = append(f.Reveals, c)
		case counters[g.Action] != nil:
			*counters[g.Action] += g.N
		}
	}
	var opened []AuditEvent
	if err := period().Where("action = ?", ActionBreakglassOpened).Order("at, seq").Find(&opened).Error; err != nil {
		return f, fmt.Errorf("report of %s: break-glass: %w", workspace, err)
	}
	for _, e := range opened {
		f.Breakglass = append(f.Breakglass, BreakglassFigure{Staff: e.Actor, At: e.At.UTC(), Justification: e.Reason})
	}
	f.Decided, f.MedianDecision, err = medianDecision(ctx, db, period)
	return f, err
}

// medianDecision is the number of requests decided (approved or denied)
// in the period and the median time from each one's creation.
func medianDecision(ctx context.Context, db *gorm.DB, period func() *gorm.DB) (int, time.Duration, error) {
	var decisions []AuditEvent
	if err := period().Select("target, at").Where("action IN ?", []Action{ActionRequestApproved, ActionRequestDenied}).Find(&decisions).Error; err != nil {
		return 0, 0, fmt.Errorf("decisions: %w", err)
	}
	if len(decisions) == 0 {
		return 0, 0, nil
	}
	targets := make([]string, len(decisions))
	for i, d := range decisions {
		targets[i] = d.Target
	}
	// By their targets (audit_events_target, a partial index: hence
	// "target <> ''"), named on SQLite, whose planner otherwise reads
	// every request.created event of the log for each report.
	var created []AuditEvent
	q := db.WithContext(ctx).Model(&AuditEvent{})
	if db.Dialector.Name() != "postgres" {
		q = q.Table("audit_events INDEXED BY audit_events_target")
	}
	if err := q.Select("target, at").
		Where("target IN ? AND target <> '' AND action = ?", targets, ActionRequestCreated).Find(&created).Error; err != nil {
		return 0, 0, fmt.Errorf("requests decided: %w", err)
	}
	at := make(map[string]time.Time, len(created))
	for _, c := range created {
		at[c.Target] = c.At
	}
	var waits []time.Duration
	for _, d := range decisions {
		if c, ok := at[d.Target]; ok {
			waits = append(waits, d.At.Sub(c))
		}
	}
	if len(waits) == 0 {
		return 0, 0, nil
	}
	slices.Sort(waits)
	m := waits[len(waits)/2]
	if len(waits)%2 == 0 {
		m = (waits[len(waits)/2-1] + m) / 2
	}
	return len(waits), m, nil
}

// TransparencyRun counts what one run of the job did.
type TransparencyRun struct {
	Reported int // reports this run made
	Mailed   int // mails it queued
}

// TransparencyJob makes the last period's transparency reports: at once
// and then every Every (an hour when zero). Each report is made once
// across replicas: its row's unique (workspace, period_start) key lets
// one transaction insert it, and that transaction queues the mails and
// appends the audit event.
type TransparencyJob struct {
	DB      *DB
	Product *DB // the workspace registry: names and owners
	Post    Post
	Policy  TransparencyPolicy
	Now     func() time.Time
	Every   time.Duration
	Logger  *slog.Logger
	// Alerts, when set, lists the alerts that concerned a workspace in
	// [from, to); when nil, reports have no alerts section.
	Alerts func(ctx context.Context, workspace string, from, to time.Time) ([]ReportAlert, error)
}

// Run runs the job at once and then every Every until ctx ends.
func (j *TransparencyJob) Run(ctx context.Context) error {
	log := cmp.Or(j.Logger, slog.Default())
	return every(ctx, cmp.Or(j.Every, time.Hour), func() {
		run, err := j.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("transparency", "error", err)
		case err == nil && run.Reported > 0:
			log.Info("transparency", "reported", run.Reported, "mailed", run.Mailed)
		}
	})
}

// reportBatch is how many workspaces the job looks at a time.
const reportBatch = 1000

// RunOnce makes the reports of the last period that are not made yet:
// those of the active workspaces and, with Policy.Quiet, of every other
// workspace of the registry.
func (j *TransparencyJob) RunOnce(ctx context.Context) (TransparencyRun, error) {
	var run TransparencyRun
	if j.Policy.Period == ReportOff || j.Policy.Period == "" {
		return run, nil
	}
	now := j.Now()
	from, to := j.Policy.Period.Last(now)
	period := TransparencyPeriod{PeriodStart: from.UTC(), PeriodEnd: to.UTC(), Quiet: j.Policy.Quiet}
	var done int64
	if err := j.DB.Read.WithContext(ctx).Model(&TransparencyPeriod{}).
		Where("period_start = ? AND period_end = ? AND quiet = ?", period.PeriodStart, period.PeriodEnd, period.Quiet).Count(&done).Error; err != nil {
		return run, fmt.Errorf("transparency periods: %w", err)
	}
	if done > 0 {
		return run, nil
	}
	complete := func() error {
		if now.Sub(to) < periodSettled {
			return nil // an event of the period may still be committing
		}
		period.CompletedAt = now.UTC()
		if err := j.DB.Write.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&period).Error; err != nil {
			return fmt.Errorf("transparency periods: %w", err)
		}
		return nil
	}
	active, err := ActiveWorkspaces(ctx, j.DB.Read, from, to)
	if err != nil {
		return run, err
	}
	for batch := range slices.Chunk(active, reportBatch) {
		if err := j.reportBatch(ctx, &run, batch, from, to); err != nil {
			return run, err
		}
	}
	if !j.Policy.Quiet {
		return run, complete()
	}
	// The idle ones: the registry by keyset, the active ones left out.
	after := ""
	for {
		var slugs []string
		err := j.Product.Read.WithContext(ctx).Model(&Workspace{}).Where("slug > ? AND status <> ?", after, WorkspaceDeleted).
			Order("slug").Limit(reportBatch).Pluck("slug", &slugs).Error
		if err != nil {
			return run, fmt.Errorf("registry: %w", err)
		}
		if len(slugs) == 0 {
			return run, complete()
		}
		after = slugs[len(slugs)-1]
		idle := slices.DeleteFunc(slugs, func(s string) bool { _, found := slices.BinarySearch(active, s); return found })
		if err := j.reportBatch(ctx, &run, idle, from, to); err != nil {
			return run, err
		}
	}
}

// reportBatch makes the reports of slugs not made yet.
func (j *TransparencyJob) reportBatch(ctx context.Context, run *TransparencyRun, slugs []string, from, to time.Time) error {
	if len(slugs) == 0 {
		return nil
	}
	var done []string
	if err := j.DB.Read.WithContext(ctx).Model(&TransparencyReport{}).Where("workspace IN ? AND period_start = ?", slugs, from.UTC()).
		Pluck("workspace", &done).Error; err != nil {
		return fmt.Errorf("reports made: %w", err)
	}
	names, err := WorkspaceNamesOf(ctx, j.Product.Read, slugs)
	if err != nil {
		return err
	}
	for _, slug := range slugs {
		if _, known := names[slug]; !known || slices.Contains(done, slug) {
			continue // not in the registry (nobody to tell), or made already
		}
		mailed, err := j.report(ctx, slug, names[slug], from, to)
		if err != nil {
			return fmt.Errorf("transparency report of %s: %w", slug, err)
		}
		if mailed >= 0 {
			run.Reported++
			run.Mailed += mailed
		}
	}
	return nil
}

// report makes workspace's report and returns how many mails it queued,
// or -1 when another run made it first.
func (j *TransparencyJob) report(ctx context.Context, slug, name string, from, to time.Time) (int, error) {
	f, err := CountReport(ctx, j.DB.Read, slug, from, to)
	if err != nil {
		return 0, err
	}
	if j.Alerts != nil {
		if f.Alerts, err = j.Alerts(ctx, slug, from, to); err != nil {
			return 0, err
		}
		if f.Alerts == nil {
			f.Alerts = []ReportAlert{}
		}
	}
	owners, err := Owners(ctx, j.Product.Read, slug)
	if err != nil {
		return 0, err
	}
	figures, err := json.Marshal(f)
	if err != nil {
		return 0, err
	}
	now := j.Now()
	post := j.Post
	post.Names = map[string]string{slug: name}
	mailed := -1
	_, err = once(ctx, j.DB.Write, func(tx *gorm.DB) (bool, error) {
		// Who turned the mail off, read first so the row is written once
		// with its number of recipients.
		var off []string
		if err := tx.Model(&TransparencyMailOff{}).Where("workspace = ?", slug).Pluck("recipient", &off).Error; err != nil {
			return false, err
		}
		recipients := slices.DeleteFunc(slices.Clone(owners), func(o string) bool { return slices.Contains(off, o) })
		r := TransparencyReport{Workspace: slug, PeriodStart: from.UTC(), PeriodEnd: to.UTC(), Figures: string(figures), Recipients: len(recipients), CreatedAt: now.UTC()}
		ins := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "workspace"}, {Name: "period_start"}}, DoNothing: true}).Create(&r)
		if ins.Error != nil || ins.RowsAffected == 0 {
			return false, ins.Error
		}
		for _, owner := range recipients {
			token, err := createTransparencyLink(ctx, tx, now, r, owner)
			if err != nil {
				return false, err
			}
			if err := post.send(ctx, tx, now, TransparencyNotice{Report: r, Figures: f, Name: name, Owner: owner, Token: token}); err != nil {
				return false, err
			}
		}
		mailed = len(recipients)
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: SystemActor, Action: ActionTransparencyReported, Workspace: slug, Target: r.Target(),
			Detail: map[string]any{"period_start": from.UTC(), "period_end": to.UTC(), "recipients": mailed, "mail_off": len(owners) - mailed, "idle": f.Idle()},
		})
		return err == nil, err
	})
	if err != nil {
		return 0, err
	}
	return mailed, nil
}
