package tenantdb

import (
	"context"
	"fmt"
)

// Tables returns the tables of ws and their columns in declaration order,
// so the data catalog can be checked against what exists. A workspace
// without tables gives a wrapped ErrNotFound.
func (r *Reader) Tables(ctx context.Context, ws Workspace) (map[string][]string, error) {
	tables := map[string][]string{}
	err := r.inScope(ctx, ws, func(ctx context.Context, s scope) error {
		stmt := `SELECT m.name, p.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY m.name, p.cid`
		var args []any
		if s.dialect == Postgres {
			stmt = `SELECT table_name, column_name FROM information_schema.columns
				WHERE table_schema = $1 ORDER BY table_name, ordinal_position`
			args = append(args, s.schema)
		}
		rows, err := s.q.QueryContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var table, column string
			if err := rows.Scan(&table, &column); err != nil {
				return err
			}
			tables[table] = append(tables[table], column)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("tables of %s: %w", ws.Slug, err)
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("tables of %s: %w", ws.Slug, ErrNotFound)
	}
	return tables, nil
}
