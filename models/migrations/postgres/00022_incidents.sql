-- +goose Up
-- Incidents and breach notices (models/incident.go). An incident is
-- declared by a sysadmin; affected holds the workspaces found from the
-- audit evidence, with what was accessed in each, as JSON; alert_id is
-- the alert it came from, a plain number (alerts are another table's).
CREATE TABLE incidents (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       TEXT NOT NULL,
    summary     TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    started_at  TIMESTAMPTZ NOT NULL,
    detected_at TIMESTAMPTZ NOT NULL,
    alert_id    BIGINT,
    declared_by BIGINT NOT NULL REFERENCES staff (id),
    declared_at TIMESTAMPTZ NOT NULL,
    affected    TEXT NOT NULL DEFAULT '',
    closed_at   TIMESTAMPTZ,
    closed_by   BIGINT REFERENCES staff (id),
    postmortem  TEXT NOT NULL DEFAULT '',
    CHECK (detected_at >= started_at)
);
CREATE INDEX incidents_open ON incidents (declared_at) WHERE closed_at IS NULL;

-- A notice to the owners of the affected workspaces: the first, then
-- follow-ups. It is sent once a sysadmin other than its author approves
-- it (approved_by set by one conditional update: one winner).
CREATE TABLE incident_notices (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    body        TEXT NOT NULL,
    author_id   BIGINT NOT NULL REFERENCES staff (id),
    created_at  TIMESTAMPTZ NOT NULL,
    approved_by BIGINT REFERENCES staff (id),
    approved_at TIMESTAMPTZ,
    CHECK (approved_by IS NULL OR approved_by <> author_id)
);
CREATE INDEX incident_notices_incident ON incident_notices (incident_id, id);

-- One owner's copy of a notice: its outbox mail (whose status is the
-- delivery state) and the link to read it, stored as a hash only.
CREATE TABLE incident_deliveries (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notice_id  BIGINT NOT NULL REFERENCES incident_notices (id),
    workspace  TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    mail_id    BIGINT NOT NULL REFERENCES mail_outbox (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (notice_id, workspace, recipient)
);

-- Containment recorded on the incident: whose sessions and grants were
-- ended, and how many.
CREATE TABLE incident_actions (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id    BIGINT NOT NULL REFERENCES incidents (id),
    staff          TEXT NOT NULL,
    sessions_ended INTEGER NOT NULL,
    grants_ended   INTEGER NOT NULL,
    note           TEXT NOT NULL,
    by_id          BIGINT NOT NULL REFERENCES staff (id),
    at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX incident_actions_incident ON incident_actions (incident_id, id);

-- +goose Down
DROP TABLE incident_actions;
DROP TABLE incident_deliveries;
DROP TABLE incident_notices;
DROP TABLE incidents;
