package models

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"gorm.io/gorm"
)

// A SearchSample is a random sample of the texts the workspace search
// reads on PostgreSQL (names and slugs; owners' emails), drawn again
// after an hour, that tells which word of a search is rare.
//
// pg_trgm's GIN index reads the entries of every trigram of a search's
// text, and a text such as "owner@golden-grove-499987" holds trigrams
// that are in nearly every row ("own", "ner"): at 1M workspaces the
// owner arm read 15 MB of index for its one match. Asked for the text's
// rarest word alone ("499987"), the index reads a few pages, and the
// whole text is tested on the few rows that hold the word: 0.5 ms.
//
// The sample decides how the index is asked, never what matches: a row
// that holds the text holds each of its words, so a search finds the
// same rows whichever word is chosen, or none. A sample that cannot be
// drawn narrows nothing.
type SearchSample struct {
	Product *gorm.DB // the registry

	mu      sync.Mutex
	drawnAt time.Time
	arms    [2]sampled    // names and slugs; owners' emails
	drawing chan struct{} // closed when the draw under way ends; nil when none is
}

const (
	// searchSampleSize is about how many values of each table a sample
	// holds: enough to tell a word in one row in a thousand from a
	// common one.
	searchSampleSize = 2000
	// searchSampleAge is how long a sample is used.
	searchSampleAge = time.Hour
	// searchSampleDraw is how long a draw may take.
	searchSampleDraw = time.Minute
	// narrowBelow: an arm asks for a word alone only when fewer rows
	// than this are estimated to hold it (each is read and tested
	// against the whole text).
	narrowBelow = 2000
)

// sampled is one arm's sample: its values, lowercased, and how many of
// them hold each trigram, as pg_trgm extracts them.
type sampled struct {
	values   []string
	trigrams map[string]int
	scale    float64 // rows in the table per value sampled
}

// words returns, for each arm of a search (name or slug; an owner's
// email), the word of search its index is asked for, or "" for the
// whole text.
func (s *SearchSample) words(ctx context.Context, search string) [2]string {
	if s == nil {
		return [2]string{}
	}
	arms := s.current(ctx)
	return [2]string{arms[0].rareWord(search), arms[1].rareWord(search)}
}

// current returns the sample. A search waits for the first one; after
// that an old sample is drawn again in the background while searches go
// on with the old one, so no search pays for reading the registry.
func (s *SearchSample) current(ctx context.Context) [2]sampled {
	s.mu.Lock()
	if time.Since(s.drawnAt) < searchSampleAge {
		defer s.mu.Unlock()
		return s.arms
	}
	if s.drawing == nil {
		s.drawing = make(chan struct{})
		// The draw outlives the search that started it; its values (the
		// logger's) are kept.
		go s.draw(context.WithoutCancel(ctx), s.drawing)
	}
	drawing, have := s.drawing, !s.drawnAt.IsZero()
	arms := s.arms
	s.mu.Unlock()
	if have {
		return arms
	}
	select {
	case <-drawing:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.arms
	case <-ctx.Done():
		return [2]sampled{} // searched without one
	}
}

// draw draws a sample, keeps it and closes done.
func (s *SearchSample) draw(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, searchSampleDraw)
	defer cancel()
	arms, err := drawSearchSample(ctx, s.Product)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer close(done)
	s.drawing = nil
	s.drawnAt = time.Now()
	if err != nil {
		// Searched with the old one, or none; tried again in a minute.
		slog.WarnContext(ctx, "workspace search: no sample of the registry", "err", err)
		s.drawnAt = s.drawnAt.Add(time.Minute - searchSampleAge)
		return
	}
	s.arms = arms
}

// drawSearchSample reads about searchSampleSize rows of each searched
// table, each row with the same chance (TABLESAMPLE BERNOULLI), by
// PostgreSQL's estimate of its size; a table never analyzed is not
// sampled. It reads every page (at 1M workspaces 80 ms of PostgreSQL for
// the registry, 125 ms for the owners), once an hour: a sample of whole
// pages (SYSTEM, 1.5 and 3 ms) held runs of neighbouring rows, and in 3 of
// 40 draws missed "grove", a word in one workspace of thirty, so that the
// owners' arm of "owner@golden-grove-499987" was asked for "grove" and read
// 44,574 owners (0.67 s) instead of one.
func drawSearchSample(ctx context.Context, product *gorm.DB) ([2]sampled, error) {
	var arms [2]sampled
	for i, t := range []struct{ table, columns string }{{"workspaces", "name, slug"}, {"workspace_owners", "email"}} {
		rows, err := estimateRows(ctx, product, t.table)
		if err != nil {
			return [2]sampled{}, err
		}
		if rows <= 0 {
			continue
		}
		percent := strconv.FormatFloat(min(100, 100*searchSampleSize/rows), 'f', 6, 64)
		// #nosec G202 -- table, columns and percent are this function's own, not input
		r, err := product.WithContext(ctx).Raw("SELECT " + t.columns + " FROM " + t.table + " TABLESAMPLE BERNOULLI (" + percent + ")").Rows()
		if err != nil {
			return [2]sampled{}, fmt.Errorf("sample %s: %w", t.table, err)
		}
		a := sampled{trigrams: map[string]int{}}
		n := 0
		cols := make([]string, strings.Count(t.columns, ",")+1)
		dest := make([]any, len(cols))
		for j := range cols {
			dest[j] = &cols[j]
		}
		for r.Next() {
			if err := r.Scan(dest...); err != nil {
				r.Close()
				return [2]sampled{}, fmt.Errorf("sample %s: %w", t.table, err)
			}
			n++
			for _, v := range cols {
				a.add(strings.ToLower(v))
			}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return [2]sampled{}, fmt.Errorf("sample %s: %w", t.table, err)
		}
		if n > 0 {
			a.scale = rows / float64(n)
			arms[i] = a
		}
	}
	return arms, nil
}

// add adds a value to the sample: pg_trgm's trigrams of each word, the
// word padded with two spaces before and one after, counted once.
func (a *sampled) add(v string) {
	a.values = append(a.values, v)
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(v, notWordRune) {
		for _, t := range trigramsOf("  " + w + " ") {
			if !seen[t] {
				seen[t] = true
				a.trigrams[t]++
			}
		}
	}
}

// rareWord is the word of search (a run of 3 or more letters and digits,
// as pg_trgm splits them) whose trigrams the index holds fewest entries
// for, when fewer than narrowBelow rows are estimated to hold it; ""
// when the search is that word alone, or no word is rare. Only ASCII
// words are chosen: pg_trgm's letters follow the database's locale, and
// a word it found no trigram in would have the index read whole.
func (a sampled) rareWord(search string) string {
	lower := strings.ToLower(search)
	if len(a.values) == 0 {
		return ""
	}
	best, cost := "", 0
	for _, w := range strings.FieldsFunc(lower, notWordRune) {
		if len(w) < 3 || !isASCII(w) {
			continue
		}
		c := 0
		for _, t := range trigramsOf(w) {
			c += a.trigrams[t]
		}
		if best == "" || c < cost || (c == cost && len(w) > len(best)) {
			best, cost = w, c
		}
	}
	if best == "" || best == lower {
		return ""
	}
	held := 1 // a word the sample missed is still in some rows
	for _, v := range a.values {
		if strings.Contains(v, best) {
			held++
		}
	}
	if float64(held)*a.scale >= narrowBelow {
		return ""
	}
	return best
}

// trigramsOf returns every run of three runes of s.
func trigramsOf(s string) []string {
	r := []rune(s)
	out := make([]string, 0, max(len(r)-2, 0))
	for i := 0; i+3 <= len(r); i++ {
		out = append(out, string(r[i:i+3]))
	}
	return out
}

func notWordRune(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
