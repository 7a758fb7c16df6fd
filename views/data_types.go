package views

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// WorkspaceRow is one workspace's general information: meta only.
type WorkspaceRow struct {
	Slug, Name, Plan, Status string
	Members                  int
	LastLogin                *time.Time // nil when nobody ever logged in
	Subscription             string
	Renewal, CancelledAt     *time.Time
	Created                  time.Time
}

// WorkspaceListView is the workspace search.
type WorkspaceListView struct {
	Query      string
	Plan       string // the plan filter, "" for all
	Status     string // the status filter, "" for all
	Retention  string // the retention state filter, "" for all
	Plans      []string
	Statuses   []string
	Retentions []string
	Rows       []WorkspaceRow
	Nav        ListNav
	Errors     Errors // a filter or page link that is not valid
}

// GrantRow is one grant on a workspace's page.
type GrantRow struct {
	ID             int64
	Grantee, Scope string
	Unmask         bool
	StartsAt       time.Time
	EndsAt         time.Time
	State          string        // live, scheduled or ended
	End            *GrantEndView // set once it has ended
}

// WorkspaceView is one workspace's page.
type WorkspaceView struct {
	Workspace WorkspaceRow
	Owners    []string
	Grants    []GrantRow
	// Tables are the tables the viewer's live grants open; empty when
	// they hold none.
	Tables []string
	// Live are the viewer's own grants in force on this workspace.
	Live []LiveGrant
	Now  time.Time
	// Requests are the workspace's newest access requests.
	Requests []RequestRow
	// CanRequest shows the "Ask for access" link.
	CanRequest bool
	// DeletedAt is set when the workspace was deleted: nobody may ask
	// for access to it any more.
	DeletedAt *time.Time
	// Retention is where the workspace stands under the retention policy.
	Retention WorkspaceRetentionView
	// Reach is who could read its data and who did (sysadmins and
	// auditors); nil for everyone else.
	Reach *ReachView
}

// ReachView answers "who can reach this customer?": everyone who could
// read the workspace's data today, by path, and everyone who did in the
// last Days days.
type ReachView struct {
	Slug string
	// Own is true on the page of its own, false in the workspace page's
	// card (which links to that page).
	Own  bool
	Now  []ReachRow
	Past []PastReaderRow
	Days int
}

// ReachRow is one person who could read the data today.
type ReachRow struct {
	ID         int64
	Name       string
	Email      string
	Role       string
	GrantsEnd  []time.Time // their live grants' ends, soonest first
	Breakglass bool
	Request    bool
}

// PastReaderRow is one person who read the data in the window.
type PastReaderRow struct {
	Email    string
	Grants   int
	LastRead time.Time
	AuditURL string
}

// DataCell is one value on a data page. A masked cell carries no value;
// a time's is At.
type DataCell struct {
	Text   string
	Null   bool
	Masked bool
	At     *time.Time
}

// DataColumn is one shown column and its catalog class.
type DataColumn struct {
	Name, Class string
}

// DataRow is one record on a table page.
type DataRow struct {
	ID    int64
	Cells []DataCell
}

// DataTableView is a page of one table of one workspace.
type DataTableView struct {
	Slug, Name, Table string
	Columns           []DataColumn
	Rows              []DataRow
	Next              int64 // the after= of the next page; 0 when none
	Paged             bool  // not the first page
	// Start is the first row's place (0 when unknown) and Total how many
	// rows the grant covers, more than Total when Capped.
	Start, Total int64
	Capped       bool
	GrantID      int64
	GrantEnds    time.Time
	EndHref      string // where "I'm done" posts; "" hides it
	Now          time.Time
	Unmask       bool
}

// DataRecordView is one record, with a reveal form per masked field.
type DataRecordView struct {
	Slug, Name, Table string
	ID                int64
	Columns           []DataColumn
	Cells             []DataCell
	GrantID           int64
	GrantEnds         time.Time
	EndHref           string // where "I'm done" posts; "" hides it
	Now               time.Time
	// Revealable is whether the grant lets a single masked field be
	// revealed; the customer consented to that, or not.
	Revealable    bool
	Errors        Errors
	Field, Reason string // the reveal form's values after a failed POST
}

// anyMasked reports whether a cell of the record is masked.
func (v DataRecordView) anyMasked() bool {
	for _, c := range v.Cells {
		if c.Masked {
			return true
		}
	}
	return false
}

func workspaceHref(slug string) string { return "/workspaces/" + url.PathEscape(slug) }

func dataHref(slug, table string) string {
	return workspaceHref(slug) + "/data/" + url.PathEscape(table)
}

func recordHref(slug, table string, id int64) string {
	return fmt.Sprintf("%s/%d", dataHref(slug, table), id)
}

// RangeText is where the page stands: "51–57 of 57"; "51–100 of more
// than 10,000"; "50 records of more than 10,000" when the start is not
// counted.
func (v DataTableView) RangeText() string {
	of := thousands(v.Total)
	if v.Capped {
		of = "more than " + of
	}
	n := int64(len(v.Rows))
	if v.Start == 0 {
		return thousands(n) + " records of " + of
	}
	return thousands(v.Start) + "–" + thousands(v.Start+n-1) + " of " + of
}

// Humanize is a column name as a header shows it: "created_at" is
// "Created at", "owner_id" is "Owner ID".
func Humanize(name string) string {
	words := strings.Fields(strings.ReplaceAll(name, "_", " "))
	for i, w := range words {
		switch w {
		case "id", "ip", "url", "api":
			words[i] = strings.ToUpper(w)
		}
	}
	if len(words) == 0 {
		return name
	}
	s := strings.Join(words, " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// cellTime writes a time cell like the rest of the pages: to the minute
// in UTC, or its date when it falls at midnight (a DATE column).
func cellTime(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return date(t)
	}
	return when(t)
}

func nextHref(slug, table string, after int64) string {
	return fmt.Sprintf("%s?after=%d", dataHref(slug, table), after)
}

// LiveGrant is a grant in force as its holder sees it, wherever it
// appears: the data banner, the dashboard, the workspace page.
type LiveGrant struct {
	ID              int64
	Workspace, Name string // slug and name
	EndsAt          time.Time
	// EndHref is where "I'm done" posts: /requests/{id}/done for a
	// request's grant, /breakglass/{id}/end for break-glass.
	EndHref string
}
