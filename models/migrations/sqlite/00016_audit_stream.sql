-- +goose Up
-- How far the audit stream (GATEHOUSE_AUDIT_STREAM) has been shipped: the
-- seq of the last event written to it (and synced, for a file). One row,
-- moved only by the process that holds the stream's claim (a lock on a
-- file beside the database); holder names that process, for operators.
-- Starting at 0, a new installation streams the whole log from seq 1.
CREATE TABLE audit_stream (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    shipped_seq BIGINT NOT NULL CHECK (shipped_seq >= 0),
    shipped_at  DATETIME,
    holder      TEXT NOT NULL DEFAULT '',
    claimed_at  DATETIME
);
INSERT INTO audit_stream (id, shipped_seq) VALUES (1, 0);

-- +goose Down
DROP TABLE audit_stream;
