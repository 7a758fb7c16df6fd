package fleet_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/fleet"
)

// The access workflow driven through the proxy as people drive it: a
// request, a second senior's approval, the owner's consent through the
// link mailed to them (read from the development mailbox), and the ways
// a grant ends. Each step goes to whichever replica the proxy picks.

// faultFleet is a running fleet with the portal database opened as its
// owner for the checks.
type faultFleet struct {
	*fleet.Fleet
	t      testing.TB
	db     *sql.DB // the portal database, as its owner
	stream string  // the audit stream file both replicas write
	// unshipped is how many events the replicas' graceful stop left
	// unshipped (see stopAll).
	unshipped int64
}

// startFaults starts a two-replica fleet writing one shared audit stream
// file.
func startFaults(t *testing.T) *faultFleet {
	t.Helper()
	stream := t.TempDir() + "/audit-stream.jsonl"
	f := fleet.Start(t, fleet.Options{Env: []string{"GATEHOUSE_AUDIT_STREAM=file:" + stream}})
	db, err := f.Owner.Write.DB()
	if err != nil {
		t.Fatal(err)
	}
	return &faultFleet{Fleet: f, t: t, db: db, stream: stream}
}

// submit posts form to path as c and wants 303, the answer of every
// successful form; it returns the answer's Location.
func (f *faultFleet) submit(c *fleet.Client, path string, form url.Values) string {
	f.t.Helper()
	loc, err := trySubmit(c, path, form)
	if err != nil {
		f.t.Fatal(err)
	}
	return loc
}

// trySubmit is submit returning what went wrong.
func trySubmit(c *fleet.Client, path string, form url.Values) (string, error) {
	res, err := c.Submit(path, form)
	if err != nil {
		return "", fmt.Errorf("POST %s as %s: %w", path, c.Email, err)
	}
	if res.Status != http.StatusSeeOther {
		return "", fmt.Errorf("POST %s as %s = %d on replica %d, want 303:\n%s", path, c.Email, res.Status, res.Replica(), clipBody(res.Body))
	}
	return res.Header.Get("Location"), nil
}

func clipBody(s string) string {
	if i := strings.Index(s, "<main"); i > 0 {
		s = s[i:]
	}
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return s
}

// grantAsk is an access request to file and see through.
type grantAsk struct {
	Requester *fleet.Client
	Approver  *fleet.Client
	Grantee   string
	Workspace string
	Owner     string // the workspace owner who consents
	Duration  string // "2h" unless set; any whole minutes, e.g. "1m"
}

// granted is a request the customer consented to.
type granted struct {
	Request int64
	Grant   int64
	Token   string // the owner's consent link token, which also revokes
}

// grantThrough files the request, approves it and has the owner consent:
// the grantee then holds a live grant.
func (f *faultFleet) grantThrough(a grantAsk) granted {
	f.t.Helper()
	g, err := f.tryGrant(a)
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

// tryGrant is grantThrough returning the first step that failed.
func (f *faultFleet) tryGrant(a grantAsk) (granted, error) {
	if a.Duration == "" {
		a.Duration = "2h"
	}
	var g granted
	loc, err := trySubmit(a.Requester, "/requests", url.Values{
		"workspace": {a.Workspace}, "reason": {"The customer reports that exports fail for every project since Monday."},
		"ticket": {"SUP-1234"}, "duration": {a.Duration}, "grantee": {a.Grantee}, "mode": {"masked"},
	})
	if err != nil {
		return g, err
	}
	if _, err := fmt.Sscanf(loc, "/requests/%d", &g.Request); err != nil {
		return g, fmt.Errorf("POST /requests redirects to %q", loc)
	}
	if _, err := trySubmit(a.Approver, fmt.Sprintf("/requests/%d/approve", g.Request), url.Values{"note": {"Ticket checked, go ahead."}}); err != nil {
		return g, err
	}
	if g.Token, err = f.consentToken(a.Owner, g.Request); err != nil {
		return g, err
	}
	if err := f.consent(g.Token, "grant"); err != nil {
		return g, err
	}
	if err := f.db.QueryRow(`SELECT grant_id FROM access_requests WHERE id = $1 AND status = 'granted'`, g.Request).Scan(&g.Grant); err != nil {
		return g, fmt.Errorf("request %d has no grant after the consent: %w", g.Request, err)
	}
	return g, nil
}

var (
	consentLinkRE = regexp.MustCompile(`/consent/([A-Za-z0-9_-]{43})`)
	shownRE       = regexp.MustCompile(`name="shown" value="([0-9a-f]{64})"`)
)

// consentToken reads the consent link mailed to owner for request id in
// the development mailbox, as the owner's mail would show it.
func (f *faultFleet) consentToken(owner string, request int64) (string, error) {
	var mail int64
	err := f.db.QueryRow(`SELECT id FROM mail_outbox WHERE kind = 'consent.request' AND to_addr = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1`,
		owner, request).Scan(&mail)
	if err != nil {
		return "", fmt.Errorf("no consent mail to %s for request %d: %w", owner, request, err)
	}
	res, err := f.NewClient().Get(fmt.Sprintf("/dev/mail/%d", mail))
	if err != nil {
		return "", err
	}
	m := consentLinkRE.FindStringSubmatch(res.Body)
	if res.Status != http.StatusOK || m == nil {
		return "", fmt.Errorf("GET /dev/mail/%d = %d with no consent link:\n%s", mail, res.Status, clipBody(res.Body))
	}
	return m[1], nil
}

// consent has the owner open the consent page and post decision from it.
func (f *faultFleet) consent(token, decision string) error {
	customer := f.NewClient()
	res, err := customer.Get("/consent/" + token)
	if err != nil {
		return err
	}
	m := shownRE.FindStringSubmatch(res.Body)
	if res.Status != http.StatusOK || m == nil {
		return fmt.Errorf("GET /consent/… = %d with no form:\n%s", res.Status, clipBody(res.Body))
	}
	_, err = trySubmit(customer, "/consent/"+token, url.Values{"decision": {decision}, "shown": {m[1]}})
	return err
}

// newStaff has admin (a sysadmin who signed in recently) add a staff
// member of tier with the current agreement and training on record, and
// returns their id.
func (f *faultFleet) newStaff(admin *fleet.Client, email, tier string) int64 {
	f.t.Helper()
	loc := f.submit(admin, "/staff", url.Values{"email": {email}, "name": {"Fault " + strings.Split(email, "@")[0]}, "tier": {tier}})
	var id int64
	if _, err := fmt.Sscanf(loc, "/staff/%d", &id); err != nil {
		f.t.Fatalf("POST /staff redirects to %q", loc)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	f.submit(admin, fmt.Sprintf("/staff/%d/agreement", id), url.Values{"version": {"2026-1"}, "signed": {today}})
	f.submit(admin, fmt.Sprintf("/staff/%d/training", id), url.Values{"completed": {today}})
	return id
}

// waitFor polls cond every 200 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}
