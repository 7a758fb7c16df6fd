package models_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// TestAuditArchive archives a closed month of a PostgreSQL log: the file
// holds its events with their first and last hash and a signed
// checkpoint, the chain verifies with the file in the partition's place
// before anything is detached, and after the detach the chain verifies
// only with the archive; a tampered or cut archive is refused.
func TestAuditArchive(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db := dbtest.SQLite(t)
		key := ed25519.NewKeyFromSeed(make([]byte, 32))
		if _, err := models.ArchiveMonth(context.Background(), db, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), &bytes.Buffer{}, key, time.Now()); err == nil {
			t.Error("archiving on SQLite was accepted")
		}
	})
	t.Run("postgres", func(t *testing.T) {
		ctx := context.Background()
		db := dbtest.Postgres(t)
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
		pub := key.Public().(ed25519.PublicKey)
		parts, err := models.AuditPartitions(ctx, db)
		if err != nil || len(parts) < 3 {
			t.Fatalf("partitions = %v, %v", parts, err)
		}
		m1, _ := time.Parse("2006_01", strings.TrimPrefix(parts[1].Name, "audit_events_"))
		m2 := m1.AddDate(0, 1, 0)
		add := func(at time.Time, target string) {
			if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: at, Actor: sys, Action: models.ActionLogout, Target: target}); err != nil {
				t.Fatal(err)
			}
		}
		add(time.Now(), "before") // seq 1, in audit_events_before
		for i := range 5 {
			add(m1.Add(time.Duration(i)*time.Hour), "m1") // seqs 2-6
		}
		add(m2.Add(time.Hour), "m2")                          // seq 7
		add(m1.AddDate(0, 1, 0).Add(-time.Second), "m1 late") // seq 8, the month's last second: seqs interleave
		add(m2.Add(2*time.Hour), "m2")                        // seq 9

		now := m2.AddDate(0, 1, 14)
		if _, err := models.ArchiveMonth(ctx, db, m2, &bytes.Buffer{}, key, m2.AddDate(0, 0, 20)); err == nil || !strings.Contains(err.Error(), "not over") {
			t.Errorf("archiving a month not over: %v", err)
		}
		var file bytes.Buffer
		hdr, err := models.ArchiveMonth(ctx, db, m1, &file, key, now)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Count != 6 || hdr.FirstSeq != 2 || hdr.LastSeq != 8 || hdr.Partition != parts[1].Name {
			t.Fatalf("archive header = %+v; want 6 events, seq 2 to 8, of %s", hdr, parts[1].Name)
		}
		archive := func(b []byte) []models.Archive { return []models.Archive{{Name: "m1.jsonl", R: bytes.NewReader(b)}} }
		res, err := models.VerifyAuditWith(ctx, db, models.VerifyOptions{PublicKey: pub, Archives: archive(file.Bytes()), WithoutPartition: hdr.Partition})
		if err != nil || !res.OK || res.Count != 9 {
			t.Fatalf("verify with the archive in the partition's place = %+v, %v; want 9 events", res, err)
		}
		// Without the archive, the chain as it will be misses the month.
		res, err = models.VerifyAuditWith(ctx, db, models.VerifyOptions{WithoutPartition: hdr.Partition})
		if err != nil || res.OK || res.BrokenSeq != 2 {
			t.Fatalf("verify without the partition nor its archive = %+v, %v; want broken at 2", res, err)
		}

		if err := models.DetachArchivedMonth(ctx, db, hdr); err != nil {
			t.Fatal(err)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || res.OK || res.BrokenSeq != 2 {
			t.Errorf("full verify after the detach = %+v, %v; want the gap found at 2", res, err)
		}
		res, err = models.VerifyAuditWith(ctx, db, models.VerifyOptions{PublicKey: pub, Archives: archive(file.Bytes())})
		if err != nil || !res.OK || res.Count != 9 {
			t.Fatalf("verify --archive after the detach = %+v, %v; want 9 events", res, err)
		}
		// An event stamped in the archived month (a clock gone back) is
		// not lost: it goes to the default partition, with the next seq,
		// and the chain with the archive runs on through it.
		ev, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: m1.Add(time.Hour), Actor: sys, Action: models.ActionLogout})
		if err != nil {
			t.Fatalf("an event stamped in the archived month: %v", err)
		}
		if got := partitionOf(t, db, ev.Seq); got != "audit_events_later" {
			t.Errorf("an event stamped in the archived month went to %s, want audit_events_later", got)
		}
		res, err = models.VerifyAuditWith(ctx, db, models.VerifyOptions{PublicKey: pub, Archives: archive(file.Bytes())})
		if err != nil || !res.OK || res.Count != 10 {
			t.Fatalf("verify --archive after one more event = %+v, %v; want 10 events", res, err)
		}
		var n int64
		db.Read.Raw("SELECT count(*) FROM " + hdr.Partition).Scan(&n)
		if n != 6 {
			t.Errorf("the detached table holds %d rows, want the 6 kept", n)
		}

		lines := strings.SplitAfter(file.String(), "\n")
		tampered := strings.Join(lines, "")
		tampered = strings.Replace(tampered, `"target":"m1 late"`, `"target":"m1 LATE"`, 1)
		res, err = models.VerifyAuditWith(ctx, db, models.VerifyOptions{PublicKey: pub, Archives: archive([]byte(tampered))})
		if err != nil || res.OK || res.BrokenSeq != 8 {
			t.Errorf("verify with a tampered archive = %+v, %v; want broken at 8", res, err)
		}
		cut := strings.Join(lines[:len(lines)-2], "") // without its checkpoint
		if _, err := models.VerifyAuditWith(ctx, db, models.VerifyOptions{PublicKey: pub, Archives: archive([]byte(cut))}); err == nil || !strings.Contains(err.Error(), "no checkpoint") {
			t.Errorf("verify with an archive cut short: %v, want it refused", err)
		}
		short := strings.Join(append(append([]string{}, lines[:3]...), lines[4:]...), "") // one event removed
		if res, err := models.VerifyAuditWith(ctx, db, models.VerifyOptions{PublicKey: pub, Archives: archive([]byte(short))}); err != nil || res.OK || res.BrokenSeq != 4 {
			t.Errorf("verify with event 4 removed from the archive = %+v, %v; want broken at 4", res, err)
		}
		// The last event removed with the header's count and checkpoint
		// left as they were: the file's own check finds it.
		noLast := strings.Join(append(append([]string{}, lines[:len(lines)-3]...), lines[len(lines)-2:]...), "")
		if _, err := models.VerifyAuditWith(ctx, db, models.VerifyOptions{PublicKey: pub, Archives: archive([]byte(noLast))}); err == nil || !strings.Contains(err.Error(), "events missing") {
			t.Errorf("verify with the archive's last event removed: %v, want it refused", err)
		}
		other := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
		if _, err := models.VerifyAuditWith(ctx, db, models.VerifyOptions{PublicKey: other, Archives: archive(file.Bytes())}); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
			t.Errorf("verify with an archive signed by another key: %v", err)
		}
		// Detaching again, or a partition whose rows differ, detaches nothing.
		if err := models.DetachArchivedMonth(ctx, db, hdr); err == nil {
			t.Error("detaching twice was accepted")
		}
	})
}
