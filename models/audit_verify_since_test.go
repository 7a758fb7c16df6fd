package models_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// TestVerifySinceCheckpoint: a verify that starts from a trusted signed
// checkpoint walks only the events after it, still finds any of them
// tampered with, and refuses a checkpoint the chain does not hold or
// whose signature does not verify.
func TestVerifySinceCheckpoint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
		pub := key.Public().(ed25519.PublicKey)
		evs := testChain(30)
		fillChain(t, db, evs)
		cp := models.SignCheckpoint(key, models.ChainHead{Seq: 20, Hash: evs[19].Hash}, time.Now())
		since := func(cp models.Checkpoint, pub ed25519.PublicKey) (models.VerifyResult, error) {
			return models.VerifyAuditWith(ctx, db, models.VerifyOptions{From: &cp, PublicKey: pub})
		}

		res, err := since(cp, pub)
		if err != nil || !res.OK || res.Count != 10 || res.Seq != 30 || res.Head != evs[29].Hash {
			t.Fatalf("since seq 20 of 30 = %+v, %v; want OK with the 10 events after it", res, err)
		}
		// Appending goes on from the head; the next verify takes the new
		// events too, and only those after the checkpoint.
		sys := models.Actor{Email: "system", Tier: "system"}
		for i := range 5 {
			if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: time.Now(), Actor: sys, Action: models.ActionLogout, Target: strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		res, err = since(cp, pub)
		if err != nil || !res.OK || res.Count != 15 || res.Seq != 35 {
			t.Fatalf("since seq 20 after 5 appends = %+v, %v; want OK with 15 events", res, err)
		}
		full, err := models.VerifyAudit(ctx, db)
		if err != nil || !full.OK || full.Count != 35 || full.Head != res.Head {
			t.Fatalf("full verify = %+v, %v; want OK with 35 events and the same head", full, err)
		}
		// The genesis as a checkpoint (seq 0) is the full walk.
		zero := models.SignCheckpoint(key, models.ChainHead{Seq: 0, Hash: models.GenesisHash}, time.Now())
		if res, err := since(zero, pub); err != nil || !res.OK || res.Count != 35 {
			t.Errorf("since the genesis = %+v, %v; want all 35 events", res, err)
		}

		// A checkpoint that signs another hash than the row at its seq.
		wrong := models.SignCheckpoint(key, models.ChainHead{Seq: 20, Hash: evs[18].Hash}, time.Now())
		res, err = since(wrong, pub)
		if err != nil || res.OK || res.BrokenSeq != 20 || !strings.Contains(res.Problem, "the chain was rewritten") {
			t.Errorf("checkpoint with another hash = %+v, %v; want broken at seq 20, rewritten", res, err)
		}
		// A checkpoint beyond the head: newer events were cut.
		ahead := models.SignCheckpoint(key, models.ChainHead{Seq: 40, Hash: evs[0].Hash}, time.Now())
		res, err = since(ahead, pub)
		if err != nil || res.OK || res.BrokenSeq != 36 || !strings.Contains(res.Problem, "before checkpoint seq 40") {
			t.Errorf("checkpoint beyond the head = %+v, %v; want broken at 36", res, err)
		}
		// A bad signature: another key, or the checkpoint altered after signing.
		other := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
		if _, err := since(cp, other); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
			t.Errorf("checkpoint checked with another key: %v, want the signature refused", err)
		}
		moved := cp
		moved.Seq, moved.Hash = 25, evs[24].Hash
		if _, err := since(moved, pub); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
			t.Errorf("checkpoint altered after signing: %v, want the signature refused", err)
		}
		if _, err := since(cp, nil); err == nil || !strings.Contains(err.Error(), "public key") {
			t.Errorf("checkpoint without a key: %v, want an error", err)
		}

		// A row after the checkpoint tampered with is found.
		dbtest.DisableAuditGuards(t, db)
		if err := db.Write.Exec("UPDATE audit_events SET actor = 'nobody@example.com' WHERE seq = 25").Error; err != nil {
			t.Fatal(err)
		}
		res, err = since(cp, pub)
		if err != nil || res.OK || res.BrokenSeq != 25 || res.Count != 4 {
			t.Errorf("since seq 20 with seq 25 tampered = %+v, %v; want broken at 25 after 4 events", res, err)
		}
		// The row at the checkpoint rewritten (hash and all) is found too.
		if err := db.Write.Exec("UPDATE audit_events SET hash = ? WHERE seq = 20", strings.Repeat("0", 63)+"1").Error; err != nil {
			t.Fatal(err)
		}
		later := models.SignCheckpoint(key, models.ChainHead{Seq: 20, Hash: evs[19].Hash}, time.Now())
		if res, err = since(later, pub); err != nil || res.OK || res.BrokenSeq != 20 {
			t.Errorf("checkpoint's own row rewritten = %+v, %v; want broken at 20", res, err)
		}
	})
}

// TestVerifyInSpans: on PostgreSQL a long walk is read in spans, on
// connections that share one snapshot, and its result is exactly the one
// walk's: for an intact chain, from a checkpoint, and for tamperings in
// any span and at the cuts themselves.
func TestVerifyInSpans(t *testing.T) {
	db := dbtest.Postgres(t)
	ctx := context.Background()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	const n = 60 // three spans: cut at seqs 20 and 40
	evs := testChain(n + 1)
	reset := func() {
		t.Helper()
		for _, q := range []string{"DELETE FROM audit_events", "UPDATE audit_head SET seq = 0, hash = ''"} {
			if err := db.Write.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
		fillChain(t, db, evs[:n])
	}
	dbtest.DisableAuditGuards(t, db)
	verify := func(opts models.VerifyOptions, cutAbove int64, spans int) (models.VerifyResult, bool) {
		t.Helper()
		defer models.CutVerifyWalks(cutAbove, spans)()
		before := models.SpansWalked()
		res, err := models.VerifyAuditWith(ctx, db, opts)
		if err != nil {
			t.Fatal(err)
		}
		return res, models.SpansWalked() > before
	}
	cases := []struct {
		name       string
		tamper     []string
		from       int64 // a signed checkpoint at this seq, when not 0
		wantBroken int64 // 0: the chain verifies
		wantCount  int64 // events that checked, when broken: wantBroken-1 when 0
		wantCut    bool  // false: the walk falls back to one
	}{
		{name: "intact", wantCut: true},
		{name: "intact, from a checkpoint", from: 9, wantCut: true},
		{name: "an event edited in the middle span", tamper: []string{"UPDATE audit_events SET actor = 'x@example.com' WHERE seq = 30"}, wantBroken: 30, wantCut: true},
		{name: "events edited in the first and last spans", tamper: []string{"UPDATE audit_events SET reason = 'r' WHERE seq IN (5, 50)"}, wantBroken: 5, wantCut: true},
		{name: "the event at a cut deleted", tamper: []string{"DELETE FROM audit_events WHERE seq = 20"}, wantBroken: 20},
		{name: "the event before a cut deleted", tamper: []string{"DELETE FROM audit_events WHERE seq = 39"}, wantBroken: 39, wantCut: true},
		{name: "the event after a cut deleted", tamper: []string{"DELETE FROM audit_events WHERE seq = 21"}, wantBroken: 21, wantCut: true},
		{name: "the hash at a cut rewritten", tamper: []string{"UPDATE audit_events SET hash = '" + evs[0].Hash + "' WHERE seq = 40"}, wantBroken: 40, wantCut: true},
		{name: "the prev_hash after a cut rewritten", tamper: []string{"UPDATE audit_events SET prev_hash = '" + evs[0].Hash + "' WHERE seq = 41"}, wantBroken: 41, wantCut: true},
		{name: "an event after the head", tamper: []string{fmt.Sprintf("INSERT INTO audit_events (seq, at, actor, action, prev_hash, hash) VALUES (%d, '%s', 'a', 'b', '%s', '%s')",
			n+1, evs[n].At.Format(time.RFC3339Nano), evs[n].PrevHash, evs[n].Hash)}, wantBroken: n + 1, wantCut: true},
		{name: "the head moved back", tamper: []string{fmt.Sprintf("UPDATE audit_head SET seq = 50, hash = '%s'", evs[49].Hash)}, wantBroken: 51, wantCount: n, wantCut: true},
	}
	for _, c := range cases {
		reset()
		for _, q := range c.tamper {
			if err := db.Write.Exec(q).Error; err != nil {
				t.Fatalf("%s: %s: %v", c.name, q, err)
			}
		}
		var opts models.VerifyOptions
		if c.from > 0 {
			cp := models.SignCheckpoint(key, models.ChainHead{Seq: c.from, Hash: evs[c.from-1].Hash}, time.Now())
			opts = models.VerifyOptions{From: &cp, PublicKey: key.Public().(ed25519.PublicKey)}
		}
		one, _ := verify(opts, 1<<62, 1)
		cut, wasCut := verify(opts, 10, 3)
		if cut != one {
			t.Errorf("%s: in spans %+v, in one walk %+v", c.name, cut, one)
		}
		if wasCut != c.wantCut {
			t.Errorf("%s: walk cut into spans = %v, want %v", c.name, wasCut, c.wantCut)
		}
		if c.wantBroken == 0 && (!one.OK || one.Count != n-c.from || one.Seq != n) {
			t.Errorf("%s: %+v, want OK with %d events", c.name, one, n-c.from)
		}
		if c.wantCount == 0 {
			c.wantCount = c.wantBroken - 1
		}
		if c.wantBroken != 0 && (one.OK || one.BrokenSeq != c.wantBroken || one.Count != c.wantCount) {
			t.Errorf("%s: %+v, want broken at seq %d after %d events", c.name, one, c.wantBroken, c.wantCount)
		}
	}
}
