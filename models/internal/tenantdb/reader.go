package tenantdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config says where tenant data lives and how much a read may cost.
type Config struct {
	Dialect          Dialect       // SQLite or Postgres
	PostgresURL      string        // the product server, holding one schema per workspace
	SQLiteDir        string        // the directory holding one file per workspace
	StatementTimeout time.Duration // per read; default 3s
	MaxPageSize      int           // rows per page at most; default 50
	MaxPools         int           // connection pools kept open at once; default 32
}

// Workspace names the workspace to read. DSN is set for a workspace on its
// own database server: a postgres:// URL of the server holding its schema,
// or (embedded mode) the directory, optionally prefixed "sqlite:", holding
// its file. The registry, never the request, supplies both.
type Workspace struct {
	Slug string
	DSN  string
}

// Reader reads tenant data read-only. It is safe for concurrent use.
type Reader struct {
	cfg    Config
	mu     sync.Mutex
	pools  map[string]*pool
	tick   uint64 // orders pool use, for evicting the least recently used
	closed bool
	scopes atomic.Int64 // tenant scopes entered, so tests can see validation came first
}

// pool is one cached *sql.DB. An evicted pool is closed when its last
// user releases it.
type pool struct {
	db      *sql.DB
	dialect Dialect
	file    os.FileInfo // SQLite: the file the pool has open
	pinned  bool        // the product server's pool is never evicted
	refs    int
	lastUse uint64
	evicted bool

	mu    sync.Mutex
	times map[string]map[string]bool // SQLite: time columns by table
}

// Open checks cfg and returns a Reader. On PostgreSQL it connects to the
// product server at once, so a bad URL fails the start; SQLite files are
// opened when first read.
func Open(ctx context.Context, cfg Config) (*Reader, error) {
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = 3 * time.Second
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = 50
	}
	if cfg.MaxPools <= 0 {
		cfg.MaxPools = 32
	}
	r := &Reader{cfg: cfg, pools: map[string]*pool{}}
	switch cfg.Dialect {
	case Postgres:
		db, err := openPostgres(cfg.PostgresURL)
		if err != nil {
			return nil, err
		}
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("tenant data server: %w", err)
		}
		r.pools[cfg.PostgresURL] = &pool{db: db, dialect: Postgres, pinned: true}
	case SQLite:
		if fi, err := os.Stat(cfg.SQLiteDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("tenant data directory %q: not a directory", cfg.SQLiteDir)
		}
	default:
		return nil, fmt.Errorf("tenant data: unknown dialect %q", cfg.Dialect)
	}
	return r, nil
}

// Close closes every pool; pools in use close when their read ends.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for key, p := range r.pools {
		errs = append(errs, r.evictLocked(key, p))
	}
	return errors.Join(errs...)
}

// Forget closes the pool reading ws (once its reads end), as after the
// workspace's deletion: an open SQLite handle would keep the removed
// file's space.
func (r *Reader) Forget(ws Workspace) {
	loc, err := r.locate(ws)
	if err != nil || loc.dialect != SQLite {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pools[loc.key]; p != nil {
		r.evictLocked(loc.key, p)
	}
}

// acquire returns the pool for ws and a func to release it.
func (r *Reader) acquire(ws Workspace) (*pool, func(), error) {
	loc, err := r.locate(ws)
	if err != nil {
		return nil, nil, err
	}
	var fi os.FileInfo
	if loc.dialect == SQLite {
		// Stat on every read: a deleted or replaced file must not keep
		// being served from an old open handle.
		if fi, err = os.Stat(loc.path); err != nil {
			return nil, nil, fmt.Errorf("workspace %s: %w", ws.Slug, ErrNotFound)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, errors.New("tenant data reader is closed")
	}
	p := r.pools[loc.key]
	if p != nil && fi != nil && !os.SameFile(p.file, fi) {
		r.evictLocked(loc.key, p)
		p = nil
	}
	if p == nil {
		db, err := loc.open()
		if err != nil {
			return nil, nil, err
		}
		p = &pool{db: db, dialect: loc.dialect, file: fi}
		r.makeRoomLocked()
		r.pools[loc.key] = p
	}
	r.tick++
	p.lastUse = r.tick
	p.refs++
	return p, func() { r.release(p) }, nil
}

func (r *Reader) release(p *pool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.refs--
	if p.evicted && p.refs == 0 {
		p.db.Close()
	}
}

// makeRoomLocked evicts least recently used pools until one more fits.
func (r *Reader) makeRoomLocked() {
	for len(r.pools) >= r.cfg.MaxPools {
		var oldKey string
		var old *pool
		for k, p := range r.pools {
			if !p.pinned && (old == nil || p.lastUse < old.lastUse) {
				oldKey, old = k, p
			}
		}
		if old == nil {
			return
		}
		r.evictLocked(oldKey, old)
	}
}

func (r *Reader) evictLocked(key string, p *pool) error {
	delete(r.pools, key)
	p.evicted = true
	if p.refs == 0 {
		return p.db.Close()
	}
	return nil
}
