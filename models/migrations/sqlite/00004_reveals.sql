-- +goose Up
-- A reveal shows one masked personal field of one record to one staff
-- member for a few minutes. The reason is in its data.revealed audit event.
CREATE TABLE reveals (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    staff_id   INTEGER NOT NULL REFERENCES staff (id),
    grant_id   INTEGER NOT NULL REFERENCES grants (id),
    workspace  TEXT NOT NULL,
    table_name TEXT NOT NULL,
    record_id  INTEGER NOT NULL,
    field      TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX reveals_record ON reveals (staff_id, workspace, table_name, record_id);

-- +goose Down
DROP TABLE reveals;
