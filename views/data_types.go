package views

import (
	"fmt"
	"net/url"
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
	Query    string
	Rows     []WorkspaceRow
	Total    int64
	Page     int
	PageSize int
}

// GrantRow is one grant on a workspace's page.
type GrantRow struct {
	ID             int64
	Grantee, Scope string
	Unmask         bool
	StartsAt       time.Time
	EndsAt         time.Time
	State          string // live, scheduled, expired or ended
	EndedBy        string
	EndedWhy       string
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
	// Retention is where the workspace stands under the retention policy.
	Retention WorkspaceRetentionView
}

// DataCell is one value on a data page. A masked cell carries no value.
type DataCell struct {
	Text   string
	Null   bool
	Masked bool
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
	GrantID           int64
	GrantEnds         time.Time
	EndHref           string // where "I'm done" posts; "" hides it
	Now               time.Time
	Unmask            bool
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
