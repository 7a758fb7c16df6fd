package handlers

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
)

// sqliteOnDisk is a portal whose SQLite database lives on a small
// filesystem of the test's own (the product database and tenant files
// elsewhere), with sara signed in and holding a grant on acme.
type sqliteOnDisk struct {
	*testPortal
	disk   *dbtest.Disk
	c      *http.Client
	served int // data pages answered 200
}

const diskPage = "/workspaces/acme/data/documents"

func newSQLiteOnDisk(t *testing.T) *sqliteOnDisk {
	t.Helper()
	disk := dbtest.NewDisk(t, 16<<20)
	ctx := context.Background()
	db, err := models.Open(ctx, filepath.Join(disk.Dir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	p := &sqliteOnDisk{testPortal: newPortal(t, db), disk: disk}
	p.c = p.login(sara)
	p.grant(sara, "acme", models.GrantScope{}, true, time.Hour)
	if status := p.view(t); status != http.StatusOK {
		t.Fatalf("GET %s before the disk fails: %d", diskPage, status)
	}
	return p
}

// view asks for a data page and checks the answer is either the page
// with its data or 503 without any; it returns the status.
func (p *sqliteOnDisk) view(t *testing.T) int {
	t.Helper()
	res, body := p.get(p.c, diskPage)
	shown := strings.Contains(body, demo.Canary("acme"))
	switch {
	case res.StatusCode == http.StatusOK && shown:
		p.served++
	case res.StatusCode == http.StatusServiceUnavailable && !shown:
	default:
		t.Fatalf("GET %s: %d, data shown %t; want 200 with the data or 503 without", diskPage, res.StatusCode, shown)
	}
	return res.StatusCode
}

// wantSignOutRefused signs out, a write of its own (the session ends,
// logout is audited), and expects 503 and nothing changed: the session
// goes on, and no logout is recorded.
func (p *sqliteOnDisk) wantSignOutRefused(t *testing.T) {
	t.Helper()
	if res, _ := p.post(p.c, "/logout", url.Values{}); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST /logout: %d, want 503", res.StatusCode)
	}
	if n := p.count("sessions", "ended_at IS NOT NULL"); n != 0 {
		t.Errorf("%d sessions ended", n)
	}
	if n := p.count("audit_events", "action = ?", models.ActionLogout); n != 0 {
		t.Errorf("%d logouts recorded", n)
	}
}

// wantIntact checks that every page served has its data.viewed row, no
// other use was recorded, the chain verifies and SQLite finds its file
// sound.
func (p *sqliteOnDisk) wantIntact(t *testing.T) {
	t.Helper()
	if n := p.count("audit_events", "action = ?", models.ActionDataViewed); n != int64(p.served) {
		t.Errorf("%d data.viewed rows for %d pages served", n, p.served)
	}
	if res, err := models.VerifyAudit(context.Background(), p.db); err != nil || !res.OK {
		t.Errorf("audit chain: %+v, %v", res, err)
	}
	var check string
	if err := p.db.Read.Raw("PRAGMA integrity_check").Scan(&check).Error; err != nil || check != "ok" {
		t.Errorf("integrity_check: %q, %v", check, err)
	}
}

// TestSQLiteDiskFull fills the filesystem holding the portal's SQLite
// database to its last block: data pages go on being served only as long
// as SQLite can still commit their audit rows in space it already holds,
// then answer 503 without data; nothing is half written; once the space
// is freed the portal serves again without a restart, to the same
// session.
func TestSQLiteDiskFull(t *testing.T) {
	p := newSQLiteOnDisk(t)
	p.disk.Fill()
	refused := 0
	for i := 0; i < 2000 && refused < 20; i++ {
		if p.view(t) == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused < 20 {
		t.Fatalf("the disk is full and %d of the pages were refused; want 503s", refused)
	}
	t.Logf("disk full: %d pages served from space SQLite held, then 503", p.served-1)
	p.wantSignOutRefused(t)
	p.wantIntact(t)

	p.disk.Free()
	back := time.Now()
	for p.view(t) != http.StatusOK {
		if time.Since(back) > 10*time.Second {
			t.Fatal("still 503 10 s after the space was freed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("serving again %v after the space was freed", time.Since(back).Round(time.Millisecond))
	for range 50 {
		if p.view(t) != http.StatusOK {
			t.Fatal("503 again after recovery")
		}
	}
	p.wantIntact(t)
}

// TestSQLiteReadOnly turns the filesystem holding the portal's SQLite
// database read-only under the running portal, as ext4 does on a disk
// error: every data page answers 503 without data and nothing is
// written. (Such a filesystem stays read-only until it is unmounted and
// checked, which needs the portal stopped: there is no recovery to test
// without a restart.)
func TestSQLiteReadOnly(t *testing.T) {
	p := newSQLiteOnDisk(t)
	before := p.count("audit_events", "")
	p.disk.BreakReadOnly()
	for range 20 {
		if status := p.view(t); status != http.StatusServiceUnavailable {
			t.Fatalf("GET %s on a read-only database: %d, want 503", diskPage, status)
		}
	}
	p.wantSignOutRefused(t)
	if after := p.count("audit_events", ""); after != before {
		t.Errorf("%d audit rows before, %d after: something was written", before, after)
	}
	p.wantIntact(t)
}
