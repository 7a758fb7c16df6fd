package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/devidp"
	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// withIdPUser serves the development provider with one user changed, e.g.
// into a provider that omits auth_time or answers from an old sign-in.
func withIdPUser(t testing.TB, email string, change func(*devidp.User)) func(*Options) {
	return func(o *Options) {
		users := devUsers()
		for i := range users {
			if users[i].Email == email {
				change(&users[i])
			}
		}
		idp, err := devidp.New(devidp.Config{
			Issuer: o.OIDC.Issuer, ClientID: o.OIDC.ClientID, ClientSecret: o.OIDC.ClientSecret,
			RedirectURIs: []string{o.BaseURL.JoinPath("/auth/callback").String()}, Users: users,
		})
		if err != nil {
			t.Fatal(err)
		}
		o.DevIdP = idp
	}
}

// tierChange tries the step-up-guarded tier change on eve.engineer and
// reports whether it asked to sign in again (401 with the step-up page).
func (p *testPortal) tierChange(c *http.Client) (askedStepUp bool, status int) {
	p.t.Helper()
	eve := p.staff("eve.engineer@example.com")
	res, body := p.post(noRedirect(c), staffURL(eve.ID, "tier"), url.Values{"tier": {"support"}, "reason": {tierReason}})
	return res.StatusCode == http.StatusUnauthorized && strings.Contains(body, `data-testid="step-up"`), res.StatusCode
}

// stepUp runs the step-up round trip in c and returns where it ended.
func (p *testPortal) stepUp(c *http.Client) (*http.Response, string) {
	p.t.Helper()
	return p.post(c, "/login", url.Values{"step_up": {"1"}, "return_to": {"/"}})
}

// wantStepUpRefused runs a step-up in c and checks it is refused as not
// fresh (and recorded), and that the session still is not fresh.
func (p *testPortal) wantStepUpRefused(t *testing.T, c *http.Client) {
	t.Helper()
	res, body := p.stepUp(c)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, `data-testid="login-refused"`) {
		t.Errorf("step-up ended at %s with %d, want the refusal", res.Request.URL, res.StatusCode)
	}
	if n := p.count("audit_events", "action = ? AND reason = ?", models.ActionLoginRefused, "step_up_not_fresh"); n != 1 {
		t.Errorf("step_up_not_fresh refusals = %d, want 1", n)
	}
	if asked, status := p.tierChange(c); !asked {
		t.Errorf("tier change after the refused step-up = %d, want 401", status)
	}
}

const ada = "ada.sysadmin@example.com"

func TestFreshSignInWithoutAuthTime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db, withIdPUser(t, ada, func(u *devidp.User) { u.OmitAuthTime = true }))
		c := p.login(ada)
		if asked, status := p.tierChange(c); !asked {
			t.Errorf("tier change right after a sign-in without auth_time = %d, want 401 asking to sign in again", status)
		}
		if n := p.count("staff", "email = ? AND tier = ?", "eve.engineer@example.com", "engineer"); n != 1 {
			t.Errorf("eve changed tier without a fresh sign-in")
		}
		// Nor does a step-up answered without auth_time make it fresh.
		p.wantStepUpRefused(t, c)
	})
}

func TestFreshStepUpAuthTimeBeforeStart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		// A minute old: inside the two minutes of clock skew once allowed.
		p := newPortal(t, db, withIdPUser(t, ada, func(u *devidp.User) { u.AuthAge = time.Minute }))
		p.login(ada) // links the identity
		c := staleSession(t, p, ada, 16*time.Minute)
		if asked, status := p.tierChange(c); !asked {
			t.Fatalf("tier change with a 16-minute-old sign-in = %d, want 401", status)
		}
		p.wantStepUpRefused(t, c)
	})
}

func TestFreshStepUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		p.login(ada)
		c := staleSession(t, p, ada, 16*time.Minute)
		if asked, status := p.tierChange(c); !asked {
			t.Fatalf("tier change with a 16-minute-old sign-in = %d, want 401", status)
		}
		// The step-up asks the provider for a new authentication.
		res, _ := p.post(noRedirect(c), "/login", url.Values{"step_up": {"1"}})
		if loc, err := res.Location(); err != nil || loc.Query().Get("prompt") != "login" || loc.Query().Get("max_age") != "0" {
			t.Errorf("step-up goes to %v (%v), want prompt=login and max_age=0", loc, err)
		}
		began := p.clock.Now().UTC()
		since := p.count("sessions", "ended_at IS NULL AND auth_at >= ?", began) // the first login's
		if res, body := p.stepUp(c); res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
			t.Fatalf("step-up ended at %s with %d, want the dashboard:\n%s", res.Request.URL, res.StatusCode, body)
		}
		if n := p.count("sessions", "ended_at IS NULL AND auth_at >= ?", began); n != since+1 {
			t.Errorf("live sessions signed in since the step-up began = %d, want %d", n, since+1)
		}
		if _, status := p.tierChange(c); status != http.StatusSeeOther {
			t.Errorf("tier change after a proper step-up = %d, want 303", status)
		}
	})
}
