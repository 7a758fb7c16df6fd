package models_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// streamed returns the seqs of a stream's event lines in order, and its
// checkpoints; other lines (one cut short by a crash) are skipped.
func streamed(t *testing.T, b []byte) (seqs []int64, cps []models.Checkpoint) {
	t.Helper()
	for _, line := range bytes.Split(b, []byte("\n")) {
		var c models.Checkpoint
		if json.Unmarshal(line, &c) != nil {
			continue
		}
		switch c.Type {
		case "event":
			seqs = append(seqs, c.Seq)
		case "checkpoint":
			cps = append(cps, c)
		}
	}
	return seqs, cps
}

// seqRange is from, from+1, …, to.
func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// stopShipper stops s as serve does: the last events, and the claim
// given up.
func stopShipper(t testing.TB, s *models.AuditShipper) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func streamPosition(t testing.TB, db *models.DB) (seq int64, holder string) {
	t.Helper()
	if err := db.Read.Raw("SELECT shipped_seq, holder FROM audit_stream WHERE id = 1").Row().Scan(&seq, &holder); err != nil {
		t.Fatal(err)
	}
	return seq, holder
}

// TestAuditStreamOneShipperAtATime: of two shippers on one database (two
// replicas), only the one holding the claim ships; when it stops, the
// other takes over where it stopped.
func TestAuditStreamOneShipperAtATime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		var outA, outB bytes.Buffer
		a := models.NewAuditShipper(db, &outA, nil, time.Now, nil)
		b := models.NewAuditShipper(dbtest.Reopen(t, db), &outB, nil, time.Now, nil)

		appendN(t, db, 5)
		for _, s := range []*models.AuditShipper{a, b, b, a} {
			if err := s.Ship(ctx); err != nil {
				t.Fatal(err)
			}
		}
		appendN(t, db, 3)
		for _, s := range []*models.AuditShipper{b, a, b} {
			if err := s.Ship(ctx); err != nil {
				t.Fatal(err)
			}
		}
		gotA, _ := streamed(t, outA.Bytes())
		if !equalSeqs(gotA, seqRange(1, 8)) || outB.Len() != 0 {
			t.Fatalf("holder shipped %v, the other %q; want 1-8 from the holder alone", gotA, outB.String())
		}
		if seq, holder := streamPosition(t, db); seq != 8 || holder == "" {
			t.Errorf("stored position %d held by %q, want 8 with the holder named", seq, holder)
		}

		// The holder stops: the other takes over at seq 9, on its next round.
		stopShipper(t, a)
		appendN(t, db, 2)
		for _, s := range []*models.AuditShipper{b, a} {
			if err := s.Ship(ctx); err != nil {
				t.Fatal(err)
			}
		}
		gotA, _ = streamed(t, outA.Bytes())
		gotB, _ := streamed(t, outB.Bytes())
		if !equalSeqs(gotA, seqRange(1, 8)) || !equalSeqs(gotB, seqRange(9, 10)) {
			t.Errorf("after the take-over the first shipped %v, the second %v; want 1-8 and 9-10", gotA, gotB)
		}
	})
}

// TestAuditStreamClaimLostIsNoticed: the holder's session ends as in a
// database outage (the server terminates it): its next round finds the
// claim gone and writes nothing, the other replica takes the stream over,
// and the first does not take it back.
func TestAuditStreamClaimLostIsNoticed(t *testing.T) {
	db := dbtest.Postgres(t)
	ctx := context.Background()
	var outA, outB bytes.Buffer
	a := models.NewAuditShipper(db, &outA, nil, time.Now, nil)
	b := models.NewAuditShipper(dbtest.Reopen(t, db), &outB, nil, time.Now, nil)
	appendN(t, db, 4)
	if err := a.Ship(ctx); err != nil {
		t.Fatal(err)
	}
	var ended []bool
	err := db.Write.Raw(`SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND classid = 1195463749 AND objid = 1398035021 AND objsubid = 2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&ended).Error
	if err != nil || len(ended) != 1 || !ended[0] {
		t.Fatalf("terminating the holder's session: %v, %v; want one session holding the claim", ended, err)
	}
	appendN(t, db, 3)
	if err := a.Ship(ctx); err == nil || !strings.Contains(err.Error(), "claim lost") {
		t.Errorf("the first round after the session ended = %v, want the claim lost", err)
	}
	for _, s := range []*models.AuditShipper{b, a, b} {
		if err := s.Ship(ctx); err != nil {
			t.Fatal(err)
		}
	}
	gotA, _ := streamed(t, outA.Bytes())
	gotB, _ := streamed(t, outB.Bytes())
	if !equalSeqs(gotA, seqRange(1, 4)) || !equalSeqs(gotB, seqRange(5, 7)) {
		t.Errorf("first shipped %v, second %v; want 1-4 before the outage and 5-7 from the second alone", gotA, gotB)
	}
}

// TestAuditStreamFileResumesExactlyOnce: a holder stopped after syncing a
// batch and before moving the position (here: the position set back),
// in the middle of a line (a cut line at the end): the next holder ends
// the cut line and resumes after the file's last event, not the
// position, so nothing is written twice.
func TestAuditStreamFileResumesExactlyOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		f1, err := models.OpenStreamFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a := models.NewAuditShipper(db, f1, nil, time.Now, nil)
		appendN(t, db, 5)
		if err := a.Ship(ctx); err != nil {
			t.Fatal(err)
		}
		stopShipper(t, a)
		f1.Close()
		if err := db.Write.Exec("UPDATE audit_stream SET shipped_seq = 2").Error; err != nil {
			t.Fatal(err)
		}
		cut := `{"type":"event","seq":6,"at":"2026-03-01T00:`
		appendFile(t, path, cut)
		appendN(t, db, 3)

		f2, err := models.OpenStreamFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f2.Close()
		b := models.NewAuditShipper(dbtest.Reopen(t, db), f2, nil, time.Now, nil)
		if err := b.Ship(ctx); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := streamed(t, raw); !equalSeqs(got, seqRange(1, 8)) {
			t.Errorf("file holds events %v, want 1-8 once each", got)
		}
		if !bytes.Contains(raw, []byte("\n"+cut+"\n{")) {
			t.Errorf("the cut line does not stand alone:\n%s", raw)
		}
		if seq, _ := streamPosition(t, db); seq != 8 {
			t.Errorf("position after resuming = %d, want 8", seq)
		}
	})
}

// TestAuditStreamRefusesAFileAheadOfTheChain: a file holding events the
// chain does not reach (another database's, or rows removed) is not
// written to.
func TestAuditStreamRefusesAFileAheadOfTheChain(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		appendFile(t, path, `{"type":"event","seq":50}`+"\n")
		f, err := models.OpenStreamFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		appendN(t, db, 5)
		err = models.NewAuditShipper(db, f, nil, time.Now, nil).Ship(context.Background())
		if err == nil || !strings.Contains(err.Error(), "the chain ends at 5") {
			t.Errorf("shipping after a file at seq 50 = %v, want a refusal naming the head", err)
		}
		if raw, _ := os.ReadFile(path); string(raw) != `{"type":"event","seq":50}`+"\n" {
			t.Errorf("file after the refusal:\n%s", raw)
		}
		if seq, _ := streamPosition(t, db); seq != 0 {
			t.Errorf("position after the refusal = %d, want 0", seq)
		}
	})
}

// TestAuditStreamReplicasShareAFile: replicas running their shippers
// side by side on one file, stopping and joining while events are
// appended, write every event exactly once and in order, and each
// checkpoint after the events it covers.
func TestAuditStreamReplicasShareAFile(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		key := testKey(8)
		start := func(db *models.DB) (stop func()) {
			f, err := models.OpenStreamFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s := models.NewAuditShipper(db, f, key, time.Now, nil)
			ctx, cancel := context.WithCancel(context.Background())
			ship, cp := time.NewTicker(2*time.Millisecond), time.NewTicker(40*time.Millisecond)
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx, ship.C, cp.C) }()
			return func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
				ship.Stop()
				cp.Stop()
				f.Close()
			}
		}
		stopA := start(db)
		stopB := start(dbtest.Reopen(t, db))
		appendN(t, db, 100)
		stopA()
		appendN(t, db, 100)
		stopC := start(dbtest.Reopen(t, db))
		appendN(t, db, 50)
		stopB()
		appendN(t, db, 50)
		stopC()

		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		seqs, cps := streamed(t, raw)
		if !equalSeqs(seqs, seqRange(1, 300)) {
			t.Errorf("file holds %d event lines, want 1-300 once each in order: %v", len(seqs), seqs)
		}
		if len(cps) == 0 || cps[len(cps)-1].Seq != 300 {
			t.Fatalf("checkpoints %+v, want the last at seq 300", cps)
		}
		// Each checkpoint follows the events up to its seq.
		shipped := int64(0)
		for _, line := range bytes.Split(raw, []byte("\n")) {
			var c models.Checkpoint
			json.Unmarshal(line, &c)
			switch c.Type {
			case "event":
				shipped = c.Seq
			case "checkpoint":
				if c.Seq > shipped {
					t.Errorf("checkpoint at seq %d written after event %d only", c.Seq, shipped)
				}
				if err := c.Verify(key.Public().(ed25519.PublicKey)); err != nil {
					t.Error(err)
				}
			}
		}
	})
}

// TestStreamFileLastEvent: the last complete event line is found however
// far back it is, across reads of the file's end, past other lines.
func TestStreamFileLastEvent(t *testing.T) {
	long := `{"type":"event","seq":41,"reason":"` + strings.Repeat("x", 200<<10) + `"}` + "\n"
	filler := strings.Repeat(`{"type":"checkpoint","seq":3,"hash":"`+strings.Repeat("a", 64)+`"}`+"\n", 3000)
	tests := []struct {
		name, content string
		want          int64
	}{
		{"empty", "", 0},
		{"no event", "hello\n" + filler, 0},
		{"last line", `{"type":"event","seq":7}` + "\n", 7},
		{"cut line after it", `{"type":"event","seq":7}` + "\n" + `{"type":"event","seq":8,"at`, 7},
		{"long event line across blocks", `{"type":"event","seq":40}` + "\n" + long, 41},
		{"far behind other lines", `{"type":"event","seq":9}` + "\n" + filler + "log line\n", 9},
		{"the first line of the file", `{"type":"event","seq":1}` + "\n\n\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			appendFile(t, path, tt.content)
			f, err := models.OpenStreamFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := models.ResumeStreamFile(f)
			if err != nil || got != tt.want {
				t.Errorf("last event seq = %d, %v; want %d", got, err, tt.want)
			}
			raw, _ := os.ReadFile(path)
			if len(raw) > 0 && raw[len(raw)-1] != '\n' {
				t.Errorf("the file still ends in a cut line")
			}
		})
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAuditStreamCatchUpOverRounds: a first start on a long log ships it
// over several rounds, the position moving with each batch, with no event
// missed or repeated; a checkpoint asked for meanwhile goes to the log
// only, never to the stream ahead of its events.
func TestAuditStreamCatchUpOverRounds(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		fillChain(t, db, testChain(1800))
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		f, err := models.OpenStreamFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		s := models.NewAuditShipper(db, f, testKey(9), time.Now, nil)
		models.SetRoundTime(s, 0) // one batch a round
		if err := s.Ship(ctx); err != nil {
			t.Fatal(err)
		}
		if pos, _ := streamPosition(t, db); pos != 500 {
			t.Errorf("position after one round = %d, want 500 (one batch)", pos)
		}
		cp, err := s.Checkpoint(ctx)
		if err != nil || cp.Seq != 1800 {
			t.Fatalf("checkpoint during the catch-up = %+v, %v; want the head signed", cp, err)
		}
		raw, _ := os.ReadFile(path)
		if seqs, cps := streamed(t, raw); !equalSeqs(seqs, seqRange(1, 1000)) || len(cps) != 0 {
			t.Errorf("stream after a checkpoint in the catch-up: events %d-%d, %d checkpoints; want 1-1000 and none", seqs[0], seqs[len(seqs)-1], len(cps))
		}
		for range 3 {
			if err := s.Ship(ctx); err != nil {
				t.Fatal(err)
			}
		}
		stopShipper(t, s)
		raw, _ = os.ReadFile(path)
		seqs, cps := streamed(t, raw)
		if !equalSeqs(seqs, seqRange(1, 1800)) || len(cps) != 1 || cps[0].Seq != 1800 {
			t.Errorf("stream after the catch-up: %d events, checkpoints %+v; want 1-1800 once each and the final checkpoint at 1800", len(seqs), cps)
		}
	})
}
