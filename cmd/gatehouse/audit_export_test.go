package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gatehouse/models"
)

// TestRunAuditExportCheckAndResume: an export checks whole with
// `audit check-export`; the same file cut short does not, and names the
// cut; `--after SEQ` resumes after the last event the cut file holds, and
// the resumed file checks too.
func TestRunAuditExportCheckAndResume(t *testing.T) {
	auditDBs(t, func(t *testing.T, db *models.DB, url string) {
		env := []string{"GATEHOUSE_DATABASE_URL=" + url}
		evs := appendEvents(t, db, 9, acme)
		dir := t.TempDir()
		for _, format := range []string{"jsonl", "csv"} {
			out, err := runAudit(env, "export", "--format", format)
			if err != nil {
				t.Fatalf("export %s: %v", format, err)
			}
			whole := filepath.Join(dir, "whole."+format)
			if err := os.WriteFile(whole, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			msg, err := runAudit(env, "check-export", whole)
			if err != nil || !strings.Contains(msg, "export OK ("+format+", unfiltered") {
				t.Fatalf("check-export of a whole %s export = %q, %v", format, msg, err)
			}

			// Cut after the fifth event's line: no trailer.
			lines := strings.SplitAfter(out, "\n")
			head := 5
			if format == "csv" {
				head = 6 // and the header
			}
			cut := filepath.Join(dir, "cut."+format)
			if err := os.WriteFile(cut, []byte(strings.Join(lines[:head], "")), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := runAudit(env, "check-export", cut); err == nil || !strings.Contains(err.Error(), "NOT a whole") || !strings.Contains(err.Error(), "cut") {
				t.Errorf("check-export of a cut %s export = %v, want it named cut", format, err)
			}

			// Resume after the cut file's last event (seq 5).
			out, err = runAudit(env, "export", "--format", format, "--after", strconv.FormatInt(evs[4].Seq, 10))
			if err != nil {
				t.Fatalf("export --after: %v", err)
			}
			rest := filepath.Join(dir, "rest."+format)
			if err := os.WriteFile(rest, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			if msg, err := runAudit(env, "check-export", rest); err != nil || !strings.Contains(msg, "from seq 6 to") || !strings.Contains(msg, "seq > 5 and") {
				t.Errorf("check-export of the resumed %s export = %q, %v; want OK from seq 6", format, msg, err)
			}
			f, err := os.Open(rest)
			if err != nil {
				t.Fatal(err)
			}
			res, err := models.CheckExport(f)
			f.Close()
			if err != nil || res.FirstSeq != 6 || res.Trailer.After != 5 {
				t.Errorf("resumed %s export: %+v, %v", format, res, err)
			}
		}
		for _, args := range [][]string{
			{"check-export"}, {"check-export", "a", "b"}, {"check-export", filepath.Join(dir, "none")},
			{"export", "--format", "csv", "--after", "-2"}, {"export", "--format", "csv", "--after", "x"},
		} {
			if _, err := runAudit(env, args...); err == nil {
				t.Errorf("audit %q: no error", args)
			}
		}
		if _, err := runAudit(env, "verify"); err != nil {
			t.Errorf("chain after exports: %v", err)
		}
	})
}
