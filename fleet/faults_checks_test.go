package fleet_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// The checks below read the portal's database after a fault run, as its
// owner, and say what does not hold. They are written from the models:
// what a request, a consent, a grant and the audit log must look like
// together once every transaction has either committed or not.

// viewRow is a data.viewed row as the checks compare it with a served page.
type viewRow struct {
	Seq       int64
	Actor     string
	Workspace string
	Table     string
	Records   string
	Grant     int64
}

// viewCheck is what the comparison of the client's log with the audit log
// found.
type viewCheck struct {
	Views      int      // 200 answers that carried tenant data
	Unaudited  []string // their request ids with no committed data.viewed row
	Mismatched []string // rows that do not say what was served (who, what, which records, which grant)
	Unanswered int      // data.viewed rows no 200 answer reached the client for (a crash after the commit): allowed
	Leaks      []string // answers other than 200 that carried tenant data
	Duplicates int      // request ids with more than one data.viewed row
	Cut        int      // views whose body a kill cut short (they count as served)
}

// checkViews compares every page of tenant data the client got with the
// audit log: each needs its committed data.viewed row, with the request id
// the portal answered with, naming who read which records of which table
// under which grant.
func checkViews(ctx context.Context, db *sql.DB, log []served) (viewCheck, error) {
	var c viewCheck
	rows, err := db.QueryContext(ctx, `SELECT request_id, seq, actor, workspace, table_name, record_ids, COALESCE(grant_id, 0)
		FROM audit_events WHERE action = 'data.viewed' AND request_id <> ''`) // the demo's seeded history has no request ids
	if err != nil {
		return c, err
	}
	defer rows.Close()
	byID := map[string]viewRow{}
	for rows.Next() {
		var id string
		var r viewRow
		if err := rows.Scan(&id, &r.Seq, &r.Actor, &r.Workspace, &r.Table, &r.Records, &r.Grant); err != nil {
			return c, err
		}
		if _, dup := byID[id]; dup {
			c.Duplicates++
		}
		byID[id] = r
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	answered := map[string]bool{}
	for _, s := range log {
		if s.Tenant && s.Status != 200 {
			c.Leaks = append(c.Leaks, fmt.Sprintf("%s %s: %d with tenant data", s.ID, s.Path, s.Status))
		}
		if !s.view() {
			continue
		}
		c.Views++
		if s.Err != "" {
			c.Cut++
		}
		answered[s.ID] = true
		r, ok := byID[s.ID]
		if !ok {
			c.Unaudited = append(c.Unaudited, fmt.Sprintf("%s (%s %s)", s.ID, s.Staff, s.Path))
			continue
		}
		rec := strings.Split(r.Records, ",")
		if r.Records == "" {
			rec = nil
		}
		slices.Sort(rec)
		got := slices.Sorted(slices.Values(s.Records))
		// A body a kill cut short shows only some of the page's records;
		// whatever it shows must be among those audited.
		sameRecords := slices.Equal(rec, got)
		if s.Err != "" {
			sameRecords = !slices.ContainsFunc(got, func(id string) bool { _, ok := slices.BinarySearch(rec, id); return !ok })
		}
		if r.Actor != s.Staff || r.Workspace != s.Workspace || r.Table != s.Table || (r.Grant != s.Grant && (s.Err == "" || s.Grant != 0)) || !sameRecords {
			c.Mismatched = append(c.Mismatched, fmt.Sprintf("%s: served %s %s.%s grant %d records %v; audited seq %d %s %s.%s grant %d records %v",
				s.ID, s.Staff, s.Workspace, s.Table, s.Grant, got, r.Seq, r.Actor, r.Workspace, r.Table, r.Grant, rec))
		}
	}
	for id := range byID {
		if !answered[id] {
			c.Unanswered++
		}
	}
	return c, nil
}

// halfState is one kind of record caught between two states, and the
// ids found in it.
type halfState struct {
	Name string
	IDs  []int64
}

// endActions are the audit actions that end a grant (models.endActions).
const endActions = `('grant.expired', 'grant.done', 'grant.revoked', 'grant.ended', 'breakglass.ended')`

// halfStateQueries each select the ids of one kind of half state. A
// state change of consequence and its audit event commit together, so
// after any crash each of these is empty.
var halfStateQueries = []struct{ name, query string }{
	{"granted request without its grant (pointing back)", `
		SELECT r.id FROM access_requests r LEFT JOIN grants g ON g.id = r.grant_id AND g.request_id = r.id
		WHERE r.status = 'granted' AND g.id IS NULL`},
	{"request holding a grant but not granted", `
		SELECT id FROM access_requests WHERE grant_id IS NOT NULL AND status <> 'granted'`},
	{"grant of a request that does not hold it", `
		SELECT g.id FROM grants g LEFT JOIN access_requests r ON r.id = g.request_id AND r.grant_id = g.id
		WHERE g.request_id IS NOT NULL AND r.id IS NULL`},
	{"break-glass grant without its break-glass (pointing back)", `
		SELECT g.id FROM grants g LEFT JOIN breakglass b ON b.id = g.breakglass_id AND b.grant_id = g.id
		WHERE g.breakglass_id IS NOT NULL AND b.id IS NULL`},
	{"break-glass without its grant", `
		SELECT b.id FROM breakglass b LEFT JOIN grants g ON g.id = b.grant_id AND g.breakglass_id = b.id
		WHERE g.id IS NULL`},
	{"grant from neither a request nor a break-glass", `
		SELECT id FROM grants WHERE request_id IS NULL AND breakglass_id IS NULL`},
	{"granted request without the customer's grant decision", `
		SELECT r.id FROM access_requests r
		WHERE r.status = 'granted' AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.request_id = r.id AND c.decision = 'grant')`},
	{"consent decision the request does not show", `
		SELECT c.id FROM consents c JOIN access_requests r ON r.id = c.request_id
		WHERE (c.decision = 'grant' AND r.status <> 'granted') OR (c.decision = 'deny' AND r.status <> 'refused')
		   OR (c.decision = 'report' AND r.status <> 'reported')`},
	{"consent decision without its event", `
		SELECT c.id FROM consents c
		WHERE c.decision <> 'revoke' AND NOT EXISTS (
			SELECT 1 FROM audit_events a WHERE a.target = 'request/' || c.request_id AND a.actor = c.recipient
			AND a.action = CASE c.decision WHEN 'grant' THEN 'consent.granted' WHEN 'deny' THEN 'consent.denied' ELSE 'consent.reported' END)`},
	{"consent.granted event without its grant", `
		SELECT a.seq FROM audit_events a LEFT JOIN access_requests r ON a.target = 'request/' || r.id AND r.grant_id = a.grant_id
		WHERE a.action = 'consent.granted' AND r.id IS NULL`},
	{"customer revocation without the grant ended by the customer", `
		SELECT c.id FROM consents c JOIN access_requests r ON r.id = c.request_id
		WHERE c.decision = 'revoke' AND NOT EXISTS (
			SELECT 1 FROM audit_events a JOIN grants g ON g.id = a.grant_id
			WHERE a.grant_id = r.grant_id AND a.action = 'grant.revoked' AND a.actor = c.recipient AND g.ended_at IS NOT NULL)`},
	{"request without its request.created event", `
		SELECT r.id FROM access_requests r
		WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.target = 'request/' || r.id AND a.action = 'request.created')`},
	{"decided request without its decision or decision event", `
		SELECT r.id FROM access_requests r
		WHERE r.status IN ('approved', 'granted', 'refused', 'reported', 'denied') AND (
			r.decided_by_id IS NULL OR r.decided_at IS NULL OR NOT EXISTS (
			SELECT 1 FROM audit_events a WHERE a.target = 'request/' || r.id
			AND a.action = CASE r.status WHEN 'denied' THEN 'request.denied' ELSE 'request.approved' END))`},
	{"ended grant without the event that ended it", `
		SELECT g.id FROM grants g
		WHERE g.ended_at IS NOT NULL AND g.ended_why <> 'the workspace was deleted' AND NOT EXISTS (
			SELECT 1 FROM audit_events a WHERE a.grant_id = g.id AND a.action IN ` + endActions + `)`},
	{"end event of a grant that has not ended", `
		SELECT a.seq FROM audit_events a JOIN grants g ON g.id = a.grant_id
		WHERE a.action IN ` + endActions + ` AND g.ended_at IS NULL`},
	{"grant ended twice", `
		SELECT a.grant_id FROM audit_events a
		WHERE a.action IN ` + endActions + ` AND a.grant_id IS NOT NULL
		GROUP BY a.grant_id HAVING COUNT(*) > 1`},
	{"audit head not at the newest event", `
		SELECT h.seq FROM audit_head h
		WHERE h.seq <> (SELECT COALESCE(MAX(seq), 0) FROM audit_events)
		   OR h.hash <> COALESCE((SELECT hash FROM audit_events WHERE seq = h.seq), '0000000000000000000000000000000000000000000000000000000000000000')`},
	{"audit seq not gap-free", `
		SELECT MAX(seq) FROM audit_events HAVING COUNT(*) <> MAX(seq) OR MIN(seq) <> 1`},
}

// halfStates runs every half-state query and returns those that found
// something.
func halfStates(ctx context.Context, db *sql.DB) ([]halfState, error) {
	var out []halfState
	for _, q := range halfStateQueries {
		ids, err := int64s(ctx, db, q.query)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.name, err)
		}
		if len(ids) > 0 {
			out = append(out, halfState{Name: q.name, IDs: ids})
		}
	}
	return out, nil
}

func int64s(ctx context.Context, db *sql.DB, query string, args ...any) ([]int64, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// lateView is a data.viewed event with a greater seq than the event that
// ended its grant.
type lateView struct {
	Grant   int64
	EndSeq  int64
	EndHow  string
	ViewSeq int64
}

// viewsAfterEnd finds, for every grant that ended with an event, the
// data.viewed events under it with a greater seq than that event: the
// ordering invariant says there are none.
func viewsAfterEnd(ctx context.Context, db *sql.DB) (ended int, late []lateView, err error) {
	err = db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT grant_id) FROM audit_events WHERE action IN `+endActions+` AND grant_id IS NOT NULL`).Scan(&ended)
	if err != nil {
		return 0, nil, err
	}
	rows, err := db.QueryContext(ctx, `
		WITH ends AS (
			SELECT DISTINCT ON (grant_id) grant_id, seq, action FROM audit_events
			WHERE action IN `+endActions+` AND grant_id IS NOT NULL ORDER BY grant_id, seq)
		SELECT e.grant_id, e.seq, e.action, v.seq FROM ends e
		JOIN audit_events v ON v.grant_id = e.grant_id AND v.action = 'data.viewed' AND v.seq > e.seq
		ORDER BY e.grant_id, v.seq`)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var l lateView
		if err := rows.Scan(&l.Grant, &l.EndSeq, &l.EndHow, &l.ViewSeq); err != nil {
			return 0, nil, err
		}
		late = append(late, l)
	}
	return ended, late, rows.Err()
}

// streamCheck is what an audit stream file holds against the chain.
type streamCheck struct {
	Lines       int   // event lines
	Checkpoints int   // checkpoint lines
	Head        int64 // the chain's newest seq
	Shipped     int64 // the stream's shipped position (audit_stream)
	// UnshippedAtStop is how many events the fleet's graceful stop left
	// unshipped, for the next start to ship.
	UnshippedAtStop int64
	Missing         []int64 // seqs of the chain the stream lacks (the first 20)
	MissingN        int
	Repeats         int // event lines of a seq already seen
	Unreadable      int // lines that are not JSON (a line cut short by a kill)
}

// checkStream reads the stream file at path and compares its event seqs
// with 1..head.
func checkStream(path string, head int64) (streamCheck, error) {
	c := streamCheck{Head: head}
	f, err := os.Open(path) // #nosec G304 -- the test's own stream file
	if err != nil {
		return c, err
	}
	defer f.Close()
	seen := make(map[int64]bool, head)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var line struct {
			Type string `json:"type"`
			Seq  int64  `json:"seq"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			c.Unreadable++
			continue
		}
		switch line.Type {
		case "event":
			c.Lines++
			if seen[line.Seq] {
				c.Repeats++
			}
			seen[line.Seq] = true
		case "checkpoint":
			c.Checkpoints++
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	for seq := int64(1); seq <= head; seq++ {
		if !seen[seq] {
			c.MissingN++
			if len(c.Missing) < 20 {
				c.Missing = append(c.Missing, seq)
			}
		}
	}
	return c, nil
}

// auditHead is the chain's newest seq.
func auditHead(ctx context.Context, db *sql.DB) (int64, error) {
	var seq int64
	err := db.QueryRowContext(ctx, `SELECT seq FROM audit_head WHERE id = 1`).Scan(&seq)
	return seq, err
}
