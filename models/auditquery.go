package models

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ActionAuditExported records a download or CLI export of the audit log;
// its detail holds the filters used.
const ActionAuditExported Action = "audit.exported"

// auditActions are the actions a search may name. TestAuditActionsListed
// keeps it in step with the Action constants of this package.
var auditActions = []Action{
	ActionLoginSucceeded, ActionLoginRefused, ActionLogout,
	ActionStaffCreated, ActionStaffTierChanged, ActionStaffAgreementRecorded, ActionStaffTrainingRecorded,
	ActionStaffSuspended, ActionStaffReactivated, ActionStaffOffboarded, ActionStaffScopeChanged,
	ActionRoleCreated, ActionRoleChanged, ActionRoleDeleted,
	ActionGrantEnded, ActionDataViewed, ActionDataRefused, ActionFieldRevealed,
	ActionAuditExported, ActionAuditExportFinished, ActionAuditExportCut, ActionAuditArchived,
	ActionRequestCreated, ActionRequestApproved, ActionRequestDenied, ActionRequestCancelled, ActionRequestExpired,
	ActionConsentShown, ActionConsentGranted, ActionConsentDenied, ActionConsentReported,
	ActionGrantRevoked, ActionGrantDone, ActionGrantExpired,
	ActionBreakglassOpened, ActionBreakglassReviewed,
	ActionBreakglassEnded, ActionBreakglassLinkShown,
	ActionMailSent, ActionMailFailed,
	ActionRetentionNoticed, ActionRetentionMarked, ActionLegalHoldPlaced, ActionLegalHoldLifted,
	ActionDeletionRequested, ActionDeletionShown, ActionDeletionConfirmed, ActionDeletionCancelled, ActionDeletionExpired,
	ActionWorkspaceDeleted, ActionWorkspaceDeletionStarted, ActionWorkspaceDeletionStopped,
	ActionAlertRaised, ActionAlertAcknowledged, ActionAlertResolved, ActionAlertWebhookFailed,
	ActionIncidentDeclared, ActionIncidentAffectedSet, ActionIncidentNoticeDrafted, ActionIncidentNoticeApproved,
	ActionIncidentNoticeShown, ActionIncidentContained, ActionIncidentClosed,
	ActionTransparencyReported, ActionTransparencyShown, ActionTransparencyMailOff,
	ActionProposalCreated, ActionProposalApproved, ActionProposalRejected, ActionProposalWithdrawn, ActionProposalStale,
	ActionReviewOpened, ActionReviewCertified, ActionReviewClosed, ActionReviewExported,
}

// AuditActions returns every known action, sorted.
func AuditActions() []Action {
	a := slices.Clone(auditActions)
	slices.Sort(a)
	return a
}

// KnownAction reports whether a is one of the audited actions.
func KnownAction(a Action) bool { return slices.Contains(auditActions, a) }

// ParseAuditTime reads a time filter as UTC: RFC 3339, a browser's
// datetime-local value ("2006-01-02T15:04"), or a date. A date as the end
// of a range (end) means the end of that day, so "until 2026-11-22"
// includes the 22nd.
func ParseAuditTime(s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, errors.New("not a time: use 2006-01-02, 2006-01-02T15:04 (UTC) or RFC 3339")
}

// AuditRecord is an event as exports and the stream write it: every
// stored field, snake_case, times in UTC RFC 3339.
type AuditRecord struct {
	Type         string    `json:"type,omitempty"`
	Seq          int64     `json:"seq"`
	At           time.Time `json:"at"`
	Actor        string    `json:"actor"`
	ActorTier    string    `json:"actor_tier"`
	Action       Action    `json:"action"`
	Workspace    string    `json:"workspace"`
	Table        string    `json:"table_name"`
	RecordIDs    string    `json:"record_ids"`
	GrantID      *int64    `json:"grant_id"`
	BreakglassID *int64    `json:"breakglass_id"`
	Target       string    `json:"target"`
	Reason       string    `json:"reason"`
	Detail       string    `json:"detail"`
	IP           string    `json:"ip"`
	UserAgent    string    `json:"user_agent"`
	RequestID    string    `json:"request_id"`
	PrevHash     string    `json:"prev_hash"`
	Hash         string    `json:"hash"`
}

// Record returns ev as an AuditRecord of the given type ("" for none).
func (ev AuditEvent) Record(typ string) AuditRecord {
	return AuditRecord{
		Type: typ, Seq: ev.Seq, At: ev.At.UTC(), Actor: ev.Actor, ActorTier: ev.ActorTier, Action: ev.Action,
		Workspace: ev.Workspace, Table: ev.Table, RecordIDs: ev.RecordIDs, GrantID: ev.GrantID, BreakglassID: ev.BreakglassID,
		Target: ev.Target, Reason: ev.Reason, Detail: ev.Detail, IP: ev.IP, UserAgent: ev.UserAgent,
		RequestID: ev.RequestID, PrevHash: ev.PrevHash, Hash: ev.Hash,
	}
}

// Event returns the stored event r describes.
func (r AuditRecord) Event() AuditEvent {
	return AuditEvent{
		Seq: r.Seq, At: r.At.UTC(), Actor: r.Actor, ActorTier: r.ActorTier, Action: r.Action,
		Workspace: r.Workspace, Table: r.Table, RecordIDs: r.RecordIDs, GrantID: r.GrantID, BreakglassID: r.BreakglassID,
		Target: r.Target, Reason: r.Reason, Detail: r.Detail, IP: r.IP, UserAgent: r.UserAgent,
		RequestID: r.RequestID, PrevHash: r.PrevHash, Hash: r.Hash,
	}
}

// AppendJSONLine appends ev as one JSON line (with "type" when typ is set).
func AppendJSONLine(dst []byte, typ string, ev AuditEvent) ([]byte, error) {
	b, err := json.Marshal(ev.Record(typ))
	if err != nil {
		return dst, err
	}
	return append(append(dst, b...), '\n'), nil
}

// AuditCSVHeader is the header row of a CSV export.
var AuditCSVHeader = []string{
	"seq", "at", "actor", "actor_tier", "action", "workspace", "table_name", "record_ids", "grant_id",
	"breakglass_id", "target", "reason", "detail", "ip", "user_agent", "request_id", "prev_hash", "hash",
}

// CSVRow is ev as a CSV export row, in AuditCSVHeader's order. Audit
// values come from users and attackers (a reason, a user agent, a failed
// sign-in's error), and spreadsheets run a cell starting with =, +, -, @,
// tab or carriage return as a formula, so each such cell gets a leading
// "'" (csvCell). JSON Lines is the exact export, to re-verify the chain.
func (ev AuditEvent) CSVRow() []string {
	opt := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	row := []string{
		strconv.FormatInt(ev.Seq, 10), ev.At.UTC().Format(time.RFC3339Nano), ev.Actor, ev.ActorTier, string(ev.Action),
		ev.Workspace, ev.Table, ev.RecordIDs, opt(ev.GrantID), opt(ev.BreakglassID), ev.Target, ev.Reason,
		ev.Detail, ev.IP, ev.UserAgent, ev.RequestID, ev.PrevHash, ev.Hash,
	}
	for i, v := range row {
		row[i] = csvCell(v)
	}
	return row
}

// csvCell is v as a CSV export writes it: with a leading "'" when v starts
// with a character a spreadsheet reads as the start of a formula (=, +,
// -, @, tab, carriage return), or with "'" itself, so that removing one
// leading "'" from a cell that has one always gives the stored value.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r'", rune(v[0])) {
		return "'" + v
	}
	return v
}
