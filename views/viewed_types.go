package views

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
)

// ViewedSummary is everything viewed under a grant, as the customer's
// consent page and the owners' summary mail show it. The totals always
// count every view and reveal; the lists may show only some of them and
// say how many more there are.
type ViewedSummary struct {
	Tables         []ViewedTable
	Views, Reveals int64 // every view and every reveal
	Records        int   // distinct records, over all tables

	RevealRows  []RevealRow // one page of the reveals (in the mail: the first ones)
	RevealsFrom int         // the position of RevealRows[0], from 1
	RevealsPage int         // the page RevealRows is, from 1; 0 in mails

	Detail *ViewedDetail // on the page: one page of one table's records
}

// ViewedTable is what was viewed of one table.
type ViewedTable struct {
	Table       string
	Who         string // who viewed it
	Records     string // comma-separated ids: the first ones only
	RecordCount int    // every distinct record viewed
	Views       int64
	Listings    int64 // views of a table page that showed no record
	Reveals     int64
	First, Last time.Time
}

// ViewedDetail is one page of the records viewed in one table.
type ViewedDetail struct {
	Table   string
	Records string // comma-separated ids of this page
	From    int    // the position of its first id, from 1
	To, Of  int    // of its last id; all ids
	Page    int    // from 1
	HasNext bool
}

// RevealRow is one revealed field.
type RevealRow struct {
	At                   time.Time
	Who                  string
	Table, Record, Field string
	Reason               string
}

// MoreRecords is how many of t's records Records leaves out.
func (t ViewedTable) MoreRecords() int {
	if t.Records == "" {
		return t.RecordCount
	}
	return t.RecordCount - strings.Count(t.Records, ",") - 1
}

// MoreReveals is how many reveals come after RevealRows.
func (v ViewedSummary) MoreReveals() int64 {
	return v.Reveals - int64(v.RevealsFrom-1+len(v.RevealRows))
}

// viewedTotals says the totals in a sentence.
func viewedTotals(v ViewedSummary) string {
	return fmt.Sprintf("%s of %s in %s; %s revealed.",
		plural(v.Views, "view", "views"), plural(int64(v.Records), "record", "records"),
		plural(int64(len(v.Tables)), "table", "tables"), plural(v.Reveals, "field", "fields"))
}

// viewsText says how often a table was viewed.
func viewsText(t ViewedTable) string {
	s := plural(t.Views, "view", "views")
	if t.Listings > 0 {
		s += fmt.Sprintf(" (%d of a page that showed no record)", t.Listings)
	}
	if t.Reveals > 0 {
		s += ", " + plural(t.Reveals, "field revealed", "fields revealed")
	}
	return s
}

// moreRecordsText is " and 12 more" for the records a list leaves out.
func moreRecordsText(t ViewedTable) string {
	if n := t.MoreRecords(); n > 0 {
		return fmt.Sprintf(" and %d more", n)
	}
	return ""
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// viewedRecordsHref is the link page at path with page n of table's records.
func viewedRecordsHref(path, table string, n int) templ.SafeURL {
	q := url.Values{"table": {table}, "page": {fmt.Sprint(n)}}
	return templ.SafeURL(path + "?" + q.Encode() + "#viewed-records")
}

// viewedRevealsHref is the link page at path with page n of the reveals.
func viewedRevealsHref(path string, n int) templ.SafeURL {
	return templ.SafeURL(fmt.Sprintf("%s?reveals=%d#viewed-reveals", path, n))
}
