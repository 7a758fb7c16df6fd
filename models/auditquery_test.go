package models_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// seedSearch appends a known set of events and returns them in seq order.
func seedSearch(t *testing.T, db *models.DB) []models.AuditEvent {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	grant := int64(7)
	entries := []models.AuditEntry{
		{At: base, Actor: models.Actor{Email: "sam@example.com", Tier: "support"}, Action: models.ActionLoginSucceeded},
		{At: base.Add(time.Hour), Actor: models.Actor{Email: "sara@example.com", Tier: "senior"}, Action: models.ActionDataViewed, Workspace: "acme", Table: "members", RecordIDs: []string{"11", "12", "112"}, GrantID: &grant},
		{At: base.Add(2 * time.Hour), Actor: models.Actor{Email: "sara@example.com", Tier: "senior"}, Action: models.ActionDataViewed, Workspace: "globex", Table: "members", RecordIDs: []string{"12"}},
		{At: base.Add(3 * time.Hour), Actor: models.Actor{Email: "ada@example.com", Tier: "sysadmin"}, Action: models.ActionStaffSuspended, Target: "12"},
		{At: base.Add(24 * time.Hour), Actor: models.Actor{Email: "sara@example.com", Tier: "senior"}, Action: models.ActionFieldRevealed, Workspace: "acme", Table: "members", RecordIDs: []string{"112"}, Reason: "ticket 4"},
	}
	var evs []models.AuditEvent
	for _, e := range entries {
		ev, err := models.AppendAudit(ctx, db.Write, e)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func seqsOf(evs []models.AuditEvent) []int64 {
	var s []int64
	for _, e := range evs {
		s = append(s, e.Seq)
	}
	return s
}

func TestAuditSearchFilters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		evs := seedSearch(t, db)
		base := evs[0].At
		tests := []struct {
			name string
			q    models.AuditQuery
			want []int64
		}{
			{"everything, newest first", models.AuditQuery{}, []int64{5, 4, 3, 2, 1}},
			{"actor", models.AuditQuery{Actor: "sara@example.com"}, []int64{5, 3, 2}},
			{"workspace", models.AuditQuery{Workspace: "acme"}, []int64{5, 2}},
			{"action", models.AuditQuery{Action: models.ActionDataViewed}, []int64{3, 2}},
			{"record matches a whole id", models.AuditQuery{Record: "12", Workspace: "globex"}, []int64{3}},
			{"record does not match part of an id", models.AuditQuery{Record: "1", Workspace: "acme"}, nil},
			{"record with LIKE wildcard matches nothing", models.AuditQuery{Record: "%", Workspace: "acme"}, nil},
			{"record and workspace", models.AuditQuery{Record: "112", Workspace: "acme"}, []int64{5, 2}},
			{"since is inclusive", models.AuditQuery{Since: base.Add(time.Hour)}, []int64{5, 4, 3, 2}},
			{"until is exclusive", models.AuditQuery{Until: base.Add(2 * time.Hour)}, []int64{2, 1}},
			{"range", models.AuditQuery{Since: base.Add(time.Hour), Until: base.Add(4 * time.Hour)}, []int64{4, 3, 2}},
			{"nothing matches", models.AuditQuery{Actor: "nobody@example.com"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := models.SearchAudit(context.Background(), db.Read, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				if got := seqsOf(got); !slices.Equal(got, tt.want) {
					t.Errorf("seqs = %v, want %v", got, tt.want)
				}
			})
		}
		// The rows come back exactly as stored.
		got, err := models.SearchAudit(context.Background(), db.Read, models.AuditQuery{Workspace: "acme", Limit: 1, BeforeSeq: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || models.ChainHash(got[0].PrevHash, got[0]) != evs[1].Hash {
			t.Errorf("stored event = %+v, want %+v with the same contents (hash)", got, evs[1])
		}
	})
}

func TestAuditSearchKeysetPaging(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		for i := range 23 {
			actor := "a@example.com"
			if i%2 == 1 {
				actor = "b@example.com"
			}
			if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: at, Actor: models.Actor{Email: actor}, Action: models.ActionLogout}); err != nil {
				t.Fatal(err)
			}
		}
		// Walk older from the newest page, then newer back again.
		q := models.AuditQuery{Actor: "a@example.com", Limit: 5} // seqs 1,3,…,23
		var pages [][]int64
		for {
			page, err := models.SearchAudit(ctx, db.Read, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			pages = append(pages, seqsOf(page))
			q.BeforeSeq = page[len(page)-1].Seq
		}
		want := [][]int64{{23, 21, 19, 17, 15}, {13, 11, 9, 7, 5}, {3, 1}}
		if !reflect.DeepEqual(pages, want) {
			t.Fatalf("older pages = %v, want %v", pages, want)
		}
		newer, err := models.SearchAudit(ctx, db.Read, models.AuditQuery{Actor: "a@example.com", Limit: 5, AfterSeq: 3})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := seqsOf(newer), []int64{13, 11, 9, 7, 5}; !slices.Equal(got, want) {
			t.Errorf("newer page = %v, want %v", got, want)
		}

		// The iterator yields all of them, oldest first, across batches.
		var all []int64
		for batch, err := range models.AuditEventBatches(ctx, db.Read, models.AuditQuery{Actor: "a@example.com", BeforeSeq: 23}, 4) {
			if err != nil {
				t.Fatal(err)
			}
			if len(batch) > 4 {
				t.Errorf("batch of %d, want at most 4", len(batch))
			}
			for _, ev := range batch {
				all = append(all, ev.Seq)
			}
		}
		if want := []int64{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21}; !slices.Equal(all, want) {
			t.Errorf("iterator = %v, want %v", all, want)
		}
	})
}

func TestAuditExportFormatsRoundTrip(t *testing.T) {
	db := dbtest.SQLite(t)
	evs := seedSearch(t, db)
	for _, ev := range evs {
		line, err := models.AppendJSONLine(nil, "event", ev)
		if err != nil {
			t.Fatal(err)
		}
		var r models.AuditRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if r.Type != "event" {
			t.Errorf("type = %q, want event", r.Type)
		}
		if got := r.Event(); !reflect.DeepEqual(got, ev) {
			t.Errorf("JSON round trip = %+v, want %+v", got, ev)
		}
		if got := models.ChainHash(ev.PrevHash, r.Event()); got != ev.Hash {
			t.Errorf("hash of parsed event %d = %s, want %s", ev.Seq, got, ev.Hash)
		}
		var b strings.Builder
		w := csv.NewWriter(&b)
		w.Write(models.AuditCSVHeader)
		w.Write(ev.CSVRow())
		w.Flush()
		rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if want := [][]string{models.AuditCSVHeader, ev.CSVRow()}; !reflect.DeepEqual(rows, want) {
			t.Errorf("CSV round trip = %q, want %q", rows, want)
		}
	}
}

func TestParseAuditTime(t *testing.T) {
	tests := []struct {
		in   string
		end  bool
		want time.Time
		ok   bool
	}{
		{"2026-03-01", false, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true},
		{"2026-03-01", true, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), true},
		{"2026-03-01T10:30", true, time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC), true},
		{"2026-03-01T10:30:00+02:00", false, time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC), true},
		{"yesterday", false, time.Time{}, false},
		{"2026-13-01", false, time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := models.ParseAuditTime(tt.in, tt.end)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseAuditTime(%q, %v) = %v, %v; want %v, ok=%v", tt.in, tt.end, got, err, tt.want, tt.ok)
		}
	}
}

// TestAuditActionsListed parses this package and checks that every Action
// constant is one a search may name, so a new action cannot be unsearchable.
func TestAuditActionsListed(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var consts []models.Action
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Action" {
				return true
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					consts = append(consts, models.Action(strings.Trim(lit.Value, `"`)))
				}
			}
			return true
		})
	}
	if len(consts) < 10 {
		t.Fatalf("found %d Action constants, the parse is broken", len(consts))
	}
	slices.Sort(consts)
	if got := models.AuditActions(); !slices.Equal(got, consts) {
		t.Errorf("AuditActions() = %v, want every Action constant %v", got, consts)
	}
}

// TestAuditRecordFilterIsExact checks the Record filter (indexed on
// PostgreSQL by migration 00005) against ids that share digits, another
// workspace, another table and the target.
func TestAuditRecordFilterIsExact(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		sara := models.Actor{Email: "sara@example.com", Tier: "senior"}
		entries := []models.AuditEntry{
			{Workspace: "acme", Table: "members", RecordIDs: []string{"7"}},                // 1
			{Workspace: "acme", Table: "members", RecordIDs: []string{"17", "70", "177"}},  // 2
			{Workspace: "acme", Table: "documents", RecordIDs: []string{"6", "7", "8"}},    // 3
			{Workspace: "globex", Table: "members", RecordIDs: []string{"7"}},              // 4
			{Workspace: "acme", Table: "members", RecordIDs: []string{"70"}},               // 5
			{Workspace: "acme", Action: models.ActionStaffSuspended, Target: "7"},          // 6
			{Workspace: "acme,x", Table: "members", RecordIDs: []string{"7"}},              // 7
			{Workspace: "acme", Table: "members", RecordIDs: []string{"x7", "7x", "0007"}}, // 8
		}
		for i, e := range entries {
			e.At, e.Actor = at.Add(time.Duration(i)*time.Minute), sara
			if e.Action == "" {
				e.Action = models.ActionDataViewed
			}
			if _, err := models.AppendAudit(ctx, db.Write, e); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			q    models.AuditQuery
			want []int64
		}{
			{models.AuditQuery{Workspace: "acme", Record: "7"}, []int64{6, 3, 1}},
			{models.AuditQuery{Workspace: "acme", Record: "7", Table: "members"}, []int64{1}},
			{models.AuditQuery{Workspace: "acme", Record: "70"}, []int64{5, 2}},
			{models.AuditQuery{Workspace: "acme", Record: "17"}, []int64{2}},
			{models.AuditQuery{Workspace: "acme", Record: "177"}, []int64{2}},
			{models.AuditQuery{Workspace: "acme", Record: "0007"}, []int64{8}},
			{models.AuditQuery{Workspace: "acme", Record: "1"}, nil},
			{models.AuditQuery{Workspace: "acme", Record: "17,70"}, nil},
			{models.AuditQuery{Workspace: "globex", Record: "7"}, []int64{4}},
			{models.AuditQuery{Workspace: "acme,x", Record: "7"}, []int64{7}},
			{models.AuditQuery{Workspace: "x", Record: "7"}, nil},
			{models.AuditQuery{Workspace: "initech", Record: "7"}, nil},
		}
		for _, tt := range tests {
			got, err := models.SearchAudit(ctx, db.Read, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqsOf(got); !slices.Equal(got, tt.want) {
				t.Errorf("%+v: seqs = %v, want %v", tt.q, got, tt.want)
			}
		}
	})
}
