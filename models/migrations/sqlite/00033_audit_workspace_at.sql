-- +goose Up
-- A workspace's events of a period: the monthly transparency report of
-- each workspace (CountReport), and the audit search by workspace and
-- time. (workspace, seq) reads the workspace's whole history for them
-- (a busy one's: 0.36 s at 10M events) and (action, at) every
-- workspace's events of the period; PostgreSQL reads (workspace, seq)
-- within the period's monthly partitions. The index's entries end with
-- the rowid, seq, so it also serves the search's order (at, seq).
CREATE INDEX audit_events_workspace_at ON audit_events (workspace, at);

-- +goose Down
DROP INDEX audit_events_workspace_at;
