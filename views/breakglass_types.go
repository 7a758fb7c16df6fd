package views

import "time"

// BreakglassRow is one break-glass use in a list.
type BreakglassRow struct {
	ID                  int64
	Workspace, Incident string
	Opener, OpenerTier  string
	OpenedAt, EndsAt    time.Time
	Open                bool // its grant is in force now
	Reviewed            bool
	Reviewer            string
}

// BreakglassForm is the open form's values.
type BreakglassForm struct {
	Workspace, Incident, Justification string
}

// BreakglassListView is the break-glass page: every use and the form to
// open one.
type BreakglassListView struct {
	Rows   []BreakglassRow
	Form   BreakglassForm
	Errors Errors
	Window time.Duration // how long a break-glass stays open
	Fresh  bool          // the viewer signed in recently enough to open one
}

// BreakglassConfirmView asks a sysadmin to confirm opening a break-glass
// with the values they entered, before anything is opened.
type BreakglassConfirmView struct {
	Form   BreakglassForm
	Name   string        // the workspace's name
	Window time.Duration // how long it stays open
	Owners int           // how many owners are emailed
}

// BreakglassView is one break-glass use.
type BreakglassView struct {
	Row           BreakglassRow
	Justification string
	ReviewNote    string
	ReviewedAt    time.Time
	GrantID       int64
	GrantEnded    string // why the grant ended early, if it did
	Tables        []string
	Viewed        []ViewedRow // what was viewed under it, from the audit log
	AuditURL      string      // its events in the audit log, when the viewer may read it
	CanReview     bool        // the viewer is a sysadmin other than the opener and it is unreviewed
	IsOpener      bool
	CanEnd        bool   // it is open and the viewer (a sysadmin) may end it
	Note          string // the review form's value
	EndNote       string // the end form's value
	Errors        Errors // "note" for the review form, "end_note" for the end form
	Done          string
}

// BreakglassMailView is what the mails about an opened break-glass say. A
// ReviewURL is set for sysadmins, who are asked to review it.
type BreakglassMailView struct {
	Company                  string // the company's name as customers read it
	Workspace, WorkspaceName string
	Opener, OpenerTier       string
	OpenedAt, EndsAt         time.Time
	Window                   time.Duration
	Incident, Justification  string
	ReviewURL                string
	EndURL                   string // an owner's link to see what was viewed and end the access
}

// BreakglassEndedMailView tells the opener of a break-glass that someone
// else ended it early.
type BreakglassEndedMailView struct {
	Workspace, WorkspaceName string
	Incident                 string
	OpenedAt, EndedAt        time.Time
	EndedBy                  string // who ended it: a sysadmin or the workspace's owner, named
	Note                     string
	PageURL                  string
}

// BreakglassLinkView is what a workspace owner sees behind the link in
// their break-glass mail: the access, what was viewed under it, and the
// button to end it while it is open.
type BreakglassLinkView struct {
	Token                   string
	Company                 string
	Workspace, Name         string
	Recipient               string
	Opener, OpenerTier      string
	Incident, Justification string
	OpenedAt, EndsAt        time.Time
	Open                    bool
	EndedAt                 time.Time // when it ended early (zero: it did not)
	EndedBy, EndedWhy       string
	Viewed                  ViewedSummary
	Note                    string // the end form's value
	Errors                  Errors
	Problem                 string // why the last POST changed nothing
}
