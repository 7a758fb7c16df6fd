-- +goose Up
-- The dashboards' 30-day chart counts data views per day: one range scan
-- of this index (action, then time) instead of the whole log.
CREATE INDEX audit_events_action_at ON audit_events (action, at);

-- A copy of each signed audit checkpoint, for the auditors' dashboard;
-- the audit stream holds the checkpoints verification relies on.
CREATE TABLE audit_checkpoints (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- Each walk of the audit chain (gatehouse audit verify) and its result.
-- Kept outside the chain: a walk changes nothing, and an event for it
-- would move the head it has just verified.
CREATE TABLE audit_verifications (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    actor   TEXT NOT NULL,
    ok      BOOLEAN NOT NULL,
    head    BIGINT NOT NULL,
    broken  BIGINT NOT NULL DEFAULT 0,
    problem TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE audit_verifications;
DROP TABLE audit_checkpoints;
DROP INDEX audit_events_action_at;
