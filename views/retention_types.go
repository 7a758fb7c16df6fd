package views

import "time"

// RetentionPolicyView is the retention policy's numbers, in days, as the
// pages state them.
type RetentionPolicyView struct {
	CancelledKeep, FreeNotice, FreeMark, FreeDelete, RequestValid int
}

// RetentionStatusView is where a workspace stands in its retention
// lifecycle: the state, the rule that applies, why, and the dated steps.
type RetentionStatusView struct {
	State       string // models.RetentionState, for the badge
	StateText   string // the state in words
	Rule        string
	Explanation string
	Next        string     // the next action in words; "" when none is planned
	NextAt      time.Time  // its date
	NextBy      bool       // NextAt is a deadline ("by <date>", not "on <date>")
	Due         bool       // the next action is due now
	DeleteAt    *time.Time // when deletion is or will be due; nil when none is planned
	Steps       []RetentionStepRow
	Held        bool
}

// RetentionStepRow is one dated step of a lifecycle.
type RetentionStepRow struct {
	Name string
	Due  time.Time
	Done *time.Time
}

// RetentionRow is one workspace in the retention queue.
type RetentionRow struct {
	Slug, Name, Plan string
	Retention        RetentionStatusView
}

// StateCount is how many workspaces are in one state, for the queue's
// filter links.
type StateCount struct {
	State, Text string
	N           int
	Capped      bool // more than N
	About       bool // an estimate
	Selected    bool
	// AsOf, when set, is when the retention job counted this state (the
	// states whose count needs every notice evaluated); the others are
	// counted on each view.
	AsOf *time.Time
}

// CountText is the count as the queue shows it: "5,000+" when capped.
func (s StateCount) CountText() string {
	mark := ""
	if s.AsOf != nil {
		mark = "*"
	}
	if s.Capped {
		return thousands(int64(s.N)) + "+" + mark
	}
	if s.About {
		return about(int64(s.N)) + mark
	}
	return thousands(int64(s.N)) + mark
}

// RetentionQueueView is the retention queue.
type RetentionQueueView struct {
	Policy RetentionPolicyView
	Counts []StateCount
	State  string // the state filter; "" for what needs attention, "all" for every workspace
	Query  string
	Rows   []RetentionRow
	// First and Next are the links to the queue's first page (set when
	// this is not it) and to the next page (set when there is one).
	First, Next string
	Holds       []HoldRow // every live hold
	// CountedAt is when the retention job last counted the states marked
	// with an asterisk (StateCount.AsOf); nil when all are counted now.
	CountedAt *time.Time
}

// HoldRow is one legal hold.
type HoldRow struct {
	ID                      int64
	Slug, Reference, Reason string
	PlacedBy                string
	PlacedAt                time.Time
	LiftedBy, LiftReason    string
	LiftedAt                *time.Time
	Live                    bool
}

// DeletionRequestRow is one customer deletion request and who of the
// owners confirmed it.
type DeletionRequestRow struct {
	ID                              int64
	Slug, Status, Note, RequestedBy string
	Created, Expires                time.Time
	Confirmed                       *time.Time
	Needed, Got                     int
	Links                           []DeletionLinkRow
}

// DeletionLinkRow is one owner's confirmation link (never its token).
type DeletionLinkRow struct {
	Recipient   string
	ConfirmedAt *time.Time
}

// TableRowsView is one table a deletion removed.
type TableRowsView struct {
	Table string
	Rows  int64
}

// DeletionReportView is what a deletion removed: where, the tables and
// their row counts, never the data.
type DeletionReportView struct {
	Engine, Location, DeletedBy, Rule string
	DeletedAt                         time.Time
	Missing, CountsUnknown            bool
	Tables                            []TableRowsView
	Files                             []string
	RequestID                         int64
	EndedGrants, ClosedRequests       string // ids, comma-separated
}

// HoldForm is the place-hold form's values.
type HoldForm struct {
	Reference, Reason string
}

// RetentionPageView is one workspace's retention page (sysadmins).
type RetentionPageView struct {
	Workspace WorkspaceRow
	Policy    RetentionPolicyView
	Status    RetentionStatusView
	Holds     []HoldRow
	Requests  []DeletionRequestRow
	Report    *DeletionReportView
	CanDelete bool   // deletion is due and nothing stops it
	Location  string // where the data lives: the schema or the file
	Fresh     bool   // signed in recently enough to lift a hold or delete
	HoldForm  HoldForm
	LiftID    int64  // the hold whose lift form has errors
	Lift      string // its reason as typed
	Confirm   string // the delete form's confirmation as typed
	Errors    Errors
	Done      string
	Events    []EventRow
}

// DeletionForm is the form staff record a customer's deletion request
// with.
type DeletionForm struct {
	Note string
}

// DeletionView is the page a workspace owner opens from a deletion
// confirmation mail.
type DeletionView struct {
	Token, Company, Workspace, Name, Recipient string
	Note                                       string
	Created, Expires                           time.Time
	Status                                     string // where it stands, in words; "" while waiting for the owners
	Needed, Got                                int
	Confirmed                                  []DeletionLinkRow // owners who confirmed
	Members                                    int
	ConfirmedByYou                             bool
	CanConfirm, CanCancel                      bool
	Error                                      string
}

// RetentionNoticeMailView is a notice that an unused free workspace will be
// deleted unless someone logs in.
type RetentionNoticeMailView struct {
	Company, Workspace, Name, Recipient string
	Second                              bool // the second notice: marked for deletion
	IdleSince, DeleteOn                 time.Time
	IdleDays                            int
}

// DeletionConfirmationMailView asks an owner to confirm a deletion request.
type DeletionConfirmationMailView struct {
	Company, Workspace, Name, Recipient string
	Note, Link                          string
	Expires                             time.Time
	Needed                              int
}

// WorkspaceRetentionView is the retention card of a workspace's page.
type WorkspaceRetentionView struct {
	Slug      string
	Status    RetentionStatusView
	Requests  []DeletionRequestRow
	CanRecord bool // may record a customer's deletion request
	CanManage bool // may open the retention page (holds, deletion)
	// RequestOpen is set while a deletion request is pending or
	// confirmed: the form to record another is not offered.
	RequestOpen bool
	Form        DeletionForm
	Errors      Errors
	Done        string
}

// nextWhen dates the next action: "on <date>", or "by <date>" for a
// deadline.
func nextWhen(s RetentionStatusView) string {
	if s.NextBy {
		return "by " + date(s.NextAt)
	}
	return "on " + date(s.NextAt)
}

// deletionStatus is where a deletion request stands, in words.
func deletionStatus(v DeletionView) string {
	if v.Status == "" {
		return "Waiting for the owners' confirmation until " + when(v.Expires) + "."
	}
	return v.Status
}
