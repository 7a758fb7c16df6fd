-- +goose Up
-- An access request asks for a grant: a second senior approves it, then a
-- workspace owner consents through an emailed link. Its timeline is the
-- audit log (target 'request/<id>').
CREATE TABLE access_requests (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace        TEXT NOT NULL,
    requester_id     BIGINT NOT NULL REFERENCES staff (id),
    grantee_id       BIGINT NOT NULL REFERENCES staff (id),
    reason           TEXT NOT NULL,
    ticket           TEXT NOT NULL,
    scope            TEXT NOT NULL DEFAULT '',
    unmask           BOOLEAN NOT NULL DEFAULT FALSE,
    duration_seconds BIGINT NOT NULL CHECK (duration_seconds > 0),
    status           TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    decided_by_id    BIGINT REFERENCES staff (id),
    decided_at       TIMESTAMPTZ,
    decision_note    TEXT NOT NULL DEFAULT '',
    consent_deadline TIMESTAMPTZ,
    grant_id         BIGINT REFERENCES grants (id),
    updated_at       TIMESTAMPTZ NOT NULL,
    CHECK (decided_by_id IS NULL OR (decided_by_id <> requester_id AND decided_by_id <> grantee_id))
);
CREATE INDEX access_requests_workspace ON access_requests (workspace, id);
CREATE INDEX access_requests_status ON access_requests (status, id);
CREATE INDEX access_requests_requester ON access_requests (requester_id, id);
CREATE INDEX access_requests_grantee ON access_requests (grantee_id, id);
-- A request leads to one grant at most, and a grant to one request.
CREATE UNIQUE INDEX access_requests_grant ON access_requests (grant_id) WHERE grant_id IS NOT NULL;

-- A consent link: one per owner of the workspace, stored only as the
-- SHA-256 of its 256-bit token.
CREATE TABLE consent_links (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES access_requests (id),
    recipient  TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX consent_links_request ON consent_links (request_id);

-- A customer's decision. One grant/deny/report per request; revokes are
-- recorded too.
CREATE TABLE consents (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES access_requests (id),
    link_id    BIGINT NOT NULL REFERENCES consent_links (id),
    recipient  TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('grant', 'deny', 'report', 'revoke')),
    decided_at TIMESTAMPTZ NOT NULL,
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    shown_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX consents_one_decision ON consents (request_id) WHERE decision <> 'revoke';

-- Notices about a grant's end are sent once.
ALTER TABLE grants ADD COLUMN warned_at TIMESTAMPTZ;
ALTER TABLE grants ADD COLUMN ended_notified_at TIMESTAMPTZ;
CREATE INDEX grants_unnotified ON grants (ends_at) WHERE ended_notified_at IS NULL;
CREATE UNIQUE INDEX grants_request ON grants (request_id) WHERE request_id IS NOT NULL;

CREATE INDEX audit_events_target ON audit_events (target, seq) WHERE target <> '';
CREATE INDEX audit_events_grant ON audit_events (grant_id, seq) WHERE grant_id IS NOT NULL;

-- +goose Down
DROP INDEX audit_events_grant;
DROP INDEX audit_events_target;
DROP INDEX grants_request;
DROP INDEX grants_unnotified;
ALTER TABLE grants DROP COLUMN ended_notified_at;
ALTER TABLE grants DROP COLUMN warned_at;
DROP INDEX access_requests_grant;
DROP TABLE consents;
DROP TABLE consent_links;
DROP TABLE access_requests;
