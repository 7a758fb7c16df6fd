-- +goose Up
-- SQLite gets an index (workspace, at) for a workspace's events of a
-- period; here audit_events_workspace (workspace, seq) serves them within
-- the period's monthly partitions. This version exists so both engines
-- stay at the same number.
SELECT 1;

-- +goose Down
SELECT 1;
