-- +goose Up
CREATE TABLE staff (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    tier                TEXT NOT NULL CHECK (tier IN ('engineer', 'support', 'senior', 'sysadmin', 'auditor')),
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'offboarded')),
    oidc_issuer         TEXT,
    oidc_subject        TEXT,
    agreement_version   TEXT NOT NULL DEFAULT '',
    agreement_signed_at TIMESTAMPTZ,
    training_at         TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    offboarded_at       TIMESTAMPTZ,
    UNIQUE (oidc_issuer, oidc_subject)
);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    staff_id     BIGINT NOT NULL REFERENCES staff (id),
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    auth_at      TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ,
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
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
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

-- The audit log is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE login_flows;
DROP TABLE sessions;
DROP TABLE staff;
