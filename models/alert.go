package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Alert actions (see auditActions).
const (
	ActionAlertRaised        Action = "alert.raised"
	ActionAlertAcknowledged  Action = "alert.acknowledged"
	ActionAlertResolved      Action = "alert.resolved"
	ActionAlertWebhookFailed Action = "alert.webhook_failed"
)

// AlertState is where an alert stands: open → acknowledged → resolved.
type AlertState string

// Alert states.
const (
	AlertOpen         AlertState = "open"
	AlertAcknowledged AlertState = "acknowledged"
	AlertResolved     AlertState = "resolved"
)

// Alert subject kinds: who or what an alert is about.
const (
	SubjectStaff     = "staff"
	SubjectAddress   = "address"
	SubjectWorkspace = "workspace"
)

// Alert is unusual activity a detection rule found. At most one alert per
// rule and subject is not resolved at a time; a repeat adds evidence.
type Alert struct {
	ID               int64 `gorm:"primaryKey"`
	Rule             string
	Kind             string
	SubjectKind      string
	Subject          string
	Workspace        string // the workspace it concerns, when one
	Severity         string
	Summary          string
	State            AlertState
	OpenedAt         time.Time
	LastSeenAt       time.Time
	EvidenceCount    int
	AcknowledgedBy   string
	AcknowledgedAt   *time.Time
	AcknowledgedNote string
	ResolvedBy       string
	ResolvedAt       *time.Time
	ResolvedNote     string
}

// TableName is the alerts table's name.
func (Alert) TableName() string { return "alerts" }

// alertEvidence is one audit event an alert stands on.
type alertEvidence struct {
	AlertID int64
	Seq     int64
}

func (alertEvidence) TableName() string { return "alert_evidence" }

// AlertNote bounds: a note says why, in a sentence or a few.
const (
	alertNoteMin = 3
	alertNoteMax = 2000
)

// AlertFilter selects alerts for the list; zero fields match all.
type AlertFilter struct {
	State    AlertState
	Rule     string
	Severity string
	Page     Keyset
}

// AlertSorts are the keys the alert list sorts by (newest first).
var AlertSorts = []SortKey{{Name: "opened", Column: "opened_at", Kind: SortTime, Desc: true}}

// ListAlerts returns a page of alerts matching f, newest first unless the
// page says otherwise, and how many match.
func ListAlerts(ctx context.Context, db *gorm.DB, f AlertFilter) (Page[Alert], Count, error) {
	q := db.Model(&Alert{})
	if f.State != "" {
		q = q.Where("state = ?", string(f.State))
	}
	if f.Rule != "" {
		q = q.Where("rule = ?", f.Rule)
	}
	if f.Severity != "" {
		q = q.Where("severity = ?", f.Severity)
	}
	if f.Page.Sort.Column == "" {
		f.Page.Sort, f.Page.Desc = AlertSorts[0], true
	}
	p, err := findKeyset(ctx, q, f.Page, "id", true, func(a Alert) Cursor {
		return Cursor{Value: a.OpenedAt.UTC().Format(time.RFC3339Nano), ID: strconv.FormatInt(a.ID, 10)}
	})
	if err != nil {
		return Page[Alert]{}, Count{}, fmt.Errorf("list alerts: %w", err)
	}
	n, err := countCapped(ctx, db, q)
	if err != nil {
		return Page[Alert]{}, Count{}, fmt.Errorf("count alerts: %w", err)
	}
	return p, n, nil
}

// OpenAlerts returns the alerts not yet resolved, most severe and newest
// first, up to limit: what a dashboard shows first.
func OpenAlerts(ctx context.Context, db *gorm.DB, limit int) ([]Alert, error) {
	var as []Alert
	err := db.WithContext(ctx).Where("state <> ?", string(AlertResolved)).
		Order("CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END").
		Order("opened_at DESC").Order("id DESC").Limit(limit).Find(&as).Error
	if err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	return as, nil
}

// GetAlert returns the alert with id.
func GetAlert(ctx context.Context, db *gorm.DB, id int64) (Alert, error) {
	var a Alert
	err := db.WithContext(ctx).Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Alert{}, fmt.Errorf("alert %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Alert{}, fmt.Errorf("alert %d: %w", id, err)
	}
	return a, nil
}

// AlertEvidence returns up to limit of the audit events alert id stands
// on, oldest first.
func AlertEvidence(ctx context.Context, db *gorm.DB, id int64, limit int) ([]AuditEvent, error) {
	var evs []AuditEvent
	err := db.WithContext(ctx).Where("seq IN (?)", db.Model(&alertEvidence{}).Select("seq").Where("alert_id = ?", id)).
		Order("seq ASC").Limit(limit).Find(&evs).Error
	if err != nil {
		return nil, fmt.Errorf("alert %d evidence: %w", id, err)
	}
	return evs, nil
}

// AcknowledgeAlert marks an open alert acknowledged by act.By with note.
func AcknowledgeAlert(ctx context.Context, db *gorm.DB, act Act, id int64, note string) (Alert, error) {
	return moveAlert(ctx, db, act, id, note, AlertAcknowledged)
}

// ResolveAlert marks an open or acknowledged alert resolved by act.By
// with note; the rule may then raise a new alert about the same subject.
func ResolveAlert(ctx context.Context, db *gorm.DB, act Act, id int64, note string) (Alert, error) {
	return moveAlert(ctx, db, act, id, note, AlertResolved)
}

// moveAlert changes an alert's state, with its audit event, in one
// transaction; a move the state does not allow changes nothing.
func moveAlert(ctx context.Context, db *gorm.DB, act Act, id int64, note string, to AlertState) (Alert, error) {
	note = strings.TrimSpace(note)
	if n := len([]rune(note)); n < alertNoteMin || n > alertNoteMax {
		return Alert{}, FieldErrors{"note": fmt.Sprintf("Say why, in %d to %d characters.", alertNoteMin, alertNoteMax)}
	}
	var a Alert
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&a).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("alert %d: %w", id, ErrNotFound)
			}
			return fmt.Errorf("alert %d: %w", id, err)
		}
		now := act.Now.UTC()
		action := ActionAlertAcknowledged
		cols := map[string]any{"state": string(to)}
		switch {
		case to == AlertAcknowledged && a.State == AlertOpen:
			a.AcknowledgedBy, a.AcknowledgedAt, a.AcknowledgedNote = act.By.Email, &now, note
			cols["acknowledged_by"], cols["acknowledged_at"], cols["acknowledged_note"] = act.By.Email, now, note
		case to == AlertResolved && a.State != AlertResolved:
			action = ActionAlertResolved
			a.ResolvedBy, a.ResolvedAt, a.ResolvedNote = act.By.Email, &now, note
			cols["resolved_by"], cols["resolved_at"], cols["resolved_note"] = act.By.Email, now, note
		default:
			return conflictf("Alert %d is %s; it cannot be %s now.", id, a.State, to)
		}
		res := tx.Model(&Alert{}).Where("id = ? AND state = ?", id, string(a.State)).Updates(cols)
		if res.Error != nil {
			return fmt.Errorf("alert %d: %w", id, res.Error)
		}
		if res.RowsAffected != 1 {
			return conflictf("Alert %d changed meanwhile; reload it.", id)
		}
		from := a.State
		a.State = to
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: act.By, Action: action, Workspace: a.Workspace,
			Target: alertTarget(a.ID), Reason: note,
			Detail: map[string]any{"rule": a.Rule, "from": string(from), "to": string(to)},
		})
		return err
	})
	if err != nil {
		return Alert{}, err
	}
	return a, nil
}

// alertTarget is how the audit log names an alert.
func alertTarget(id int64) string { return "alert/" + strconv.FormatInt(id, 10) }

// ReportAlertsConcerning returns, by workspace, the alerts about each
// of workspaces opened in [from, to), oldest first, as a transparency
// report lists them: rule, severity, state and when each was raised. A
// workspace without alerts is left out.
func ReportAlertsConcerning(ctx context.Context, db *gorm.DB, workspaces []string, from, to time.Time) (map[string][]ReportAlert, error) {
	out := map[string][]ReportAlert{}
	if len(workspaces) == 0 {
		return out, nil
	}
	var as []Alert
	err := db.WithContext(ctx).Where("workspace IN ? AND workspace <> '' AND opened_at >= ? AND opened_at < ?", workspaces, from.UTC(), to.UTC()).
		Order("opened_at ASC").Order("id ASC").Find(&as).Error
	if err != nil {
		return nil, fmt.Errorf("alerts concerning the reports: %w", err)
	}
	for _, a := range as {
		out[a.Workspace] = append(out[a.Workspace], ReportAlert{Rule: a.Rule, Severity: a.Severity, State: string(a.State), At: a.OpenedAt})
	}
	return out, nil
}
