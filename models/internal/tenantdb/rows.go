package tenantdb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxIDs bounds Query.IDs, and with it the statement's size.
const maxIDs = 1000

// Query asks for a page of one table of one workspace, ordered by id.
type Query struct {
	Workspace Workspace
	Table     string
	Columns   []string // returned in this order, after the id
	IDs       []int64  // when non-nil, only these records; empty matches none
	AfterID   int64    // the last id of the previous page
	Limit     int      // at most the reader's MaxPageSize; <= 0 means that
	// CountUpTo, when > 0, has RowsAt count in the page's own statement
	// the rows matching (Total) and those up to AfterID (Before), each
	// up to CountUpTo+1.
	CountUpTo int64
}

// Value is one field as text: times in RFC 3339, UTC, marked Time.
type Value struct {
	Text string
	Null bool
	Time bool
}

// Row is one record: its id and the values of the query's columns.
type Row struct {
	ID     int64
	Values []Value
}

// Page is a page of rows and whether more follow.
type Page struct {
	Columns []string
	Rows    []Row
	HasNext bool
}

// IDs returns the ids of the page's rows, for the audit record of a view.
func (p Page) IDs() []int64 {
	ids := make([]int64, len(p.Rows))
	for i, row := range p.Rows {
		ids[i] = row.ID
	}
	return ids
}

// Rows returns a page of q.Table in q.Workspace.
func (r *Reader) Rows(ctx context.Context, q Query) (Page, error) {
	q.CountUpTo = 0
	return r.rows(ctx, q)
}

// RowsAt is Rows with the page's Position (counting up to q.CountUpTo,
// which must be > 0) read by the page's own statement: one statement, in
// one scope, where Rows and Position take three. Only a page with no
// rows counts with Position's statements.
func (r *Reader) RowsAt(ctx context.Context, q Query) (Page, Position, error) {
	if q.CountUpTo <= 0 {
		return Page{}, Position{}, fmt.Errorf("rows at: count up to %d", q.CountUpTo)
	}
	page, err := r.rows(ctx, q)
	if err != nil {
		return Page{}, Position{}, err
	}
	if len(page.Rows) == 0 {
		if q.IDs != nil && len(q.IDs) == 0 {
			return page, Position{}, nil
		}
		pos, err := r.Position(ctx, q, q.CountUpTo)
		return page, pos, err
	}
	var pos Position
	n := len(q.Columns)
	for i, counted := range []*int64{&pos.Total, &pos.Before} {
		v := page.Rows[0].Values[n+i]
		if *counted, err = strconv.ParseInt(v.Text, 10, 64); err != nil || v.Null {
			return Page{}, Position{}, fmt.Errorf("read %s.%s: count %q: %v", q.Workspace.Slug, q.Table, v.Text, err)
		}
	}
	for i := range page.Rows {
		page.Rows[i].Values = page.Rows[i].Values[:n:n]
	}
	pos.Capped = pos.Total > q.CountUpTo
	return page, pos, nil
}

func (r *Reader) rows(ctx context.Context, q Query) (Page, error) {
	if _, err := SchemaName(q.Workspace.Slug); err != nil {
		return Page{}, err
	}
	if err := checkIdent("table", q.Table); err != nil {
		return Page{}, err
	}
	for _, c := range q.Columns {
		if err := checkIdent("column", c); err != nil {
			return Page{}, err
		}
	}
	if len(q.IDs) > maxIDs {
		return Page{}, fmt.Errorf("%d record ids: at most %d", len(q.IDs), maxIDs)
	}
	page := Page{Columns: q.Columns}
	if q.IDs != nil && len(q.IDs) == 0 {
		return page, nil
	}
	limit := r.cfg.MaxPageSize
	if q.Limit > 0 && q.Limit < limit {
		limit = q.Limit
	}
	rows, err := r.readPage(ctx, q.Workspace, q, limit+1)
	page.Rows = rows
	if err != nil {
		return Page{}, fmt.Errorf("read %s.%s: %w", q.Workspace.Slug, q.Table, err)
	}
	if len(page.Rows) > limit {
		page.Rows, page.HasNext = page.Rows[:limit], true
	}
	return page, nil
}

// Row returns the record id of table in ws, or a wrapped ErrNotFound.
func (r *Reader) Row(ctx context.Context, ws Workspace, table string, columns []string, id int64) (Row, error) {
	page, err := r.Rows(ctx, Query{Workspace: ws, Table: table, Columns: columns, IDs: []int64{id}, Limit: 1})
	if err != nil {
		return Row{}, err
	}
	if len(page.Rows) == 0 {
		return Row{}, fmt.Errorf("%s.%s record %d: %w", ws.Slug, table, id, ErrNotFound)
	}
	return page.Rows[0], nil
}

// Position is where a page of q stands in its table: Before rows come
// before it (id <= q.AfterID) and Total rows in all, each counted up to
// limit; past it, the count is limit+1 and Capped.
type Position struct {
	Before, Total int64
	Capped        bool
}

// Position counts q's rows in the scope q.IDs sets: all of them, and
// those up to q.AfterID. Counting reads ids only, through the index.
func (r *Reader) Position(ctx context.Context, q Query, limit int64) (Position, error) {
	if _, err := SchemaName(q.Workspace.Slug); err != nil {
		return Position{}, err
	}
	if err := checkIdent("table", q.Table); err != nil {
		return Position{}, err
	}
	if len(q.IDs) > maxIDs {
		return Position{}, fmt.Errorf("%d record ids: at most %d", len(q.IDs), maxIDs)
	}
	var p Position
	if q.IDs != nil && len(q.IDs) == 0 {
		return p, nil
	}
	err := r.inScope(ctx, q.Workspace, func(ctx context.Context, s scope) error {
		count := func(upTo int64) (int64, error) {
			args := []any{}
			var b strings.Builder
			fmt.Fprintf(&b, "SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE 1=1", s.table(q.Table))
			id := quote(s.dialect, "id")
			if upTo > 0 {
				args = append(args, upTo)
				fmt.Fprintf(&b, " AND %s <= %s", id, s.arg(len(args)))
			}
			if q.IDs != nil {
				ph := make([]string, len(q.IDs))
				for i, v := range q.IDs {
					args = append(args, v)
					ph[i] = s.arg(len(args))
				}
				fmt.Fprintf(&b, " AND %s IN (%s)", id, strings.Join(ph, ", "))
			}
			args = append(args, limit+1)
			fmt.Fprintf(&b, " LIMIT %s) AS counted", s.arg(len(args)))
			var n int64
			rows, err := s.q.QueryContext(ctx, b.String(), args...)
			if err != nil {
				return 0, notFound(err)
			}
			defer rows.Close()
			for rows.Next() {
				if err := rows.Scan(&n); err != nil {
					return 0, err
				}
			}
			return n, rows.Err()
		}
		var err error
		if p.Total, err = count(0); err != nil {
			return err
		}
		if q.AfterID > 0 {
			p.Before, err = count(q.AfterID)
		}
		return err
	})
	if err != nil {
		return Position{}, fmt.Errorf("count %s.%s: %w", q.Workspace.Slug, q.Table, err)
	}
	p.Capped = p.Total > limit
	return p, nil
}

func selectStmt(s scope, q Query, limit int) (string, []any) {
	id := quote(s.dialect, "id")
	cols := []string{id}
	for _, c := range q.Columns {
		if s.dialect == SQLite {
			// See readSQLite.
			cols = append(cols, "+"+quote(s.dialect, c))
			continue
		}
		cols = append(cols, quote(s.dialect, c))
	}
	var args []any
	inIDs := func(b *strings.Builder) {
		if q.IDs == nil {
			return
		}
		ph := make([]string, len(q.IDs))
		for i, v := range q.IDs {
			args = append(args, v)
			ph[i] = s.arg(len(args))
		}
		fmt.Fprintf(b, " AND %s IN (%s)", id, strings.Join(ph, ", "))
	}
	if q.CountUpTo > 0 {
		// Two uncorrelated scalar subqueries, evaluated once for the
		// statement (their arguments come first: SQLite's are positional).
		for _, upTo := range []int64{0, q.AfterID} {
			if upTo == 0 && len(cols) > len(q.Columns)+1 {
				cols = append(cols, "0") // nothing before the first page
				continue
			}
			var b strings.Builder
			fmt.Fprintf(&b, "(SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE 1=1", s.table(q.Table))
			if upTo > 0 {
				args = append(args, upTo)
				fmt.Fprintf(&b, " AND %s <= %s", id, s.arg(len(args)))
			}
			inIDs(&b)
			args = append(args, q.CountUpTo+1)
			fmt.Fprintf(&b, " LIMIT %s) AS counted)", s.arg(len(args)))
			cols = append(cols, b.String())
		}
	}
	var b strings.Builder
	args = append(args, q.AfterID)
	fmt.Fprintf(&b, "SELECT %s FROM %s WHERE %s > %s", strings.Join(cols, ", "), s.table(q.Table), id, s.arg(len(args)))
	inIDs(&b)
	args = append(args, limit)
	fmt.Fprintf(&b, " ORDER BY %s LIMIT %s", id, s.arg(len(args)))
	return b.String(), args
}

func text(v any) Value {
	switch v := v.(type) {
	case nil:
		return Value{Null: true}
	case []byte:
		return Value{Text: string(v)}
	case string:
		return Value{Text: v}
	case time.Time:
		return Value{Text: v.UTC().Format(time.RFC3339), Time: true}
	case int64:
		return Value{Text: strconv.FormatInt(v, 10)}
	default:
		return Value{Text: fmt.Sprint(v)}
	}
}
