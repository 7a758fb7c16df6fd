package fleet_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/fleet"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of database/sql
	"gorm.io/gorm"
)

// TestFaultsOutage stops the machine's PostgreSQL in immediate mode under
// load, keeps it down a few seconds, and starts it again. While it is down
// every data page answers 503 with no tenant data and /readyz answers 503
// on both replicas; once it is back both replicas serve again within 10 s,
// without a restart; no view was served without its audit row.
//
// Other engineers share this server: the outage is kept short
// (GATEHOUSE_FAULTS_OUTAGE seconds, default 3), and PostgreSQL is started
// again whatever happens to the test.
func TestFaultsOutage(t *testing.T) {
	faultsOnly(t)
	f := startFaults(t)
	pg := findCluster(t, f.db)
	readers := f.readersFor()
	hold := time.Duration(envInt("GATEHOUSE_FAULTS_OUTAGE", 3)) * time.Second

	l := startLoad(f.URL, readers, loadRate(), loadWorkers)
	probes := startProbes(f.Replicas())
	time.Sleep(3 * time.Second)

	t.Cleanup(func() { pg.ensureRunning(t) })
	stopAsked := time.Now()
	pg.ctl(t, "stop", "-m", "immediate")
	down := time.Now() // PostgreSQL is gone: every backend was killed
	time.Sleep(hold)
	upAsked := time.Now()
	pg.ctl(t, "start")
	up := pg.waitAccepting(t)

	// Serve again without a restart: wait until each replica has answered
	// a data page and /readyz since PostgreSQL came back, then let the load
	// run a little longer to see that it stays so.
	recovered := waitFor(30*time.Second, func() bool { return recoveredAll(l.Log(), probes.log(), up, len(f.Replicas())) })
	time.Sleep(5 * time.Second)
	log := l.Stop()
	plog := probes.stop()
	f.resetPools()
	f.stopAll()

	o := outageOf(log, plog, down, upAsked, up, len(f.Replicas()))
	views := f.checkViews(log)
	half := f.checkHalfStates()
	chain := f.verifyChain()
	stream := f.checkStreamFile()
	fig := figuresOf(log)
	f.report("database outage (PostgreSQL stopped in immediate mode, then started)", []string{
		fmt.Sprintf("PostgreSQL %s: stop -m immediate took %s, down %s (from the stop's return to the start), start took %s until it accepted connections",
			pg, down.Sub(stopAsked).Round(time.Millisecond), upAsked.Sub(down).Round(time.Millisecond), up.Sub(upAsked).Round(time.Millisecond)),
		fmt.Sprintf("requests sent %d, answered %d (%s), no answer %d; views served %d in %.1f s (%.0f views/s)",
			fig.Requests, fig.Answered, statuses(fig.Statuses), fig.Failed, fig.Views, fig.Span.Seconds(), fig.Rate()),
		fmt.Sprintf("while down: data pages answered %s; with tenant data %d; /readyz answered %s", statuses(o.pages), o.pageLeaks, statuses(o.ready)),
		fmt.Sprintf("time to recover after PostgreSQL accepted connections: %s", o.recoveryText()),
		fmt.Sprintf("data pages failed after PostgreSQL's return %d, the last %s after it", o.after, o.lastFailure().Round(time.Millisecond)),
		fmt.Sprintf("views without a committed data.viewed row %d; rows not matching the page %d; tenant data in a non-200 answer %d", len(views.Unaudited), len(views.Mismatched), len(views.Leaks)),
		fmt.Sprintf("half states %d; chain %s", len(half), chain),
		stream.String(),
	})
	if !recovered {
		t.Errorf("the portal did not serve again on every replica within 30 s of PostgreSQL's return")
	}
	for code, n := range o.pages {
		if code != http.StatusServiceUnavailable {
			t.Errorf("while PostgreSQL was down, %d data pages answered %d, want 503", n, code)
		}
	}
	if o.pageLeaks > 0 {
		t.Errorf("while PostgreSQL was down, %d answers carried tenant data", o.pageLeaks)
	}
	if len(o.pages) == 0 {
		t.Error("no data page was asked and answered while PostgreSQL was down: the outage was not observed")
	}
	for i := range f.Replicas() {
		if o.probed[i] == 0 {
			t.Errorf("replica %d's /readyz was not asked while PostgreSQL was down", i)
		}
	}
	for code, n := range o.ready {
		if code != http.StatusServiceUnavailable {
			t.Errorf("while PostgreSQL was down, /readyz answered %d %d times, want 503", code, n)
		}
	}
	for i, d := range o.recover {
		if d < 0 || d > 10*time.Second {
			t.Errorf("replica %d served again %s after PostgreSQL's return, want within 10 s", i, d)
		}
	}
	f.requireClean(views, half, chain, stream)
	if t.Failed() || fig.Statuses[http.StatusInternalServerError] > 0 {
		f.logFailures()
	}
}

// logFailures logs the distinct errors the replicas logged for failed
// requests, which say why a page was not a 503.
func (f *faultFleet) logFailures() {
	seen := map[string]bool{}
	for _, r := range f.Replicas() {
		for _, line := range r.LogLines(`"request failed"`) {
			var e struct {
				Path  string `json:"path"`
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(line), &e) != nil || seen[e.Path+e.Error] || len(seen) >= 12 {
				continue
			}
			seen[e.Path+e.Error] = true
			f.t.Logf("replica %d: %s: %s", r.Index, e.Path, e.Error)
		}
	}
}

// cluster is the Debian PostgreSQL cluster GATEHOUSE_TEST_PG names,
// driven with pg_ctlcluster.
type cluster struct{ version, name string }

func (c cluster) String() string { return c.version + "/" + c.name }

// findCluster names the cluster to restart: GATEHOUSE_FAULTS_PG_CLUSTER
// (e.g. "15/main"), or the server's own cluster_name.
func findCluster(t *testing.T, db *sql.DB) cluster {
	t.Helper()
	name := os.Getenv("GATEHOUSE_FAULTS_PG_CLUSTER")
	if name == "" {
		if err := db.QueryRow("SHOW cluster_name").Scan(&name); err != nil {
			t.Fatal(err)
		}
	}
	v, n, ok := strings.Cut(name, "/")
	if !ok {
		t.Fatalf("PostgreSQL cluster %q: set GATEHOUSE_FAULTS_PG_CLUSTER=<version>/<name> (see pg_lsclusters)", name)
	}
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		t.Fatalf("the outage test restarts PostgreSQL with pg_ctlcluster: %v", err)
	}
	return cluster{v, n}
}

// ctl runs pg_ctlcluster VERSION NAME action args.
func (c cluster) ctl(t *testing.T, action string, args ...string) {
	t.Helper()
	out, err := exec.Command("pg_ctlcluster", append([]string{c.version, c.name, action}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctlcluster %s %s %s %v: %v\n%s", c.version, c.name, action, args, err, out)
	}
}

// ensureRunning starts the cluster if it is down: the server is shared.
func (c cluster) ensureRunning(t *testing.T) {
	if exec.Command("pg_ctlcluster", c.version, c.name, "status").Run() == nil {
		return
	}
	if out, err := exec.Command("pg_ctlcluster", c.version, c.name, "start").CombinedOutput(); err != nil {
		t.Errorf("PostgreSQL %s is down and would not start: %v\n%s", c, err, out)
	}
}

// waitAccepting returns when a new connection to the server answers.
func (c cluster) waitAccepting(t *testing.T) time.Time {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("pgx", os.Getenv("GATEHOUSE_TEST_PG"))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
		}
		if err == nil {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL %s does not accept connections a minute after its start: %v", c, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// probe is one GET /readyz sent to a replica directly.
type probe struct {
	Replica    int
	Status     int // 0: no answer
	Start, End time.Time
}

// probes ask every replica's /readyz every 100 ms.
type probes struct {
	stopped chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	all     []probe
}

func startProbes(replicas []*fleet.Replica) *probes {
	p := &probes{stopped: make(chan struct{})}
	client := &http.Client{Timeout: 2 * time.Second}
	for _, r := range replicas {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pr := probe{Replica: r.Index, Start: time.Now()}
				if res, err := client.Get(r.URL() + "/readyz"); err == nil {
					res.Body.Close()
					pr.Status = res.StatusCode
				}
				pr.End = time.Now()
				p.mu.Lock()
				p.all = append(p.all, pr)
				p.mu.Unlock()
				select {
				case <-p.stopped:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	return p
}

func (p *probes) log() []probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]probe(nil), p.all...)
}

func (p *probes) stop() []probe {
	close(p.stopped)
	p.wg.Wait()
	return p.log()
}

// recoveredAll reports whether every replica has, since up, served a view
// and answered /readyz with 200.
func recoveredAll(log []served, plog []probe, up time.Time, replicas int) bool {
	viewed, ready := map[int]bool{}, map[int]bool{}
	for _, s := range log {
		if s.view() && s.Start.After(up) {
			viewed[s.Replica] = true
		}
	}
	for _, p := range plog {
		if p.Status == http.StatusOK && p.Start.After(up) {
			ready[p.Replica] = true
		}
	}
	return len(viewed) == replicas && len(ready) == replicas
}

// outage is what the load and the probes saw around the outage.
type outage struct {
	pages     map[int]int // data pages asked and answered while down, by status (0: no answer)
	pageLeaks int         // of them, answers with tenant data
	ready     map[int]int // /readyz probes while down, by status
	probed    map[int]int // /readyz probes while down, by replica
	recover   []time.Duration
	after     int             // data pages answered other than 200 after PostgreSQL's return
	last      []time.Duration // each replica's last failure after up
}

// lastFailure is the latest failure after PostgreSQL's return.
func (o outage) lastFailure() time.Duration { return slices.Max(o.last) }

// outageOf reads the logs: "while down" is between down and upAsked
// (a request or probe that started and ended inside); a replica has
// recovered at the end of its last failed data page or /readyz after up,
// so later failures (a connection of the pool broken by the outage)
// count against it.
func outageOf(log []served, plog []probe, down, upAsked, up time.Time, replicas int) outage {
	o := outage{pages: map[int]int{}, ready: map[int]int{}, probed: map[int]int{}, recover: make([]time.Duration, replicas)}
	inside := func(start, end time.Time) bool { return start.After(down) && end.Before(upAsked) }
	last := make([]time.Time, replicas)
	for i := range last {
		last[i] = up
	}
	fail := func(i int, end time.Time) {
		if i >= 0 && i < replicas && end.After(last[i]) {
			last[i] = end
		}
	}
	for _, s := range log {
		if inside(s.Start, s.End) {
			o.pages[s.Status]++
			if s.Tenant {
				o.pageLeaks++
			}
		}
		if s.Start.After(up) && s.Status != http.StatusOK {
			fail(s.Replica, s.End)
		}
	}
	for _, p := range plog {
		if inside(p.Start, p.End) {
			o.ready[p.Status]++
			o.probed[p.Replica]++
		}
		if p.Start.After(up) && p.Status != http.StatusOK {
			fail(p.Replica, p.End)
		}
	}
	// A replica has recovered once it has failed for the last time and
	// then served: the first view after its last failure.
	for i := range replicas {
		o.recover[i] = -1
		for _, s := range log {
			if s.Replica == i && s.view() && s.Start.After(last[i]) {
				if d := s.End.Sub(up); o.recover[i] < 0 || d < o.recover[i] {
					o.recover[i] = d
				}
			}
		}
	}
	for i := range replicas {
		o.last = append(o.last, last[i].Sub(up))
	}
	for _, s := range log {
		if s.Start.After(up) && s.Status != http.StatusOK && s.Status != 0 {
			o.after++
		}
	}
	return o
}

func (o outage) recoveryText() string {
	var parts []string
	for i, d := range o.recover {
		if d < 0 {
			parts = append(parts, fmt.Sprintf("replica %d did not recover", i))
			continue
		}
		parts = append(parts, fmt.Sprintf("replica %d %s", i, d.Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

// resetPools drops the test's own idle connections to the portal and
// product databases, which the outage broke.
func (f *faultFleet) resetPools() {
	for _, g := range []*gorm.DB{f.Owner.Write, f.Owner.Read, f.Product.Write, f.Product.Read} {
		if d, err := g.DB(); err == nil {
			d.SetMaxIdleConns(0)
			d.SetMaxIdleConns(2)
		}
	}
}
