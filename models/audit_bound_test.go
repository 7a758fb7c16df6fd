package models_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// Every free-text value of an event is bounded where it is appended,
// detail strings (and keys) at any depth included, whoever the caller.
func TestAuditAppendBoundsText(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		huge := strings.Repeat("<é", 50_000) // 150 KB; "<" is escaped in JSON
		e := models.AuditEntry{
			At: time.Now(), Action: models.ActionLoginRefused,
			Actor:     models.Actor{Email: huge, Tier: huge, IP: huge, UserAgent: huge, RequestID: huge},
			Workspace: huge, Table: huge, Target: huge, Reason: huge,
			Detail: map[string]any{"error": huge, "n": 12345678901234567, "nested": []any{huge, map[string]any{huge: huge}}},
		}
		if _, err := models.AppendAudit(ctx, db.Write, e); err != nil {
			t.Fatal(err)
		}
		// A small detail is stored exactly as encoded.
		small := map[string]any{"b": "x", "a": 1}
		if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: time.Now(), Action: models.ActionLoginRefused, Detail: small}); err != nil {
			t.Fatal(err)
		}
		evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 {
			t.Fatalf("events = %d, want 2", len(evs))
		}
		if got, want := evs[0].Detail, `{"a":1,"b":"x"}`; got != want {
			t.Errorf("small detail = %s, want %s", got, want)
		}
		ev := evs[1]
		for name, col := range map[string]struct {
			v   string
			max int
		}{
			"actor": {ev.Actor, 320}, "actor_tier": {ev.ActorTier, 64}, "workspace": {ev.Workspace, 128}, "table_name": {ev.Table, 128},
			"target": {ev.Target, 512}, "reason": {ev.Reason, 4000}, "ip": {ev.IP, 64}, "user_agent": {ev.UserAgent, 512}, "request_id": {ev.RequestID, 128},
		} {
			if len(col.v) > col.max+len("…") {
				t.Errorf("%s of %d bytes, want at most %d", name, len(col.v), col.max)
			}
		}
		// Four strings of at most 1 KB, at most 2 KB each encoded.
		if len(ev.Detail) > 4*2048+200 {
			t.Errorf("detail of %d bytes, want at most %d", len(ev.Detail), 4*2048+200)
		}
		var d any
		dec := json.NewDecoder(strings.NewReader(ev.Detail))
		dec.UseNumber()
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("detail %.200s… is not JSON: %v", ev.Detail, err)
		}
		for _, s := range detailStrings(d) {
			if len(s) > 1024+len("…") {
				t.Errorf("detail string of %d bytes, want at most 1 KB", len(s))
			}
		}
		if n := d.(map[string]any)["n"]; n != json.Number("12345678901234567") {
			t.Errorf("detail number = %v, want it exact", n)
		}
		wantVerified(t, db, 2)
	})
}

// detailStrings lists every string of a decoded JSON value, keys too.
func detailStrings(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case []any:
		for _, e := range x {
			out = append(out, detailStrings(e)...)
		}
	case map[string]any:
		for k, e := range x {
			out = append(append(out, k), detailStrings(e)...)
		}
	}
	return out
}
