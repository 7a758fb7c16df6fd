package handlers

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// tierReason is a reason a tier proposal accepts.
const tierReason = "Moves to another team this week."

var proposalLocation = regexp.MustCompile(`^(/proposals/[0-9]+)\?done=proposed$`)

// secondSysadmin makes stranger@example.com (whom the identity provider
// knows) an active, cleared sysadmin and signs them in: the second
// sysadmin a proposal needs.
func (p *testPortal) secondSysadmin() *http.Client {
	p.t.Helper()
	p.addStaff("stranger@example.com", policy.TierSysadmin, p.clock.Now().AddDate(0, -1, 0))
	return noRedirect(p.login("stranger@example.com"))
}

// proposeTier proposes, as from, tier for staff id through the staff
// page's form, and returns the proposal's page.
func (p *testPortal) proposeTier(from *http.Client, id int64, tier string) string {
	p.t.Helper()
	res, body := p.post(noRedirect(from), staffURL(id, "tier"), url.Values{"tier": {tier}, "reason": {tierReason}})
	m := proposalLocation.FindStringSubmatch(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || m == nil {
		p.t.Fatalf("tier proposal = %d to %q, want 303 to a proposal:\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	return m[1]
}

// approveProposal approves the proposal at page as by, who signed in
// within the step-up window.
func (p *testPortal) approveProposal(by *http.Client, page string) {
	p.t.Helper()
	res, body := p.post(noRedirect(by), page+"/approve", url.Values{"note": {"Checked with their manager."}})
	if want := page + "?done=approved"; res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
		p.t.Fatalf("approval = %d to %q, want 303 to %q:\n%s", res.StatusCode, res.Header.Get("Location"), want, body)
	}
}

// TestProposalFlow: the staff page's tier change is a proposal; it shows
// on /proposals and the dashboard; its proposer cannot approve it, even
// by a forged POST; a second sysadmin must sign in afresh to approve, and
// then the tier changes once.
func TestProposalFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		eve := p.staff("eve.engineer@example.com")
		page := p.proposeTier(ada, eve.ID, "senior")
		if got := p.staff(eve.Email); got.Tier != policy.TierEngineer {
			t.Fatalf("eve is %s right after the proposal, want engineer (inert until approved)", got.Tier)
		}
		if n := p.count("audit_events", "action = ?", models.ActionProposalCreated); n != 1 {
			t.Errorf("proposal.created events = %d, want 1", n)
		}
		// A second proposal on eve waits for the first.
		res, body := p.post(ada, staffURL(eve.ID, "tier"), url.Values{"tier": {"auditor"}, "reason": {tierReason}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "is already waiting for a second sysadmin") {
			t.Errorf("second proposal on eve = %d, want 422 naming the waiting one", res.StatusCode)
		}
		// Without a reason, nothing is proposed.
		res, body = p.post(ada, staffURL(p.staff("sam.support@example.com").ID, "tier"), url.Values{"tier": {"senior"}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-tier"`) {
			t.Errorf("proposal without a reason = %d, want 422 on the tier form", res.StatusCode)
		}

		_, body = p.get(ada, "/proposals")
		if !strings.Contains(body, `data-testid="proposal-row-`+strings.TrimPrefix(page, "/proposals/")+`"`) || !strings.Contains(body, "engineer (active) → senior") {
			t.Errorf("/proposals does not list the pending proposal in words:\n%s", body)
		}
		_, body = p.get(ada, "/")
		if !strings.Contains(body, `data-testid="dashboard-proposals-table"`) || !strings.Contains(body, `href="`+page+`"`) {
			t.Errorf("dashboard does not show the pending proposal")
		}
		_, body = p.get(ada, page+"?done=proposed")
		if strings.Contains(body, `data-testid="proposal-approve-form"`) || !strings.Contains(body, `data-testid="proposal-own"`) ||
			!strings.Contains(body, `data-testid="proposal-withdraw-form"`) {
			t.Errorf("the proposer's page offers an approval or no withdrawal")
		}
		if !strings.Contains(body, tierReason) || !strings.Contains(body, "It waits for a second sysadmin") {
			t.Errorf("proposal page lacks the reason or the flash")
		}

		// The proposer's forged approval is refused and changes nothing.
		auditBefore := p.count("audit_events", "")
		res, _ = p.post(ada, page+"/approve", url.Values{})
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("proposer's approval = %d, want 403", res.StatusCode)
		}
		if got := p.staff(eve.Email); got.Tier != policy.TierEngineer || p.count("audit_events", "") != auditBefore {
			t.Errorf("proposer's approval changed something: eve %s, %d new events", got.Tier, p.count("audit_events", "")-auditBefore)
		}

		// A second sysadmin, signed in 16 minutes ago, is asked to sign in again.
		strangerBrowser := p.secondSysadmin()
		stale := staleSession(t, p, "stranger@example.com", 16*time.Minute)
		_, body = p.get(stale, page)
		if !strings.Contains(body, `data-testid="proposal-approve-form"`) || !strings.Contains(body, "within the last 15 minutes") {
			t.Errorf("second sysadmin's page: no approval form or no step-up warning")
		}
		res, body = p.post(noRedirect(stale), page+"/approve", url.Values{})
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `data-testid="step-up"`) {
			t.Errorf("approval with a 16-minute-old sign-in = %d, want 401 with the step-up page", res.StatusCode)
		}
		if got := p.staff(eve.Email); got.Tier != policy.TierEngineer {
			t.Errorf("eve is %s after the stale approval, want engineer", got.Tier)
		}
		// Freshly signed in, the approval applies the change.
		p.approveProposal(strangerBrowser, page)
		if got := p.staff(eve.Email); got.Tier != policy.TierSenior {
			t.Errorf("eve is %s after the approval, want senior", got.Tier)
		}
		evs := p.staffEvents(eve.Email)
		if ev := evs[len(evs)-1]; ev.Action != models.ActionStaffTierChanged || ev.Actor != "stranger@example.com" {
			t.Errorf("last event on eve = %+v, want the tier change by the approver", ev)
		}
		_, body = p.get(strangerBrowser, page+"?done=approved")
		if !strings.Contains(body, `data-testid="proposal-state">approved<`) || strings.Contains(body, `data-testid="proposal-approve-form"`) {
			t.Errorf("approved proposal's page: state not approved, or still offers approval")
		}
		// Decided: approving again is a conflict, and nothing changes.
		res, _ = p.post(strangerBrowser, page+"/approve", url.Values{})
		if res.StatusCode != http.StatusConflict || p.count("audit_events", "action = ?", models.ActionStaffTierChanged) != 1 {
			t.Errorf("second approval = %d, want 409 and one tier change", res.StatusCode)
		}
		if _, body = p.get(ada, "/"); !strings.Contains(body, `data-testid="dashboard-proposals-empty"`) {
			t.Errorf("dashboard still shows a pending proposal")
		}
	})
}

// TestProposalRejectWithdraw: a rejection needs a note and another
// sysadmin; a withdrawal is the proposer's only; neither changes the tier.
func TestProposalRejectWithdraw(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		otto := noRedirect(p.login("otto.sysadmin@example.com"))
		sam := p.staff("sam.support@example.com")
		page := p.proposeTier(ada, sam.ID, "senior")
		for _, tc := range []struct {
			name string
			by   *http.Client
			path string
			form url.Values
			want int
		}{
			{"proposer rejects", ada, page + "/reject", url.Values{"note": {"I changed my mind about it."}}, http.StatusForbidden},
			{"other withdraws", otto, page + "/withdraw", url.Values{}, http.StatusForbidden},
			{"reject without note", otto, page + "/reject", url.Values{"note": {""}}, http.StatusUnprocessableEntity},
			{"unknown proposal", otto, "/proposals/999/reject", url.Values{"note": {"Not ready for this yet."}}, http.StatusNotFound},
			{"bad id", otto, "/proposals/abc/approve", url.Values{}, http.StatusNotFound},
		} {
			before := p.count("audit_events", "")
			if res, _ := p.post(tc.by, tc.path, tc.form); res.StatusCode != tc.want {
				t.Errorf("%s = %d, want %d", tc.name, res.StatusCode, tc.want)
			}
			if n := p.count("audit_events", ""); n != before {
				t.Errorf("%s wrote %d audit events", tc.name, n-before)
			}
		}
		res, _ := p.post(otto, page+"/reject", url.Values{"note": {"Sam is not ready for customer data."}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page+"?done=rejected" {
			t.Errorf("rejection = %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		page = p.proposeTier(ada, sam.ID, "senior")
		res, _ = p.post(ada, page+"/withdraw", url.Values{})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page+"?done=withdrawn" {
			t.Errorf("withdrawal = %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		if got := p.staff(sam.Email); got.Tier != policy.TierSupport {
			t.Errorf("sam is %s, want support", got.Tier)
		}
		if n := p.count("audit_events", "action IN (?, ?)", models.ActionProposalRejected, models.ActionProposalWithdrawn); n != 2 {
			t.Errorf("rejection and withdrawal events = %d, want 2", n)
		}
	})
}
