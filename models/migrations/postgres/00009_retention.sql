-- +goose Up
-- Retention: what the scheduled job has done for each workspace of the
-- product's registry (notices, marking) and whether it was deleted. A
-- notice older than the workspace's last login no longer counts. The row
-- of a workspace is also the lock that deletion and legal holds take.
CREATE TABLE retention (
    slug              TEXT PRIMARY KEY,
    noticed_at        TIMESTAMPTZ,
    marked_at         TIMESTAMPTZ,
    second_noticed_at TIMESTAMPTZ,
    deleted_at        TIMESTAMPTZ,
    deletion_report   TEXT NOT NULL DEFAULT '', -- JSON: tables and row counts, never data
    updated_at        TIMESTAMPTZ NOT NULL
);

-- A legal hold stops every deletion of its workspace until it is lifted.
CREATE TABLE legal_holds (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        TEXT NOT NULL,
    reference   TEXT NOT NULL CHECK (reference <> ''),
    reason      TEXT NOT NULL CHECK (reason <> ''),
    placed_by   TEXT NOT NULL,
    placed_at   TIMESTAMPTZ NOT NULL,
    lifted_by   TEXT NOT NULL DEFAULT '',
    lifted_at   TIMESTAMPTZ,
    lift_reason TEXT NOT NULL DEFAULT '',
    CHECK ((lifted_at IS NULL) = (lifted_by = ''))
);
CREATE INDEX legal_holds_slug ON legal_holds (slug, id);
CREATE INDEX legal_holds_live ON legal_holds (slug) WHERE lifted_at IS NULL;

-- A customer's request to delete a workspace, recorded by staff and
-- confirmed by the workspace's owners through emailed links.
CREATE TABLE deletion_requests (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug                   TEXT NOT NULL,
    requested_by           BIGINT NOT NULL REFERENCES staff (id),
    note                   TEXT NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    expires_at             TIMESTAMPTZ NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired', 'done')),
    needed_confirmations   INTEGER NOT NULL CHECK (needed_confirmations IN (1, 2)),
    confirmed_at           TIMESTAMPTZ,
    updated_at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX deletion_requests_slug ON deletion_requests (slug, id);
CREATE INDEX deletion_requests_open ON deletion_requests (expires_at) WHERE status = 'pending';
-- At most one live request per workspace.
CREATE UNIQUE INDEX deletion_requests_one_live ON deletion_requests (slug) WHERE status IN ('pending', 'confirmed');

-- One confirmation link per owner, stored only as the SHA-256 of its
-- 256-bit token; confirmed_at is set once.
CREATE TABLE deletion_confirmations (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id   BIGINT NOT NULL REFERENCES deletion_requests (id),
    recipient    TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ,
    ip           TEXT NOT NULL DEFAULT '',
    UNIQUE (request_id, recipient)
);

-- +goose Down
DROP TABLE deletion_confirmations;
DROP TABLE deletion_requests;
DROP TABLE legal_holds;
DROP TABLE retention;
