package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestRequestStates renders every state a request and its grant can be
// in on the list, the dashboard, the workspace page and the request page:
// each shows its own status, an ended grant says how it ended (never
// "granted"), and the grant card says why there is no grant.
func TestRequestStates(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	ended := func(how, by, note string) *GrantEndView { return &GrantEndView{How: how, At: at, By: by, Note: note} }
	tests := []struct {
		name    string
		status  string
		grant   bool // the request has a grant
		end     *GrantEndView
		wantHow string // the ended-how text; "" when none is shown
		noGrant string // the grant card's text when there is no grant
	}{
		{name: "pending", status: "pending", noGrant: "If a senior approves"},
		{name: "approved, awaiting consent", status: "approved", noGrant: "It starts when a workspace owner consents."},
		{name: "refused", status: "refused", noGrant: "the customer refused access"},
		{name: "reported", status: "reported", noGrant: "reported the request as suspicious"},
		{name: "denied", status: "denied", noGrant: "a senior denied the request"},
		{name: "cancelled", status: "cancelled", noGrant: "the requester cancelled the request"},
		{name: "expired", status: "expired", noGrant: "expired before it was decided"},
		{name: "live", status: "granted", grant: true},
		{name: "ended: expired", status: "ended", grant: true, end: ended("expired", "", ""), wantHow: "expired"},
		{name: "ended: done", status: "ended", grant: true, end: ended("done", "sara@example.com", "Fixed."), wantHow: "grantee done"},
		{name: "ended: revoked", status: "ended", grant: true, end: ended("revoked", "ada@example.com", "Not needed."), wantHow: "revoked by a sysadmin"},
		{name: "ended: customer revoked", status: "ended", grant: true, end: ended("customer_revoked", "owner@acme.example", ""), wantHow: "revoked by the customer"},
		{name: "ended: offboarded", status: "ended", grant: true, end: ended("offboarded", "ada@example.com", "grantee offboarded"), wantHow: "grantee offboarded"},
		{name: "ended: suspended", status: "ended", grant: true, end: ended("suspended", "ada@example.com", "grantee suspended"), wantHow: "grantee suspended"},
		{name: "ended: demoted", status: "ended", grant: true, end: ended("demoted", "ada@example.com", ""), wantHow: "grantee's tier changed"},
		{name: "ended: workspace deleted", status: "ended", grant: true, end: ended("workspace_deleted", "ada@example.com", ""), wantHow: "workspace deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := RequestRow{ID: 9, Workspace: "acme", Name: "Acme Corporation", Requester: "Sam", Grantee: "Sara", Ticket: "SUP-1", Status: tt.status, End: tt.end, Created: at}
			pages := map[string]*goquery.Selection{
				"list":      byTestID(render(t, RequestList(staffChrome, RequestListView{Rows: []RequestRow{row}})), "request-row-9"),
				"dashboard": byTestID(render(t, Dashboard(staffChrome, DashboardView{Name: "Sam", Tier: "support", Mine: []RequestRow{row}, WorkspaceCount: -1})), "my-request-9"),
				"workspace": byTestID(render(t, WorkspacePage(staffChrome, WorkspaceView{Workspace: WorkspaceRow{Slug: "acme", Name: "Acme Corporation"}, Requests: []RequestRow{row}})), "workspace-request-9"),
			}
			for page, sel := range pages {
				if sel.Length() != 1 {
					t.Fatalf("%s: no row for the request", page)
				}
				if got := sel.Find(`[data-testid="request-status"]`).Text(); got != tt.status {
					t.Errorf("%s: status = %q, want %q", page, got, tt.status)
				}
				if got := sel.Find(`[data-testid="ended-how"]`).Text(); got != tt.wantHow {
					t.Errorf("%s: ended-how = %q, want %q", page, got, tt.wantHow)
				}
			}
			if got := pages["list"].Find(`[data-testid="workspace-name"]`).Text(); got != "Acme Corporation" {
				t.Errorf("list: workspace name = %q", got)
			}

			v := RequestView{ID: 9, Workspace: "acme", Name: "Acme Corporation", Status: tt.status, Created: at, End: tt.end}
			if tt.grant {
				v.GrantID, v.GrantLive, v.GrantEnds = 4, tt.end == nil, at.Add(time.Hour)
			}
			doc := render(t, RequestShow(staffChrome, v))
			if got := byTestID(doc, "status").Text(); got != tt.status {
				t.Errorf("request page: status = %q, want %q", got, tt.status)
			}
			card := byTestID(doc, "grant")
			switch {
			case !tt.grant:
				if got := byTestID(doc, "no-grant").Text(); !strings.Contains(got, tt.noGrant) {
					t.Errorf("grant card = %q, want %q", got, tt.noGrant)
				}
				if tt.status != "approved" && tt.status != "pending" && strings.Contains(card.Text(), "starts when") {
					t.Errorf("a %s request's grant card says the access starts when an owner consents: %q", tt.status, card.Text())
				}
			case tt.end == nil:
				if byTestID(doc, "read-data").Length() != 1 || byTestID(doc, "grant-ended").Length() != 0 {
					t.Error("a live grant's card does not offer the data")
				}
			default:
				if !strings.Contains(byTestID(doc, "grant-ended").Text(), tt.wantHow) || byTestID(doc, "read-data").Length() != 0 {
					t.Errorf("ended grant card = %q, want %q and no link to the data", byTestID(doc, "grant-ended").Text(), tt.wantHow)
				}
				if got := byTestID(doc, "ended-at").Text(); got == "" {
					t.Error("ended grant card shows no end time")
				}
				wantBy := tt.end.By
				if wantBy == "" {
					wantBy = "nobody: its time ran out"
				}
				if got := strings.TrimSpace(byTestID(doc, "ended-by").Text()); got != wantBy {
					t.Errorf("ended-by = %q, want %q", got, wantBy)
				}
				if got := byTestID(doc, "ended-note").Text(); got != tt.end.Note {
					t.Errorf("ended-note = %q, want %q", got, tt.end.Note)
				}
				if strings.Contains(byTestID(doc, "status-note").Text(), "granted") {
					t.Errorf("status note of an ended request = %q", byTestID(doc, "status-note").Text())
				}
			}
		})
	}
}

// TestWorkspaceGrantEnded: the workspace page's grants table says how,
// when and by whom a grant ended, with their note, escaped.
func TestWorkspaceGrantEnded(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	v := WorkspaceView{Workspace: WorkspaceRow{Slug: "acme", Name: "Acme"}, Grants: []GrantRow{
		{ID: 1, Grantee: "sara@example.com", State: "live", StartsAt: at, EndsAt: at.Add(time.Hour)},
		{ID: 2, Grantee: "sara@example.com", State: "ended", StartsAt: at, EndsAt: at.Add(time.Hour),
			End: &GrantEndView{How: "revoked", At: at.Add(10 * time.Minute), By: "ada@example.com", Note: "<b>not</b> needed"}},
	}}
	doc := render(t, WorkspacePage(staffChrome, v))
	if byTestID(doc, "grant-1").Find(`[data-testid="ended-how"]`).Length() != 0 {
		t.Error("a live grant shows how it ended")
	}
	g := byTestID(doc, "grant-2")
	for id, want := range map[string]string{"ended-how": "revoked by a sysadmin", "ended-at": "2026-03-01 10:40 UTC", "ended-by": "ada@example.com", "ended-note": "<b>not</b> needed"} {
		if got := strings.TrimSpace(g.Find(`[data-testid="` + id + `"]`).Text()); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
}

// TestWorkspaceDeletedOffersNoRequest: a deleted workspace says when it
// was deleted and offers no request, even to staff who may ask.
func TestWorkspaceDeletedOffersNoRequest(t *testing.T) {
	deleted := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	v := WorkspaceView{Workspace: WorkspaceRow{Slug: "soylent", Name: "Soylent", Status: "deleted"}, CanRequest: true, DeletedAt: &deleted}
	doc := render(t, WorkspacePage(staffChrome, v))
	if byTestID(doc, "ask-access").Length() != 0 {
		t.Error("a deleted workspace offers Ask for access")
	}
	if got := byTestID(doc, "workspace-deleted").Text(); !strings.Contains(got, "deleted on 2026-03-01") {
		t.Errorf("workspace-deleted = %q", got)
	}
	v.DeletedAt = nil
	if byTestID(render(t, WorkspacePage(staffChrome, v)), "ask-access").Length() != 1 {
		t.Error("a live workspace offers no request")
	}
}
