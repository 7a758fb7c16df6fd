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

// BreakglassView is one break-glass use.
type BreakglassView struct {
	Row           BreakglassRow
	Justification string
	ReviewNote    string
	ReviewedAt    time.Time
	GrantID       int64
	GrantEnded    string // why the grant ended early, if it did
	Tables        []string
	CanReview     bool // the viewer is a sysadmin other than the opener and it is unreviewed
	IsOpener      bool
	Note          string // the review form's value
	Errors        Errors
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
}
