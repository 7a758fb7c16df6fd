package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// TestRunAuditVerifyStream: `audit verify --checkpoint` compares every
// event of the stream file with the database, so it names a stream that
// differs, and events rewritten after the last checkpoint, which the chain
// and the checkpoint alone let pass.
func TestRunAuditVerifyStream(t *testing.T) {
	auditDBs(t, func(t *testing.T, db *models.DB, url string) {
		ctx := context.Background()
		seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
		env := []string{"GATEHOUSE_DATABASE_URL=" + url, "GATEHOUSE_AUDIT_SIGNING_KEY=" + base64.StdEncoding.EncodeToString(seed)}
		stream := filepath.Join(t.TempDir(), "audit.jsonl")
		f, err := os.Create(stream)
		if err != nil {
			t.Fatal(err)
		}
		// The stream as the portal writes it: events 1-12, a checkpoint at
		// 12, then events 13-15.
		s := models.NewAuditShipper(db, f, ed25519.NewKeyFromSeed(seed), time.Now, nil)
		evs := appendEvents(t, db, 12, acme)
		if _, err := s.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, appendEvents(t, db, 3, acme)...)
		if err := s.Ship(ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}

		out, err := runAudit(env, "verify", "--checkpoint", stream)
		if err != nil || !strings.Contains(out, "at seq 12") || !strings.Contains(out, "15 streamed events match the database") {
			t.Fatalf("verify --checkpoint on an intact log = %v, printed %q", err, out)
		}
		raw, err := os.ReadFile(stream)
		if err != nil {
			t.Fatal(err)
		}

		if !strings.Contains(out, "the stream holds every event from seq 1 to 15 (the chain's head: 15)") || strings.Contains(out, "repeat") {
			t.Errorf("verify --checkpoint on an intact log printed %q, want every event from 1 to 15 held once", out)
		}
		// Consumers check continuity by seq: event 5 lost, event 7 twice.
		var lost, twice []byte
		for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
			if !bytes.Contains(line, []byte(`"seq":5,`)) {
				lost = append(lost, line...)
			}
			twice = append(twice, line...)
			if bytes.Contains(line, []byte(`"seq":7,`)) {
				twice = append(twice, line...)
			}
		}
		lostFile, twiceFile := filepath.Join(t.TempDir(), "lost.jsonl"), filepath.Join(t.TempDir(), "twice.jsonl")
		os.WriteFile(lostFile, lost, 0o600)
		os.WriteFile(twiceFile, twice, 0o600)
		if _, err := runAudit(env, "verify", "--checkpoint", lostFile); err == nil || !strings.Contains(err.Error(), "lacks 1 of the events from seq 1 to 15, the first seq 5") {
			t.Errorf("verify --checkpoint on a stream without event 5 = %v, want the gap named", err)
		}
		if out, err := runAudit(env, "verify", "--checkpoint", twiceFile); err != nil || !strings.Contains(out, "1 event lines repeat an earlier line's seq, the first seq 7") {
			t.Errorf("verify --checkpoint on a stream with event 7 twice = %v, printed %q; want the repeat named", err, out)
		}

		edited := filepath.Join(t.TempDir(), "edited.jsonl")
		changed := bytes.Replace(raw, []byte(`"hash":"`+evs[13].Hash), []byte(`"hash":"`+strings.Repeat("0", 64)), 1)
		if err := os.WriteFile(edited, changed, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := runAudit(env, "verify", "--checkpoint", edited); err == nil || !strings.Contains(err.Error(), "broken at seq 14: the stream's event 14 has hash 000000000000") {
			t.Errorf("verify --checkpoint with event 14 changed in the stream = %v, want it named", err)
		}

		dbtest.RewriteAudit(t, db, evs, 12)
		if _, err := runAudit(env, "verify"); err != nil {
			t.Fatalf("the chain rewritten from seq 13 on verifies on its own, as expected; got %v", err)
		}
		if _, err := runAudit(env, "verify", "--checkpoint", stream); err == nil || !strings.Contains(err.Error(), "broken at seq 13:") || !strings.Contains(err.Error(), "rewritten") {
			t.Errorf("verify --checkpoint after rewriting seq 13 on = %v, want seq 13 named as rewritten", err)
		}
	})
}

// TestAuditShipperSignsAtTheConfiguredInterval: serve's shipper signs a
// checkpoint every GATEHOUSE_AUDIT_CHECKPOINT_EVERY (5 minutes unless set).
func TestAuditShipperSignsAtTheConfiguredInterval(t *testing.T) {
	db := dbtest.SQLite(t)
	for _, tt := range []struct{ set, want string }{{"", "5m0s"}, {"90s", "1m30s"}} {
		env := productionEnv()
		if tt.set != "" {
			env["GATEHOUSE_AUDIT_CHECKPOINT_EVERY"] = tt.set
		}
		cfg, err := loadConfig("serve", nil, environ(env), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		a, err := newAuditShipper(cfg, db, io.Discard, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if got := a.every.String(); got != tt.want {
			t.Errorf("GATEHOUSE_AUDIT_CHECKPOINT_EVERY=%q: the shipper signs every %s, want %s", tt.set, got, tt.want)
		}
	}
}
