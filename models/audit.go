package models

import (
	"context"
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
	ActionGrantEnded             Action = "grant.ended"
	ActionDataViewed             Action = "data.viewed"
	ActionDataRefused            Action = "data.refused"
	ActionFieldRevealed          Action = "data.revealed"

	ActionRequestCreated     Action = "request.created"
	ActionRequestApproved    Action = "request.approved"
	ActionRequestDenied      Action = "request.denied"
	ActionRequestCancelled   Action = "request.cancelled"
	ActionRequestExpired     Action = "request.expired"
	ActionConsentShown       Action = "consent.shown"
	ActionConsentGranted     Action = "consent.granted"
	ActionConsentDenied      Action = "consent.denied"
	ActionConsentReported    Action = "consent.reported"
	ActionGrantRevoked       Action = "grant.revoked"
	ActionGrantDone          Action = "grant.done"
	ActionGrantExpired       Action = "grant.expired"
	ActionBreakglassOpened   Action = "breakglass.opened"
	ActionBreakglassReviewed Action = "breakglass.reviewed"
	ActionMailSent           Action = "mail.sent"
	ActionMailFailed         Action = "mail.failed"

	ActionRetentionNoticed  Action = "retention.noticed"
	ActionRetentionMarked   Action = "retention.marked"
	ActionLegalHoldPlaced   Action = "legal_hold.placed"
	ActionLegalHoldLifted   Action = "legal_hold.lifted"
	ActionDeletionRequested Action = "deletion.requested"
	ActionDeletionShown     Action = "deletion.shown"
	ActionDeletionConfirmed Action = "deletion.confirmed"
	ActionDeletionCancelled Action = "deletion.cancelled"
	ActionDeletionExpired   Action = "deletion.expired"
	ActionWorkspaceDeleted  Action = "workspace.deleted"

	ActionWorkspaceDeletionStarted Action = "workspace.deletion_started"
	ActionWorkspaceDeletionStopped Action = "workspace.deletion_stopped"
)

// Actor is who did something and from where, as the audit log records it.
type Actor struct {
	Email     string
	Tier      string
	IP        string
	UserAgent string
	RequestID string
}

// AuditEvent is one row of the append-only audit log. Seq, PrevHash and
// Hash are assigned by the appender (see AppendAudit); the other fields are
// what the event records. Every field is covered by the chain hash.
type AuditEvent struct {
	Seq          int64     `gorm:"primaryKey;autoIncrement:false"`
	At           time.Time `gorm:"not null"`
	Actor        string
	ActorTier    string
	Action       Action
	Workspace    string
	Table        string `gorm:"column:table_name"`
	RecordIDs    string `gorm:"column:record_ids"` // comma-separated ids of the records viewed
	GrantID      *int64 `gorm:"column:grant_id"`
	BreakglassID *int64 `gorm:"column:breakglass_id"`
	Target       string
	Reason       string
	Detail       string // JSON object: before/after and other facts
	IP           string `gorm:"column:ip"`
	UserAgent    string
	RequestID    string
	PrevHash     string `gorm:"column:prev_hash"`
	Hash         string `gorm:"column:hash"`
}

// TableName is the audit table's name.
func (AuditEvent) TableName() string { return "audit_events" }

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
