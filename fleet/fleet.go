// Package fleet runs Gatehouse as a fleet of real processes for tests:
// the built binary, serving `--dev` on a PostgreSQL database of its own
// under a login role with only the grants the README documents, behind a
// loopback reverse proxy that hands requests to the replicas in turn. It
// is the ground of `make fleet` (what one replica does, the other sees)
// and of the crash and outage tests built on it.
//
// A test starts a fleet, signs demo staff in through the proxy, acts, and
// checks the outcome through the proxy and in the database as its owner:
//
//	f := fleet.Start(t, fleet.Options{})
//	ada := f.SignIn(t, "ada.sysadmin@example.com")
//	res, err := ada.Get("/staff")
//	f.Replica(1).Kill()    // kill -9
//	f.Replica(1).Start(t)  // back in rotation once ready
//
// The proxy hands each request to the next replica in rotation and names
// it in the response's X-Fleet-Replica header. A replica is in rotation
// from the moment it answers /readyz until Stop or Kill takes it out (just
// before the signal): a request finding no replica in rotation gets 503
// from the proxy, one whose replica dies under it 502.
//
// Everything Start creates is removed when the test ends, failed or not:
// the processes (stopped, or killed when they do not stop), the proxy, the
// databases and the role.
package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/mailer/smtptest"
	"gatehouse/models"
)

// Options shape a fleet; the zero value is two replicas with the demo data.
type Options struct {
	// Replicas is how many `gatehouse serve --dev` processes run (default 2).
	Replicas int
	// Env adds GATEHOUSE_* settings to every replica, after the fleet's
	// own (e.g. "GATEHOUSE_BREAKGLASS_WINDOW=5m").
	Env []string
}

// Fleet is a running fleet. Its fields are fixed once Start returns.
type Fleet struct {
	// URL is the proxy's base URL, the portal's GATEHOUSE_BASE_URL: every
	// request a test makes should go through it.
	URL string
	// Owner is the portal database as its owning role (postgres), for
	// assertions and for setting up states the web cannot reach quickly.
	// It bypasses every grant; the replicas never use it.
	Owner *models.DB
	// Product is the product database as its owning role.
	Product *models.DB
	// Mail is the SMTP server every replica sends through; its Messages
	// are everything the fleet mailed.
	Mail *smtptest.Server
	// Role is the restricted login role the replicas run as, and
	// RoleURL the portal database's URL as that role.
	Role    string
	RoleURL string
	// SessionKey is the replicas' shared GATEHOUSE_SESSION_KEY, for a test
	// that queues mail they must open (models.NewOutbox).
	SessionKey []byte

	t        testing.TB
	bin      string
	dirs     string // temporary directory: replica data dirs and logs
	env      []string
	ownerEnv []string
	replicas []*Replica
	proxy    *proxy
	server   *httptest.Server
}

// Start builds bin/gatehouse (once per test binary), creates the fleet's
// databases on the GATEHOUSE_TEST_PG server, migrates and seeds them as
// the owner, creates the restricted role with the README's grants, and
// starts the replicas behind the proxy. It returns once every replica is
// ready. Without GATEHOUSE_TEST_PG it skips the test (fails it under
// GATEHOUSE_TEST_ALL=1).
func Start(t testing.TB, opts Options) *Fleet {
	t.Helper()
	if opts.Replicas == 0 {
		opts.Replicas = 2
	}
	server := postgresURL(t)
	began := time.Now()
	f := &Fleet{t: t, bin: Binary(t), dirs: t.TempDir(), Mail: smtptest.Start(t)}
	built := time.Now()
	f.proxy = &proxy{}
	f.server = httptest.NewServer(f.proxy)
	f.URL = f.server.URL

	db := createDatabases(t, server)
	// Cleanups run last registered first: the replicas stop before the
	// databases are dropped and before the mail server closes.
	t.Cleanup(f.cleanup)
	f.Role, f.RoleURL = db.role, db.rolePortal
	f.SessionKey = []byte(base64.StdEncoding.EncodeToString([]byte(rand.Text() + rand.Text())))
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	shared := []string{
		"GATEHOUSE_BASE_URL=" + f.URL,
		"GATEHOUSE_SESSION_KEY=" + string(f.SessionKey),
		"GATEHOUSE_AUDIT_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(seed),
		"GATEHOUSE_SMTP_HOST=" + f.Mail.Host,
		fmt.Sprintf("GATEHOUSE_SMTP_PORT=%d", f.Mail.Port),
		"GATEHOUSE_SMTP_TLS=none",
	}
	f.ownerEnv = append([]string{
		"GATEHOUSE_DATABASE_URL=" + db.ownerPortal,
		"GATEHOUSE_PRODUCT_DB_URL=" + db.ownerProduct,
		"GATEHOUSE_DATA_DIR=" + filepath.Join(f.dirs, "owner"),
	}, shared...)
	f.env = append(append([]string{
		"GATEHOUSE_DATABASE_URL=" + db.rolePortal,
		"GATEHOUSE_PRODUCT_DB_URL=" + db.roleProduct,
	}, shared...), opts.Env...)

	if out, err := f.command(context.Background(), f.ownerEnv, "migrate", "--dev").CombinedOutput(); err != nil {
		t.Fatalf("gatehouse migrate --dev as the owner: %v\n%s", err, out)
	}
	var err error
	if f.Owner, err = models.Open(context.Background(), db.ownerPortal); err != nil {
		t.Fatal(err)
	}
	if f.Product, err = models.Open(context.Background(), db.ownerProduct); err != nil {
		t.Fatal(err)
	}
	if err := grantREADME(context.Background(), f.Owner, f.Product, db.role); err != nil {
		t.Fatal(err)
	}
	seeded := time.Now()

	for i := range opts.Replicas {
		r := &Replica{f: f, Index: i, dataDir: filepath.Join(f.dirs, fmt.Sprintf("replica-%d", i))}
		f.replicas = append(f.replicas, r)
		f.proxy.add(r)
	}
	f.StartAll(t)
	t.Logf("fleet of %d replicas ready at %s in %s (build %s, databases %s, replicas %s)", opts.Replicas, f.URL,
		time.Since(began).Round(time.Millisecond), built.Sub(began).Round(time.Millisecond),
		seeded.Sub(built).Round(time.Millisecond), time.Since(seeded).Round(time.Millisecond))
	return f
}

// StartAll starts every replica that is not running, all at once (so
// their start-up work, the first sweep and retention run among it, races
// as it does when a fleet is deployed), and waits until each is ready.
func (f *Fleet) StartAll(t testing.TB) {
	t.Helper()
	errs := make([]error, len(f.replicas))
	var wg sync.WaitGroup
	for i, r := range f.replicas {
		if r.Running() {
			continue
		}
		wg.Go(func() { errs[i] = r.start() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v\nlog:\n%s", i, err, f.replicas[i].LogTail(40))
		}
	}
}

// StopAll stops every replica gracefully, all at once, failing the test
// for one that does not stop cleanly.
func (f *Fleet) StopAll(t testing.TB) {
	t.Helper()
	errs := make([]error, len(f.replicas))
	var wg sync.WaitGroup
	for i, r := range f.replicas {
		wg.Go(func() { errs[i] = r.Stop() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d did not stop cleanly: %v", i, err)
		}
	}
}

// VerifyAudit walks the audit chain with `gatehouse audit verify`, as the
// replicas' role, and with models.VerifyAudit as the owner, failing the
// test unless both find it whole. It returns the owner's result.
func (f *Fleet) VerifyAudit(t testing.TB) models.VerifyResult {
	t.Helper()
	ctx := context.Background()
	if out, err := f.Gatehouse(ctx, "audit", "verify"); err != nil {
		t.Errorf("gatehouse audit verify: %v\n%s", err, out)
	}
	res, err := models.VerifyAudit(ctx, f.Owner)
	switch {
	case err != nil:
		t.Errorf("models.VerifyAudit: %v", err)
	case !res.OK:
		t.Errorf("audit chain broken at seq %d: %s", res.BrokenSeq, res.Problem)
	}
	return res
}

// Replica returns replica i (from 0).
func (f *Fleet) Replica(i int) *Replica { return f.replicas[i] }

// Replicas returns every replica, in order.
func (f *Fleet) Replicas() []*Replica { return append([]*Replica(nil), f.replicas...) }

// Served returns how many responses the proxy has had from each replica.
func (f *Fleet) Served() []int64 { return f.proxy.served() }

// Gatehouse runs the gatehouse binary's command line (e.g. "audit",
// "verify") as the replicas do, with the restricted role, and returns
// its combined output.
func (f *Fleet) Gatehouse(ctx context.Context, args ...string) ([]byte, error) {
	return f.command(ctx, f.env, args...).CombinedOutput()
}

// cleanup stops every replica, then the proxy, then closes the owner's
// connections; the databases and the role are dropped by the cleanup
// createDatabases registered, which runs after this one.
func (f *Fleet) cleanup() {
	began := time.Now()
	var wg sync.WaitGroup
	for _, r := range f.replicas {
		wg.Go(func() { r.stop(20 * time.Second) })
	}
	wg.Wait()
	f.t.Logf("fleet stopped in %s", time.Since(began).Round(time.Millisecond))
	f.server.Close()
	if f.t.Failed() {
		for _, r := range f.replicas {
			bad := append(r.LogLines(`"level":"ERROR"`), r.LogLines(`"level":"WARN"`)...)
			if len(bad) > 40 {
				bad = bad[:40]
			}
			f.t.Logf("replica %d: errors and warnings (first 40):\n%s\nlog (last 40 lines):\n%s", r.Index, strings.Join(bad, "\n"), r.LogTail(40))
		}
	}
	for _, db := range []*models.DB{f.Owner, f.Product} {
		if db != nil {
			db.Close()
		}
	}
}

// environ is the process environment without any GATEHOUSE_* variable
// of the test's own (a setting the portal does not know refuses its
// start), plus env.
func environ(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}
