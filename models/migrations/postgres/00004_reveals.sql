-- +goose Up
-- A reveal shows one masked personal field of one record to one staff
-- member for a few minutes. The reason is in its data.revealed audit event.
CREATE TABLE reveals (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id   BIGINT NOT NULL REFERENCES staff (id),
    grant_id   BIGINT NOT NULL REFERENCES grants (id),
    workspace  TEXT NOT NULL,
    table_name TEXT NOT NULL,
    record_id  BIGINT NOT NULL,
    field      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX reveals_record ON reveals (staff_id, workspace, table_name, record_id);

-- +goose Down
DROP TABLE reveals;
