package views

import (
	"strings"
	"time"
)

// IncidentMailView is one owner's breach notice about one workspace: the
// notice's text as its author wrote it, and that workspace's facts from
// the audit evidence.
type IncidentMailView struct {
	Company       string
	Title         string
	Workspace     string
	WorkspaceName string
	FollowUp      bool
	Body          string
	StartedAt     time.Time
	DetectedAt    time.Time
	Accesses      []AccessRow
	LinkURL       string // the owner's link to read it again; empty on that page
}

// AccessRow is what one staff member read of one table of a workspace.
type AccessRow struct {
	Staff       string
	Table       string
	Views       int
	Records     string // the record ids, comma-separated, and how many more
	First, Last time.Time
}

// Subject is the notice mail's subject line.
func (m IncidentMailView) Subject() string {
	if m.FollowUp {
		return "Update on the security incident affecting " + m.WorkspaceName
	}
	return "Security incident affecting your workspace " + m.WorkspaceName
}

// span is when an access happened: one time when its first and last
// view fall in the same minute, else from the first to the last.
func (a AccessRow) span() string {
	if first, last := when(a.First), when(a.Last); first != last {
		return first + " – " + last
	}
	return when(a.First)
}

// paragraphs splits a notice's text at blank lines.
func paragraphs(s string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// IncidentRow is one incident in the list.
type IncidentRow struct {
	ID         int64
	Title      string
	Severity   string
	StartedAt  time.Time
	DetectedAt time.Time
	DeclaredAt time.Time
	Closed     bool
	Workspaces int
}

// IncidentForm is the declare form's values.
type IncidentForm struct {
	Title, Summary, Severity, Started, Detected, Alert string
	// FromAlert is the alert the form was filled in from (ID 0: none); its
	// number then travels as a hidden field.
	FromAlert AlertRow
}

// IncidentListView is the incidents page: every incident and, for a
// sysadmin, the form to declare one.
type IncidentListView struct {
	Rows      []IncidentRow
	Form      IncidentForm
	Errors    Errors
	CanManage bool
}

// AffectedRow is one affected workspace with what was accessed in it.
type AffectedRow struct {
	Slug, Name string
	Accesses   []AccessRow
}

// FindForm is the affected-workspace finder's values.
type FindForm struct {
	Method, Staff, Since, Until, Grant, Breakglass, Slugs string
}

// NoticeRow is one notice of an incident.
type NoticeRow struct {
	ID         int64
	Body       string
	Author     string
	CreatedAt  time.Time
	Approver   string
	ApprovedAt time.Time
	Approved   bool
	CanApprove bool // the viewer is a sysadmin other than its author
}

// DeliveryRow is one recipient's copy of a notice and its mail's state.
type DeliveryRow struct {
	Notice    int64
	Workspace string
	Recipient string
	Status    string // queued, sent or failed
	Attempts  int
}

// ContainmentRow is one containment recorded on the incident.
type ContainmentRow struct {
	Staff         string
	SessionsEnded int
	GrantsEnded   int
	Note          string
	By            string
	At            time.Time
}

// IncidentView is one incident's page.
type IncidentView struct {
	Row        IncidentRow
	Summary    string
	AlertID    int64
	DeclaredBy string
	Postmortem string
	ClosedAt   time.Time
	ClosedBy   string
	Affected   []AffectedRow
	Found      []AffectedRow // the finder's answer, not yet stored
	FindForm   FindForm
	FindFrom   int64 // the alert FindForm was filled in from, if any
	FoundHow   string
	Notices    []NoticeRow
	Deliveries []DeliveryRow
	Actions    []ContainmentRow
	CanManage  bool
	Fresh      bool // signed in recently enough to approve
	Done       string
	Errors     Errors
	NoticeBody string
	Contain    string
	Draft      string // the close form's post-mortem, kept on an error
}

// NoticePreviewView is a notice as one owner will read it.
type NoticePreviewView struct {
	Incident   int64
	Notice     int64
	Recipient  string
	Mail       IncidentMailView
	Text       string // the plain-text part, as sent
	Workspaces []AffectedRow
}
