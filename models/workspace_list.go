package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// WorkspacePlans and WorkspaceStatuses are the registry's plans and
// statuses, as /workspaces filters by them.
var (
	WorkspacePlans    = []string{"free", "team", "business", "enterprise"}
	WorkspaceStatuses = []string{WorkspaceActive, WorkspaceFree, WorkspaceCancelled, WorkspaceDeleted}
)

// WorkspaceSorts are the orders /workspaces offers; the first is the
// default. The registry is the product's: it should index each column
// with slug (the demo registry does).
var WorkspaceSorts = []SortKey{
	{Name: "name", Column: "name"},
	{Name: "slug", Column: "slug"},
	{Name: "created", Column: "created_at", Kind: SortTime, Desc: true},
	{Name: "members", Column: "member_count", Kind: SortInt, Desc: true},
}

// WorkspaceFilter selects workspaces; zero fields match everything.
type WorkspaceFilter struct {
	Query     string // part of the name, slug or an owner's email, any case
	Plan      string
	Status    string
	Retention RetentionState
}

// where applies the registry's filters to q.
func (f WorkspaceFilter) where(product, q *gorm.DB) *gorm.DB {
	if query := strings.TrimSpace(f.Query); query != "" {
		if err := f.Check(); err != nil {
			q.AddError(err)
			return q
		}
		q = q.Where("slug IN (?)", workspaceSearch(product, query))
	}
	if f.Plan != "" {
		q = q.Where("plan = ?", f.Plan)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	return q
}

// SearchMinLen is the shortest workspace search: the indexes that serve
// it find substrings of three characters or more (trigrams), and a
// shorter one would read the whole registry.
const SearchMinLen = 3

// ErrSearchTooShort is a workspace search shorter than SearchMinLen.
var ErrSearchTooShort = errors.New("search for at least 3 characters")

// Check refuses a search the indexes cannot serve (ErrSearchTooShort).
func (f WorkspaceFilter) Check() error {
	if n := utf8.RuneCountInString(strings.TrimSpace(f.Query)); n > 0 && n < SearchMinLen {
		return ErrSearchTooShort
	}
	return nil
}

// workspaceSearch is the slugs of the workspaces whose name, slug or an
// owner's email contains query, any case, each read from an index: a
// UNION of one condition per column, so that each uses its own index (an
// OR of the three would read the registry). PostgreSQL: ILIKE, served by
// pg_trgm's GIN indexes workspaces_name_trgm, workspaces_slug_trgm and
// workspace_owners_email_trgm. SQLite: a phrase of FTS5 trigram tables
// workspaces_fts and workspace_owners_fts (a phrase of 3 or more
// characters matches exactly the rows holding it as a substring). The
// product creates these (README: Workspace search); models/demo does for
// development and tests.
func workspaceSearch(product *gorm.DB, query string) *gorm.DB {
	if product.Dialector.Name() == "postgres" {
		like := "%" + escapeLike(query) + "%"
		return product.Raw(`SELECT slug FROM workspaces WHERE name ILIKE ? ESCAPE '\'
UNION SELECT slug FROM workspaces WHERE slug ILIKE ? ESCAPE '\'
UNION SELECT slug FROM workspace_owners WHERE email ILIKE ? ESCAPE '\'`, like, like, like)
	}
	phrase := `"` + strings.ReplaceAll(query, `"`, `""`) + `"`
	return product.Raw(`SELECT slug FROM workspaces WHERE rowid IN (SELECT rowid FROM workspaces_fts WHERE workspaces_fts MATCH ?)
UNION SELECT slug FROM workspace_owners WHERE rowid IN (SELECT rowid FROM workspace_owners_fts WHERE workspace_owners_fts MATCH ?)`, phrase, phrase)
}

// WorkspaceList reads /workspaces: the registry, and for the retention
// filter what retention recorded.
type WorkspaceList struct {
	DB      *gorm.DB // the portal's database
	Product *gorm.DB // the registry
	Now     time.Time
	Policy  RetentionPolicy
	// Scope is the reader's (ScopeOf): workspaces it does not admit are
	// not listed, nor counted.
	Scope policy.Scope
	// Sample, when set, tells a search on PostgreSQL which of its words
	// to ask each index for (SearchSample); it changes no result.
	Sample *SearchSample
}

// Page returns one page of the workspaces f matches, sorted and paged by
// k, and how many match (capped). A retention state is computed, not
// stored: RetentionClasses turns it into one exact condition over the
// registry.
func (l WorkspaceList) Page(ctx context.Context, f WorkspaceFilter, k Keyset) (Page[Workspace], Count, error) {
	if err := f.Check(); err != nil {
		return Page[Workspace]{}, Count{}, err
	}
	search := strings.TrimSpace(f.Query)
	byArms := search != ""
	plain := f == WorkspaceFilter{Query: f.Query} && l.Scope.Unrestricted()
	if byArms {
		f.Query = "" // searchPage adds it, arm by arm
	}
	q := scopeWhere(f.where(l.Product, l.Product.WithContext(ctx).Model(&Workspace{})), l.Scope)
	cursor := func(w Workspace) Cursor { return Cursor{Value: w.sortValue(k.Sort.Name), ID: w.Slug} }
	if f.Retention != "" {
		classes := &RetentionClasses{DB: l.DB, Product: l.Product, Now: l.Now, Policy: l.Policy}
		var err error
		if q, err = classes.where(ctx, q, f.Retention); err != nil {
			return Page[Workspace]{}, Count{}, err
		}
	}
	q = q.Session(&gorm.Session{})
	if byArms {
		return l.searchPage(ctx, q, search, plain, k, cursor)
	}
	var n Count
	var err error
	if f == (WorkspaceFilter{}) && l.Scope.Unrestricted() {
		// The whole registry: on a large PostgreSQL one, its estimated
		// size, as the dashboard says it.
		n.N, n.About, err = estimateRegistry(ctx, l.Product)
	}
	if err == nil && !n.About {
		n, err = countCapped(ctx, l.Product, q)
	}
	if err != nil {
		return Page[Workspace]{}, Count{}, fmt.Errorf("count workspaces: %w", err)
	}
	page, err := findKeyset(ctx, q, k, "slug", false, cursor)
	if err != nil {
		return page, n, fmt.Errorf("list workspaces: %w", err)
	}
	return page, n, nil
}

// SearchCountCap is where a search's count stops being exact ("more
// than 1,000"): a common word matches a few percent of a million
// workspaces, and each match counted is a row read.
const SearchCountCap = 1000

// searchPage is Page for a search (q holds the other filters; plain
// when there are none, nor a scope). It reads two arms, each paged by k
// before the two are merged: the workspaces whose name or slug contains
// the text, and those with an owner whose email does (searchArms). For
// each arm either the few matches are read from the search indexes and
// sorted, or, when the text is common, the sort's own index is walked,
// testing each row, until it has a page: a page's worth of rows divided
// by how common the text is in that order's first rows (more where the
// matches come late in the order; README, Size, has a million-row
// case). Reading every match and sorting them cost 61 ms at 100,000
// workspaces for "harbor" on PostgreSQL, and grows with the registry.
//
// The two arms are independent reads: they run at once, each on its own
// connection, so that a search costs the longer of them, not their sum.
// On a first page the name-or-slug arm reads on to SearchCountCap
// matches and one more, in the page's order: the same walk then gives
// the page and the count (past the cap, "more than"; within it, with the
// owner arm's page when that holds every owner match, the exact count),
// where a separate count read the same rows again. Any other page, or a
// first page whose owner arm has more than a page, counts apart
// (searchCount): on other pages beside the arms, from the start. On
// SQLite a plain search whose name-or-slug arm its index already counted
// past the cap is "more than" the cap at once.
func (l WorkspaceList) searchPage(ctx context.Context, q *gorm.DB, search string, plain bool, k Keyset, cursor func(Workspace) Cursor) (Page[Workspace], Count, error) {
	if k.Limit <= 0 {
		k.Limit = 50
	}
	arms, past, err := l.searchArms(ctx, q, search)
	if err != nil {
		return Page[Workspace]{}, Count{}, fmt.Errorf("list workspaces: %w", err)
	}
	known := plain && past
	first := k.After == nil && k.Before == nil
	// Each arm's page is its slugs alone, so that in name order (the
	// list's first) the walk reads the name index only (workspaces_name:
	// name, slug), not a table row for each row it tests; the page's
	// rows are read by slug afterwards.
	var paged [2]*gorm.DB
	for i, arm := range arms {
		ak := k
		if first && i == 0 && !known {
			ak.Limit = SearchCountCap
		}
		var err error
		if paged[i], err = keysetQuery(arm.Session(&gorm.Session{}).Select("slug"), ak, "slug", false); err != nil {
			return Page[Workspace]{}, Count{}, err
		}
	}
	type countRead struct {
		n   Count
		err error
	}
	var counted chan countRead
	startCount := func() {
		counted = make(chan countRead, 1)
		go func() {
			n, err := l.searchCount(ctx, arms)
			counted <- countRead{n, err}
		}()
	}
	if !first && !known {
		startCount()
	}
	var slugs [2][]string
	var errs [2]error
	var wg sync.WaitGroup
	for i := range paged {
		wg.Go(func() { errs[i] = paged[i].WithContext(ctx).Pluck("slug", &slugs[i]).Error })
	}
	wg.Wait()
	var count Count
	if err := cmp.Or(errs[0], errs[1]); err != nil {
		if counted != nil {
			<-counted // nothing outlives the request's reads
		}
		return Page[Workspace]{}, Count{}, fmt.Errorf("list workspaces: %w", err)
	}
	union := func(a, b []string) []string { return slices.Compact(slices.Sorted(slices.Values(slices.Concat(a, b)))) }
	switch {
	case known:
		count = searchCountOf(SearchCountCap + 1)
	case first:
		switch {
		case len(slugs[0]) > SearchCountCap:
			count = searchCountOf(int64(len(slugs[0])))
		case len(slugs[1]) <= k.Limit:
			// Both arms read to their end: their union is every match.
			count = searchCountOf(int64(len(union(slugs[0], slugs[1]))))
		default:
			startCount()
		}
		slugs[0] = slugs[0][:min(len(slugs[0]), k.Limit+1)]
	}
	var page Page[Workspace]
	if matched := union(slugs[0], slugs[1]); len(matched) > 0 {
		set, arg := jsonSlugs(l.Product, matched)
		both := l.Product.WithContext(ctx).Model(&Workspace{}).Where("slug IN "+set, arg)
		if page, err = findKeyset(ctx, both, k, "slug", false, cursor); err != nil {
			err = fmt.Errorf("list workspaces: %w", err)
		}
	}
	if counted != nil {
		c := <-counted
		count, err = c.n, cmp.Or(err, c.err)
	}
	if err != nil {
		return page, Count{}, err
	}
	return page, count, nil
}

// searchArms returns a search's two arms as conditions on q: the
// workspaces whose name or slug contains search, and those with an owner
// whose email does; and whether the first arm is known to match more
// than SearchCountCap workspaces (before q's other filters).
//
// PostgreSQL plans each arm from its statistics: pg_trgm's indexes for
// the few matches, the sort's index walked for many. An arm given a rare
// word (SearchSample) asks its index for that word and tests the whole
// text on the rows that hold it, as an expression no index serves (the
// column joined to an empty string), so that the index reads the word's
// trigrams only.
//
// SQLite has no statistics to choose by, so each arm is chosen here: its
// FTS5 trigram table is read for the matches up to the cap and one more
// (a phrase of 3 or more characters matches exactly the rows holding
// it). Within the cap the arm is those rows, listed, which are then
// sorted; past it, the sort's index is walked testing each row with
// LIKE, which ignores ASCII case as the trigram tables do. A text with
// other than ASCII is always read from the index: LIKE ignores no other
// case. (So does a walk miss a name whose only way to hold an ASCII text
// is Unicode's folding, such as a Kelvin sign for a K; the index finds
// it.) The product creates these tables (README: Workspace search);
// models/demo does for development and tests.
func (l WorkspaceList) searchArms(ctx context.Context, q *gorm.DB, search string) (arms [2]*gorm.DB, past bool, err error) {
	like := "%" + escapeLike(search) + "%"
	arm := func() *gorm.DB { return q.Session(&gorm.Session{}) }
	if l.Product.Dialector.Name() == "postgres" {
		words := l.Sample.words(ctx, search)
		if w := words[0]; w != "" {
			probe := "%" + escapeLike(w) + "%"
			arms[0] = arm().Where(`(name ILIKE ? ESCAPE '\' OR slug ILIKE ? ESCAPE '\') AND ((name || '') ILIKE ? ESCAPE '\' OR (slug || '') ILIKE ? ESCAPE '\')`, probe, probe, like, like)
		} else {
			arms[0] = arm().Where(`(name ILIKE ? ESCAPE '\' OR slug ILIKE ? ESCAPE '\')`, like, like)
		}
		if w := words[1]; w != "" {
			probe := "%" + escapeLike(w) + "%"
			arms[1] = arm().Where(`EXISTS (SELECT 1 FROM workspace_owners o WHERE o.slug = workspaces.slug AND o.email ILIKE ? ESCAPE '\' AND (o.email || '') ILIKE ? ESCAPE '\')`, probe, like)
		} else {
			arms[1] = arm().Where(`EXISTS (SELECT 1 FROM workspace_owners o WHERE o.slug = workspaces.slug AND o.email ILIKE ? ESCAPE '\')`, like)
		}
		return arms, false, nil
	}
	phrase := `"` + strings.ReplaceAll(search, `"`, `""`) + `"`
	walk := isASCII(search)
	// Up to the cap and one more of each arm's matches (the rowids of
	// workspaces and of owners), each on its own connection, at once, as
	// the arms are read.
	var ids, owners []int64
	var errs [2]error
	var wg sync.WaitGroup
	wg.Go(func() { ids, errs[0] = l.ftsRowids(ctx, "workspaces_fts", phrase) })
	wg.Go(func() { owners, errs[1] = l.ftsRowids(ctx, "workspace_owners_fts", phrase) })
	wg.Wait()
	if err := cmp.Or(errs[0], errs[1]); err != nil {
		return arms, false, err
	}
	switch {
	case len(ids) <= SearchCountCap:
		arms[0] = arm().Where("workspaces.rowid IN ?", ids)
	case walk:
		arms[0] = arm().Where(`(name LIKE ? ESCAPE '\' OR slug LIKE ? ESCAPE '\')`, like, like)
	default:
		arms[0] = arm().Where("workspaces.rowid IN (SELECT rowid FROM workspaces_fts WHERE workspaces_fts MATCH ?)", phrase)
	}
	switch {
	case len(owners) <= SearchCountCap:
		arms[1] = arm().Where("slug IN (SELECT slug FROM workspace_owners WHERE rowid IN ?)", owners)
	case walk:
		arms[1] = arm().Where(`EXISTS (SELECT 1 FROM workspace_owners o WHERE o.slug = workspaces.slug AND o.email LIKE ? ESCAPE '\')`, like)
	default:
		arms[1] = arm().Where("slug IN (SELECT slug FROM workspace_owners WHERE rowid IN (SELECT rowid FROM workspace_owners_fts WHERE workspace_owners_fts MATCH ?))", phrase)
	}
	return arms, len(ids) > SearchCountCap, nil
}

// ftsRowids returns the rowids of up to SearchCountCap+1 rows of the FTS5
// table fts that hold phrase, scanned without gorm's reflection: a
// common text's thousand and one rows are read on every search.
func (l WorkspaceList) ftsRowids(ctx context.Context, fts, phrase string) ([]int64, error) {
	rows, err := l.Product.WithContext(ctx).Raw("SELECT rowid FROM "+fts+" WHERE "+fts+" MATCH ? LIMIT ?", phrase, SearchCountCap+1).Rows()
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", fts, err)
	}
	defer rows.Close()
	ids := make([]int64, 0, 64)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("search %s: %w", fts, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search %s: %w", fts, err)
	}
	return ids, nil
}

// isASCII reports whether s is ASCII only.
func isASCII(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) < 0
}

// searchCount counts a search's matches up to SearchCountCap: the first
// arm's slugs up to the cap and one more, which past the cap is the
// answer (a common text); within it, the union of both arms read the
// same way, so that a union past the cap means more than the cap
// matched, and one within it is exact.
func (l WorkspaceList) searchCount(ctx context.Context, arms [2]*gorm.DB) (Count, error) {
	var n int64
	capped := func(arm *gorm.DB) *gorm.DB {
		return arm.Session(&gorm.Session{}).Select("slug").Limit(SearchCountCap + 1)
	}
	if err := l.Product.WithContext(ctx).Raw("SELECT count(*) FROM (?) AS matched", capped(arms[0])).Row().Scan(&n); err != nil {
		return Count{}, fmt.Errorf("count workspaces: %w", err)
	}
	if n <= SearchCountCap {
		if err := l.Product.WithContext(ctx).Raw("SELECT count(*) FROM (SELECT slug FROM (?) AS a UNION SELECT slug FROM (?) AS b) AS matched", capped(arms[0]), capped(arms[1])).Row().Scan(&n); err != nil {
			return Count{}, fmt.Errorf("count workspaces: %w", err)
		}
	}
	return searchCountOf(n), nil
}

// searchCountOf is n matches as a search counts them: past
// SearchCountCap, "more than" the cap.
func searchCountOf(n int64) Count {
	if n > SearchCountCap {
		return Count{N: SearchCountCap, Capped: true}
	}
	return Count{N: n}
}

// sortValue is w's value of sort key name, as a cursor holds it.
func (w Workspace) sortValue(name string) string {
	switch name {
	case "name":
		return w.Name
	case "created":
		return timeCursor(w.CreatedAt)
	case "members":
		return strconv.Itoa(w.MemberCount)
	}
	return w.Slug
}
