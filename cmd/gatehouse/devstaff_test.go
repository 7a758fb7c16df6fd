package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// In --dev the development identity provider signs in whoever is in the
// staff table when they sign in: a staff member added with `staff add`
// while the portal runs signs in through the real OIDC round trip, with
// no restart. An address outside the allowed domain (example.com) is
// still refused by the portal.
func TestDevSignsInStaffAddedLater(t *testing.T) {
	s := startDev(t)
	env := []string{"GATEHOUSE_DATA_DIR=" + s.dataDir}
	today := time.Now().UTC().Format(time.DateOnly)
	for _, email := range []string{"nora.new@example.com", "pat@elsewhere.example"} {
		if err := run(context.Background(), []string{"staff", "add", email, "--dev", "--name", "Added Later", "--tier", "senior", "--agreement", "2026-1", "--trained", today}, env, io.Discard, io.Discard); err != nil {
			t.Fatalf("staff add %s: %v", email, err)
		}
	}
	c := s.login("nora.new@example.com")
	if _, body := s.get(c, "/"); !strings.Contains(body, "Added Later") {
		t.Errorf("nora.new's dashboard does not name her:\n%.1500s", body)
	}

	jar, _ := cookiejar.New(nil)
	other := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := other.PostForm(s.base+"/dev/login", url.Values{"email": {"pat@elsewhere.example"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `data-testid="login-refused"`) {
		t.Errorf("sign-in of a staff member outside example.com = %d at %s, want 403 refused:\n%.1500s", res.StatusCode, res.Request.URL, body)
	}
}
