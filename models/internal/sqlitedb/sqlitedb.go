// Package sqlitedb opens SQLite databases through modernc.org/sqlite with a
// statement cache on every connection: a statement run on a connection is
// kept prepared there and run again from its compiled form, instead of
// being parsed again on every execution.
//
// The cache is the connection's own, so it works the same in and out of
// transactions and for every caller of the *sql.DB (gorm, the portal's
// hand-written queries, goose), and it goes when the connection goes. It
// keeps the most recently used statements up to a budget of SQL text (a
// compiled statement's size grows with its text: 25-70 times it, as
// measured, most for a statement of many placeholders): SQL built with a
// varying number of placeholders (IN lists, multi-row INSERTs) takes a
// slot per variant, within that budget, and a statement longer than a
// quarter of the budget is not kept at all (its parse is small beside
// its many rows' work).
package sqlitedb

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"modernc.org/sqlite"
)

// TimeParams are the DSN parameters Open adds: times are written as text
// in UTC as "2006-01-02 15:04:05.999999999-07:00" (so "+00:00"), the format
// github.com/glebarez/go-sqlite, the driver before this one, wrote by
// default, and read back (from DATE, DATETIME and TIMESTAMP columns) in
// UTC. SQL compares stored times as text, so files written by either
// driver keep comparing and ordering right. (modernc.org/sqlite's own
// default is Go's time.Time.String, which would not.)
const TimeParams = "_time_format=sqlite&_timezone=UTC"

// Open returns a pool on dsn (modernc.org/sqlite's syntax, see its
// Driver.Open), with TimeParams added, whose connections each keep the
// statements they ran most recently prepared, as long as their SQL text
// adds up to at most budget bytes; budget <= 0 keeps none. Like sql.Open
// it connects lazily.
func Open(dsn string, budget int) (*sql.DB, error) {
	if strings.Contains(dsn, "?") {
		dsn += "&" + TimeParams
	} else {
		dsn += "?" + TimeParams
	}
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	if budget <= 0 {
		return sql.OpenDB(c), nil
	}
	return sql.OpenDB(connector{Connector: c, budget: budget}), nil
}

type connector struct {
	driver.Connector
	budget int
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := dc.(moderncConn)
	if !ok {
		dc.Close()
		return nil, errors.New("sqlitedb: modernc.org/sqlite's connection lacks an interface it always had")
	}
	return &conn{inner: inner, budget: c.budget, stmts: map[string]*list.Element{}}, nil
}

// moderncConn is what modernc.org/sqlite's connections implement, and what
// conn forwards so database/sql sees the same connection it would
// without the cache (the list is modernc's NewConnector documentation's).
type moderncConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// conn is one connection and its statements. database/sql never uses a
// connection from two goroutines at once (it holds the connection's lock
// around every call into it, Rows.Close included), so conn needs no lock
// of its own.
type conn struct {
	inner  moderncConn
	budget int                      // of SQL text kept, in bytes
	bytes  int                      // of SQL text kept now
	stmts  map[string]*list.Element // SQL text -> element of lru, holding a *cached
	lru    list.List                // front: most recently used
}

// cached is one kept statement. busy: rows read from it are still open,
// so it cannot run again until they close; dropped: it was evicted while
// busy and is closed when they do.
type cached struct {
	query   string
	stmt    stmt
	busy    bool
	dropped bool
}

// stmt is what modernc.org/sqlite's statements implement.
type stmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// Unwrap returns modernc.org/sqlite's connection, as its NewConnector asks
// of a wrapper.
func (c *conn) Unwrap() driver.Conn { return c.inner }

// Prepare, PrepareContext: a statement prepared explicitly is the
// caller's, closed by it, and not cached.
func (c *conn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.inner.PrepareContext(ctx, query)
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.inner.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.inner.BeginTx(ctx, opts)
}

func (c *conn) Ping(ctx context.Context) error         { return c.inner.Ping(ctx) }
func (c *conn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }
func (c *conn) IsValid() bool                          { return c.inner.IsValid() }

// Close finalizes the kept statements, then closes the connection:
// SQLite does not free a connection that still has statements.
func (c *conn) Close() error {
	return errors.Join(c.drop(), c.inner.Close())
}

// drop finalizes and forgets every kept statement.
func (c *conn) drop() error {
	var errs []error
	for e := c.lru.Front(); e != nil; e = e.Next() {
		errs = append(errs, e.Value.(*cached).stmt.Close())
	}
	c.lru.Init()
	clear(c.stmts)
	c.bytes = 0
	return errors.Join(errs...)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	k, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.inner.ExecContext(ctx, query, args)
	}
	return k.stmt.ExecContext(ctx, args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	k, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.inner.QueryContext(ctx, query, args)
	}
	r, err := k.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	dr, ok := r.(rowsTypes)
	if !ok { // never: modernc's rows describe their columns
		r.Close()
		return nil, errors.New("sqlitedb: modernc.org/sqlite's rows lack an interface they always had")
	}
	k.busy = true
	return &rows{rowsTypes: dr, k: k}, nil
}

// take returns query's kept statement, preparing and keeping it if it is
// not kept yet, or nil when the caller is to run query uncached: it is
// kept but busy (a nested query in a transaction), or too long to keep.
func (c *conn) take(ctx context.Context, query string) (*cached, error) {
	if e, ok := c.stmts[query]; ok {
		k := e.Value.(*cached)
		if k.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return k, nil
	}
	if len(query) > c.budget/4 {
		return nil, nil
	}
	s, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := s.(stmt)
	if !ok { // never: modernc's statements take contexts
		s.Close()
		return nil, errors.New("sqlitedb: modernc.org/sqlite's statement lacks an interface it always had")
	}
	for c.bytes+len(query) > c.budget {
		c.evict(c.lru.Back())
	}
	k := &cached{query: query, stmt: st}
	c.stmts[query] = c.lru.PushFront(k)
	c.bytes += len(query)
	return k, nil
}

// evict forgets e's statement and closes it, or has it closed when its
// rows close.
func (c *conn) evict(e *list.Element) {
	k := c.lru.Remove(e).(*cached)
	delete(c.stmts, k.query)
	c.bytes -= len(k.query)
	if k.busy {
		k.dropped = true
		return
	}
	k.stmt.Close() //nolint:errcheck // finalizing a reset statement reports nothing new
}

// rowsTypes is what modernc.org/sqlite's rows implement: database/sql
// asks the rows for their columns' types (ColumnTypes, and gorm's scans).
type rowsTypes interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// rows are a kept statement's rows; closing them (which resets the
// statement) frees the statement to run again.
type rows struct {
	rowsTypes
	k *cached
}

func (r *rows) Close() error {
	err := r.rowsTypes.Close()
	r.k.busy = false
	if r.k.dropped {
		err = errors.Join(err, r.k.stmt.Close())
	}
	return err
}

var (
	_ moderncConn = (*conn)(nil)
	_ rowsTypes   = (*rows)(nil)
)
