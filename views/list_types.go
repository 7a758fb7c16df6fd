package views

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ListNav is what a sorted, filtered, keyset-paged list shows around its
// table: the count, the sort links, the pager and the clear-filters link.
// Its links keep the filters and the sort.
type ListNav struct {
	Path    string     // the list's path, e.g. "/requests"
	Filters url.Values // the filters and search as the links repeat them
	Sort    string     // the sort key in force
	Desc    bool
	// Sorts are the keys the list may be sorted by, each with its
	// default direction (true: descending).
	Sorts   map[string]bool
	Count   int64
	Capped  bool   // more than Count
	AtLeast bool   // at least Count
	About   bool   // Count is an estimate
	Next    string // the after= of the next page; "" when none
	Prev    string // the before= of the previous page; "" when none
	Paged   bool   // not the first page
}

// Filtered reports whether any filter or search is in force.
func (n ListNav) Filtered() bool {
	for _, v := range n.Filters {
		if len(v) > 0 && v[0] != "" {
			return true
		}
	}
	return false
}

// href is the list's link with the filters, the sort and one extra
// parameter (key=value, when key is set).
func (n ListNav) href(sort string, desc bool, key, value string) string {
	q := url.Values{}
	for k, v := range n.Filters {
		if len(v) > 0 && v[0] != "" {
			q.Set(k, v[0])
		}
	}
	q.Set("sort", sort)
	q.Set("dir", dirWord(desc))
	if key != "" {
		q.Set(key, value)
	}
	return n.Path + "?" + q.Encode()
}

func dirWord(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}

// SortHref sorts by key: the other way round when it is the sort in
// force, else in its default direction.
func (n ListNav) SortHref(key string) string {
	if key == n.Sort {
		return n.href(key, !n.Desc, "", "")
	}
	return n.href(key, n.Sorts[key], "", "")
}

// ariaSort is the aria-sort of key's column header.
func (n ListNav) ariaSort(key string) string {
	switch {
	case key != n.Sort:
		return "none"
	case n.Desc:
		return "descending"
	}
	return "ascending"
}

func (n ListNav) firstHref() string { return n.href(n.Sort, n.Desc, "", "") }

func (n ListNav) nextHref() string { return n.href(n.Sort, n.Desc, "after", n.Next) }

func (n ListNav) prevHref() string { return n.href(n.Sort, n.Desc, "before", n.Prev) }

// CountText is how many rows the list holds, with the noun's plural
// when needed: "1 request", "57 requests", "more than 5,000 requests",
// "about 1.0 million workspaces".
func (n ListNav) CountText(one, many string) string {
	noun := many
	if n.Count == 1 && !n.Capped {
		noun = one
	}
	switch {
	case n.Capped:
		return "more than " + thousands(n.Count) + " " + noun
	case n.AtLeast:
		return "at least " + thousands(n.Count) + " " + noun
	case n.About:
		return about(n.Count) + " " + many
	}
	return thousands(n.Count) + " " + noun
}

// thousands writes n with a comma between each group of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// about writes an estimate n to two significant digits: "about 1.0
// million", "about 98,000".
func about(n int64) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("about %.1f million", float64(n)/1e6)
	}
	p := int64(1)
	for n/p >= 100 {
		p *= 10
	}
	return "about " + thousands((n+p/2)/p*p)
}
