package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// auditDBs runs fn on a migrated SQLite file and, when available, a
// PostgreSQL database, with the URL the CLI is given.
func auditDBs(t *testing.T, fn func(t *testing.T, db *models.DB, url string)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "portal.db")
		db, err := models.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := models.Migrate(context.Background(), db); err != nil {
			t.Fatal(err)
		}
		fn(t, db, path)
	})
	t.Run("postgres", func(t *testing.T) {
		db := dbtest.Postgres(t)
		fn(t, db, dbtest.URL(db))
	})
}

func appendEvents(t *testing.T, db *models.DB, n int, ws func(i int) string) []models.AuditEvent {
	t.Helper()
	var evs []models.AuditEvent
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ev, err := models.AppendAudit(context.Background(), db.Write, models.AuditEntry{
			At: at.Add(time.Duration(i) * time.Hour), Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior"},
			Action: models.ActionDataViewed, Workspace: ws(i), Table: "members", RecordIDs: []string{strconv.Itoa(i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func acme(int) string { return "acme" }

// unguard removes the append-only triggers, as a database superuser could.
func unguard(t *testing.T, db *models.DB) {
	t.Helper()
	dbtest.DisableAuditGuards(t, db)
}

func runAudit(env []string, args ...string) (string, error) {
	var stdout bytes.Buffer
	err := run(context.Background(), append([]string{"audit"}, args...), env, &stdout, io.Discard)
	return stdout.String(), err
}

func TestRunAuditVerify(t *testing.T) {
	auditDBs(t, func(t *testing.T, db *models.DB, url string) {
		env := []string{"GATEHOUSE_DATABASE_URL=" + url}
		evs := appendEvents(t, db, 20, acme)
		out, err := runAudit(env, "verify")
		if err != nil {
			t.Fatalf("verify on an intact chain: %v", err)
		}
		if want := "audit chain OK: 20 events, head seq 20, hash " + evs[19].Hash; !strings.Contains(out, want) {
			t.Errorf("verify printed %q, want %q", out, want)
		}

		unguard(t, db)
		if err := db.Write.Exec("UPDATE audit_events SET actor = 'nobody@example.com' WHERE seq = 7").Error; err != nil {
			t.Fatal(err)
		}
		out, err = runAudit(env, "verify")
		if err == nil || !strings.Contains(err.Error(), "broken at seq 7:") {
			t.Errorf("verify after editing seq 7 = %v (printed %q), want an error naming seq 7", err, out)
		}
	})
}

func TestRunAuditVerifyCheckpoint(t *testing.T) {
	auditDBs(t, func(t *testing.T, db *models.DB, url string) {
		seed := bytes.Repeat([]byte{9}, 32)
		key := ed25519.NewKeyFromSeed(seed)
		env := []string{"GATEHOUSE_DATABASE_URL=" + url, "GATEHOUSE_AUDIT_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(seed)}
		evs := appendEvents(t, db, 15, acme)
		cp := models.SignCheckpoint(key, models.ChainHead{Seq: 12, Hash: evs[11].Hash}, time.Now())
		line, _ := json.Marshal(cp)
		stream := filepath.Join(t.TempDir(), "audit.jsonl")
		// The stream's event lines are compared with the database too:
		// event 1 as the shipper writes it.
		first, _ := models.AppendJSONLine(nil, "event", evs[0])
		if err := os.WriteFile(stream, append(first, append(line, '\n')...), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := runAudit(env, "verify", "--checkpoint", stream)
		if err != nil || !strings.Contains(out, "checkpoint of") || !strings.Contains(out, "at seq 12") {
			t.Fatalf("verify --checkpoint on an intact chain = %v, printed %q", err, out)
		}
		pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
		if _, err := runAudit([]string{"GATEHOUSE_DATABASE_URL=" + url}, "verify", "--checkpoint", stream, "--public-key", pub); err != nil {
			t.Errorf("verify with --public-key: %v", err)
		}
		other := base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
		if _, err := runAudit(env, "verify", "--checkpoint", stream, "--public-key", other); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
			t.Errorf("verify with another key = %v, want the signature refused", err)
		}

		// Cut the newest rows and the head back to seq 10.
		unguard(t, db)
		if err := db.Write.Exec("DELETE FROM audit_events WHERE seq > 10").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Write.Exec("UPDATE audit_head SET seq = 10, hash = ?", evs[9].Hash).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := runAudit(env, "verify"); err != nil {
			t.Fatalf("the cut chain verifies without a checkpoint, as expected; got %v", err)
		}
		_, err = runAudit(env, "verify", "--checkpoint", stream)
		if err == nil || !strings.Contains(err.Error(), "broken at seq 11") || !strings.Contains(err.Error(), "chain ends at seq 10 before checkpoint seq 12") {
			t.Errorf("verify --checkpoint after cutting = %v, want it to name the cut", err)
		}
	})
}

func TestRunAuditExport(t *testing.T) {
	auditDBs(t, func(t *testing.T, db *models.DB, url string) {
		env := []string{"GATEHOUSE_DATABASE_URL=" + url}
		evs := appendEvents(t, db, 10, func(i int) string { return []string{"acme", "globex"}[i%2] })
		// acme events at hours 0,2,4,6,8; since hour 3 leaves 4,6,8.
		want := []int64{evs[4].Seq, evs[6].Seq, evs[8].Seq}
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"jsonl", "csv"} {
			out, err := runAudit(env, "export", "--format", format, "--workspace", "acme", "--since", "2026-03-01T03:00")
			if err != nil {
				t.Fatalf("export %s: %v", format, err)
			}
			var got []models.AuditEvent
			if format == "jsonl" {
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				for _, line := range lines[:len(lines)-1] {
					var r models.AuditRecord
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatalf("line %q: %v", line, err)
					}
					got = append(got, r.Event())
				}
			} else {
				rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows[1 : len(rows)-1] {
					seq, _ := strconv.ParseInt(r[0], 10, 64)
					got = append(got, models.AuditEvent{Seq: seq, Workspace: r[5], Hash: r[17]})
				}
			}
			var seqs []int64
			for i, ev := range got {
				seqs = append(seqs, ev.Seq)
				if i < len(want) && (ev.Workspace != "acme" || ev.Hash != evs[ev.Seq-1].Hash) {
					t.Errorf("%s: exported %+v, want event %d as stored", format, ev, ev.Seq)
				}
			}
			if !equalInts(seqs, want) {
				t.Errorf("%s: exported seqs %v, want %v", format, seqs, want)
			}
			newest, err := models.SearchAudit(context.Background(), db.Read, models.AuditQuery{Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			if f := newest[0]; f.Action != models.ActionAuditExportFinished || !strings.Contains(f.Detail, `"count":"3"`) {
				t.Errorf("newest event after export = %+v, want audit.export_finished counting 3", f)
			}
			n := newest[1]
			if n.Action != models.ActionAuditExported || n.Actor != "cli:"+u.Username || !strings.Contains(n.Detail, `"workspace":"acme"`) || !strings.Contains(n.Detail, `"format":"`+format+`"`) {
				t.Errorf("newest event after export = %+v, want audit.exported by cli:%s with the filters", n, u.Username)
			}
		}
		if _, err := runAudit(env, "verify"); err != nil {
			t.Errorf("chain after exports: %v", err)
		}
	})
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRunAuditCLIRefusals(t *testing.T) {
	env := []string{"GATEHOUSE_DATABASE_URL=" + filepath.Join(t.TempDir(), "portal.db")}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage: gatehouse audit verify"},
		{[]string{"rewrite"}, `unknown audit command "rewrite"`},
		{[]string{"export"}, "--format must be csv or jsonl"},
		{[]string{"export", "--format", "xml"}, "--format must be csv or jsonl"},
		{[]string{"export", "--format", "csv", "--since", "last week"}, "--since: not a time"},
		{[]string{"verify", "--public-key", "AAAA"}, "--public-key needs --checkpoint"},
		{[]string{"verify", "--archive", "a", "--checkpoint", "b"}, "not --checkpoint"},
		{[]string{"verify", "--month", "2026-01"}, "are for audit archive"},
		{[]string{"archive", "--to", "x"}, "--month: want a month"},
		{[]string{"archive", "--month", "January", "--to", "x"}, "--month: want a month"},
		{[]string{"archive", "--month", "2026-01"}, "--to: name the archive file"},
		{[]string{"archive", "--month", "2026-01", "--to", "x"}, "set GATEHOUSE_AUDIT_SIGNING_KEY"},
		{[]string{"archive", "--month", "2026-01", "--to", "x", "--format", "csv"}, "takes --month, --to and --dev"},
		{[]string{"verify", "--format", "csv"}, "are for audit export"},
		{[]string{"verify", "extra"}, "unexpected arguments"},
		{[]string{"verify", "--checkpoint", "a", "--since-checkpoint", "b"}, "do not go together"},
		{[]string{"verify", "--since-checkpoint", "/nonexistent"}, "no key to check the checkpoint with"},
		{[]string{"export", "--format", "csv", "--since-checkpoint", "b"}, "are for audit verify"},
		{[]string{"verify", "--checkpoint", "/nonexistent"}, "no key to check the checkpoint with"},
	}
	for _, tt := range tests {
		_, err := runAudit(env, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("audit %q: error = %v, want one containing %q", tt.args, err, tt.want)
		}
	}
	var stdout bytes.Buffer
	run(context.Background(), []string{"help"}, nil, &stdout, io.Discard)
	for _, want := range []string{"gatehouse audit verify", "gatehouse audit export --format csv|jsonl"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("usage does not mention %q", want)
		}
	}
}

// TestRunServeDevAuditStream runs the portal with the stream in a file:
// every event of the log appears once, in order, followed by a final
// checkpoint that `audit verify --dev --checkpoint` accepts.
func TestRunServeDevAuditStream(t *testing.T) {
	addr, dir := freeAddr(t), t.TempDir()
	streamFile := filepath.Join(t.TempDir(), "audit.jsonl")
	env := []string{"GATEHOUSE_ADDR=" + addr, "GATEHOUSE_DATA_DIR=" + dir, "GATEHOUSE_AUDIT_STREAM=file:" + streamFile}
	s := &devServer{t: t, addr: addr, base: "http://" + addr, dataDir: dir, env: env, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.done <- run(ctx, []string{"serve", "--dev"}, env, s.stdout, s.stderr) }()
	t.Cleanup(cancel)
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) { // waiting for start-up, not for a tick
		if res, err := http.Get(s.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("serve --dev not healthy:\n%s", s.stderr)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "audit-signing.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("dev audit signing key: %v, mode %v; want a 0600 file", err, info)
	}
	s.login("aud.auditor@example.com")
	s.login("sam.support@example.com")
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}

	db := s.openDB()
	logins, err := models.SearchAudit(context.Background(), db.Read, models.AuditQuery{Action: models.ActionLoginSucceeded})
	if err != nil || len(logins) != 2 {
		t.Fatalf("login events %d (%v), want 2", len(logins), err)
	}
	raw, err := os.ReadFile(streamFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	var seqs []int64
	for _, line := range lines[:len(lines)-1] {
		var r models.AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Type != "event" {
			t.Fatalf("stream line %q: %v, want an event", line, err)
		}
		seqs = append(seqs, r.Seq)
	}
	// A new installation streams the whole log from seq 1: the demo
	// seeded before the start, the two logins, and what the portal did by
	// itself meanwhile (the demo's retention mail, for one), in order.
	head, err := models.SearchAudit(context.Background(), db.Read, models.AuditQuery{Limit: 1})
	if err != nil || len(head) != 1 {
		t.Fatalf("head: %v", err)
	}
	var want []int64
	for seq := int64(1); seq <= head[0].Seq; seq++ {
		want = append(want, seq)
	}
	if !equalInts(seqs, want) {
		t.Errorf("streamed seqs %v, want every event from 1 to the head %d once, in order", seqs, head[0].Seq)
	}
	var cp models.Checkpoint
	// The stream ends with a checkpoint over all of it: at the head, which
	// is the last login or something the portal did after it (a mail sent).
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &cp); err != nil || cp.Type != "checkpoint" || cp.Seq != head[0].Seq || cp.Seq < logins[0].Seq {
		t.Fatalf("last stream line %q, want a checkpoint at the head, seq %d", lines[len(lines)-1], head[0].Seq)
	}
	out, err := runAudit([]string{"GATEHOUSE_DATA_DIR=" + dir}, "verify", "--dev", "--checkpoint", streamFile)
	if err != nil || !strings.Contains(out, "audit chain OK") {
		t.Errorf("audit verify --dev --checkpoint = %v, printed %q", err, out)
	}
}

// TestRunAuditVerifySinceCheckpoint: `audit verify --since-checkpoint`
// walks only the events after a trusted checkpoint, finds one of them
// tampered with, and refuses a checkpoint the chain does not hold or
// signed by another key.
func TestRunAuditVerifySinceCheckpoint(t *testing.T) {
	auditDBs(t, func(t *testing.T, db *models.DB, url string) {
		seed := bytes.Repeat([]byte{9}, 32)
		key := ed25519.NewKeyFromSeed(seed)
		env := []string{"GATEHOUSE_DATABASE_URL=" + url, "GATEHOUSE_AUDIT_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(seed)}
		evs := appendEvents(t, db, 15, acme)
		dir := t.TempDir()
		write := func(name string, cp models.Checkpoint) string {
			line, _ := json.Marshal(cp)
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, append(line, '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}
		good := write("cp.json", models.SignCheckpoint(key, models.ChainHead{Seq: 12, Hash: evs[11].Hash}, time.Now()))
		out, err := runAudit(env, "verify", "--since-checkpoint", good)
		if err != nil || !strings.Contains(out, "audit chain OK since seq 12: 3 events, head seq 15, hash "+evs[14].Hash) {
			t.Fatalf("verify --since-checkpoint on an intact chain = %v, printed %q", err, out)
		}
		pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
		if _, err := runAudit([]string{"GATEHOUSE_DATABASE_URL=" + url}, "verify", "--since-checkpoint", good, "--public-key", pub); err != nil {
			t.Errorf("verify --since-checkpoint with --public-key: %v", err)
		}
		other := base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey))
		if _, err := runAudit(env, "verify", "--since-checkpoint", good, "--public-key", other); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
			t.Errorf("verify --since-checkpoint with another key = %v, want the signature refused", err)
		}
		wrong := write("wrong.json", models.SignCheckpoint(key, models.ChainHead{Seq: 12, Hash: evs[10].Hash}, time.Now()))
		if _, err := runAudit(env, "verify", "--since-checkpoint", wrong); err == nil || !strings.Contains(err.Error(), "broken at seq 12") || !strings.Contains(err.Error(), "rewritten") {
			t.Errorf("verify --since-checkpoint with a hash the chain does not hold = %v, want broken at 12", err)
		}
		empty := filepath.Join(dir, "empty.json")
		os.WriteFile(empty, []byte("not a checkpoint\n"), 0o600)
		if _, err := runAudit(env, "verify", "--since-checkpoint", empty); err == nil || !strings.Contains(err.Error(), "no checkpoint line found") {
			t.Errorf("verify --since-checkpoint with no checkpoint in the file = %v", err)
		}

		unguard(t, db)
		if err := db.Write.Exec("UPDATE audit_events SET actor = 'nobody@example.com' WHERE seq = 14").Error; err != nil {
			t.Fatal(err)
		}
		if _, err := runAudit(env, "verify", "--since-checkpoint", good); err == nil || !strings.Contains(err.Error(), "broken at seq 14:") {
			t.Errorf("verify --since-checkpoint after editing seq 14 = %v, want it named", err)
		}
		last, err := models.LastVerification(context.Background(), db.Read)
		if err != nil || last.OK || last.Broken != 14 {
			t.Errorf("recorded verification = %+v, %v; want the break at 14", last, err)
		}
	})
}

// TestRunAuditPartitions lists the audit log's partitions on PostgreSQL.
func TestRunAuditPartitions(t *testing.T) {
	auditDBs(t, func(t *testing.T, db *models.DB, url string) {
		env := []string{"GATEHOUSE_DATABASE_URL=" + url}
		out, err := runAudit(env, "partitions")
		if err != nil {
			t.Fatal(err)
		}
		if db.Dialect == models.SQLite {
			if !strings.Contains(out, "no partitions") {
				t.Errorf("audit partitions on SQLite printed %q", out)
			}
			return
		}
		next := time.Now().UTC().AddDate(0, 2, 0).Format("2006_01")
		if !strings.HasPrefix(out, "audit_events_before\tFOR VALUES FROM (MINVALUE) TO (") || !strings.Contains(out, "audit_events_"+next+"\t") {
			t.Errorf("audit partitions printed %q, want audit_events_before first and %s", out, next)
		}
		if _, err := runAudit(env, "partitions", "--format", "csv"); err == nil || !strings.Contains(err.Error(), "takes no option") {
			t.Errorf("audit partitions --format = %v", err)
		}
	})
}

// TestRunAuditArchive: `audit archive` refuses a month that is not over
// or has no partition of its own, and `audit verify --archive` verifies
// across a month archived and detached.
func TestRunAuditArchive(t *testing.T) {
	db := dbtest.Postgres(t)
	url := dbtest.URL(db)
	ctx := context.Background()
	seed := bytes.Repeat([]byte{9}, 32)
	key := ed25519.NewKeyFromSeed(seed)
	env := []string{"GATEHOUSE_DATABASE_URL=" + url, "GATEHOUSE_AUDIT_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(seed)}
	dir := t.TempDir()
	now := time.Now().UTC()
	if _, err := runAudit(env, "archive", "--month", now.Format("2006-01"), "--to", filepath.Join(dir, "a")); err == nil || !strings.Contains(err.Error(), "not over yet") {
		t.Errorf("archiving this month: %v", err)
	}
	if _, err := runAudit(env, "archive", "--month", now.AddDate(-1, 0, 0).Format("2006-01"), "--to", filepath.Join(dir, "b")); err == nil || !strings.Contains(err.Error(), "no partition") {
		t.Errorf("archiving a month without a partition of its own: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); !os.IsNotExist(err) {
		t.Errorf("a refused archive left its file: %v", err)
	}

	parts, err := models.AuditPartitions(ctx, db)
	if err != nil || len(parts) < 2 {
		t.Fatalf("partitions = %v, %v", parts, err)
	}
	m1, _ := time.Parse("2006_01", strings.TrimPrefix(parts[1].Name, "audit_events_"))
	sys := models.Actor{Email: "system", Tier: "system"}
	for _, at := range []time.Time{now, m1.Add(time.Hour), m1.Add(2 * time.Hour), m1.AddDate(0, 1, 1)} {
		if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: at, Actor: sys, Action: models.ActionLogout}); err != nil {
			t.Fatal(err)
		}
	}
	// The month is over two months on (the command itself takes the clock).
	path := filepath.Join(dir, "m1.jsonl")
	cfg := Config{AuditSigningKey: key}
	var out bytes.Buffer
	if err := auditArchive(ctx, cfg, db, m1, path, m1.AddDate(0, 2, 0), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "events, seq 2 to 3") || !strings.Contains(out.String(), "detached and kept") {
		t.Errorf("archive printed %q", out.String())
	}
	if err := auditArchive(ctx, cfg, db, m1, path, m1.AddDate(0, 2, 0), io.Discard); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("archiving over an existing file: %v", err)
	}
	if err := auditArchive(ctx, cfg, db, m1, filepath.Join(dir, "again"), m1.AddDate(0, 2, 0), io.Discard); err == nil || !strings.Contains(err.Error(), "no partition") {
		t.Errorf("archiving the month again: %v", err)
	}
	var archived int64
	db.Read.Raw("SELECT count(*) FROM audit_events WHERE action = ?", string(models.ActionAuditArchived)).Scan(&archived)
	if archived != 1 {
		t.Errorf("%d audit.archived events, want 1", archived)
	}
	if _, err := runAudit(env, "verify"); err == nil || !strings.Contains(err.Error(), "broken at seq 2") {
		t.Errorf("verify without the archive = %v, want the gap at 2", err)
	}
	printed, err := runAudit(env, "verify", "--archive", path)
	if err != nil || !strings.Contains(printed, "audit chain OK: 5 events") || !strings.Contains(printed, "with 1 archive files") {
		t.Errorf("verify --archive = %v, printed %q", err, printed)
	}
}
