-- +goose Up
-- A grant lets one staff member read one workspace's data, within a scope,
-- for a time. It comes from a consented access request or a break-glass.
CREATE TABLE grants (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace     TEXT NOT NULL,
    grantee_id    INTEGER NOT NULL REFERENCES staff (id),
    scope         TEXT NOT NULL DEFAULT '',
    unmask        BOOLEAN NOT NULL DEFAULT FALSE,
    starts_at     DATETIME NOT NULL,
    ends_at       DATETIME NOT NULL,
    ended_at      DATETIME,
    ended_by      TEXT NOT NULL DEFAULT '',
    ended_why     TEXT NOT NULL DEFAULT '',
    request_id    INTEGER,
    breakglass_id INTEGER,
    created_at    DATETIME NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX grants_live ON grants (grantee_id, workspace) WHERE ended_at IS NULL;
CREATE INDEX grants_workspace ON grants (workspace, id);

-- +goose Down
DROP TABLE grants;
