package dbtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// Cluster is a PostgreSQL server of a test's own, in a temporary
// directory on a free loopback port, which the test may stop (as a crash
// would) and start again. The shared GATEHOUSE_TEST_PG server is never
// touched.
type Cluster struct {
	t    testing.TB
	bin  string // the directory holding initdb and pg_ctl
	dir  string // the cluster's data directory, also its socket directory
	port int
	as   string // the user the server runs as when the test runs as root
}

// NewCluster initialises and starts a cluster, stopped and removed when
// the test ends. Without initdb and pg_ctl it skips the test, or fails it
// under GATEHOUSE_TEST_ALL=1.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		if os.Getenv("GATEHOUSE_TEST_ALL") == "1" {
			t.Fatal("initdb and pg_ctl are not installed and GATEHOUSE_TEST_ALL=1: the database outage tests must run")
		}
		t.Skip("database outage test skipped: it needs PostgreSQL's initdb and pg_ctl (on PATH or in /usr/lib/postgresql/*/bin)")
	}
	c := &Cluster{t: t, bin: bin}
	// PostgreSQL refuses to run as root: the server then runs as the
	// postgres user, which must reach its directory.
	if os.Geteuid() == 0 {
		c.as = "postgres"
	}
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.pgctl("stop", "-m", "immediate") // may already be stopped
		os.RemoveAll(dir)
	})
	if c.as != "" {
		u, err := user.Lookup(c.as)
		if err != nil {
			t.Fatalf("running as root, the cluster needs the user %s: %v", c.as, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.Start()
	return c
}

// postgresBin finds the directory of initdb and pg_ctl, or "".
func postgresBin() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // the newest version first
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// run runs a PostgreSQL program as the cluster's user.
func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if c.as != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.as, "--", prog}, args...)...) // #nosec G204 -- tests only: initdb or pg_ctl, found on PATH or in PostgreSQL's directory
	} else {
		cmd = exec.CommandContext(ctx, prog, args...) // #nosec G204 -- as above
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func (c *Cluster) pgctl(args ...string) ([]byte, error) {
	return c.run(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", filepath.Join(c.dir, "data"), "-w", "-t", "30"}, args...)...)
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", c.port, c.dir)
	if out, err := c.pgctl("start", "-l", filepath.Join(c.dir, "server.log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server in immediate mode: every connection is cut at
// once and nothing is shut down cleanly, as in a crash (the next start
// recovers from the WAL).
func (c *Cluster) Stop() {
	c.t.Helper()
	if out, err := c.pgctl("stop", "-m", "immediate"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// URL is the URL of database name on the cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// Database creates a new database on the cluster, migrated, and opens
// it; URL(db) names it afterwards, as for Postgres.
func (c *Cluster) Database(t testing.TB, name string) *models.DB {
	t.Helper()
	ctx := context.Background()
	admin, err := models.Open(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if strings.ContainsFunc(name, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' }) {
		t.Fatalf("database name %q: lower-case letters, digits and _ only", name)
	}
	if err := admin.Write.Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatal(err)
	}
	u := c.URL(name)
	db, err := models.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	urls.Store(db, u)
	t.Cleanup(func() { urls.Delete(db); db.Close() })
	if err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	return db
}
