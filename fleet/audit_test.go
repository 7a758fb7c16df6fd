package fleet_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
)

// With both replicas appending under concurrent load (audited data views
// by two grantees and new requests), the audit chain stays one line that
// verifies, with no gap in its sequence, and every data page served (200)
// has exactly one committed data.viewed event with its request id.
func TestAuditChainUnderLoad(t *testing.T) {
	f := start(t)
	sam := f.SignIn(t, "sam.support@example.com")
	sara := f.SignIn(t, "sara.senior@example.com")
	sean := f.SignIn(t, "sean.senior@example.com")
	grant(t, f, sam, sean, sara.Email, "acme", "owner@acme.example")
	grant(t, f, sam, sara, sean.Email, "globex", "owner@globex.example")

	// The demo's seeded history (its incident's and report's views) has
	// data.viewed events of its own; only those after it are this load's.
	var seeded int64
	if err := f.Owner.Read.Raw("SELECT COALESCE(MAX(seq), 0) FROM audit_events").Scan(&seeded).Error; err != nil {
		t.Fatal(err)
	}

	type view struct {
		status    int
		requestID string
		replica   int
	}
	const clients, each = 8, 40
	views := make([][]view, clients)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range clients {
		c, ws := sara, "acme"
		if i%2 == 1 {
			c, ws = sean, "globex"
		}
		tables := []string{"documents", "projects", "comments", "members"}
		wg.Go(func() {
			for j := range each {
				res, err := c.Get(fmt.Sprintf("/workspaces/%s/data/%s", ws, tables[j%len(tables)]))
				if err != nil {
					t.Errorf("view: %v", err)
					return
				}
				views[i] = append(views[i], view{res.Status, res.Header.Get("X-Request-Id"), res.Replica()})
			}
		})
	}
	wg.Go(func() { // other appends meanwhile, on both replicas
		for _, ws := range []string{"initech", "umbrella", "stark", "wayne", "cyberdyne", "wonka"} {
			if res, err := sam.Submit("/requests", requestForm(ws, sara.Email)); err != nil || res.Status != http.StatusSeeOther {
				t.Errorf("request for %s during the load: %d, %v", ws, res.Status, err)
			}
		}
	})
	wg.Wait()
	elapsed := time.Since(began)

	served := map[string]bool{}
	perReplica := map[int]int{}
	for _, vs := range views {
		for _, v := range vs {
			if v.status != http.StatusOK {
				t.Errorf("a data page answered %d on replica %d", v.status, v.replica)
				continue
			}
			served[v.requestID] = true
			perReplica[v.replica]++
		}
	}
	t.Logf("%d audited views in %s (%.0f/s) through the proxy, by replica %v", len(served), elapsed.Round(time.Millisecond), float64(len(served))/elapsed.Seconds(), perReplica)
	if len(served) != clients*each || perReplica[0] == 0 || perReplica[1] == 0 {
		t.Fatalf("%d distinct views served, by replica %v; want %d across both", len(served), perReplica, clients*each)
	}

	var rows []struct {
		RequestID string
		N         int
	}
	if err := f.Owner.Read.Raw("SELECT request_id, COUNT(*) AS n FROM audit_events WHERE action = ? AND seq > ? GROUP BY request_id", models.ActionDataViewed, seeded).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	events := map[string]int{}
	for _, r := range rows {
		events[r.RequestID] = r.N
	}
	for id := range served {
		if events[id] != 1 {
			t.Errorf("view %s answered 200 with %d data.viewed events, want 1", id, events[id])
		}
	}
	for id, n := range events {
		if !served[id] {
			t.Errorf("%d data.viewed events for request %s, which no client saw served", n, id)
		}
	}

	// The replicas keep appending (the detector's alerts on this burst,
	// their mail, checkpoints) while the test checks, so the chain is
	// judged up to where the verification stopped, which must be past
	// every view of the load.
	var lastView int64
	if err := f.Owner.Read.Raw("SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE action = ?", models.ActionDataViewed).Scan(&lastView).Error; err != nil {
		t.Fatal(err)
	}
	res := f.VerifyAudit(t)
	if res.Seq < lastView {
		t.Errorf("verification stopped at seq %d, before the last view's %d", res.Seq, lastView)
	}
	var seq struct{ N, Min, Max int64 }
	if err := f.Owner.Read.Raw("SELECT COUNT(*) AS n, MIN(seq) AS min, MAX(seq) AS max FROM audit_events WHERE seq <= ?", res.Seq).Scan(&seq).Error; err != nil {
		t.Fatal(err)
	}
	if seq.Min != 1 || seq.Max != seq.N {
		t.Errorf("audit seq runs %d..%d over %d events, want 1..%d with no gap", seq.Min, seq.Max, seq.N, seq.N)
	}
	if res.Count != seq.N {
		t.Errorf("verification checked %d events of %d", res.Count, seq.N)
	}
}

// The replicas' role holds only the README's grants: it may add and read
// audit rows but not rewrite or remove them, nor touch the migrations.
// The privilege check refuses before the append-only triggers would.
func TestRoleCannotRewriteTheAuditLog(t *testing.T) {
	f := start(t)
	db, err := models.Open(context.Background(), f.RoleURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.Read.Raw("SELECT COUNT(*) FROM audit_events").Scan(&n).Error; err != nil || n == 0 {
		t.Fatalf("the role reads %d audit rows (%v), want the demo's", n, err)
	}
	for _, q := range []string{
		"UPDATE audit_events SET reason = 'rewritten' WHERE seq = 1",
		"DELETE FROM audit_events WHERE seq = 1",
		"TRUNCATE audit_events",
		"DELETE FROM audit_head",
		"INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)",
		"CREATE TABLE intruder (id int)",
	} {
		err := db.Write.Exec(q).Error
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s as the replicas' role: %v, want permission denied", q, err)
		}
	}
}
