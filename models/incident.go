package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Incidents and breach notices. A sysadmin declares an incident, finds
// the affected workspaces from the audit evidence (FindAffected), drafts
// a notice to their owners, and a second sysadmin approves it, which
// sends it through the outbox (incident_notice.go); containment ends
// sessions and grants (incident_contain.go); a post-mortem closes it.

// Audited actions of incidents.
const (
	ActionIncidentDeclared       Action = "incident.declared"
	ActionIncidentAffectedSet    Action = "incident.affected_set"
	ActionIncidentNoticeDrafted  Action = "incident.notice_drafted"
	ActionIncidentNoticeApproved Action = "incident.notice_approved"
	ActionIncidentNoticeShown    Action = "incident.notice_shown"
	ActionIncidentContained      Action = "incident.contained"
	ActionIncidentClosed         Action = "incident.closed"
)

// Severities is every severity of an incident, least first.
var Severities = []string{"low", "medium", "high", "critical"}

// Incident is a declared security incident.
type Incident struct {
	ID         int64 `gorm:"primaryKey"`
	Title      string
	Summary    string
	Severity   string
	StartedAt  time.Time
	DetectedAt time.Time
	AlertID    *int64 // the alert it came from, if any
	DeclaredBy int64
	DeclaredAt time.Time
	Affected   string // JSON of []AffectedWorkspace
	ClosedAt   *time.Time
	ClosedBy   *int64
	Postmortem string
}

// TableName is the incidents table's name.
func (Incident) TableName() string { return "incidents" }

// Closed reports whether the post-mortem closed the incident.
func (i Incident) Closed() bool { return i.ClosedAt != nil }

// Workspaces is the affected set stored on the incident.
func (i Incident) Workspaces() ([]AffectedWorkspace, error) {
	var out []AffectedWorkspace
	if i.Affected == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(i.Affected), &out); err != nil {
		return nil, fmt.Errorf("incident %d affected: %w", i.ID, err)
	}
	return out, nil
}

// NewIncident is what a sysadmin declares.
type NewIncident struct {
	Title      string
	Summary    string
	Severity   string
	StartedAt  time.Time
	DetectedAt time.Time
	AlertID    *int64
	DeclaredBy int64
}

// CheckIncident says what is wrong with in at now, by form field; nil
// when it may be declared.
func CheckIncident(in NewIncident, now time.Time) FieldErrors {
	fe := FieldErrors{}
	if err := CheckNote(in.Title, 5); err != nil || strings.ContainsAny(in.Title, "\r\n") || len(in.Title) > 200 {
		fe["title"] = "Give a title of 5 to 200 characters on one line."
	}
	if err := CheckReason(in.Summary, 20); err != nil {
		fe["summary"] = noteMessage(err, "Say in a few sentences what happened (at least 20 characters).")
	}
	if !slices.Contains(Severities, in.Severity) {
		fe["severity"] = "Choose a severity: low, medium, high or critical."
	}
	switch {
	case in.StartedAt.IsZero():
		fe["started"] = "Give when it started (UTC)."
	case in.StartedAt.After(now):
		fe["started"] = "It cannot have started in the future."
	}
	switch {
	case in.DetectedAt.IsZero():
		fe["detected"] = "Give when it was detected (UTC)."
	case in.DetectedAt.After(now):
		fe["detected"] = "It cannot have been detected in the future."
	case !in.StartedAt.IsZero() && in.DetectedAt.Before(in.StartedAt):
		fe["detected"] = "It cannot have been detected before it started."
	}
	if in.AlertID != nil && *in.AlertID <= 0 {
		fe["alert"] = "An alert is named by its number."
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// DeclareIncident records a new incident and its incident.declared event.
func DeclareIncident(ctx context.Context, db *gorm.DB, act Act, in NewIncident) (Incident, error) {
	in.Title, in.Summary = strings.TrimSpace(in.Title), strings.TrimSpace(in.Summary)
	if fe := CheckIncident(in, act.Now); fe != nil {
		return Incident{}, fmt.Errorf("declare incident: %w", fe)
	}
	inc := Incident{
		Title:      in.Title,
		Summary:    in.Summary,
		Severity:   in.Severity,
		StartedAt:  in.StartedAt.UTC(),
		DetectedAt: in.DetectedAt.UTC(),
		AlertID:    in.AlertID,
		DeclaredBy: in.DeclaredBy,
		DeclaredAt: act.Now.UTC(),
	}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockActiveSysadminFor(tx, in.DeclaredBy); err != nil {
			return err
		}
		if in.AlertID != nil {
			// The alert it came from must be a real one: the incident's
			// page links to it and its finder starts from it.
			var n int64
			if err := tx.Model(&Alert{}).Where("id = ?", *in.AlertID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return Invalid("alert", fmt.Sprintf("There is no alert %d.", *in.AlertID))
			}
		}
		if err := tx.Create(&inc).Error; err != nil {
			return err
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: act.Now, Actor: act.By, Action: ActionIncidentDeclared, Target: IncidentTarget(inc.ID), Reason: inc.Summary,
			Detail: map[string]any{"title": inc.Title, "severity": inc.Severity, "started": inc.StartedAt, "detected": inc.DetectedAt, "alert": inc.AlertID},
		})
		return err
	})
	if err != nil {
		return Incident{}, fmt.Errorf("declare incident: %w", err)
	}
	return inc, nil
}

// IncidentTarget is an incident's name as audit events' target.
func IncidentTarget(id int64) string { return fmt.Sprintf("incident:%d", id) }

// ErrIncidentRefused is a person who may not act on an incident: not an
// active sysadmin, or approving a notice they wrote themselves.
var ErrIncidentRefused = errors.New("incident action refused")

// lockActiveSysadminFor is lockActiveSysadmin (break-glass's check: an
// active sysadmin, under a row lock) refusing with ErrIncidentRefused.
func lockActiveSysadminFor(tx *gorm.DB, id int64) (Staff, error) {
	s, err := lockActiveSysadmin(tx, id)
	if errors.Is(err, ErrBreakglassRefused) {
		return Staff{}, fmt.Errorf("%w: %w", ErrIncidentRefused, err)
	}
	return s, err
}

// lockOpenIncident loads incident id under a row lock inside tx; a closed
// incident is a ConflictError.
func lockOpenIncident(tx *gorm.DB, id int64) (Incident, error) {
	var inc Incident
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&inc).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Incident{}, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Incident{}, err
	}
	if inc.Closed() {
		return Incident{}, conflictf("Incident %d is closed; nothing more can be done on it.", id)
	}
	return inc, nil
}

// FindIncident returns incident id, or a wrapped ErrNotFound.
func FindIncident(ctx context.Context, db *gorm.DB, id int64) (Incident, error) {
	var inc Incident
	err := db.WithContext(ctx).Where("id = ?", id).Take(&inc).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Incident{}, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Incident{}, fmt.Errorf("incident %d: %w", id, err)
	}
	return inc, nil
}

// ListIncidents returns the newest incidents, open ones first.
func ListIncidents(ctx context.Context, db *gorm.DB, limit int) ([]Incident, error) {
	var out []Incident
	err := db.WithContext(ctx).Order("CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END").Order("id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// OpenIncidents returns the incidents not yet closed, newest first, up
// to limit: what a dashboard shows.
func OpenIncidents(ctx context.Context, db *gorm.DB, limit int) ([]Incident, error) {
	var out []Incident
	err := db.WithContext(ctx).Where("closed_at IS NULL").Order("declared_at DESC").Order("id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("open incidents: %w", err)
	}
	return out, nil
}

// IncidentsFromAlert returns the incidents declared from alert id, oldest
// first. Incidents are few (one per security incident), so this reads
// the table without an index of its own.
func IncidentsFromAlert(ctx context.Context, db *gorm.DB, id int64) ([]Incident, error) {
	var out []Incident
	if err := db.WithContext(ctx).Where("alert_id = ?", id).Order("id ASC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("incidents from alert %d: %w", id, err)
	}
	return out, nil
}

// SetAffected stores the affected workspaces found from the evidence on
// the incident, replacing the set before it. Once a notice has been sent
// its recipients are fixed, so the set can no longer change.
func SetAffected(ctx context.Context, db *gorm.DB, act Act, id int64, ws []AffectedWorkspace, how string) error {
	if len(ws) == 0 {
		return Invalid("", "The evidence names no workspace; nothing was stored.")
	}
	raw, err := json.Marshal(ws)
	if err != nil {
		return err
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockOpenIncident(tx, id); err != nil {
			return err
		}
		var sent int64
		if err := tx.Model(&IncidentNotice{}).Where("incident_id = ? AND approved_by IS NOT NULL", id).Count(&sent).Error; err != nil {
			return err
		}
		if sent > 0 {
			return conflictf("A notice has been sent to the owners of the affected workspaces; the set can no longer change.")
		}
		if err := tx.Model(&Incident{}).Where("id = ?", id).Update("affected", string(raw)).Error; err != nil {
			return err
		}
		slugs := make([]string, len(ws))
		for i, w := range ws {
			slugs[i] = w.Slug
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: act.Now, Actor: act.By, Action: ActionIncidentAffectedSet, Target: IncidentTarget(id),
			Detail: map[string]any{"workspaces": slugs, "found_by": how},
		})
		return err
	})
}

// CloseIncident records the post-mortem and closes the incident; nothing
// more can be done on it afterwards.
func CloseIncident(ctx context.Context, db *gorm.DB, act Act, id, byID int64, postmortem string) error {
	postmortem = strings.TrimSpace(postmortem)
	if err := CheckReason(postmortem, 40); err != nil {
		return Invalid("postmortem", noteMessage(err, "Write the post-mortem: what happened, why, and what changes (at least 40 characters)."))
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockActiveSysadminFor(tx, byID); err != nil {
			return err
		}
		if _, err := lockOpenIncident(tx, id); err != nil {
			return err
		}
		err := tx.Model(&Incident{}).Where("id = ? AND closed_at IS NULL", id).
			Updates(map[string]any{"closed_at": act.Now.UTC(), "closed_by": byID, "postmortem": postmortem}).Error
		if err != nil {
			return err
		}
		_, err = AppendAudit(ctx, tx, AuditEntry{At: act.Now, Actor: act.By, Action: ActionIncidentClosed, Target: IncidentTarget(id), Reason: postmortem})
		return err
	})
}
