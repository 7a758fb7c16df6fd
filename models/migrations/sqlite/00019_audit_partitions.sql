-- +goose Up
-- PostgreSQL partitions audit_events by month here; SQLite keeps one
-- table (the migration numbers of both engines stay in step).
SELECT 1;

-- +goose Down
SELECT 1;
