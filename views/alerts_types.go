package views

import "time"

// AlertRow is one alert as lists show it.
type AlertRow struct {
	ID            int64
	Rule          string
	Severity      string
	SubjectKind   string
	Subject       string
	Workspace     string
	Summary       string
	State         string
	OpenedAt      time.Time
	EvidenceCount int
}

// AlertListView is /alerts: the filters, the page of alerts and its nav.
type AlertListView struct {
	State, Rule, Severity string
	States, Rules         []string
	Severities            []string
	Filter                Errors
	Rows                  []AlertRow
	Nav                   ListNav
}

// AlertEvidenceRow is one audit event an alert stands on, with a link to
// it in the audit log.
type AlertEvidenceRow struct {
	Seq       int64
	At        time.Time
	Actor     string
	Action    string
	Workspace string
	Table     string
	Records   string
	AuditURL  string
}

// AlertView is an alert's page.
type AlertView struct {
	Row              AlertRow
	AcknowledgedBy   string
	AcknowledgedAt   *time.Time
	AcknowledgedNote string
	ResolvedBy       string
	ResolvedAt       *time.Time
	ResolvedNote     string
	Evidence         []AlertEvidenceRow
	MoreEvidence     bool
	// CanAcknowledge and CanResolve: a sysadmin, and the state allows it.
	CanAcknowledge, CanResolve bool
	// CanDeclare: a sysadmin, offered to declare an incident from it.
	CanDeclare bool
	// Incidents are those declared from it, for those who may read them.
	Incidents []IncidentLink
	Note      string
	Errors    Errors
	Done      string // "acknowledged" or "resolved" after a change
}

// IncidentLink names an incident for a link to it.
type IncidentLink struct {
	ID    int64
	Title string
}
