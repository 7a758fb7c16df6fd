package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/fleet"
	"gatehouse/models"
)

// How the ordering test ends its grants: every way the issue names.
const (
	endRevoke   = "revoke"   // a sysadmin revokes it
	endCustomer = "customer" // the owner revokes it through the consent link
	endDone     = "done"     // the grantee presses "I'm done"
	endExpiry   = "expiry"   // its time runs out (a one-minute grant)
	endOffboard = "offboard" // the grantee is offboarded
	endTier     = "tier"     // the grantee is demoted to support
)

// planned is a grant the ordering test holds and the way it will end.
type planned struct {
	granted
	How       string
	Grantee   *fleet.Client
	GranteeID int64 // for offboarding and tier changes
	Workspace string
	Ended     time.Time // when the portal answered the ending (the grant's ends_at for an expiry)
}

// orderWorkspaces are the active demo workspaces the ordering test grants.
var orderWorkspaces = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "cyberdyne", "pied-piper", "massive", "aperture", "black-mesa"}

// TestFaultsOrdering ends grants at random under load on both replicas,
// in every way a grant ends, and then checks the ordering invariant from
// the audit log: for every grant, no data.viewed event under it has a
// greater seq than the event that ended it. It checks it twice, with
// models.ViewsAfterEnd and with a query of its own, and from the clients'
// side: no page of a grant was served to a request sent after its end
// was answered.
func TestFaultsOrdering(t *testing.T) {
	faultsOnly(t)
	f := startFaults(t)
	plan := f.planEnds()

	var readers []reader
	for _, p := range plan {
		r := reader{Client: p.Grantee}
		for _, table := range contentTables {
			r.Targets = append(r.Targets, target{Workspace: p.Workspace, Table: table})
		}
		readers = append(readers, r)
	}
	l := startLoad(f.URL, readers, loadRate(), loadWorkers)
	time.Sleep(3 * time.Second)
	f.endAtRandom(plan)
	allEnded := waitFor(3*time.Minute, func() bool { return f.allEnded(plan) })
	time.Sleep(2 * time.Second)
	log := l.Stop()
	f.stopAll()
	if !allEnded {
		t.Errorf("not every grant had ended with its event 3 minutes after the last ending (expiries wait for the sweep)")
	}

	ctx := context.Background()
	violations, err := models.ViewsAfterEnd(ctx, f.Owner.Read)
	if err != nil {
		t.Fatal(err)
	}
	ended, late, err := viewsAfterEnd(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	byHow, wrongEnds := f.endsOf(plan)
	client := servedAfterEnd(log, plan)
	before := viewsBeforeEnd(f, plan)
	views := f.checkViews(log)
	half := f.checkHalfStates()
	chain := f.verifyChain()
	stream := f.checkStreamFile()
	fig := figuresOf(log)
	f.report("ordering (grants ended at random under load)", []string{
		fmt.Sprintf("grants %d, ended by %s", len(plan), byHow),
		fmt.Sprintf("requests sent %d, answered %d (%s), no answer %d; views served %d in %.1f s (%.0f views/s), %s",
			fig.Requests, fig.Answered, statuses(fig.Statuses), fig.Failed, fig.Views, fig.Span.Seconds(), fig.Rate(), byReplica(log)),
		fmt.Sprintf("views under each grant before its end: at least %d; within the last second before it, %d in all", before.least, before.lastSecond),
		fmt.Sprintf("ordering violations: models.ViewsAfterEnd %d, the test's own query %d (over %d ended grants), pages served to a request sent after the end was answered %d",
			len(violations), len(late), ended, len(client)),
		fmt.Sprintf("views without a committed data.viewed row %d; rows not matching the page %d", len(views.Unaudited), len(views.Mismatched)),
		fmt.Sprintf("half states %d; chain %s", len(half), chain),
		stream.String(),
	})
	for _, v := range violations[:min(10, len(violations))] {
		t.Errorf("ViewsAfterEnd: %s", v)
	}
	for _, l := range late[:min(10, len(late))] {
		t.Errorf("data.viewed %d under grant %d comes after %s %d, which ended it", l.ViewSeq, l.Grant, l.EndHow, l.EndSeq)
	}
	for _, c := range client[:min(10, len(client))] {
		t.Errorf("served after the end: %s", c)
	}
	for _, w := range wrongEnds {
		t.Errorf("grant did not end as planned: %s", w)
	}
	if before.least == 0 {
		t.Errorf("a grant had no view before its end: the load did not exercise it")
	}
	if fig.Views > 0 && (strings.Contains(byReplica(log), "replica 0: 0 ") || strings.Contains(byReplica(log), "replica 1: 0 ")) {
		t.Errorf("the load did not reach both replicas: %s", byReplica(log))
	}
	f.requireClean(views, half, chain, stream)
	if fig.Statuses[500]+fig.Statuses[503] > 0 {
		f.logFailures()
	}
}

// planEnds signs the staff in, adds the staff to offboard and to demote,
// and grants every grantee a workspace for each way a grant will end;
// each grantee holds at most one grant per workspace, so every view is
// under the one grant the test ends. The one-minute grants come last, so
// that they expire under the load.
func (f *faultFleet) planEnds() []*planned {
	f.t.Helper()
	sam := f.SignIn(f.t, "sam.support@example.com")
	ada := f.SignIn(f.t, "ada.sysadmin@example.com")
	demo := []string{"sara.senior@example.com", "sean.senior@example.com", "ada.sysadmin@example.com", "otto.sysadmin@example.com"}
	clients := map[string]*fleet.Client{"ada.sysadmin@example.com": ada}
	for _, e := range demo[:2] {
		clients[e] = f.SignIn(f.t, e)
	}
	clients["otto.sysadmin@example.com"] = f.SignIn(f.t, "otto.sysadmin@example.com")
	approverFor := func(grantee string) *fleet.Client {
		if grantee == "sean.senior@example.com" {
			return clients["sara.senior@example.com"]
		}
		return clients["sean.senior@example.com"]
	}
	var plan []*planned
	grant := func(c *fleet.Client, id int64, ws, how, duration string) {
		g := f.grantThrough(grantAsk{Requester: sam, Approver: approverFor(c.Email), Grantee: c.Email, Workspace: ws, Owner: f.owner(ws), Duration: duration})
		plan = append(plan, &planned{granted: g, How: how, Grantee: c, GranteeID: id, Workspace: ws})
	}
	for k, how := range []string{endOffboard, endTier} {
		for i := range 3 {
			email := fmt.Sprintf("fault.%s%d@example.com", how, i)
			id := f.newStaff(ada, email, "senior")
			c := f.SignIn(f.t, email)
			for j := range 2 {
				grant(c, id, orderWorkspaces[(6*k+2*i+j)%len(orderWorkspaces)], how, "")
			}
		}
	}
	hows := []string{endRevoke, endCustomer, endDone, endExpiry}
	for _, how := range hows {
		duration := ""
		if how == endExpiry {
			duration = "1m"
		}
		for i, e := range demo {
			grant(clients[e], 0, orderWorkspaces[(3*i+slices.Index(hows, how))%len(orderWorkspaces)], how, duration)
		}
	}
	return plan
}

// endAtRandom ends every planned grant but the expiring ones, in a random
// order, one every 0.3 to 2.5 s, each through whichever replica the proxy
// picks. Offboarding and demoting end every grant of the person at once.
func (f *faultFleet) endAtRandom(plan []*planned) {
	f.t.Helper()
	ada := f.SignIn(f.t, "ada.sysadmin@example.com")
	otto := f.SignIn(f.t, "otto.sysadmin@example.com")
	var todo []*planned
	staffDone := map[int64]bool{}
	for _, p := range plan {
		switch {
		case p.How == endExpiry:
		case p.How == endOffboard || p.How == endTier:
			if !staffDone[p.GranteeID] {
				staffDone[p.GranteeID] = true
				todo = append(todo, p)
			}
		default:
			todo = append(todo, p)
		}
	}
	mrand.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
	for _, p := range todo {
		time.Sleep(time.Duration(300+mrand.IntN(2200)) * time.Millisecond)
		switch p.How {
		case endRevoke:
			by := ada
			if p.Grantee.Email == ada.Email {
				by = otto
			}
			f.submit(by, fmt.Sprintf("/requests/%d/revoke", p.Request), url.Values{"note": {"The ticket is closed, so this access must end now."}})
		case endCustomer:
			if err := f.consent(p.Token, "revoke"); err != nil {
				f.t.Fatal(err)
			}
		case endDone:
			f.submit(p.Grantee, fmt.Sprintf("/requests/%d/done", p.Request), url.Values{"note": {""}})
		case endOffboard:
			f.submit(ada, fmt.Sprintf("/staff/%d/offboard", p.GranteeID), url.Values{"reason": {"Left the company today."}, "confirm": {p.Grantee.Email}})
		case endTier:
			// Proposed by ada, applied by otto's approval (the two-person rule).
			proposal := f.submit(ada, fmt.Sprintf("/staff/%d/tier", p.GranteeID), url.Values{"tier": {"support"}, "reason": {"Moves to the support team today."}})
			f.submit(otto, strings.TrimSuffix(proposal, "?done=proposed")+"/approve", url.Values{})
		}
		now := time.Now()
		for _, q := range plan {
			if q == p || (q.GranteeID != 0 && q.GranteeID == p.GranteeID) {
				q.Ended = now
			}
		}
	}
}

// allEnded reports whether every planned grant has ended with its event;
// it notes each expiring grant's end, its ends_at.
func (f *faultFleet) allEnded(plan []*planned) bool {
	for _, p := range plan {
		var endsAt time.Time
		var ended bool
		err := f.db.QueryRow(`SELECT ends_at, ended_at IS NOT NULL AND EXISTS (
			SELECT 1 FROM audit_events a WHERE a.grant_id = g.id AND a.action IN `+endActions+`)
			FROM grants g WHERE id = $1`, p.Grant).Scan(&endsAt, &ended)
		if err != nil || !ended {
			return false
		}
		if p.How == endExpiry {
			p.Ended = endsAt
		}
	}
	return true
}

// endsOf counts how the planned grants ended, from the event that ended
// each, and lists those that did not end the way the test ended them.
func (f *faultFleet) endsOf(plan []*planned) (string, []string) {
	f.t.Helper()
	n := map[string]int{}
	var wrong []string
	for _, p := range plan {
		var action, tier, detail string
		err := f.db.QueryRow(`SELECT action, actor_tier, detail FROM audit_events
			WHERE grant_id = $1 AND action IN `+endActions+` ORDER BY seq LIMIT 1`, p.Grant).Scan(&action, &tier, &detail)
		if err != nil {
			wrong = append(wrong, fmt.Sprintf("grant %d (%s): no end event: %v", p.Grant, p.How, err))
			continue
		}
		var d struct{ Status, Tier string }
		_ = json.Unmarshal([]byte(detail), &d)
		ok := map[string]bool{
			endRevoke:   action == "grant.revoked" && tier == "sysadmin",
			endCustomer: action == "grant.revoked" && tier == "customer",
			endDone:     action == "grant.done",
			endExpiry:   action == "grant.expired",
			endOffboard: action == "grant.ended" && d.Status == "offboarded",
			endTier:     action == "grant.ended" && d.Tier == "support",
		}[p.How]
		if !ok {
			wrong = append(wrong, fmt.Sprintf("grant %d (%s) ended by %s (%s) %s", p.Grant, p.How, action, tier, detail))
			continue
		}
		n[p.How]++
	}
	var parts []string
	for _, how := range []string{endRevoke, endCustomer, endDone, endExpiry, endOffboard, endTier} {
		parts = append(parts, fmt.Sprintf("%s %d", how, n[how]))
	}
	return strings.Join(parts, ", "), wrong
}

// servedAfterEnd lists the pages of a planned grant served to a request
// sent after the portal had answered the grant's ending (or, for an
// expiry, after its time ran out): an end takes effect on the next
// request, on every replica.
func servedAfterEnd(log []served, plan []*planned) []string {
	ends := map[int64]*planned{}
	for _, p := range plan {
		ends[p.Grant] = p
	}
	var out []string
	for _, s := range log {
		p := ends[s.Grant]
		if s.view() && p != nil && !p.Ended.IsZero() && s.Start.After(p.Ended) {
			out = append(out, fmt.Sprintf("%s: grant %d (%s) ended %s, request sent %s later, answered by replica %d",
				s.ID, p.Grant, p.How, p.Ended.Format(time.RFC3339Nano), s.Start.Sub(p.Ended), s.Replica))
		}
	}
	return out
}

// beforeEnd is how much each grant was read before its end.
type beforeEnd struct {
	least      int // the fewest views any grant had
	lastSecond int // views in the last second before their grant's end, in all
}

func viewsBeforeEnd(f *faultFleet, plan []*planned) beforeEnd {
	f.t.Helper()
	b := beforeEnd{least: -1}
	for _, p := range plan {
		var n, last int
		err := f.db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE v.at > e.at - interval '1 second')
			FROM audit_events v, (SELECT MIN(seq) AS seq, MIN(at) AS at FROM audit_events WHERE grant_id = $1 AND action IN `+endActions+`) e
			WHERE v.grant_id = $1 AND v.action = 'data.viewed'`, p.Grant).Scan(&n, &last)
		if err != nil {
			f.t.Fatal(err)
		}
		if b.least < 0 || n < b.least {
			b.least = n
		}
		b.lastSecond += last
	}
	return b
}
