package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"
)

// syncBuffer is an io.Writer the running command and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// devServer is `gatehouse serve --dev` running in this process.
type devServer struct {
	t       *testing.T
	addr    string
	base    string
	dataDir string
	env     []string
	stdout  *syncBuffer
	stderr  *syncBuffer
	stop    context.CancelFunc
	done    chan error
}

// startDev runs `serve --dev` on a free port with its data in a temporary
// directory, and with the settings of env, and waits until /healthz
// answers. The port is free when chosen but may be taken before serve
// binds it (other packages' tests start servers too): then it starts
// again on another.
func startDev(t *testing.T, env ...string) *devServer {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := tryStartDev(t, env)
		if err == nil {
			return s
		}
		if !strings.Contains(err.Error(), "address already in use") || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; again on another port", attempt, err)
	}
}

func tryStartDev(t *testing.T, env []string) (*devServer, error) {
	t.Helper()
	s := &devServer{t: t, addr: freeAddr(t), dataDir: t.TempDir(), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	s.base = "http://" + s.addr
	s.env = append([]string{"GATEHOUSE_ADDR=" + s.addr, "GATEHOUSE_DATA_DIR=" + s.dataDir}, env...)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.done <- run(ctx, []string{"serve", "--dev"}, s.env, s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop within 20s of cleanup")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(s.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err // for Cleanup
			return nil, fmt.Errorf("serve --dev ended before it was healthy: %v\nstderr:\n%s", err, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --dev not healthy after 30s (last error %v)\nstderr:\n%s", err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shutdown cancels run's context, as SIGTERM does through
// signal.NotifyContext, and returns what run returned.
func (s *devServer) shutdown() error {
	s.t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err // for Cleanup
		return err
	case <-time.After(10 * time.Second):
		s.t.Fatalf("run did not return within 10s of cancellation\nstderr:\n%s", s.stderr)
		return nil
	}
}

func (s *devServer) get(c *http.Client, path string) (*http.Response, string) {
	s.t.Helper()
	res, err := c.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// login signs a new browser in as a demo staff member through the real
// OIDC round trip against the built-in identity provider.
func (s *devServer) login(email string) *http.Client {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := c.PostForm(s.base+"/dev/login", url.Values{"email": {email}})
	if err != nil {
		s.t.Fatalf("login as %s: %v", email, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" {
		s.t.Fatalf("login as %s ended at %s with %d:\n%s", email, res.Request.URL, res.StatusCode, b)
	}
	return c
}

func (s *devServer) openDB() *models.DB {
	s.t.Helper()
	db, err := models.Open(context.Background(), filepath.Join(s.dataDir, "portal.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { db.Close() })
	return db
}

func TestRunServeDev(t *testing.T) {
	s := startDev(t)
	c := &http.Client{Timeout: 10 * time.Second}

	if want := "running at " + s.base; !strings.Contains(s.stdout.String(), want) {
		t.Errorf("stdout = %q, want it to contain %q", s.stdout.String(), want)
	}
	if res, body := s.get(c, "/readyz"); res.StatusCode != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz = %d %q, want 200 \"ready\\n\"", res.StatusCode, body)
	}
	if res, body := s.get(c, "/metrics"); res.StatusCode != http.StatusOK || !strings.Contains(body, "gatehouse_http_requests_total") {
		t.Errorf("/metrics = %d, want 200 with gatehouse_http_requests_total:\n%.2000s", res.StatusCode, body)
	}
	// The whole sign-in works against the binary's own identity provider.
	sam := s.login("sam.support@example.com")
	if res, body := s.get(sam, "/"); res.StatusCode != http.StatusOK || !strings.Contains(body, "Sam Support") {
		t.Errorf("dashboard = %d, want 200 naming Sam Support:\n%s", res.StatusCode, body)
	}

	// A request in flight when shutdown begins is completed. The server
	// answers "100 Continue" when the handler starts reading the body, so
	// the test knows the request is inside the handler.
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	body := url.Values{"email": {"sara.senior@example.com"}}.Encode()
	fmt.Fprintf(conn, "POST /dev/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", s.addr, len(body))
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("interim response %q, %v; want 100 Continue", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	s.stop()
	// Shutdown has begun once the listener refuses new connections.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		nc, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 10s after cancellation")
		}
	}
	select {
	case err := <-s.done:
		t.Fatalf("run returned %v while a request was in flight", err)
	default:
	}
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request got no response: %v", err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "/dev/oidc/") {
		t.Errorf("in-flight POST /dev/login = %d to %q, want 303 to the identity provider", res.StatusCode, loc)
	}
	if err := s.shutdown(); err != nil {
		t.Errorf("run after graceful shutdown = %v, want nil", err)
	}
	if logs := s.stderr.String(); !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("log has no \"stopped\" line:\n%s", logs)
	}
	// The in-flight request's login flow was written before the database
	// was closed.
	var flows int64
	if err := s.openDB().Read.Table("login_flows").Where("login_hint = ?", "sara.senior@example.com").Count(&flows).Error; err != nil {
		t.Fatal(err)
	}
	if flows != 1 {
		t.Errorf("login flows for the in-flight request = %d, want 1", flows)
	}
}

func TestRunServeDevRestartKeepsSessions(t *testing.T) {
	s := startDev(t)
	sam := s.login("sam.support@example.com")
	if err := s.shutdown(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	// acme, the registry's first workspace, deleted meanwhile (as a
	// sysadmin's deletion leaves it): the next start must neither refuse
	// (the catalog is checked against a workspace whose data is there) nor
	// bring its data back; nor soylent's, which the demo deleted.
	tenants := filepath.Join(s.dataDir, "tenants")
	if _, err := os.Stat(filepath.Join(tenants, "ws_soylent.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo's deleted soylent still has its file: %v", err)
	}
	product, err := models.Open(context.Background(), filepath.Join(s.dataDir, "product.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := product.Write.Exec("UPDATE workspaces SET status = 'deleted' WHERE slug = 'acme'").Error; err != nil {
		t.Fatal(err)
	}
	product.Close()
	if err := os.Remove(filepath.Join(tenants, "ws_acme.db")); err != nil {
		t.Fatal(err)
	}
	// The same data directory and address again: the session key is kept
	// in the data directory, so the browser is still signed in.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--dev"}, s.env, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("second run: %v", err)
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(s.base + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second run not healthy after 30s")
		}
	}
	res, body := s.get(sam, "/")
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != "/" || !strings.Contains(body, "Sam Support") {
		t.Errorf("after restart / ended at %s with %d, want Sam's dashboard", res.Request.URL, res.StatusCode)
	}
	for _, slug := range []string{"acme", "soylent"} {
		if _, err := os.Stat(filepath.Join(tenants, "ws_"+slug+".db")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a restart brought deleted %s's data back: %v", slug, err)
		}
	}
	var staff int64
	if err := s.openDB().Read.Table("staff").Count(&staff).Error; err != nil {
		t.Fatal(err)
	}
	if staff != int64(len(demo.Staff)) {
		t.Errorf("staff after a second seeding = %d, want the %d demo staff once", staff, len(demo.Staff))
	}
	var roles int64
	if err := s.openDB().Read.Table("roles").Count(&roles).Error; err != nil {
		t.Fatal(err)
	}
	if roles != int64(len(demo.Roles)) {
		t.Errorf("roles after a second seeding = %d, want the %d demo roles once", roles, len(demo.Roles))
	}
}

func TestRunStaffOffboard(t *testing.T) {
	s := startDev(t)
	sam := s.login("sam.support@example.com")
	db := s.openDB()
	ctx := context.Background()
	before, err := models.FindStaffByEmail(ctx, db.Read, "sam.support@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := models.CountLiveSessions(ctx, db.Read, before.ID); err != nil || n != 1 {
		t.Fatalf("sam's live sessions before = %d, %v; want 1", n, err)
	}

	var out bytes.Buffer
	err = run(ctx, []string{"staff", "offboard", "sam.support@example.com", "--dev", "--reason", "left the company"}, s.env, &out, io.Discard)
	if err != nil {
		t.Fatalf("staff offboard: %v", err)
	}
	if !strings.Contains(out.String(), "offboarded sam.support@example.com") {
		t.Errorf("staff offboard printed %q", out.String())
	}

	after, err := models.FindStaffByEmail(ctx, db.Read, "sam.support@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != models.StatusOffboarded || after.OffboardedAt == nil {
		t.Errorf("sam after offboarding: status %q, offboarded_at %v; want offboarded with a time", after.Status, after.OffboardedAt)
	}
	if n, err := models.CountLiveSessions(ctx, db.Read, after.ID); err != nil || n != 0 {
		t.Errorf("sam's live sessions after = %d, %v; want 0", n, err)
	}
	var ended int64
	db.Read.Table("sessions").Where("staff_id = ? AND end_reason = ?", after.ID, "offboarded").Count(&ended)
	if ended != 1 {
		t.Errorf("sessions ended as offboarded = %d, want 1", ended)
	}
	evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Action: models.ActionStaffOffboarded, Target: "sam.support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Actor, "cli") || evs[0].Reason != "left the company" ||
		!strings.Contains(evs[0].Detail, `"before":{`) || !strings.Contains(evs[0].Detail, `"status":"offboarded"`) {
		t.Errorf("offboarding audit events = %+v, want one by cli with the reason and before/after", evs)
	}
	// The running portal no longer knows Sam's browser.
	if res, _ := s.get(sam, "/"); res.Request.URL.Path != "/login" {
		t.Errorf("sam's old session after offboarding ended at %s, want /login", res.Request.URL)
	}
	// And Sam cannot sign in again.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	res, err := c.PostForm(s.base+"/dev/login", url.Values{"email": {"sam.support@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in after offboarding = %d at %s, want 403", res.StatusCode, res.Request.URL)
	}
}

func TestRunStaffCLIRefusals(t *testing.T) {
	ctx := context.Background()
	env, db := migratedDev(t)
	// migrate --dev seeds the demo staff: lee.leaver is offboarded.
	if lee, err := models.FindStaffByEmail(ctx, db.Read, "lee.leaver@example.com"); err != nil || lee.Status != models.StatusOffboarded {
		t.Fatalf("demo lee.leaver: %s, %v; want offboarded", lee.Status, err)
	}
	auditBefore := countRows(t, db, "audit_events")

	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"unknown email", []string{"staff", "offboard", "nobody@example.com", "--dev"}, env, []string{"no staff member", "nobody@example.com"}},
		{"already offboarded", []string{"staff", "offboard", "lee.leaver@example.com", "--dev"}, env, []string{"already offboarded"}},
		{"no email", []string{"staff", "offboard"}, env, []string{"usage:"}},
		{"unknown verb", []string{"staff", "promote", "sam.support@example.com", "--dev"}, env, []string{`unknown staff command "promote"`}},
		{"stray argument", []string{"staff", "offboard", "lee.leaver@example.com", "--dev", "--reason", "left", "today"}, env, []string{`unexpected arguments ["today"]`}},
		{"no database outside --dev", []string{"staff", "offboard", "lee.leaver@example.com"}, nil, []string{"GATEHOUSE_DATABASE_URL is missing"}},
		{"add with a bad tier", []string{"staff", "add", "new@example.com", "--dev", "--name", "New", "--tier", "root"}, env, []string{"tier"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(ctx, tt.args, tt.env, io.Discard, io.Discard)
			if err == nil {
				t.Fatalf("%q succeeded, want an error", tt.args)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q: error %q does not contain %q", tt.args, err, w)
				}
			}
		})
	}
	if n := countRows(t, db, "audit_events"); n != auditBefore {
		t.Errorf("audit events after refused commands = %d, want %d (nothing changed)", n, auditBefore)
	}
}

func TestRunStaffAdd(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	env := []string{"GATEHOUSE_DATA_DIR=" + dir}
	var out bytes.Buffer
	if err := run(ctx, []string{"staff", "add", "x@example.com", "--dev", "--name", "X", "--tier", "sysadmin", "--trained", "2999-01-01"}, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--trained") {
		t.Errorf("training completed in the future: %v, want it refused", err)
	}
	err := run(ctx, []string{"staff", "add", "Root.Admin@Example.com", "--dev", "--name", "Root Admin", "--tier", "sysadmin", "--agreement", "2026-1", "--trained", time.Now().UTC().Format(time.DateOnly)}, env, &out, io.Discard)
	if err != nil {
		t.Fatalf("staff add: %v", err)
	}
	db, err := models.Open(ctx, filepath.Join(dir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := models.FindStaffByEmail(ctx, db.Read, "root.admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if s.Tier != policy.TierSysadmin || s.Status != models.StatusActive || !s.AgreementCurrent("2026-1") {
		t.Errorf("added staff = %+v, want an active sysadmin with agreement 2026-1", s)
	}
	if !models.DefaultClearance("2026-1").Cleared(s, time.Now()) {
		t.Errorf("added staff training = %v, want training that counts today", s.TrainingAt)
	}
	if _, err := models.FindStaffByEmail(ctx, db.Read, "x@example.com"); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("a refused add created its staff member: %v", err)
	}
	if n := countRows(t, db, "audit_events", "target = ?", "root.admin@example.com"); n != 3 {
		t.Errorf("audit events for the new staff member = %d, want 3 (created, agreement, training)", n)
	}
	if err := run(ctx, []string{"staff", "add", "root.admin@example.com", "--dev", "--name", "Again", "--tier", "support"}, env, io.Discard, io.Discard); !errors.Is(err, models.ErrConflict) {
		t.Errorf("adding the same address again: %v, want a conflict", err)
	}
}

func countRows(t *testing.T, db *models.DB, table string, where ...any) int64 {
	t.Helper()
	q := db.Read.Table(table)
	if len(where) > 0 {
		q = q.Where(where[0], where[1:]...)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRunMigrate(t *testing.T) {
	engines := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "portal.db") }},
		{"postgres", func(t *testing.T) string { return dbtest.NewPostgresDatabase(t) }},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			u := e.url(t)
			env := []string{"GATEHOUSE_DATABASE_URL=" + u}
			ctx := context.Background()
			var versions []int64
			for i := range 2 {
				var out bytes.Buffer
				if err := run(ctx, []string{"migrate"}, env, &out, io.Discard); err != nil {
					t.Fatalf("migrate run %d: %v", i+1, err)
				}
				if out.String() != "migrations applied\n" {
					t.Errorf("migrate run %d printed %q", i+1, out.String())
				}
				db, err := models.Open(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				var applied []int64
				if err := db.Read.Table("goose_db_version").Where("version_id > 0 AND is_applied").Order("id").Pluck("version_id", &applied).Error; err != nil {
					t.Fatal(err)
				}
				for _, table := range []string{"staff", "sessions", "login_flows", "audit_events"} {
					if !db.Read.Migrator().HasTable(table) {
						t.Errorf("after migrate run %d: table %s missing", i+1, table)
					}
				}
				db.Close()
				if len(applied) == 0 {
					t.Fatalf("after migrate run %d no migration is recorded", i+1)
				}
				if i == 0 {
					versions = applied
				} else if fmt.Sprint(applied) != fmt.Sprint(versions) {
					t.Errorf("second migrate changed the recorded versions: %v, want %v", applied, versions)
				}
			}
		})
	}
}

func TestRunMigrateRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"no database URL", []string{"migrate"}, nil, "GATEHOUSE_DATABASE_URL is missing"},
		{"unknown setting", []string{"migrate"}, []string{"GATEHOUSE_DATABSE_URL=x"}, "GATEHOUSE_DATABSE_URL is not a Gatehouse setting"},
		{"unreachable postgres", []string{"migrate"}, []string{"GATEHOUSE_DATABASE_URL=postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, "postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, tt.env, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%q: error = %v, want one containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestRunCLIUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"flag instead of command", []string{"--dev"}, `unknown command "--dev"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), tt.args, nil, &stdout, io.Discard)
			if err == nil {
				t.Fatalf("run %q succeeded, want an error", tt.args)
			}
			for _, want := range []string{tt.want, "usage:", "gatehouse serve [--dev]", "gatehouse migrate", "gatehouse staff offboard EMAIL"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("run %q: error %q does not contain %q", tt.args, err, want)
				}
			}
		})
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"help"}, nil, &stdout, io.Discard); err != nil || !strings.Contains(stdout.String(), "usage:") {
		t.Errorf("help: %v, printed %q; want the usage", err, stdout.String())
	}
}
