package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gatehouse/models"
)

// TestDetectorRunsAtTheConfiguredInterval: `serve --dev` with
// GATEHOUSE_DETECTION_EVERY=1s evaluates an event appended just after a
// round within a few seconds, each time. With the default of 10 s the
// next round after the one just seen is about 10 s away, so a bound of
// 5 s fails when the setting does not reach the worker, and leaves a
// loaded machine 4 s of slack.
func TestDetectorRunsAtTheConfiguredInterval(t *testing.T) {
	const bound = 5 * time.Second
	s := startDev(t, "GATEHOUSE_DETECTION_EVERY=1s")
	db := s.openDB()
	ctx := context.Background()

	// evaluated waits until the detector's position reaches seq and
	// returns how long that took.
	evaluated := func(seq int64, within time.Duration) time.Duration {
		t.Helper()
		began := time.Now()
		for {
			pos, err := models.DetectionPosition(ctx, db.Read)
			if err != nil {
				t.Fatal(err)
			}
			if pos >= seq {
				return time.Since(began)
			}
			if time.Since(began) > within {
				t.Fatalf("event %d not evaluated within %s (position %d)\nstderr:\n%s", seq, within, pos, s.stderr)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var head int64
	if err := db.Read.Raw("SELECT COALESCE(MAX(seq), 0) FROM audit_events").Scan(&head).Error; err != nil {
		t.Fatal(err)
	}
	evaluated(head, 30*time.Second) // the start's round, or the first ticks
	var took []time.Duration
	for i := range 3 {
		// Right after a round: the next one is an interval away.
		ev, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{
			At: time.Now(), Actor: models.Actor{Email: "nobody@example.net", IP: fmt.Sprintf("192.0.2.%d", 10+i)},
			Action: models.ActionLoginRefused, Reason: "not a staff member",
		})
		if err != nil {
			t.Fatal(err)
		}
		d := evaluated(ev.Seq, 30*time.Second)
		if d > bound {
			t.Errorf("event %d appended after a round was evaluated %s later, want within %s with GATEHOUSE_DETECTION_EVERY=1s", ev.Seq, d.Round(time.Millisecond), bound)
		}
		took = append(took, d.Round(time.Millisecond))
	}
	t.Logf("evaluated after %v", took)
}
