package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/models/demo"
)

// SessionKey is the session key of the benchmark's portal: the generator
// queues the retention notices with it, and the server it starts must
// open them with the same key. It guards nothing real: the databases hold
// generated data only, and the server listens on loopback with --dev.
const SessionKey = "gatehouse-bench-session-key-not-a-secret-0123456789"

// Options say where the databases of a size are.
type Options struct {
	// Server is a PostgreSQL server URL (any database on it, e.g.
	// GATEHOUSE_TEST_PG); empty means SQLite files under Dir.
	Server string
	// Dir holds the SQLite files (default ~/.cache/gatehouse-bench).
	Dir string
	// Name is the portal database's name (PostgreSQL) or directory
	// (SQLite); the product database is Name + "_product". Default
	// "gatehouse_bench_" + the size's name, e.g. gatehouse_bench_ws1k_ev100k.
	Name string
	// Now dates the data (default time.Now()).
	Now time.Time
	// Logf, when set, is told what the generator does and how long it took.
	Logf func(format string, args ...any)
}

// Target is a generated pair of databases.
type Target struct {
	Size    Size
	Dialect models.Dialect
	// Portal and Product are the databases' URLs (PostgreSQL) or files
	// (SQLite), as GATEHOUSE_DATABASE_URL and GATEHOUSE_PRODUCT_DB_URL take them.
	Portal  string
	Product string
	// Built is true when this call generated them; false when it found
	// them complete from an earlier run.
	Built bool
}

// markerTable holds one row once a generation has finished; a database
// without it (or with other counts) is half-built and is made anew.
const markerTable = "gatehouse_bench_marker"

// Generate returns the databases of size, generating them first unless a
// complete generation of the same size is there already. A half-built or
// differently sized one is dropped and built again, so an interrupted run
// costs only a rebuild.
func Generate(ctx context.Context, size Size, opts Options) (Target, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Name == "" {
		opts.Name = "gatehouse_bench_" + size.Name()
	}
	t := Target{Size: size}
	var reset func() error
	if opts.Server != "" {
		var err error
		if t.Portal, t.Product, reset, err = postgresPair(ctx, opts.Server, opts.Name); err != nil {
			return t, err
		}
		t.Dialect = models.Postgres
	} else {
		dir := opts.Dir
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return t, err
			}
			dir = filepath.Join(home, ".cache", "gatehouse-bench")
		}
		dir = filepath.Join(dir, opts.Name)
		t.Portal, t.Product, t.Dialect = filepath.Join(dir, "portal.db"), filepath.Join(dir, "product.db"), models.SQLite
		reset = func() error {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			return os.MkdirAll(dir, 0o700)
		}
	}
	if done, err := complete(ctx, t); err != nil || done {
		return t, err
	}
	opts.Logf("generating %s (%s) on %s", opts.Name, size, t.Dialect)
	if err := reset(); err != nil {
		return t, fmt.Errorf("reset %s: %w", opts.Name, err)
	}
	if err := build(ctx, t, opts); err != nil {
		return t, fmt.Errorf("generate %s: %w", opts.Name, err)
	}
	t.Built = true
	return t, nil
}

// complete reports whether t's portal database holds the marker of a
// finished generation of t.Size.
func complete(ctx context.Context, t Target) (bool, error) {
	if t.Dialect == models.SQLite {
		if _, err := os.Stat(t.Portal); err != nil {
			return false, nil
		}
	}
	db, err := models.Open(ctx, t.Portal)
	if err != nil {
		return false, nil
	}
	defer db.Close()
	if !db.Read.WithContext(ctx).Migrator().HasTable(markerTable) {
		return false, nil
	}
	var n int64
	err = db.Read.WithContext(ctx).Table(markerTable).Where("workspaces = ? AND events = ?", t.Size.Workspaces, t.Size.Events).Count(&n).Error
	return err == nil && n == 1, nil
}

// postgresPair returns the URLs of the portal and product databases named
// after name on server, and a function that drops and creates them empty.
func postgresPair(ctx context.Context, server, name string) (portal, product string, reset func() error, err error) {
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return "", "", nil, fmt.Errorf("database name %q: only a-z, 0-9 and _", name)
		}
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", "", nil, fmt.Errorf("server URL: %w", err)
	}
	names := []string{name, name + "_product"}
	urls := make([]string, 2)
	for i, n := range names {
		c := *u
		c.Path = "/" + n
		urls[i] = c.String()
	}
	reset = func() error {
		admin, err := models.Open(ctx, server)
		if err != nil {
			return err
		}
		defer admin.Close()
		for _, n := range names {
			if err := admin.Write.Exec("DROP DATABASE IF EXISTS " + n + " WITH (FORCE)").Error; err != nil {
				return err
			}
			if err := admin.Write.Exec("CREATE DATABASE " + n).Error; err != nil {
				return err
			}
		}
		return nil
	}
	return urls[0], urls[1], reset, nil
}

// Drop removes a generated pair (a test's, say). Kept benchmark
// databases are never dropped by the benchmarks themselves.
func Drop(ctx context.Context, t Target, server string) error {
	if t.Dialect == models.SQLite {
		return os.RemoveAll(filepath.Dir(t.Portal))
	}
	admin, err := models.Open(ctx, server)
	if err != nil {
		return err
	}
	defer admin.Close()
	var errs []error
	for _, u := range []string{t.Portal, t.Product} {
		pu, err := url.Parse(u)
		if err != nil {
			return err
		}
		errs = append(errs, admin.Write.Exec("DROP DATABASE IF EXISTS "+strings.TrimPrefix(pu.Path, "/")+" WITH (FORCE)").Error)
	}
	return errors.Join(errs...)
}

// build fills empty databases: the audit log first (its events are dated
// over the two years before now, so they come before everything the demo
// seeding appends at now), then the demo staff, the registry, one
// retention run so that the kept databases are in the steady state a
// running portal keeps them in, last period's transparency reports, the
// detection position at the log's head, and finally the marker.
func build(ctx context.Context, t Target, opts Options) error {
	portal, err := models.Open(ctx, t.Portal)
	if err != nil {
		return err
	}
	defer portal.Close()
	product, err := models.Open(ctx, t.Product)
	if err != nil {
		return err
	}
	defer product.Close()
	if err := models.Migrate(ctx, portal); err != nil {
		return err
	}
	now := opts.Now
	g := newGen(t.Size, now)

	start := time.Now()
	if err := fillEvents(ctx, portal, t.Portal, g); err != nil {
		return fmt.Errorf("audit events: %w", err)
	}
	opts.Logf("  %d audit events in %s", t.Size.Events, time.Since(start).Round(time.Millisecond))

	if err := demo.SeedStaff(ctx, portal, now); err != nil {
		return fmt.Errorf("demo staff: %w", err)
	}
	start = time.Now()
	if err := demo.SeedProduct(ctx, product.Write, now); err != nil {
		return fmt.Errorf("demo registry: %w", err)
	}
	if err := fillWorkspaces(ctx, product, t.Product, g); err != nil {
		return fmt.Errorf("workspaces: %w", err)
	}
	opts.Logf("  %d workspaces in %s", t.Size.Workspaces, time.Since(start).Round(time.Millisecond))
	if t.Dialect == models.Postgres {
		// Statistics before the jobs below: without them the planner
		// reads a month of the log for each report (a report took 30 ms,
		// not 12, at 10M events: 240,000 of them at 1m/10m).
		start = time.Now()
		for _, q := range []struct {
			db   *models.DB
			stmt string
		}{{portal, "ANALYZE audit_events"}, {product, "ANALYZE workspaces, workspace_owners"}} {
			if err := q.db.Write.WithContext(ctx).Exec(q.stmt).Error; err != nil {
				return fmt.Errorf("%s: %w", q.stmt, err)
			}
		}
		opts.Logf("  ANALYZE in %s", time.Since(start).Round(time.Millisecond))
	}

	start = time.Now()
	run, err := settleRetention(ctx, portal, product, filepath.Join(filepath.Dir(t.Product), "tenants"), now)
	if err != nil {
		return fmt.Errorf("first retention run: %w", err)
	}
	opts.Logf("  first retention run in %s: %+v", time.Since(start).Round(time.Millisecond), run)

	start = time.Now()
	reports, err := settleTransparency(ctx, portal, product, now)
	if err != nil {
		return fmt.Errorf("first transparency reports: %w", err)
	}
	opts.Logf("  first transparency reports in %s: %+v", time.Since(start).Round(time.Millisecond), reports)

	// The generated years came before detection, as on an upgrade: the
	// detector starts at the chain's head. Left at the start, the demo's
	// alert seeding in `migrate --dev` and then each replica's detector
	// would evaluate the whole generated log first (hours at 10M events).
	if err := models.SkipDetection(ctx, portal.Write); err != nil {
		return fmt.Errorf("detection position: %w", err)
	}

	if t.Dialect == models.Postgres {
		start = time.Now()
		// The copied tables only: vacuuming the whole database (its
		// catalogs) costs seconds even when it is tiny.
		for _, q := range []struct {
			db   *models.DB
			stmt string
		}{{portal, "VACUUM (ANALYZE) audit_events"}, {portal, "ANALYZE"}, {product, "VACUUM (ANALYZE) workspaces, workspace_owners"}} {
			if err := q.db.Write.WithContext(ctx).Exec(q.stmt).Error; err != nil {
				return fmt.Errorf("%s: %w", q.stmt, err)
			}
		}
		opts.Logf("  VACUUM ANALYZE in %s", time.Since(start).Round(time.Millisecond))
	}
	w := portal.Write.WithContext(ctx)
	if err := w.Exec("CREATE TABLE " + markerTable + " (workspaces BIGINT NOT NULL, events BIGINT NOT NULL, generated_at TEXT NOT NULL)").Error; err != nil {
		return err
	}
	return w.Exec("INSERT INTO "+markerTable+" (workspaces, events, generated_at) VALUES (?, ?, ?)",
		t.Size.Workspaces, t.Size.Events, time.Now().UTC().Format(time.RFC3339)).Error
}

// settleTransparency makes last period's transparency reports, as the
// first start of a portal on these databases would (at 1M workspaces and
// 10M events, a report for each of about 240,000 workspaces active last
// month, at about 115 a second): a kept pair is measured in the steady
// state, not while its replica works through the month's reports.
func settleTransparency(ctx context.Context, portal, product *models.DB, now time.Time) (models.TransparencyRun, error) {
	post, err := Post(now)
	if err != nil {
		return models.TransparencyRun{}, err
	}
	job := &models.TransparencyJob{DB: portal, Product: product, Post: post, Policy: models.DefaultTransparencyPolicy(),
		Now: func() time.Time { return now }}
	return job.RunOnce(ctx)
}

// settleMail counts the mail queued on a kept pair as delivered, as a
// portal that keeps up would have sent it, and returns how many it
// counted. Generation queues a month's transparency reports and the
// retention notices due (about 300,000 at 1m/10m); left queued, the
// server's mail worker sends them while the pages are measured, some
// 300 a second, each with its audit event, and a small page's time
// doubled at 1m/10m. Their mail.sent events are not in the generated
// log, which stands for years of events anyway.
func settleMail(ctx context.Context, portal *models.DB) (int64, error) {
	res := portal.Write.WithContext(ctx).Exec("UPDATE mail_outbox SET status = 'sent', sent_at = next_attempt_at, claimed_until = NULL, claimed_by = '' WHERE status = 'queued'")
	if res.Error != nil {
		return 0, fmt.Errorf("settle mail: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// settleRetention runs the retention job once, as the first start of a
// portal on this registry would: the notices due are queued and the
// workspaces marked, so that each benchmark run measures the hourly run
// of a portal that keeps up.
func settleRetention(ctx context.Context, portal, product *models.DB, tenantsDir string, now time.Time) (models.RetentionRun, error) {
	post, err := Post(now)
	if err != nil {
		return models.RetentionRun{}, err
	}
	if product.Dialect == models.Postgres {
		tenantsDir = ""
	}
	job := &models.RetentionJob{DB: portal, Product: product, TenantsDir: tenantsDir, Policy: models.DefaultRetentionPolicy(),
		Post: post, Now: func() time.Time { return now }}
	return job.RunOnce(ctx)
}

// Post is the mail the benchmark's jobs queue, openable by a portal
// started with SessionKey.
func Post(now time.Time) (models.Post, error) {
	outbox, err := models.NewOutbox([]byte(SessionKey))
	if err != nil {
		return models.Post{}, err
	}
	base := &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	return models.Post{Outbox: outbox, Letters: letters.New("Gatehouse Bench", base, func() time.Time { return now })}, nil
}
