package models_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// testKey is a fixed signing key for tests.
func testKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// disableAuditGuards removes the append-only protection the way an
// attacker with database superuser rights would.
func disableAuditGuards(t *testing.T, db *models.DB) {
	t.Helper()
	dbtest.DisableAuditGuards(t, db)
}

func appendN(t *testing.T, db *models.DB, n int) []models.AuditEvent {
	t.Helper()
	var evs []models.AuditEvent
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ev, err := models.AppendAudit(context.Background(), db.Write, models.AuditEntry{
			At: at.Add(time.Duration(i) * time.Second), Actor: models.Actor{Email: "a@example.com", Tier: "support"}, Action: models.ActionLogout,
		})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestCheckpointSignVerify(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	cp := models.SignCheckpoint(key, models.ChainHead{Seq: 42, Hash: strings.Repeat("ab", 32)}, at)

	wantMsg := "gatehouse-audit-checkpoint\n42\n" + strings.Repeat("ab", 32) + "\n2026-03-01T09:00:00.123456789Z"
	if got := string(models.CheckpointMessage(cp.Seq, cp.Hash, cp.At)); got != wantMsg {
		t.Errorf("message = %q, want %q", got, wantMsg)
	}
	sig, _ := base64.StdEncoding.DecodeString(cp.Signature)
	if !ed25519.Verify(pub, []byte(wantMsg), sig) {
		t.Error("signature does not verify over the documented message")
	}

	// Round trip through a stream line.
	line, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	stream := `{"type":"event","seq":41}` + "\n" + `{"type":"checkpoint","seq":1,"hash":"x","signature":"y"}` + "\n" + string(line) + "\n" + `{"type":"event","seq":42}` + "\n"
	got, err := models.ReadLastCheckpoint(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(pub); err != nil {
		t.Errorf("read-back checkpoint: %v", err)
	}
	if got.Seq != 42 || got.KeyID != models.KeyID(pub) {
		t.Errorf("read back seq %d key %s, want 42 and %s", got.Seq, got.KeyID, models.KeyID(pub))
	}

	tests := []struct {
		name   string
		change func(c *models.Checkpoint)
		pub    ed25519.PublicKey
	}{
		{"wrong key", func(*models.Checkpoint) {}, testKey(2).Public().(ed25519.PublicKey)},
		{"seq changed", func(c *models.Checkpoint) { c.Seq++ }, pub},
		{"hash changed", func(c *models.Checkpoint) { c.Hash = strings.Repeat("cd", 32) }, pub},
		{"time changed", func(c *models.Checkpoint) { c.At = c.At.Add(time.Nanosecond) }, pub},
		{"signature garbage", func(c *models.Checkpoint) { c.Signature = "AAAA" }, pub},
	}
	for _, tt := range tests {
		c := got
		tt.change(&c)
		if err := c.Verify(tt.pub); err == nil {
			t.Errorf("%s: Verify accepted it", tt.name)
		}
	}
	if _, err := models.ReadLastCheckpoint(strings.NewReader(`{"type":"event"}` + "\n")); err == nil {
		t.Error("a stream without checkpoints gave a checkpoint")
	}
}

func TestCheckpointDetectsTruncation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		key := testKey(3)
		pub := key.Public().(ed25519.PublicKey)
		evs := appendN(t, db, 10)
		cp := models.SignCheckpoint(key, models.ChainHead{Seq: 8, Hash: evs[7].Hash}, time.Now())

		res, err := models.VerifyAgainstCheckpoint(ctx, db, cp, pub)
		if err != nil || !res.OK || res.Seq != 10 {
			t.Fatalf("intact chain against checkpoint = %+v, %v; want OK at seq 10", res, err)
		}
		if _, err := models.VerifyAgainstCheckpoint(ctx, db, cp, testKey(4).Public().(ed25519.PublicKey)); err == nil {
			t.Error("a checkpoint was accepted with another key")
		}

		// Cut events 7..10 and set the head back, as someone with
		// superuser rights could: the chain verifies, the checkpoint not.
		disableAuditGuards(t, db)
		if err := db.Write.Exec("DELETE FROM audit_events WHERE seq > 6").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Write.Exec("UPDATE audit_head SET seq = 6, hash = ?", evs[5].Hash).Error; err != nil {
			t.Fatal(err)
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK {
			t.Fatalf("the truncated chain should verify on its own: %+v, %v", res, err)
		}
		res, err = models.VerifyAgainstCheckpoint(ctx, db, cp, pub)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.BrokenSeq != 7 || !strings.Contains(res.Problem, "chain ends at seq 6 before checkpoint seq 8") {
			t.Errorf("truncated chain = %+v, want broken at 7: chain ends at seq 6 before checkpoint seq 8", res)
		}
	})
}

func TestCheckpointDetectsRewrittenChain(t *testing.T) {
	db := dbtest.SQLite(t)
	ctx := context.Background()
	key := testKey(3)
	evs := appendN(t, db, 5)
	cp := models.SignCheckpoint(key, models.ChainHead{Seq: 5, Hash: evs[4].Hash}, time.Now())
	// Rewrite the whole chain consistently from event 3 on: it verifies
	// alone, but no longer holds the signed hash.
	dbtest.RewriteAudit(t, db, evs, 2)
	res, err := models.VerifyAgainstCheckpoint(ctx, db, cp, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.BrokenSeq != 5 {
		t.Errorf("rewritten chain = %+v, want broken at seq 5", res)
	}
}

func TestAuditShipperStreamsEachEventOnceInOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		before := appendN(t, db, 3) // already there at start: a new stream starts at seq 1
		var out bytes.Buffer
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		key := testKey(5)
		s := models.NewAuditShipper(db, &out, key, func() time.Time { return now }, nil)
		ship, checkpoint := make(chan time.Time), make(chan time.Time)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(runCtx, ship, checkpoint) }()

		more := appendN(t, db, 4)
		ship <- now // one poll
		ship <- now // a second poll finds nothing new: no duplicates
		more = append(more, appendN(t, db, 2)...)
		checkpoint <- now // ships the two new events, then a checkpoint
		ship <- now       // taken only once the checkpoint is written
		last := appendN(t, db, 1)
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		more = append(more, last...)

		var gotSeqs []int64
		var cps []models.Checkpoint
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			var probe struct{ Type string }
			if err := json.Unmarshal([]byte(line), &probe); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			switch probe.Type {
			case "event":
				var r models.AuditRecord
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatal(err)
				}
				if models.ChainHash(r.PrevHash, r.Event()) != r.Hash {
					t.Errorf("shipped event %d does not hash to its hash", r.Seq)
				}
				gotSeqs = append(gotSeqs, r.Seq)
			case "checkpoint":
				var c models.Checkpoint
				json.Unmarshal([]byte(line), &c)
				if err := c.Verify(key.Public().(ed25519.PublicKey)); err != nil {
					t.Error(err)
				}
				cps = append(cps, c)
				// A checkpoint comes after every event it covers.
				if len(gotSeqs) == 0 || gotSeqs[len(gotSeqs)-1] < c.Seq {
					t.Errorf("checkpoint at seq %d written before its events (shipped %v)", c.Seq, gotSeqs)
				}
			default:
				t.Errorf("line of type %q", probe.Type)
			}
		}
		want := seqsOf(append(before, more...))
		if !equalSeqs(gotSeqs, want) {
			t.Errorf("shipped seqs %v, want %v", gotSeqs, want)
		}
		if len(cps) != 2 || cps[0].Seq != 9 || cps[1].Seq != 10 || cps[1].Hash != last[0].Hash {
			t.Errorf("checkpoints %+v, want one at seq 9 (tick) and a final one at seq 10 with hash %s", cps, last[0].Hash)
		}
	})
}

func equalSeqs(a, b []int64) bool {
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
