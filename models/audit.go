package models

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Action names an audited event. The set is closed: every action Gatehouse
// records is one of these constants.
type Action string

// Audited actions.
const (
	ActionLoginSucceeded         Action = "login.succeeded"
	ActionLoginRefused           Action = "login.refused"
	ActionLogout                 Action = "logout"
	ActionStaffCreated           Action = "staff.created"
	ActionStaffTierChanged       Action = "staff.tier_changed"
	ActionStaffAgreementRecorded Action = "staff.agreement_recorded"
	ActionStaffTrainingRecorded  Action = "staff.training_recorded"
	ActionStaffSuspended         Action = "staff.suspended"
	ActionStaffReactivated       Action = "staff.reactivated"
	ActionStaffOffboarded        Action = "staff.offboarded"
)

// Actor is who did something and from where, as the audit log records it.
type Actor struct {
	Email     string
	Tier      string
	IP        string
	UserAgent string
	RequestID string
}

// AuditEvent is one row of the append-only audit log.
type AuditEvent struct {
	Seq       int64     `gorm:"primaryKey;autoIncrement"`
	At        time.Time `gorm:"not null"`
	Actor     string
	ActorTier string
	Action    Action
	Workspace string
	Target    string
	Reason    string
	Detail    string // JSON object: before/after and other facts
	IP        string `gorm:"column:ip"`
	UserAgent string
	RequestID string
}

// TableName is the audit table's name.
func (AuditEvent) TableName() string { return "audit_events" }

// Audit appends an event by actor. detail, when not nil, is stored as JSON.
// Call it inside the transaction that makes the change it records.
func Audit(ctx context.Context, tx *gorm.DB, now time.Time, a Actor, action Action, target, reason string, detail any) error {
	ev := AuditEvent{
		At: now.UTC(), Actor: a.Email, ActorTier: a.Tier, Action: action,
		Target: target, Reason: reason, IP: a.IP, UserAgent: a.UserAgent, RequestID: a.RequestID,
	}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("audit detail: %w", err)
		}
		ev.Detail = string(b)
	}
	if err := tx.WithContext(ctx).Create(&ev).Error; err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	Actor  string
	Action Action
	Target string
	Limit  int
}

// ListAudit returns matching events, newest first.
func ListAudit(ctx context.Context, db *gorm.DB, f AuditFilter) ([]AuditEvent, error) {
	q := db.WithContext(ctx).Order("seq DESC")
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var evs []AuditEvent
	if err := q.Limit(limit).Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return evs, nil
}
