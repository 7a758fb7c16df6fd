package views

import "time"

// TransparencyReportView is a workspace's transparency report as the
// mail and the owner's page show it.
type TransparencyReportView struct {
	Company       string
	Workspace     string
	WorkspaceName string
	From, To      time.Time         // the period: [From, To)
	Requests      []TransparencyRow // label → count, requests and their outcomes
	Views         []TransparencyCount
	Reveals       []TransparencyCount
	Breakglass    []TransparencyBreakglass
	AlertsKnown   bool // false: no alerts section
	Alerts        []TransparencyAlert
	Decided       int
	Median        string // the median time from request to decision, "" when none was decided
	Idle          bool   // nothing happened
}

// TransparencyRow is one labelled figure.
type TransparencyRow struct {
	Label string
	Count int64
}

// TransparencyCount is one staff member's count on one table.
type TransparencyCount struct {
	Staff string
	Table string
	Count int64
}

// TransparencyBreakglass is one break-glass use.
type TransparencyBreakglass struct {
	Staff         string
	At            time.Time
	Justification string
}

// TransparencyAlert is one alert that concerned the workspace.
type TransparencyAlert struct {
	Rule     string
	Severity string
	State    string
	At       time.Time
}

// TransparencyMailView is the report's mail: the report and the link.
type TransparencyMailView struct {
	Report  TransparencyReportView
	LinkURL string
}

// TransparencyLinkView is the owner's report page.
type TransparencyLinkView struct {
	Report    TransparencyReportView
	Token     string
	Recipient string
	MailOff   bool
	Done      bool   // the mail was just turned off
	Problem   string // why the last POST changed nothing
}

// periodText is the period as people say it: "1 Nov 2026 – 30 Nov 2026".
func periodText(from, to time.Time) string {
	last := to.Add(-time.Nanosecond)
	return from.UTC().Format("2 Jan 2006") + " – " + last.UTC().Format("2 Jan 2006")
}
