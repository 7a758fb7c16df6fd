package models

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Lists page by keyset: a page starts after (or ends before) the last
// (first) row of the page before, named by its sort value and its id, so
// a page costs the same at any depth and rows added between page loads
// are neither skipped nor shown twice. There is no OFFSET.

// SortKind is how a sort column's values compare.
type SortKind int

// Sort kinds.
const (
	SortText SortKind = iota
	SortInt
	SortTime
)

// SortKey is a column a list may be sorted by: a name URLs use and the
// column it stands for. Only keys of a list's own whitelist reach SQL;
// each should have an index on (Column, id).
type SortKey struct {
	Name   string // as URLs name it, e.g. "created"
	Column string // the SQL column, never from the request
	Kind   SortKind
	Desc   bool // the key's default direction
}

// Cursor is a row's place in a sorted list: its sort value and its id.
type Cursor struct {
	Value string `json:"v"`
	ID    string `json:"id"`
}

// ErrBadCursor is a page link that is not one this portal made.
var ErrBadCursor = errors.New("the page link is not valid")

// Encode is c as a page link carries it.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor reads an encoded cursor; "" is nil.
func ParseCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c Cursor
	if err != nil || len(s) > 1000 || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return nil, ErrBadCursor
	}
	return &c, nil
}

// Keyset is one page request of a sorted list.
type Keyset struct {
	Sort   SortKey
	Desc   bool
	After  *Cursor // the page after this row (next)
	Before *Cursor // the page before this row (previous)
	Limit  int
}

// Page is one page of a keyset-paged list. Next and Prev are nil when
// there is no such page.
type Page[T any] struct {
	Rows       []T
	Next, Prev *Cursor
}

// value is the cursor's sort value as the column's kind compares.
func (k Keyset) value(c Cursor) (any, error) {
	switch k.Sort.Kind {
	case SortInt:
		n, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil {
			return nil, ErrBadCursor
		}
		return n, nil
	case SortTime:
		t, err := time.Parse(time.RFC3339Nano, c.Value)
		if err != nil {
			return nil, ErrBadCursor
		}
		return t.UTC(), nil
	}
	return c.Value, nil
}

// keysetQuery adds k's condition, order and limit (one row more than the
// page, to tell whether another follows) to q; idCol is the unique
// column that breaks ties, idInt whether it is an integer.
func keysetQuery(q *gorm.DB, k Keyset, idCol string, idInt bool) (*gorm.DB, error) {
	desc := k.Desc
	c := k.After
	if k.Before != nil {
		c, desc = k.Before, !desc // walk backwards from the cursor
	}
	if c != nil {
		v, err := k.value(*c)
		if err != nil {
			return nil, err
		}
		var id any = c.ID
		if idInt {
			if id, err = strconv.ParseInt(c.ID, 10, 64); err != nil {
				return nil, ErrBadCursor
			}
		}
		op := ">"
		if desc {
			op = "<"
		}
		q = q.Where(fmt.Sprintf("(%s, %s) %s (?, ?)", k.Sort.Column, idCol, op), v, id)
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	return q.Order(k.Sort.Column + dir).Order(idCol + dir).Limit(k.Limit + 1), nil
}

// keysetPage makes a page of rows read by keysetQuery; cursor names a
// row's place.
func keysetPage[T any](rows []T, k Keyset, cursor func(T) Cursor) Page[T] {
	more := len(rows) > k.Limit
	if more {
		rows = rows[:k.Limit]
	}
	if k.Before != nil {
		slices.Reverse(rows)
	}
	p := Page[T]{Rows: rows}
	if len(rows) == 0 {
		return p
	}
	first, last := cursor(rows[0]), cursor(rows[len(rows)-1])
	switch {
	case k.Before != nil:
		p.Next = &last
		if more {
			p.Prev = &first
		}
	case k.After != nil:
		p.Prev = &first
		if more {
			p.Next = &last
		}
	case more:
		p.Next = &last
	}
	return p
}

// findKeyset reads one page of q (its filters applied) by k.
func findKeyset[T any](ctx context.Context, q *gorm.DB, k Keyset, idCol string, idInt bool, cursor func(T) Cursor) (Page[T], error) {
	if k.Limit <= 0 {
		k.Limit = 50
	}
	q, err := keysetQuery(q.WithContext(ctx), k, idCol, idInt)
	if err != nil {
		return Page[T]{}, err
	}
	var rows []T
	if err := q.Find(&rows).Error; err != nil {
		return Page[T]{}, err
	}
	return keysetPage(rows, k, cursor), nil
}

// CountCap is where a list's count stops being exact: past it a page
// says "more than 5,000", so that a count never reads a million rows.
const CountCap = 5000

// Count is how many rows a list holds: N exactly; more than N when
// Capped; at least N when AtLeast (a count that stopped reading).
type Count struct {
	N       int64
	Capped  bool
	AtLeast bool
	About   bool // an estimate (EstimateWorkspaces)
}

// countCapped counts q's rows up to CountCap.
func countCapped(ctx context.Context, db, q *gorm.DB) (Count, error) {
	var n int64
	sub := q.Session(&gorm.Session{}).Select("1").Limit(CountCap + 1)
	if err := db.WithContext(ctx).Table("(?) AS counted", sub).Count(&n).Error; err != nil {
		return Count{}, err
	}
	if n > CountCap {
		return Count{N: CountCap, Capped: true}, nil
	}
	return Count{N: n}, nil
}

// timeCursor writes a time sort value as a cursor holds it.
func timeCursor(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
