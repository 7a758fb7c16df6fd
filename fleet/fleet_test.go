package fleet_test

import (
	"net/http"
	"net/url"
	"testing"

	"gatehouse/fleet"
)

// start runs a two-replica fleet for one test.
func start(t *testing.T) *fleet.Fleet {
	t.Helper()
	return fleet.Start(t, fleet.Options{})
}

// get fetches path as c, failing the test on a transport error.
func get(t *testing.T, c *fleet.Client, path string) fleet.Response {
	t.Helper()
	res, err := c.Get(path)
	if err != nil {
		t.Fatalf("GET %s as %s: %v", path, c.Email, err)
	}
	return res
}

// submit posts form to path as c, without following the answer's
// redirect, failing the test on a transport error.
func submit(t *testing.T, c *fleet.Client, path string, form url.Values) fleet.Response {
	t.Helper()
	res, err := c.Submit(path, form)
	if err != nil {
		t.Fatalf("POST %s as %s: %v", path, c.Email, err)
	}
	return res
}

// next gets path as c and fails the test unless it landed on another
// replica than the one that answered the action: the proxy's rotation is
// what makes each check cross replicas.
func next(t *testing.T, c *fleet.Client, action fleet.Response, path string) fleet.Response {
	t.Helper()
	res := get(t, c, path)
	if res.Replicas[0] == action.Replica() {
		t.Fatalf("GET %s was answered by replica %d, which did the action: the check would not cross replicas", path, action.Replica())
	}
	return res
}

// A sign-out on one replica ends the session on the other at once.
func TestSignOutSeenByTheOtherReplica(t *testing.T) {
	f := start(t)
	ada := f.SignIn(t, "ada.sysadmin@example.com")
	for range 2 { // both replicas know the session
		if res := get(t, ada, "/"); res.Status != http.StatusOK || res.URL.Path != "/" {
			t.Fatalf("dashboard on replica %d: %d at %s", res.Replica(), res.Status, res.URL)
		}
	}
	out := submit(t, ada, "/logout", nil)
	if out.Status != http.StatusSeeOther {
		t.Fatalf("sign-out on replica %d: %d, want 303", out.Replica(), out.Status)
	}
	res := next(t, ada, out, "/")
	if res.URL.Path != "/login" {
		t.Errorf("after signing out on replica %d, replica %d answered / at %s with %d, want the sign-in page", out.Replica(), res.Replicas[0], res.URL, res.Status)
	}
}
