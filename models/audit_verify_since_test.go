package models_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
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
