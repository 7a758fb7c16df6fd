package fleet_test

import (
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	"gatehouse/fleet"
)

// churn runs the access workflow over and over through the proxy while
// the crash test kills replicas: a request, its approval, the owner's
// consent, and then its end (I'm done, the owner revoking, a sysadmin
// revoking, in turn). A step a kill cuts short fails and the next cycle
// starts over with a new request, so kills land in the middle of state
// changes; the half-state checks afterwards find any that committed only
// in part.
type churn struct {
	cycles atomic.Int64 // cycles that went through to the end
	cut    atomic.Int64 // cycles a failed step cut short
	stop   chan struct{}
	done   sync.WaitGroup

	mu     sync.Mutex
	errors []string // the first failures, for the log
}

// startChurn runs cycles as sam.support, sean.senior approving, sara.senior
// as grantee and otto.sysadmin revoking, on workspaces the load does not
// read.
func (f *faultFleet) startChurn(workspaces []string) *churn {
	f.t.Helper()
	sam := f.SignIn(f.t, "sam.support@example.com")
	sean := f.SignIn(f.t, "sean.senior@example.com")
	sara := f.SignIn(f.t, "sara.senior@example.com")
	otto := f.SignIn(f.t, "otto.sysadmin@example.com")
	owners := map[string]string{}
	for _, ws := range workspaces {
		owners[ws] = f.owner(ws)
	}
	c := &churn{stop: make(chan struct{})}
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		for i := 0; ; i++ {
			select {
			case <-c.stop:
				return
			default:
			}
			ws := workspaces[i%len(workspaces)]
			err := f.cycle(grantAsk{Requester: sam, Approver: sean, Grantee: sara.Email, Workspace: ws, Owner: owners[ws]}, sara, otto, i%3)
			if err == nil {
				c.cycles.Add(1)
				continue
			}
			c.cut.Add(1)
			c.mu.Lock()
			if len(c.errors) < 5 {
				c.errors = append(c.errors, err.Error())
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// cycle grants a and ends the grant: by the grantee (way 0), the owner
// (1) or a sysadmin (2).
func (f *faultFleet) cycle(a grantAsk, grantee, sysadmin *fleet.Client, way int) error {
	g, err := f.tryGrant(a)
	if err != nil {
		return err
	}
	switch way {
	case 0:
		_, err = trySubmit(grantee, fmt.Sprintf("/requests/%d/done", g.Request), url.Values{"note": {""}})
	case 1:
		err = f.consent(g.Token, "revoke")
	default:
		_, err = trySubmit(sysadmin, fmt.Sprintf("/requests/%d/revoke", g.Request), url.Values{"note": {"The ticket is closed, so this access must end now."}})
	}
	return err
}

// Stop ends the churn after the cycle in progress.
func (c *churn) Stop() {
	close(c.stop)
	c.done.Wait()
}
