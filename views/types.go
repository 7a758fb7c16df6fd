// Package views renders Gatehouse's pages and mails with templ. Views take
// typed parameters computed by the handlers; they never query a database
// or the policy.
package views

import (
	"fmt"
	"strconv"
	"time"
)

// Chrome is what the layout needs on every page.
type Chrome struct {
	Title  string
	CSS    string // hashed stylesheet path
	Path   string // current URL path, to mark the current section
	Dev    bool
	Viewer *Viewer // nil when nobody is signed in
	Nav    []NavItem
	Flash  string // the confirmation of the action just done, shown once
}

// Viewer is the signed-in staff member as the layout shows them.
type Viewer struct {
	Name, Email, Tier string
	AgreementMissing  bool
}

// NavItem is one link of the navigation. Waiting counts what waits there
// for the viewer (the requests they may decide), shown as "Requests (2)".
type NavItem struct {
	Label, Href string
	Waiting     int64
}

// Title says what the count means, for a pointer's hover and screen readers.
func (n NavItem) Title() string {
	switch {
	case n.Waiting == 1:
		return "1 waits for your decision"
	case n.Waiting > 1:
		return strconv.FormatInt(n.Waiting, 10) + " wait for your decision"
	}
	return ""
}

// Errors maps a form field name to its message; "" is for the whole form.
type Errors map[string]string

// DemoUser is a demo staff member offered on the development login page.
type DemoUser struct {
	Email, Name, Tier       string
	Offboarded, NoAgreement bool
}

// LoginView is the sign-in page.
type LoginView struct {
	ReturnTo  string
	Why       string // why the person landed here, in words; "" for nothing to say
	Dev       bool
	DemoUsers []DemoUser
}

// DashboardView is the dashboard. It leads with what needs the viewer,
// in this order: requests to decide, requests a customer reported,
// unreviewed break-glass, deletions due, and their own live grants.
type DashboardView struct {
	Name, Tier       string
	Now              time.Time
	AgreementMissing bool
	AgreementVersion string
	Training         TrainingStatus
	SignedInAt       time.Time
	ExpiresAt        time.Time
	Can              []string // permissions held, as "object:action"
	WorkspaceCount   int64    // -1 when the viewer may not see workspaces
	// WorkspaceCountAbout says WorkspaceCount is an estimate (a large
	// registry is not counted on each view).
	WorkspaceCountAbout bool
	Staff               *StaffCounts // nil unless the viewer manages staff
	// ToDecide are pending requests the viewer may approve or deny.
	ToDecide []RequestRow
	// Reported are recent requests a customer reported as suspicious;
	// empty unless the viewer may approve requests.
	Reported []RequestRow
	// Unreviewed are the break-glass uses awaiting a second sysadmin's
	// review; empty unless the viewer may use break-glass.
	Unreviewed []BreakglassRow
	// DeletionsDue are the workspaces whose deletion waits for a
	// sysadmin, the longest waiting first; empty unless the viewer
	// manages retention.
	DeletionsDue []RetentionRow
	// MoreDeletionsDue is set when DeletionsDue is the first page of
	// more, the longest overdue first.
	MoreDeletionsDue bool
	// Live are the viewer's own grants in force, the soonest to end first.
	Live []LiveGrant
	// Mine are the requests the viewer asked for or is the grantee of,
	// newest first, with where each stands: their notifications.
	Mine []RequestRow
	// Alerts are the alerts not yet resolved, most severe first, shown
	// first when ShowAlerts (sysadmins and auditors).
	ShowAlerts bool
	Alerts     []AlertRow
	// Proposals are the oldest policy changes waiting for a second
	// sysadmin, of ProposalCount, shown when ShowProposals (sysadmins).
	ShowProposals bool
	Proposals     []ProposalRow
	ProposalCount int64
	// Incidents are the incidents not yet closed, newest first, shown with
	// the alerts when ShowIncidents (sysadmins and auditors).
	ShowIncidents bool
	Incidents     []IncidentRow
	// Review is the latest access review while it is open, for those who
	// may read reviews; nil otherwise.
	Review *ReviewSummary
	// The quick actions the viewer may take.
	CanFind, CanRequest bool
	// Audit is the audit log's state and recent activity; nil unless the
	// viewer may read the audit log.
	Audit *AuditSummary
	// Views charts data views per day over the last 30 days: one chart
	// for all staff, or one per tier for sysadmins.
	Views []DayChart
}

// AuditSummary is what an auditor sees of the audit log on the
// dashboard: when the chain was last verified, the last signed
// checkpoint, and the newest events.
type AuditSummary struct {
	Verified   *ChainCheck // nil when the chain was never verified
	Checkpoint *ChainCheck // nil when no checkpoint was signed yet
	Recent     []EventRow
}

// ChainCheck is one verification of the chain or one signed checkpoint.
type ChainCheck struct {
	At      time.Time
	By      string // who ran the verification; the key id of a checkpoint
	Seq     int64  // the head verified or signed
	OK      bool   // a checkpoint is always OK
	Broken  int64  // a failed verification's first broken link
	Problem string
}

// StaffCounts summarises the staff for sysadmins.
type StaffCounts struct {
	Active, Suspended, Offboarded int64
	WithoutAgreement              int64
	TrainingLapsed                int64
}

// TrainingStatus is where a person's security training stands.
type TrainingStatus struct {
	Done    *time.Time // completed on; nil when none is on record
	Until   *time.Time // counts until; nil when none is on record
	Lapsed  bool       // does not count now (lapsed or none on record)
	DueSoon bool       // counts now but lapses within 30 days
}

// StaffRow is one staff member in a list.
type StaffRow struct {
	ID                        int64
	Email, Name, Tier, Status string
	Agreement                 string
	AgreementSigned           *time.Time
	Training                  TrainingStatus
	Scope                     string // which workspaces they may touch; "" for all
}

// StaffForm is the add-staff form's values.
type StaffForm struct {
	Email, Name, Tier string
}

// StaffListView is the staff directory.
type StaffListView struct {
	Query     string
	Tier      string // the tier filter, "" for all
	Status    string // the status filter, "" for all
	Tiers     []string
	Statuses  []string
	Rows      []StaffRow
	Nav       ListNav
	Filter    Errors // a filter or page link that is not valid
	Form      StaffForm
	Errors    Errors
	Agreement string // current agreement version
	// TrainingDue are the active staff whose training lapses within 30
	// days, has lapsed or was never recorded.
	TrainingDue []StaffRow
}

// StaffView is one staff member's page.
type StaffView struct {
	Staff        StaffRow
	LiveSessions int64
	Events       []EventRow
	Errors       Errors
	Done         string // the change just made, for the confirmation line
	Self         bool   // the viewer is looking at their own record
	Fresh        bool   // the viewer signed in recently enough for step-up actions
	Agreement    string // current agreement version
	Today        time.Time
	Input        StaffInput // what the form that came back with messages sent
	Roles        []string   // the roles the role select offers: built-in tiers, then custom roles
}

// StaffInput is what one form of a staff page sent, shown again when it
// comes back with messages. Form is the form's key in Errors (tier,
// agreement, training, suspend, reactivate, offboard).
type StaffInput struct {
	Form                       string
	Tier, Version, Signed      string
	Completed, Reason, Confirm string
	Scope                      string
}

// or is sent when the form that came back is form, else fallback.
func (in StaffInput) or(form, sent, fallback string) string {
	if in.Form == form {
		return sent
	}
	return fallback
}

// EventRow is one audit event in a list.
type EventRow struct {
	At                            time.Time
	Actor, Action, Reason, Detail string
}

func pageHref(query string, page int) string {
	return fmt.Sprintf("?q=%s&page=%d", urlQueryEscape(query), page)
}
