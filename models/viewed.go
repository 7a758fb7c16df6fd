package models

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// What the customer is told was viewed under a grant: every data.viewed
// and data.revealed event of the grant, aggregated in the database (one
// row per table, actor and distinct list of record ids), never a first
// page of events. A grantee who reloads one record a thousand times adds
// one group, not a thousand rows, and hides nothing read afterwards.
// The audit_events_grant index (grant_id, seq) finds the grant's events.

// SummaryReveals is how many reveals the owners' summary mail lists; it
// counts every one.
const SummaryReveals = 50

// TableViewed is what was viewed of one table under a grant.
type TableViewed struct {
	Table    string
	Actors   []string  // who viewed it, sorted
	Records  []string  // distinct record ids viewed or revealed, ascending
	Views    int64     // data.viewed events
	Listings int64     // of which showed no record (an empty table page)
	Reveals  int64     // data.revealed events
	First    time.Time // the first and last event
	Last     time.Time
}

// GrantViewed is everything viewed under a grant. Its totals are always
// complete.
type GrantViewed struct {
	Tables  []TableViewed // by table name
	Views   int64         // data.viewed events
	Reveals int64         // data.revealed events
}

// Records is the number of distinct records viewed, over all tables.
func (v GrantViewed) Records() int {
	n := 0
	for _, t := range v.Tables {
		n += len(t.Records)
	}
	return n
}

// Table returns what was viewed of table name, if anything.
func (v GrantViewed) Table(name string) (TableViewed, bool) {
	for _, t := range v.Tables {
		if t.Table == name {
			return t, true
		}
	}
	return TableViewed{}, false
}

// RevealSeen is one field revealed under a grant.
type RevealSeen struct {
	At                   time.Time
	Actor                string
	Table, Record, Field string
	Reason               string
}

// viewGroup is one row of ViewedUnder's aggregate.
type viewGroup struct {
	TableName string
	Action    Action
	Actor     string
	RecordIDs string
	N         int64
	FirstSeq  int64
	LastSeq   int64
}

// ViewedUnder aggregates every view and reveal of tenant data made under
// grant id of workspace.
func ViewedUnder(ctx context.Context, db *gorm.DB, workspace string, id int64) (GrantViewed, error) {
	var groups []viewGroup
	err := db.WithContext(ctx).Model(&AuditEvent{}).
		Select("table_name, action, actor, record_ids, COUNT(*) AS n, MIN(seq) AS first_seq, MAX(seq) AS last_seq").
		Where("grant_id = ? AND workspace = ? AND action IN ?", id, workspace, []Action{ActionDataViewed, ActionFieldRevealed}).
		Group("table_name, action, actor, record_ids").
		Scan(&groups).Error
	if err != nil {
		return GrantViewed{}, fmt.Errorf("views under grant %d: %w", id, err)
	}
	type acc struct {
		TableViewed
		records           map[string]bool
		actors            map[string]bool
		firstSeq, lastSeq int64
	}
	tables := map[string]*acc{}
	var out GrantViewed
	for _, g := range groups {
		t := tables[g.TableName]
		if t == nil {
			t = &acc{TableViewed: TableViewed{Table: g.TableName}, records: map[string]bool{}, actors: map[string]bool{}, firstSeq: g.FirstSeq, lastSeq: g.LastSeq}
			tables[g.TableName] = t
		}
		t.actors[g.Actor] = true
		t.firstSeq, t.lastSeq = min(t.firstSeq, g.FirstSeq), max(t.lastSeq, g.LastSeq)
		if g.Action == ActionFieldRevealed {
			t.Reveals += g.N
			out.Reveals += g.N
		} else {
			t.Views += g.N
			out.Views += g.N
			if g.RecordIDs == "" {
				t.Listings += g.N
			}
		}
		for _, r := range strings.Split(g.RecordIDs, ",") {
			if r != "" {
				t.records[r] = true
			}
		}
	}
	var seqs []int64
	for _, t := range tables {
		seqs = append(seqs, t.firstSeq, t.lastSeq)
	}
	at := map[int64]time.Time{}
	if len(seqs) > 0 {
		var evs []AuditEvent
		if err := db.WithContext(ctx).Select("seq, at").Where("seq IN ?", seqs).Find(&evs).Error; err != nil {
			return GrantViewed{}, fmt.Errorf("views under grant %d: %w", id, err)
		}
		for _, e := range evs {
			at[e.Seq] = e.At
		}
	}
	for _, t := range tables {
		t.First, t.Last = at[t.firstSeq], at[t.lastSeq]
		for r := range t.records {
			t.Records = append(t.Records, r)
		}
		slices.SortFunc(t.Records, compareIDs)
		for a := range t.actors {
			t.Actors = append(t.Actors, a)
		}
		slices.Sort(t.Actors)
		out.Tables = append(out.Tables, t.TableViewed)
	}
	slices.SortFunc(out.Tables, func(a, b TableViewed) int { return cmp.Compare(a.Table, b.Table) })
	return out, nil
}

// RevealsUnder returns the fields revealed under grant id of workspace,
// oldest first: limit of them after the first offset.
func RevealsUnder(ctx context.Context, db *gorm.DB, workspace string, id int64, offset, limit int) ([]RevealSeen, error) {
	var evs []AuditEvent
	err := db.WithContext(ctx).Where("grant_id = ? AND workspace = ? AND action = ?", id, workspace, ActionFieldRevealed).
		Order("seq").Offset(offset).Limit(limit).Find(&evs).Error
	if err != nil {
		return nil, fmt.Errorf("reveals under grant %d: %w", id, err)
	}
	out := make([]RevealSeen, 0, len(evs))
	for _, e := range evs {
		var d struct {
			Field string `json:"field"`
		}
		if e.Detail != "" {
			if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
				return nil, fmt.Errorf("reveal event %d: %w", e.Seq, err)
			}
		}
		out = append(out, RevealSeen{At: e.At, Actor: e.Actor, Table: e.Table, Record: e.RecordIDs, Field: d.Field, Reason: e.Reason})
	}
	return out, nil
}

// compareIDs orders record ids as numbers; an id that is not a number
// comes after every number, in text order.
func compareIDs(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(x, y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}
