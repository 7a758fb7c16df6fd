package tenantdb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// This file is the hot path of a data page: the page's one statement,
// run with as little around it as the rules allow. Its values are the
// ones a plain database/sql read in inScope would give.

// readPage runs the page's statement in ws's scope and returns its rows.
func (r *Reader) readPage(ctx context.Context, ws Workspace, q Query, limit int) ([]Row, error) {
	schema, err := SchemaName(ws.Slug)
	if err != nil {
		return nil, err
	}
	p, release, err := r.acquire(ws)
	if err != nil {
		return nil, err
	}
	defer release()
	r.scopes.Add(1)
	s := scope{dialect: p.dialect, schema: schema}
	if p.dialect == SQLite {
		ctx, cancel := context.WithTimeout(ctx, r.cfg.StatementTimeout)
		defer cancel()
		return r.readSQLite(ctx, p, s, q, limit)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StatementTimeout+pgSlack)
	defer cancel()
	return r.readPostgres(ctx, p, s, q, limit)
}

// readSQLite runs the page's statement on the pool. Columns are selected
// as +column, which keeps value and type but hides the declared type from
// the driver, whose per-value time parsing cost more than the rest of the
// read; the columns declared as times are converted here instead, to the
// same values.
func (r *Reader) readSQLite(ctx context.Context, p *pool, s scope, q Query, limit int) ([]Row, error) {
	times, err := p.timeColumns(ctx, q.Table)
	if err != nil {
		return nil, err
	}
	stmt, args := selectStmt(s, q, limit)
	rows, err := p.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, notFound(err)
	}
	defer rows.Close()
	ncol := len(q.Columns)
	if q.CountUpTo > 0 {
		ncol += 2 // the counts (see selectStmt)
	}
	isTime := make([]bool, ncol)
	for i, c := range q.Columns {
		isTime[i] = times[c]
	}
	// The page's rows and their values are two allocations, not one a
	// row: a page is read on every view of tenant data.
	out := make([]Row, 0, min(limit, 256))
	values := make([]Value, 0, cap(out)*ncol)
	raw := make([]any, ncol)
	dest := make([]any, ncol+1)
	for i := range raw {
		dest[i+1] = &raw[i]
	}
	for rows.Next() {
		var row Row
		dest[0] = &row.ID
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if len(values)+len(raw) > cap(values) {
			values = make([]Value, 0, cap(out)*ncol)
		}
		row.Values = values[len(values) : len(values)+len(raw) : len(values)+len(raw)]
		values = values[:len(values)+len(raw)]
		for i, v := range raw {
			if s, ok := v.(string); ok && isTime[i] {
				row.Values[i] = sqliteTime(s)
			} else {
				row.Values[i] = text(v)
			}
			raw[i] = nil
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// timeColumns returns the columns of table declared DATE, DATETIME or
// TIMESTAMP: those whose text the driver would read as a time. They are
// read once per pool; a pool is dropped when its file is replaced.
func (p *pool) timeColumns(ctx context.Context, table string) (map[string]bool, error) {
	p.mu.Lock()
	cols, ok := p.times[table]
	p.mu.Unlock()
	if ok {
		return cols, nil
	}
	rows, err := p.db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols = map[string]bool{}
	n := 0
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		n++
		switch strings.ToUpper(typ) {
		case "DATE", "DATETIME", "TIMESTAMP":
			cols[name] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if n > 0 { // a table that does not exist yet may be created later
		p.mu.Lock()
		if p.times == nil {
			p.times = map[string]map[string]bool{}
		}
		p.times[table] = cols
		p.mu.Unlock()
	}
	return cols, nil
}

// sqliteTimeFormats are the layouts the SQLite driver reads a time
// column's text with, in its order.
var sqliteTimeFormats = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// sqliteTime is the value of a time column's text, read as the SQLite
// driver reads it (Go's time.Time.String form first, then its layouts, in
// UTC unless the text has an offset); text that is no time stays as is.
func sqliteTime(s string) Value {
	if t, ok := quickTime(s); ok {
		return text(t)
	}
	return parseSQLiteTime(s)
}

// quickTime reads the common forms — "2006-01-02 15:04:05", a 'T' for the
// space, a fraction of up to nine digits, then nothing, "Z" or an offset
// "+07:00" — by hand; it gives up (false) on anything else, and on any
// out-of-range field, for parseSQLiteTime to read or refuse.
func quickTime(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(s string) int {
		n := 0
		for i := range len(s) {
			if s[i] < '0' || s[i] > '9' {
				return -1
			}
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	year, month, day := num(s[0:4]), num(s[5:7]), num(s[8:10])
	hour, minute, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, false
	}
	rest, nsec := s[19:], 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		digits := i - 1
		if digits < 1 || digits > 9 {
			return time.Time{}, false
		}
		for j := 1; j <= 9; j++ {
			nsec *= 10
			if j <= digits {
				nsec += int(rest[j] - '0')
			}
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case rest == "" || rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, m := num(rest[1:3]), num(rest[4:6])
		if h < 0 || h > 23 || m < 0 || m > 59 {
			return time.Time{}, false
		}
		offset = (h*60 + m) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// parseSQLiteTime is the driver's own reading of a time column's text.
func parseSQLiteTime(s string) Value {
	// time.Time.String's layout has three spaces; skip the failing parse,
	// whose error costs more than a successful one, when s has fewer.
	if strings.Count(s, " ") >= 3 {
		ts := s
		if x := strings.Index(s, "m="); x > 0 {
			ts = s[:x]
		}
		if t, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", strings.TrimSpace(ts)); err == nil {
			return text(t)
		}
	}
	ts := strings.TrimSuffix(s, "Z")
	for _, f := range sqliteTimeFormats {
		if t, err := time.ParseInLocation(f, ts, time.UTC); err == nil {
			return text(t)
		}
	}
	return Value{Text: s}
}

// readPostgres sends the whole read as one pipeline, one round trip
// instead of four: BEGIN READ ONLY, the transaction-local schema and
// statement timeout, the page's statement, ROLLBACK. A failure anywhere
// leaves the rest unrun; the transaction is then rolled back here, or the
// connection dropped.
func (r *Reader) readPostgres(ctx context.Context, p *pool, s scope, q Query, limit int) (out []Row, err error) {
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", q.Workspace.Slug, err)
	}
	defer conn.Close()
	stmt, args := selectStmt(s, q, limit)
	timeout := strconv.FormatInt(r.cfg.StatementTimeout.Milliseconds(), 10) + "ms"
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		defer func() {
			if pc.PgConn().TxStatus() != 'I' {
				rollback(pc)
			}
		}()
		b := &pgx.Batch{}
		b.Queue("BEGIN READ ONLY")
		b.Queue(`SELECT set_config('search_path', $1, true), set_config('statement_timeout', $2, true)`,
			quote(Postgres, s.schema), timeout)
		b.Queue(stmt, args...)
		b.Queue("ROLLBACK")
		br := pc.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return notFound(err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("select schema: %w", err)
		}
		rows, err := br.Query()
		if err != nil {
			return notFound(err)
		}
		conv := pgValueFuncs(pc.TypeMap(), rows.FieldDescriptions())
		for rows.Next() {
			row, err := pgRow(conv, rows.RawValues())
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, row)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return notFound(err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", q.Workspace.Slug, err)
	}
	return out, nil
}

// rollback ends a transaction a failed pipeline left open, or closes the
// connection, which the pool then drops.
func rollback(pc *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pc.Exec(ctx, "ROLLBACK"); err != nil || pc.PgConn().TxStatus() != 'I' {
		pc.Close(ctx)
	}
}

// pgRow turns a row's raw values into a Row: the id, then the columns.
func pgRow(conv []func([]byte) (any, error), raw [][]byte) (Row, error) {
	if len(raw) == 0 {
		return Row{}, fmt.Errorf("a row without an id")
	}
	row := Row{Values: make([]Value, len(raw)-1)}
	for i, b := range raw {
		var v any
		if b != nil {
			var err error
			if v, err = conv[i](b); err != nil {
				return Row{}, fmt.Errorf("convert field %d: %w", i, err)
			}
		}
		if i == 0 {
			id, ok := v.(int64)
			if !ok {
				return Row{}, fmt.Errorf("id of type %T", v)
			}
			row.ID = id
			continue
		}
		row.Values[i-1] = text(v)
	}
	return row, nil
}

// pgValueFuncs decode each column to the value pgx's database/sql driver
// gives for it, so a page reads the same either way.
func pgValueFuncs(m *pgtype.Map, fds []pgconn.FieldDescription) []func([]byte) (any, error) {
	out := make([]func([]byte) (any, error), len(fds))
	for i, fd := range fds {
		oid, format := fd.DataTypeOID, fd.Format
		switch oid {
		case pgtype.BoolOID:
			out[i] = scanAs[bool](m, oid, format, func(d bool) (any, error) { return d, nil })
		case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID:
			out[i] = scanAs[[]byte](m, oid, format, func(d []byte) (any, error) { return d, nil })
		case pgtype.CIDOID, pgtype.OIDOID, pgtype.XIDOID:
			out[i] = scanAs[pgtype.Uint32](m, oid, format, func(d pgtype.Uint32) (any, error) { return d.Value() })
		case pgtype.DateOID:
			out[i] = scanAs[pgtype.Date](m, oid, format, func(d pgtype.Date) (any, error) { return d.Value() })
		case pgtype.Float4OID:
			out[i] = scanAs[float32](m, oid, format, func(d float32) (any, error) { return float64(d), nil })
		case pgtype.Float8OID:
			out[i] = scanAs[float64](m, oid, format, func(d float64) (any, error) { return d, nil })
		case pgtype.Int2OID:
			out[i] = scanAs[int16](m, oid, format, func(d int16) (any, error) { return int64(d), nil })
		case pgtype.Int4OID:
			out[i] = scanAs[int32](m, oid, format, func(d int32) (any, error) { return int64(d), nil })
		case pgtype.Int8OID:
			out[i] = scanAs[int64](m, oid, format, func(d int64) (any, error) { return d, nil })
		case pgtype.TimestampOID:
			out[i] = scanAs[pgtype.Timestamp](m, oid, format, func(d pgtype.Timestamp) (any, error) { return d.Value() })
		case pgtype.TimestamptzOID:
			out[i] = scanAs[pgtype.Timestamptz](m, oid, format, func(d pgtype.Timestamptz) (any, error) { return d.Value() })
		default:
			out[i] = scanAs[string](m, oid, format, func(d string) (any, error) { return d, nil })
		}
	}
	return out
}

func scanAs[T any](m *pgtype.Map, oid uint32, format int16, value func(T) (any, error)) func([]byte) (any, error) {
	var d T
	plan := m.PlanScan(oid, format, &d)
	return func(src []byte) (any, error) {
		if err := plan.Scan(src, &d); err != nil {
			return nil, err
		}
		return value(d)
	}
}
