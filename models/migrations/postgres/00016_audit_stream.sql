-- +goose Up
-- How far the audit stream (GATEHOUSE_AUDIT_STREAM) has been shipped: the
-- seq of the last event written to it (and synced, for a file). One row,
-- moved only by the replica that holds the stream's claim (a session
-- advisory lock); holder names that replica, for operators. Starting at 0,
-- a new installation streams the whole log from seq 1.
CREATE TABLE audit_stream (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    shipped_seq BIGINT NOT NULL CHECK (shipped_seq >= 0),
    shipped_at  TIMESTAMPTZ,
    holder      TEXT NOT NULL DEFAULT '',
    claimed_at  TIMESTAMPTZ
);
INSERT INTO audit_stream (id, shipped_seq) VALUES (1, 0);

-- +goose Down
DROP TABLE audit_stream;
