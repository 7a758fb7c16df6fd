-- +goose Up
-- A grant lets one staff member read one workspace's data, within a scope,
-- for a time. It comes from a consented access request or a break-glass.
CREATE TABLE grants (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace     TEXT NOT NULL,
    grantee_id    BIGINT NOT NULL REFERENCES staff (id),
    scope         TEXT NOT NULL DEFAULT '',
    unmask        BOOLEAN NOT NULL DEFAULT FALSE,
    starts_at     TIMESTAMPTZ NOT NULL,
    ends_at       TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ,
    ended_by      TEXT NOT NULL DEFAULT '',
    ended_why     TEXT NOT NULL DEFAULT '',
    request_id    BIGINT,
    breakglass_id BIGINT,
    created_at    TIMESTAMPTZ NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX grants_live ON grants (grantee_id, workspace) WHERE ended_at IS NULL;
CREATE INDEX grants_workspace ON grants (workspace, id);

-- +goose Down
DROP TABLE grants;
