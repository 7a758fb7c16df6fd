-- +goose Up
CREATE TABLE staff (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    tier                TEXT NOT NULL CHECK (tier IN ('engineer', 'support', 'senior', 'sysadmin', 'auditor')),
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'offboarded')),
    oidc_issuer         TEXT,
    oidc_subject        TEXT,
    agreement_version   TEXT NOT NULL DEFAULT '',
    agreement_signed_at DATETIME,
    training_at         DATETIME,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL,
    offboarded_at       DATETIME,
    UNIQUE (oidc_issuer, oidc_subject)
);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    staff_id     INTEGER NOT NULL REFERENCES staff (id),
    created_at   DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL,
    auth_at      DATETIME NOT NULL,
    ended_at     DATETIME,
    end_reason   TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_live_by_staff ON sessions (staff_id) WHERE ended_at IS NULL;

CREATE TABLE login_flows (
    state_hash TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    return_to  TEXT NOT NULL,
    step_up    BOOLEAN NOT NULL,
    login_hint TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);

CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         DATETIME NOT NULL,
    actor      TEXT NOT NULL,
    actor_tier TEXT NOT NULL DEFAULT '',
    action     TEXT NOT NULL,
    workspace  TEXT NOT NULL DEFAULT '',
    target     TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);

-- The audit log is append-only.
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_events;
DROP TABLE login_flows;
DROP TABLE sessions;
DROP TABLE staff;
