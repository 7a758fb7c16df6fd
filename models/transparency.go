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

// TransparencyRun counts what one run of the job did.
type TransparencyRun struct {
	Reported int // reports this run made
	Mailed   int // mails it queued
}

// TransparencyJob makes the last period's transparency reports: at once
// and then every Every (an hour when zero). Each report is made once
// across replicas: its row's unique (workspace, period_start) key lets
// one transaction insert it, and that transaction queues the mails and
// appends the audit event. A transaction makes up to reportsPerTx
// reports and takes their rows in slug order, so that two runs at once
// wait for each other's rows and never deadlock.
type TransparencyJob struct {
	DB      *DB
	Product *DB // the workspace registry: names and owners
	Post    Post
	Policy  TransparencyPolicy
	Now     func() time.Time
	Every   time.Duration
	Logger  *slog.Logger
	// Alerts, when set, lists by workspace the alerts that concerned each
	// of workspaces in [from, to); when nil, reports have no alerts
	// section.
	Alerts func(ctx context.Context, workspaces []string, from, to time.Time) (map[string][]ReportAlert, error)
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

// reportBatch makes the reports of slugs not made yet: their figures,
// alerts and owners read for all of them at once, then written
// reportsPerTx to a transaction.
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
	made := make(map[string]bool, len(done))
	for _, slug := range done {
		made[slug] = true
	}
	todo := slices.DeleteFunc(slices.Clone(slugs), func(slug string) bool {
		_, known := names[slug]
		return !known || made[slug] // not in the registry (nobody to tell), or made already
	})
	if len(todo) == 0 {
		return nil
	}
	figures, err := CountReports(ctx, j.DB.Read, todo, from, to)
	if err != nil {
		return err
	}
	if j.Alerts != nil {
		alerts, err := j.Alerts(ctx, todo, from, to)
		if err != nil {
			return err
		}
		for _, slug := range todo {
			f := figures[slug]
			if f.Alerts = alerts[slug]; f.Alerts == nil {
				f.Alerts = []ReportAlert{} // a section saying there were none
			}
			figures[slug] = f
		}
	}
	owners, err := OwnersOf(ctx, j.Product.Read, todo)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(todo, reportsPerTx) {
		if err := j.reportChunk(ctx, run, chunk, names, figures, owners, from, to); err != nil {
			return err
		}
	}
	return nil
}

// reportsPerTx is how many reports one transaction makes. Its audit
// events are appended last, in one statement, so the chain head is held
// for that statement and the commit only. (A variable for the tests.)
var reportsPerTx = 100

// reportChunk makes the reports of slugs in one transaction: each
// report's row, its links and mails, and then the reports' audit events.
// A report another run made first is left out (its row's unique
// (workspace, period_start) key), with its mails and event.
func (j *TransparencyJob) reportChunk(ctx context.Context, run *TransparencyRun, slugs []string, names map[string]string,
	figures map[string]ReportFigures, owners map[string][]string, from, to time.Time) error {
	now := j.Now()
	post := j.Post
	post.Names = names
	var made TransparencyRun
	_, err := once(ctx, j.DB.Write, func(tx *gorm.DB) (bool, error) {
		made = TransparencyRun{}
		// Who turned the mail off, read first so each row is written once
		// with its number of recipients.
		var offs []TransparencyMailOff
		if err := tx.Where("workspace IN ?", slugs).Find(&offs).Error; err != nil {
			return false, err
		}
		off := make(map[[2]string]bool, len(offs))
		for _, o := range offs {
			off[[2]string{o.Workspace, o.Recipient}] = true
		}
		var events []AuditEvent
		for _, slug := range slugs {
			f := figures[slug]
			recipients := slices.DeleteFunc(slices.Clone(owners[slug]), func(o string) bool { return off[[2]string{slug, o}] })
			body, err := json.Marshal(f)
			if err != nil {
				return false, err
			}
			r := TransparencyReport{Workspace: slug, PeriodStart: from.UTC(), PeriodEnd: to.UTC(), Figures: string(body), Recipients: len(recipients), CreatedAt: now.UTC()}
			ins := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "workspace"}, {Name: "period_start"}}, DoNothing: true}).Create(&r)
			if ins.Error != nil {
				return false, fmt.Errorf("transparency report of %s: %w", slug, ins.Error)
			}
			if ins.RowsAffected == 0 {
				continue // another run made it first
			}
			for _, owner := range recipients {
				token, err := createTransparencyLink(ctx, tx, now, r, owner)
				if err != nil {
					return false, err
				}
				if err := post.send(ctx, tx, now, TransparencyNotice{Report: r, Figures: f, Name: names[slug], Owner: owner, Token: token}); err != nil {
					return false, err
				}
			}
			ev, err := AuditEntry{
				At: now, Actor: SystemActor, Action: ActionTransparencyReported, Workspace: slug, Target: r.Target(),
				Detail: map[string]any{"period_start": from.UTC(), "period_end": to.UTC(), "recipients": len(recipients), "mail_off": len(owners[slug]) - len(recipients), "idle": f.Idle()},
			}.event()
			if err != nil {
				return false, err
			}
			events = append(events, ev)
			made.Reported++
			made.Mailed += len(recipients)
		}
		if len(events) == 0 {
			return false, nil
		}
		if err := appendEvents(ctx, tx, events); err != nil {
			return false, fmt.Errorf("audit %s: %w", ActionTransparencyReported, err)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	run.Reported += made.Reported
	run.Mailed += made.Mailed
	return nil
}
