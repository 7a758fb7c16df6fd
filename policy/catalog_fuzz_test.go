package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseCatalog feeds the catalog parser any text. Refused text names
// the line (or the table) at fault; accepted text holds only valid names
// and classes, every table shown has its id, nothing restricted is
// visible, and the catalog written back out parses to the same catalog.
func FuzzParseCatalog(f *testing.F) {
	f.Add(catalogCSV)
	f.Add("members, id, meta\nmembers, email, personal\n")
	f.Add("billing, *, restricted\n")
	f.Add("t, id, meta\nt, secret, restricted\nt, body, content\n")
	f.Add("# only a comment\n\n   \n")
	f.Add("t, id, meta\r\nt, name, personal\r\n")
	f.Add("t, *, restricted\nt, id, meta\n")
	f.Add("t, id, meta\nt, *, restricted\n")
	f.Add("t, id, meta\nt, id, personal\n")
	f.Add("t, id, personal\n")
	f.Add("T, id, meta\n")
	f.Add("t, id, meta, extra\n")
	f.Add("t,id,META\n")
	f.Add("t, *, meta\n")
	f.Add("t\u00a0, id, meta\n")
	f.Add("a23456789012345678901234567890123456789012345678901234567890123, id, meta\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCatalog(text)
		if err != nil {
			if c != nil {
				t.Fatalf("error %v with a catalog", err)
			}
			checkCatalogErrors(t, text, err)
			return
		}
		lines := 0
		for l := range strings.Lines(text) {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines++
			}
		}
		entries := 0
		seen := map[string]bool{}
		for _, tb := range c.Tables() {
			if !catalogName.MatchString(tb.Name) || seen[tb.Name] {
				t.Fatalf("table %q: bad or repeated name", tb.Name)
			}
			seen[tb.Name] = true
			got, ok := c.Table(tb.Name)
			if !ok || got.Name != tb.Name || got.Restricted != tb.Restricted || !slices.Equal(got.Columns, tb.Columns) {
				t.Fatalf("Table(%q) = %+v, %v; want %+v", tb.Name, got, ok, tb)
			}
			if tb.Restricted {
				if len(tb.Columns) > 0 || tb.Visible() != nil {
					t.Fatalf("restricted table %s lists or shows columns: %+v", tb.Name, tb)
				}
				entries++
				continue
			}
			if !slices.Contains(tb.Columns, Column{Name: "id", Class: Meta}) {
				t.Fatalf("table %s is shown without an id column of class meta", tb.Name)
			}
			cols := map[string]bool{}
			for _, col := range tb.Columns {
				if !catalogName.MatchString(col.Name) || cols[col.Name] {
					t.Fatalf("%s.%q: bad or repeated column", tb.Name, col.Name)
				}
				cols[col.Name] = true
				if !slices.Contains([]Class{Meta, Content, Personal, Restricted}, col.Class) {
					t.Fatalf("%s.%s has class %q", tb.Name, col.Name, col.Class)
				}
			}
			entries += len(tb.Columns)
			visible := tb.Visible()
			for _, col := range tb.Columns {
				if slices.Contains(visible, col) == (col.Class == Restricted) {
					t.Fatalf("%s.%s of class %s: visible = %v", tb.Name, col.Name, col.Class, !slices.Contains(visible, col))
				}
			}
		}
		if entries != lines {
			t.Fatalf("%d catalog lines became %d entries", lines, entries)
		}
		again, err := ParseCatalog(writeCatalog(c))
		if err != nil {
			t.Fatalf("the catalog written back is refused: %v\n%s", err, writeCatalog(c))
		}
		if fmt.Sprint(again.Tables()) != fmt.Sprint(c.Tables()) {
			t.Fatalf("written back and read again:\n%v\nwant\n%v", again.Tables(), c.Tables())
		}
	})
}

// catalogName is what a table or column name must be, written apart from
// the parser's own expression on purpose.
var catalogName = regexp.MustCompile(`\A[a-z_][a-z0-9_]*\z`)

// checkCatalogErrors holds every message of a refusal to naming a line
// of text, or a table that lacks its id, in one line of plain words.
func checkCatalogErrors(t *testing.T, text string, err error) {
	t.Helper()
	nlines := strings.Count(text, "\n") + 1
	for _, msg := range strings.Split(err.Error(), "\n") {
		if rest, ok := strings.CutPrefix(msg, "catalog line "); ok {
			num, _, _ := strings.Cut(rest, ":")
			if n, err := strconv.Atoi(num); err != nil || n < 1 || n > nlines {
				t.Fatalf("message %q names no line of the %d", msg, nlines)
			}
		} else if !strings.HasPrefix(msg, "catalog: table ") || !strings.HasSuffix(msg, " needs an id column of class meta") {
			t.Fatalf("message %q says neither the line nor the table", msg)
		}
	}
}

// writeCatalog writes c as catalog text.
func writeCatalog(c *Catalog) string {
	var b strings.Builder
	for _, tb := range c.Tables() {
		if tb.Restricted {
			fmt.Fprintf(&b, "%s, *, restricted\n", tb.Name)
			continue
		}
		for _, col := range tb.Columns {
			fmt.Fprintf(&b, "%s, %s, %s\n", tb.Name, col.Name, col.Class)
		}
	}
	return b.String()
}
