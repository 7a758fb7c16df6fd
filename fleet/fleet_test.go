package fleet_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"gatehouse/fleet"
)

// A sign-out on one replica ends the session on the other at once: the
// session cookie, kept by another tab, no longer signs anyone in.
func TestSignOutSeenByTheOtherReplica(t *testing.T) {
	f := start(t)
	ada := f.SignIn(t, "ada.sysadmin@example.com")
	tab := ada.Clone()
	for range 2 { // both replicas know the session
		if res := get(t, tab, "/"); res.Status != http.StatusOK || res.URL.Path != "/" {
			t.Fatalf("dashboard on replica %d: %d at %s", res.Replica(), res.Status, res.URL)
		}
	}
	out := act(t, ada, "/logout", nil)
	res := next(t, tab, out, "/")
	if res.URL.Path != "/login" {
		t.Errorf("after signing out on replica %d, replica %d answered the session's / at %s with %d, want the sign-in page", out.Replica(), res.Replicas[0], res.URL, res.Status)
	}
	f.VerifyAudit(t)
}

// A sysadmin's change of a staff member on one replica holds on the other
// at the staff member's next request: a demotion takes the workspaces
// away, a suspension and an offboarding end the session.
func TestStaffChangesSeenByTheOtherReplica(t *testing.T) {
	f := start(t)
	ada := f.SignIn(t, "ada.sysadmin@example.com")
	sara := f.SignIn(t, "sara.senior@example.com")
	sean := f.SignIn(t, "sean.senior@example.com")
	sam := f.SignIn(t, "sam.support@example.com")
	otto := f.SignIn(t, "otto.sysadmin@example.com")
	t.Run("tier change", func(t *testing.T) {
		for range 2 {
			if res := get(t, sara, "/workspaces"); res.Status != http.StatusOK {
				t.Fatalf("sara's /workspaces before the change on replica %d: %d", res.Replica(), res.Status)
			}
		}
		// Proposed by ada, applied by otto's approval (the two-person rule).
		proposed := act(t, ada, "/staff/"+staffID(t, f, sara.Email)+"/tier", url.Values{"tier": {"engineer"}, "reason": {"Moved to the platform team."}})
		done := act(t, otto, strings.TrimSuffix(proposed.Header.Get("Location"), "?done=proposed")+"/approve", url.Values{})
		if res := next(t, sara, done, "/workspaces"); res.Status != http.StatusForbidden {
			t.Errorf("sara's /workspaces after her demotion on replica %d: %d on replica %d, want 403", done.Replica(), res.Status, res.Replica())
		}
	})
	t.Run("suspension", func(t *testing.T) {
		done := act(t, ada, "/staff/"+staffID(t, f, sean.Email)+"/suspend", url.Values{"reason": {"Laptop reported stolen."}})
		if res := next(t, sean, done, "/"); res.URL.Path != "/login" {
			t.Errorf("sean's / after his suspension on replica %d: %d at %s, want the sign-in page", done.Replica(), res.Status, res.URL)
		}
	})
	t.Run("offboarding", func(t *testing.T) {
		done := act(t, ada, "/staff/"+staffID(t, f, sam.Email)+"/offboard", url.Values{"reason": {"Left the company."}, "confirm": {sam.Email}})
		if res := next(t, sam, done, "/"); res.URL.Path != "/login" {
			t.Errorf("sam's / after his offboarding on replica %d: %d at %s, want the sign-in page", done.Replica(), res.Status, res.URL)
		}
		again := f.NewClient()
		if res := get(t, again, "/"); res.URL.Path != "/login" {
			t.Fatalf("a new browser's / at %s", res.URL)
		}
		for range 2 { // on either replica
			res, err := again.PostForm("/dev/login", url.Values{"email": {sam.Email}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != http.StatusForbidden {
				t.Errorf("sam's sign-in after offboarding (ending on replica %d): %d at %s, want 403", res.Replica(), res.Status, res.URL)
			}
		}
	})
	f.VerifyAudit(t)
}

// A grant ended on one replica is refused on the other at the next data
// request: revoked by a sysadmin, or closed by its grantee ("I'm done").
func TestGrantEndsSeenByTheOtherReplica(t *testing.T) {
	f := start(t)
	sam := f.SignIn(t, "sam.support@example.com")
	sara := f.SignIn(t, "sara.senior@example.com")
	sean := f.SignIn(t, "sean.senior@example.com")
	ada := f.SignIn(t, "ada.sysadmin@example.com")

	revoked := grant(t, f, sam, sean, sara.Email, "acme", "owner@acme.example")
	done := grant(t, f, sam, sara, sean.Email, "globex", "owner@globex.example")
	for _, c := range []struct {
		name      string
		grantee   *fleet.Client
		workspace string
		end       func() fleet.Response
	}{
		{"revocation", sara, "acme", func() fleet.Response {
			return act(t, ada, "/requests/"+revoked+"/revoke", url.Values{"note": {"The ticket was closed by the customer."}})
		}},
		{"done", sean, "globex", func() fleet.Response {
			return act(t, sean, "/requests/"+done+"/done", url.Values{"note": {"Found the cause."}})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := "/workspaces/" + c.workspace + "/data/documents"
			for range 2 {
				if res := get(t, c.grantee, path); res.Status != http.StatusOK {
					t.Fatalf("%s's %s under the live grant on replica %d: %d\n%.1500s", c.grantee.Email, path, res.Replica(), res.Status, res.Body)
				}
			}
			ended := c.end()
			res := next(t, c.grantee, ended, path)
			if res.Status != http.StatusForbidden || strings.Contains(res.Body, "CANARY-"+c.workspace) {
				t.Errorf("%s's %s after the end on replica %d: %d on replica %d, want 403 and no data", c.grantee.Email, path, ended.Replica(), res.Status, res.Replica())
			}
		})
	}
	f.VerifyAudit(t)
}

// A break-glass review recorded on one replica shows on the other at the
// next request, and a second review there is refused as already done.
func TestBreakglassReviewSeenByTheOtherReplica(t *testing.T) {
	f := start(t)
	ada := f.SignIn(t, "ada.sysadmin@example.com")
	otto := f.SignIn(t, "otto.sysadmin@example.com")
	open := url.Values{
		"workspace":     {"acme"},
		"incident":      {"INC-2041"},
		"justification": {"Customer data looks corrupted after last night's migration."},
	}
	if res := submit(t, ada, "/breakglass", open); res.Status != http.StatusOK {
		t.Fatalf("break-glass form check: %d\n%.2000s", res.Status, res.Body)
	}
	open.Set("confirm", "yes")
	opened := act(t, ada, "/breakglass", open)
	path, _, _ := strings.Cut(opened.Header.Get("Location"), "?")
	id := strings.TrimPrefix(path, "/breakglass/")
	row := regexp.MustCompile(`(?s)<tr data-testid="breakglass-` + id + `">.*?</tr>`)
	state := func(res fleet.Response) string {
		r := row.FindString(res.Body)
		switch {
		case res.Status != http.StatusOK || r == "":
			return fmt.Sprintf("no row (%d)", res.Status)
		case strings.Contains(r, `data-testid="reviewed"`):
			return "reviewed"
		case strings.Contains(r, `data-testid="unreviewed"`):
			return "unreviewed"
		}
		return "no review state"
	}
	for range 2 {
		if res := get(t, ada, "/breakglass"); state(res) != "unreviewed" {
			t.Fatalf("break-glass %s before the review on replica %d: %s, want unreviewed", id, res.Replica(), state(res))
		}
	}
	review := url.Values{"note": {"Checked the incident and the queries run under it."}}
	reviewed := act(t, otto, path+"/review", review)
	if res := next(t, ada, reviewed, "/breakglass"); state(res) != "reviewed" {
		t.Errorf("break-glass %s after the review on replica %d: %s on replica %d, want reviewed", id, reviewed.Replica(), state(res), res.Replica())
	}
	get(t, otto, "/healthz") // the next request goes to the other replica again
	if res := submit(t, otto, path+"/review", review); res.Status != http.StatusConflict || res.Replica() == reviewed.Replica() {
		t.Errorf("a second review on replica %d (first on %d): %d, want 409", res.Replica(), reviewed.Replica(), res.Status)
	}
	f.VerifyAudit(t)
}
