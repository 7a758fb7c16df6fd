-- +goose Up
-- PostgreSQL's audit_record_keys gets a cheaper body; SQLite has no such
-- function (see 00005). This version exists so both engines stay at the
-- same number.
SELECT 1;

-- +goose Down
SELECT 1;
