package tenantdb

import (
	"context"
	"database/sql"
)

// QueryInScope runs stmt in the scope a tenant read of ws runs in and
// returns the first column of its first row as text.
func (r *Reader) QueryInScope(ctx context.Context, ws Workspace, stmt string) (string, error) {
	var out string
	err := r.inScope(ctx, ws, func(ctx context.Context, s scope) error {
		rows, err := s.q.QueryContext(ctx, stmt)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return sql.ErrNoRows
		}
		var v any
		if err := rows.Scan(&v); err != nil {
			return err
		}
		out = text(v).Text
		return rows.Err()
	})
	return out, err
}

// Pool returns the pool the reader reads ws through.
func (r *Reader) Pool(ws Workspace) (*sql.DB, error) {
	p, release, err := r.acquire(ws)
	if err != nil {
		return nil, err
	}
	release()
	return p.db, nil
}

// Scopes returns how many tenant scopes the reader has entered.
func (r *Reader) Scopes() int64 { return r.scopes.Load() }

// PoolCount returns how many pools the reader holds open.
func (r *Reader) PoolCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pools)
}
