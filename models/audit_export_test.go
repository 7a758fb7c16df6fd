package models_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// exportReasons are values an export must carry unchanged: a reason
// typed in a browser (CRLF), markup, a formula, characters JSON escapes.
var exportReasons = []string{
	"ticket 1", "line one\r\nline two", "<b>bold</b> & co", "=1+1", "'quoted", "tab\there",
	"é ü \u2028 \u2029 ✓", `back\slash "quote"`, "-2", "",
}

// seedExport appends n events on workspaces acme and globex in turn.
func seedExport(t *testing.T, db *models.DB, n int, reasons ...string) []models.AuditEvent {
	t.Helper()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	if len(reasons) == 0 {
		reasons = exportReasons
	}
	var evs []models.AuditEvent
	for i := range n {
		e := models.AuditEntry{
			At: at.Add(time.Duration(i) * time.Minute), Actor: models.Actor{Email: "sara@example.com", Tier: "senior", IP: "192.0.2.1", UserAgent: "UA <" + strconv.Itoa(i) + ">"},
			Action: models.ActionDataViewed, Workspace: []string{"acme", "globex"}[i%2], Table: "members",
			RecordIDs: []string{strconv.Itoa(i), "7"}, Reason: reasons[i%len(reasons)],
			Detail: map[string]string{"n": strconv.Itoa(i), "html": "<&>"},
		}
		if i%3 == 0 {
			g := int64(i + 100)
			e.GrantID = &g
		}
		ev, err := models.AppendAudit(context.Background(), db.Write, e)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func exportTo(t *testing.T, db *models.DB, format string, q models.AuditQuery, opt models.ExportOptions) (string, models.ExportTrailer) {
	t.Helper()
	var b bytes.Buffer
	tr, err := models.ExportAudit(context.Background(), db.Read, &b, format, q, opt)
	if err != nil {
		t.Fatalf("export %s: %v", format, err)
	}
	return b.String(), tr
}

// TestExportAuditTrailer: an export in batches ends with a trailer that
// counts its events and names the last one; CheckExport accepts it; the
// JSON Lines events are exactly the stored ones.
func TestExportAuditTrailer(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		evs := seedExport(t, db, 23)
		for _, format := range []string{"jsonl", "csv"} {
			for _, tc := range []struct {
				name string
				q    models.AuditQuery
				want []models.AuditEvent
			}{
				{"all", models.AuditQuery{BeforeSeq: 24}, evs},
				{"acme", models.AuditQuery{Workspace: "acme", BeforeSeq: 24}, everyOther(evs)},
				{"bounded", models.AuditQuery{BeforeSeq: 11}, evs[:10]},
			} {
				body, tr := exportTo(t, db, format, tc.q, models.ExportOptions{Batch: 4})
				last := tc.want[len(tc.want)-1]
				want := models.ExportTrailer{Type: "export_trailer", Count: int64(len(tc.want)), LastSeq: last.Seq, LastHash: last.Hash,
					Before: tc.q.BeforeSeq, Filtered: tc.q.Workspace != ""}
				if tr != want {
					t.Errorf("%s %s: trailer %+v, want %+v", format, tc.name, tr, want)
				}
				res, err := models.CheckExport(strings.NewReader(body))
				if err != nil {
					t.Fatalf("%s %s: CheckExport: %v\n%s", format, tc.name, err, body)
				}
				if res.Trailer != want || res.Format != format || res.FirstSeq != tc.want[0].Seq {
					t.Errorf("%s %s: CheckExport = %+v, want trailer %+v from seq %d", format, tc.name, res, want, tc.want[0].Seq)
				}
				lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
				if format == "csv" {
					if !strings.HasPrefix(lines[len(lines)-1], "#export_trailer,count="+strconv.Itoa(len(tc.want))+",last_seq="+strconv.FormatInt(last.Seq, 10)+",last_hash="+last.Hash) {
						t.Errorf("%s: last line %q, want the trailer", tc.name, lines[len(lines)-1])
					}
					continue
				}
				var gotTr models.ExportTrailer
				if err := json.Unmarshal([]byte(lines[len(lines)-1]), &gotTr); err != nil || gotTr != want {
					t.Errorf("%s: last line %s (%v), want the trailer %+v", tc.name, lines[len(lines)-1], err, want)
				}
				for i, line := range lines[:len(lines)-1] {
					var r models.AuditRecord
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatal(err)
					}
					if got := r.Event(); got.Hash != tc.want[i].Hash || models.ChainHash(got.PrevHash, got) != got.Hash || got.Reason != tc.want[i].Reason {
						t.Errorf("%s line %d = %+v, want event %d as stored", tc.name, i, got, tc.want[i].Seq)
					}
				}
			}
		}
		// An export with nothing to hold still ends with its trailer.
		body, tr := exportTo(t, db, "jsonl", models.AuditQuery{Workspace: "nobody", BeforeSeq: 24}, models.ExportOptions{})
		if tr.Count != 0 || !strings.HasPrefix(body, `{"type":"export_trailer","count":0,"last_seq":0,"last_hash":"",`) {
			t.Errorf("empty export = %q", body)
		}
	})
}

func everyOther(evs []models.AuditEvent) []models.AuditEvent {
	var out []models.AuditEvent
	for i := 0; i < len(evs); i += 2 {
		out = append(out, evs[i])
	}
	return out
}

// TestExportAuditResume: an export after seq S starts at S+1; a cut
// export resumed after its last event gives, with the part already
// written, every event once.
func TestExportAuditResume(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		evs := seedExport(t, db, 15)
		for _, format := range []string{"jsonl", "csv"} {
			body, tr := exportTo(t, db, format, models.AuditQuery{AfterSeq: 9, BeforeSeq: 16}, models.ExportOptions{Batch: 2})
			if tr.Count != 6 || tr.After != 9 || tr.LastSeq != 15 || tr.LastHash != evs[14].Hash {
				t.Errorf("%s after 9: trailer %+v, want seqs 10..15", format, tr)
			}
			res, err := models.CheckExport(strings.NewReader(body))
			if err != nil || res.FirstSeq != 10 {
				t.Errorf("%s after 9: CheckExport = %+v, %v; want OK from seq 10", format, res, err)
			}
			// A resumed export claiming to start later than it does fails.
			forged := strings.Replace(body, `"after":9`, `"after":8`, 1)
			if format == "csv" {
				forged = strings.Replace(body, ",after=9,", ",after=8,", 1)
			}
			if _, err := models.CheckExport(strings.NewReader(forged)); err == nil || !strings.Contains(err.Error(), "resumes after seq 8") {
				t.Errorf("%s: a resumed export lacking seq 9 checks: %v", format, err)
			}
		}
		// Past the end: nothing, and a trailer.
		_, tr := exportTo(t, db, "jsonl", models.AuditQuery{AfterSeq: 15, BeforeSeq: 16}, models.ExportOptions{})
		if tr.Count != 0 || tr.After != 15 {
			t.Errorf("after the last event: %+v, want an empty export", tr)
		}
	})
}

// TestExportAuditDatabaseFails: when the database fails, or the context
// ends, part way, the export returns the error and writes no trailer, so
// the file checks as cut.
func TestExportAuditDatabaseFails(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		seedExport(t, db, 30)
		for _, format := range []string{"jsonl", "csv"} {
			t.Run(format+"/database", func(t *testing.T) {
				other := dbtest.Reopen(t, db)
				batches := 0
				var b bytes.Buffer
				tr, err := models.ExportAudit(context.Background(), other.Read, &b, format, models.AuditQuery{BeforeSeq: 31}, models.ExportOptions{Batch: 3, AfterBatch: func() error {
					if batches++; batches == 1 {
						other.Close()
					}
					return nil
				}})
				if err == nil {
					t.Fatalf("export with its database closed: no error, trailer %+v", tr)
				}
				if tr.Count < 3 || tr.Count >= 30 || bytes.Contains(b.Bytes(), []byte("export_trailer")) {
					t.Errorf("failed export: %+v and a trailer in the file: %v", tr, bytes.Contains(b.Bytes(), []byte("export_trailer")))
				}
				if _, err := models.CheckExport(&b); !errors.Is(err, models.ErrExportCut) {
					t.Errorf("CheckExport of a failed export = %v, want ErrExportCut", err)
				}
			})
			t.Run(format+"/context", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var b bytes.Buffer
				tr, err := models.ExportAudit(ctx, db.Read, &b, format, models.AuditQuery{BeforeSeq: 31}, models.ExportOptions{Batch: 3, AfterBatch: func() error {
					cancel()
					return nil
				}})
				if err == nil || !errors.Is(err, context.Canceled) || bytes.Contains(b.Bytes(), []byte("export_trailer")) {
					t.Errorf("export with its context ended = %+v, %v; want context.Canceled and no trailer", tr, err)
				}
			})
		}
	})
}

// TestCheckExportDetects: every way a file can be short or altered is
// named, in both formats.
func TestCheckExportDetects(t *testing.T) {
	db := dbtest.SQLite(t)
	// One line per row, so that the cases can cut and splice lines.
	evs := seedExport(t, db, 12, "ticket 1", "=1+1", "<b>&", "ticket 4")
	for _, format := range []string{"jsonl", "csv"} {
		body, _ := exportTo(t, db, format, models.AuditQuery{BeforeSeq: 13}, models.ExportOptions{Batch: 5})
		filtered, _ := exportTo(t, db, format, models.AuditQuery{Workspace: "acme", BeforeSeq: 13}, models.ExportOptions{Batch: 5})
		lines := strings.SplitAfter(body, "\n")
		lines = lines[:len(lines)-1] // the empty string after the last newline
		n := len(lines)
		trailer := lines[n-1]
		join := func(ls ...[]string) string {
			var s strings.Builder
			for _, l := range ls {
				s.WriteString(strings.Join(l, ""))
			}
			return s.String()
		}
		cases := []struct {
			name, file, want string
		}{
			{"truncated mid-line", body[:len(body)-len(trailer)-20], "cut"},
			{"missing trailer", join(lines[:n-1]), "cut"},
			{"empty", "", "cut"},
			{"edited row", strings.Replace(body, "ticket 1", "ticket 2", 1), "hash does not match"},
			{"row removed", join(lines[:4], lines[5:]), "the trailer counts 12 events, the file holds 11"},
			{"row removed, count fixed", join(lines[:4], lines[5:n-1], []string{strings.Replace(strings.Replace(trailer, "count=12", "count=11", 1), `"count":12`, `"count":11`, 1)}), "events missing"},
			{"wrong count", join(lines[:n-1], []string{strings.Replace(strings.Replace(trailer, "count=12", "count=13", 1), `"count":12`, `"count":13`, 1)}), "the trailer counts 13"},
			{"wrong last hash", join(lines[:n-1], []string{strings.Replace(trailer, evs[11].Hash, evs[10].Hash, 1)}), "the trailer names seq 12"},
			{"tail cut with trailer forged", join(lines[:n-2], []string{strings.NewReplacer("count=12", "count=11", `"count":12`, `"count":11`, evs[11].Hash, evs[10].Hash, "last_seq=12", "last_seq=11", `"last_seq":12`, `"last_seq":11`).Replace(trailer)}), "not at seq 12 just before its own record"},
			{"row after the trailer", join(lines, lines[n-2:n-1]), "after the trailer"},
			{"rows swapped", join(lines[:3], lines[4:5], lines[3:4], lines[5:]), "out of order"},
		}
		if format == "jsonl" {
			cases = append(cases, struct{ name, file, want string }{"not JSON", join(lines[:2], []string{"{oops\n"}, lines[2:]), "line 3"})
		} else {
			cases = append(cases, struct{ name, file, want string }{"short row", join(lines[:2], []string{"1,2,3\n"}, lines[2:]), "wrong number of fields"})
		}
		for _, tc := range cases {
			_, err := models.CheckExport(strings.NewReader(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s, %s: CheckExport = %v, want an error with %q", format, tc.name, err, tc.want)
			}
		}
		// A filtered export holds gaps by design; each row's hash is still checked.
		if _, err := models.CheckExport(strings.NewReader(filtered)); err != nil {
			t.Errorf("%s filtered: %v", format, err)
		}
		if _, err := models.CheckExport(strings.NewReader(strings.Replace(filtered, "192.0.2.1", "192.0.2.9", 1))); err == nil || !strings.Contains(err.Error(), "hash does not match") {
			t.Errorf("%s filtered, edited: %v", format, err)
		}
	}
}

// TestExportJSONMatchesMarshal: the export's hand-written JSON is
// encoding/json's, byte for byte, for awkward text.
func TestExportJSONMatchesMarshal(t *testing.T) {
	texts := append([]string{"\x00\x01\x1f\x7f", "\xff\xfeinvalid", "a\u2028b\u2029c", "<script>&amp;</script>", "\b\f\n\r\t\"\\", "😀 emoji", "日本語"}, exportReasons...)
	g := int64(-5)
	for _, s := range texts {
		ev := models.AuditEvent{Seq: 42, At: time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC), Actor: s, ActorTier: s, Action: models.Action(s),
			Workspace: s, Table: s, RecordIDs: s, GrantID: &g, Target: s, Reason: s, Detail: s, IP: s, UserAgent: s, RequestID: s, PrevHash: s, Hash: s}
		want, err := models.AppendJSONLine(nil, "", ev)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		x, _ := models.NewExportWriter(&b, "jsonl", models.AuditQuery{})
		if err := x.Write([]models.AuditEvent{ev}); err != nil {
			t.Fatal(err)
		}
		x.Flush()
		if got := b.String(); got != string(want) {
			t.Errorf("export of %q:\n got %s\nwant %s", s, got, want)
		}
	}
}
