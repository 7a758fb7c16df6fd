package models_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// streamOf is an audit stream as the shipper writes it: the events in
// order, with a checkpoint of the head at seq cpSeq after its event.
func streamOf(t *testing.T, evs []models.AuditEvent, cpSeq int64) []byte {
	t.Helper()
	var b []byte
	var err error
	for _, ev := range evs {
		if b, err = models.AppendJSONLine(b, "event", ev); err != nil {
			t.Fatal(err)
		}
		if ev.Seq == cpSeq {
			line, _ := json.Marshal(models.SignCheckpoint(testKey(6), models.ChainHead{Seq: ev.Seq, Hash: ev.Hash}, time.Now()))
			b = append(append(b, line...), '\n')
		}
	}
	return b
}

func verifyStream(t *testing.T, db *models.DB, stream []byte) models.StreamResult {
	t.Helper()
	res, err := models.VerifyStream(context.Background(), db, bytes.NewReader(stream), testKey(6).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestVerifyStreamFindsRewriteAfterCheckpoint: events rewritten after the
// last checkpoint, the chain recomputed, pass the chain and the checkpoint
// but not the stream that holds them, in any order of its lines.
func TestVerifyStreamFindsRewriteAfterCheckpoint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		evs := appendN(t, db, 600) // more than one batch of streamed events
		stream := streamOf(t, evs, 500)
		res := verifyStream(t, db, stream)
		if seq, problem := res.First(); seq != 0 || !res.Chain.OK || res.Events != 600 || res.Checkpoint.Seq != 500 {
			t.Fatalf("intact log = %+v (first problem %d %q), want OK with 600 events compared and the checkpoint at 500", res, seq, problem)
		}

		dbtest.RewriteAudit(t, db, evs, 550) // seq 551 on
		wantVerified(t, db, 600)
		if res, err := models.VerifyAgainstCheckpoint(context.Background(), db, res.Checkpoint, testKey(6).Public().(ed25519.PublicKey)); err != nil || !res.OK {
			t.Fatalf("the checkpoint alone should not see the rewrite: %+v, %v", res, err)
		}
		res = verifyStream(t, db, stream)
		if seq, problem := res.First(); seq != 551 || !strings.Contains(problem, "rewritten") {
			t.Errorf("rewritten after the checkpoint: first problem %d %q, want seq 551 rewritten", seq, problem)
		}

		// Lines newest first (a merged file): still the lowest seq.
		lines := strings.SplitAfter(string(stream), "\n")
		var reversed strings.Builder
		for i := len(lines) - 1; i >= 0; i-- {
			reversed.WriteString(lines[i])
		}
		if seq, _ := verifyStream(t, db, []byte(reversed.String())).First(); seq != 551 {
			t.Errorf("stream newest first: first problem at seq %d, want 551", seq)
		}
	})
}

// TestVerifyStreamFindsStreamDifferences: a streamed event the database
// holds with another hash, or not at all, is named; the same event
// streamed twice (by two replicas) is not a difference.
func TestVerifyStreamFindsStreamDifferences(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		evs := appendN(t, db, 12)
		stream := streamOf(t, evs, 8)
		twice := append(append([]byte{}, stream...), stream...)
		if res := verifyStream(t, db, twice); !res.Chain.OK || res.DiffSeq != 0 || res.Events != 24 {
			t.Errorf("every event streamed twice = %+v, want OK with 24 events compared", res)
		}

		// A log line and a last line cut short by a crash are not events.
		cut := append([]byte(`{"time":"2026-03-01T12:00:00Z","level":"INFO","msg":"event"}`+"\n"), stream...)
		cut = append(cut, stream[:bytes.IndexByte(stream, '\n')/2]...)
		if res := verifyStream(t, db, cut); !res.Chain.OK || res.DiffSeq != 0 || res.Events != 12 {
			t.Errorf("stream with a log line and a cut last line = %+v, want OK with 12 events compared", res)
		}

		edited := bytes.Replace(stream, []byte(evs[4].Hash), []byte(flipHex(evs[4].Hash)), 1)
		if seq, problem := verifyStream(t, db, edited).First(); seq != 5 || !strings.Contains(problem, "event 5 has hash") {
			t.Errorf("stream with event 5's hash changed: first problem %d %q, want seq 5", seq, problem)
		}

		// Cut the rows after the checkpoint and set the head back: only
		// the stream still holds them.
		disableAuditGuards(t, db)
		if err := db.Write.Exec("DELETE FROM audit_events WHERE seq > 10").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Write.Exec("UPDATE audit_head SET seq = 10, hash = ?", evs[9].Hash).Error; err != nil {
			t.Fatal(err)
		}
		res := verifyStream(t, db, stream)
		if seq, problem := res.First(); !res.Chain.OK || seq != 11 || !strings.Contains(problem, "the database does not") {
			t.Errorf("rows after the checkpoint cut: %+v, first problem %d %q; want the chain OK and seq 11 missing", res.Chain, seq, problem)
		}
	})
}

// TestVerifyStreamContinuity: the seqs a stream holds between its first
// and its last, and the lines that repeat one, are counted whatever the
// order of the lines; events the stream has not reached yet are not
// missing.
func TestVerifyStreamContinuity(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		evs := appendN(t, db, 200)
		var lines [][]byte
		for _, l := range bytes.SplitAfter(streamOf(t, evs[2:150], 100), []byte("\n")) {
			if len(l) > 0 {
				lines = append(lines, l)
			}
		}
		join := func(ls ...[]byte) []byte { return bytes.Join(ls, nil) }
		whole := join(lines...)
		tests := []struct {
			name   string
			stream []byte
			want   models.Continuity
		}{
			{"whole", whole, models.Continuity{First: 3, Last: 150, Head: 200}},
			// lines[69] is seq 72, lines[70] seq 73, lines[98] the checkpoint.
			{"two lost", join(join(lines[:69]...), join(lines[71:]...)),
				models.Continuity{First: 3, Last: 150, Head: 200, Missing: 2, FirstMissing: 72}},
			{"repeated", join(whole, lines[120], lines[7]),
				models.Continuity{First: 3, Last: 150, Head: 200, Repeated: 2, FirstRepeated: 10}},
			{"newest first", join(lines[140], lines[5], join(lines[:5]...), join(lines[6:140]...), join(lines[141:]...)),
				models.Continuity{First: 3, Last: 150, Head: 200}},
			{"no events", lines[98], models.Continuity{Head: 200}},
		}
		for _, tt := range tests {
			if got := verifyStream(t, db, tt.stream).Continuity; got != tt.want {
				t.Errorf("%s: continuity %+v, want %+v", tt.name, got, tt.want)
			}
		}
	})
}

func TestCheckpointStreamLineTooLong(t *testing.T) {
	stream := `{"type":"event","detail":"` + strings.Repeat("x", 17<<20) + `"}` + "\n"
	if _, err := models.ReadLastCheckpoint(strings.NewReader(stream)); err == nil || !strings.Contains(err.Error(), "line 1 is longer than 16 MiB") {
		t.Errorf("a 17 MiB line: %v, want it refused by number", err)
	}
}
