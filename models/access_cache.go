package models

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"time"

	"gatehouse/policy"

	"gorm.io/gorm"
)

// AccessCache keeps, for a few seconds, what every request reads before
// it may show anything: a session and its staff member, a staff member,
// their grants on a workspace, and a registry entry. An entry is used only
// while the security epoch (see epoch.go) is still the one it was read
// under, and for at most the cache's TTL; every request reads the epoch
// once (Begin), one indexed row instead of four or five reads. Revocation
// stays exact: an end of access moves the epoch in its own transaction, so
// the next request anywhere misses; and a view whose access was checked
// under an older epoch is re-checked against the database by the audit
// writer once it holds the chain head (see AuditWriter.appendUnder).
// A nil *AccessCache caches nothing. It is safe for concurrent use.
type AccessCache struct {
	db  *gorm.DB // where the epoch is read
	ttl time.Duration
	max int
	now func() time.Time

	stmtMu    sync.Mutex
	epochStmt *sql.Stmt // the epoch's read, parsed once (per connection)

	mu      sync.Mutex
	epoch   int64 // the newest epoch seen; entries of older ones are dropped
	entries map[string]cacheEntry
}

type cacheEntry struct {
	epoch  int64
	readAt time.Time
	value  any
}

// MaxAccessCacheTTL bounds how long an entry is used, whatever the epoch.
const MaxAccessCacheTTL = 10 * time.Second

// NewAccessCache returns a cache whose epoch is read from db, holding at
// most max entries (4096 when max <= 0) for ttl each (at most
// MaxAccessCacheTTL), aged by now.
func NewAccessCache(db *gorm.DB, ttl time.Duration, max int, now func() time.Time) *AccessCache {
	if ttl <= 0 || ttl > MaxAccessCacheTTL {
		ttl = MaxAccessCacheTTL
	}
	if max <= 0 {
		max = 4096
	}
	return &AccessCache{db: db, ttl: ttl, max: max, now: now, entries: make(map[string]cacheEntry)}
}

type epochKey struct{}

// epochSnapshot is the epoch a request read once, carried in its context.
type epochSnapshot struct{ epoch int64 }

// Begin reads the security epoch for a request and returns ctx carrying
// it: the cache serves that request only entries read under it. Without
// a cache, or when ctx already carries an epoch, it returns ctx as is.
func (c *AccessCache) Begin(ctx context.Context) (context.Context, error) {
	if c == nil {
		return ctx, nil
	}
	if _, ok := ctx.Value(epochKey{}).(epochSnapshot); ok {
		return ctx, nil
	}
	e, err := c.readEpoch(ctx)
	if err != nil {
		return ctx, err
	}
	c.mu.Lock()
	if e > c.epoch {
		c.epoch = e
		clear(c.entries)
	}
	c.mu.Unlock()
	return context.WithValue(ctx, epochKey{}, epochSnapshot{e}), nil
}

// readEpoch reads the epoch with a statement prepared once: the SQLite
// driver would otherwise parse it again on every request.
func (c *AccessCache) readEpoch(ctx context.Context) (int64, error) {
	c.stmtMu.Lock()
	stmt := c.epochStmt
	if stmt == nil {
		// Prepared on first use, and again after a failure (the database
		// may have been down): a failure is never kept.
		db, err := c.db.DB()
		if err == nil {
			stmt, err = db.PrepareContext(ctx, epochQuery)
		}
		if err != nil {
			c.stmtMu.Unlock()
			return 0, fmt.Errorf("security epoch: %w", err)
		}
		c.epochStmt = stmt
	}
	c.stmtMu.Unlock()
	var e int64
	if err := stmt.QueryRowContext(ctx).Scan(&e); err != nil {
		return 0, fmt.Errorf("security epoch: %w", err)
	}
	return e, nil
}

// requestEpoch is the epoch ctx carries, if any.
func requestEpoch(ctx context.Context) (int64, bool) {
	s, ok := ctx.Value(epochKey{}).(epochSnapshot)
	return s.epoch, ok
}

// get returns the value under key read under ctx's epoch within the TTL.
func (c *AccessCache) get(ctx context.Context, key string) (any, bool) {
	if c == nil {
		return nil, false
	}
	e, ok := requestEpoch(ctx)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ent, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if ent.epoch != e || c.now().Sub(ent.readAt) >= c.ttl {
		if ent.epoch < c.epoch || c.now().Sub(ent.readAt) >= c.ttl {
			delete(c.entries, key)
		}
		return nil, false
	}
	return ent.value, true
}

// put keeps value under key as read under ctx's epoch, read at its
// start (so the TTL counts from before the read).
func (c *AccessCache) put(ctx context.Context, key string, readAt time.Time, value any) {
	if c == nil {
		return
	}
	e, ok := requestEpoch(ctx)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e < c.epoch {
		return // already stale
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		now := c.now()
		for k, ent := range c.entries {
			if ent.epoch < c.epoch || now.Sub(ent.readAt) >= c.ttl {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k) // any one: the map's order is random
		}
	}
	c.entries[key] = cacheEntry{epoch: e, readAt: readAt, value: value}
}

// Len is how many entries the cache holds.
func (c *AccessCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// cached returns the value under key, or reads it with read and keeps it.
func cached[T any](ctx context.Context, c *AccessCache, key string, read func() (T, error)) (T, error) {
	if v, ok := c.get(ctx, key); ok {
		return v.(T), nil
	}
	var at time.Time
	if c != nil {
		at = c.now()
	}
	v, err := read()
	if err == nil {
		c.put(ctx, key, at, v)
	}
	return v, err
}

type sessionAndStaff struct {
	session Session
	staff   Staff
}

// SessionByHash is SessionByHash served from the cache when it can.
func (c *AccessCache) SessionByHash(ctx context.Context, db *gorm.DB, hash string) (Session, Staff, error) {
	v, err := cached(ctx, c, "s:"+hash, func() (sessionAndStaff, error) {
		s, st, err := SessionByHash(ctx, db, hash)
		return sessionAndStaff{s, st}, err
	})
	return v.session, v.staff, err
}

// Touched records in the cache that the session hash was seen at at, as
// TouchSession recorded in the database.
func (c *AccessCache) Touched(ctx context.Context, hash string, at time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ent, ok := c.entries["s:"+hash]; ok {
		v := ent.value.(sessionAndStaff)
		v.session.LastSeenAt = at.UTC()
		ent.value = v
		c.entries["s:"+hash] = ent
	}
}

// staff is FindStaff served from the cache when it can.
func (c *AccessCache) staff(ctx context.Context, db *gorm.DB, id int64) (Staff, error) {
	return cached(ctx, c, "st:"+strconv.FormatInt(id, 10), func() (Staff, error) { return FindStaff(ctx, db, id) })
}

// workspace is FindLiveWorkspace served from the cache when it can. Only
// a found workspace is kept.
func (c *AccessCache) workspace(ctx context.Context, product *gorm.DB, slug string) (Workspace, error) {
	return cached(ctx, c, "w:"+slug, func() (Workspace, error) { return FindLiveWorkspace(ctx, product, slug) })
}

// grantsOn returns the grants staffID holds on workspace that no event
// has ended (live or not at any given time), from the cache when it can.
func (c *AccessCache) grantsOn(ctx context.Context, db *gorm.DB, staffID int64, workspace string) ([]Grant, error) {
	key := "g:" + strconv.FormatInt(staffID, 10) + ":" + workspace
	return cached(ctx, c, key, func() ([]Grant, error) {
		gs, err := liveGrantRows(ctx, db, staffID, workspace)
		if err != nil {
			return nil, fmt.Errorf("live grants: %w", err)
		}
		return gs, nil
	})
}

// grantFor is GrantFor with the grants from the cache when it can: the
// grant is picked in memory among those live at now.
func (c *AccessCache) grantFor(ctx context.Context, db *gorm.DB, now time.Time, q GrantQuery) (Grant, GrantScope, error) {
	all, err := c.grantsOn(ctx, db, q.StaffID, q.Workspace)
	if err != nil {
		return Grant{}, GrantScope{}, err
	}
	live := make([]Grant, 0, len(all))
	for _, g := range all {
		if g.Live(now) {
			live = append(live, g)
		}
	}
	return pickGrant(live, q)
}

// AwaitingDecision is AwaitingDecision (the navigation's count) served
// from the cache when it can: a request made or decided moves the epoch;
// one that only expires leaves the count high for at most the TTL.
func (c *AccessCache) AwaitingDecision(ctx context.Context, db, product *gorm.DB, cl Clearance, now time.Time, s Staff) (int64, error) {
	roles, err := c.Roles(ctx, db)
	if err != nil {
		return 0, err
	}
	if s.Status != StatusActive || !roles.MayApprove(s.Tier) || !cl.Cleared(s, now) {
		return 0, nil
	}
	return cached(ctx, c, "ad:"+strconv.FormatInt(s.ID, 10), func() (int64, error) { return AwaitingDecision(ctx, db, product, cl, now, s) })
}

// Roles is LoadRoles served from the cache when it can: every change to a
// role or to who holds it is audited and so moves the epoch, and the
// next request anywhere reads the roles again.
func (c *AccessCache) Roles(ctx context.Context, db *gorm.DB) (*policy.Roles, error) {
	return cached(ctx, c, "roles", func() (*policy.Roles, error) { return LoadRoles(ctx, db) })
}
