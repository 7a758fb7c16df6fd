-- +goose Up
-- Proposed policy changes under the two-person rule (models/proposal.go):
-- a change of consequence (today a staff member's tier) is stored here as
-- pending and takes effect only when an active sysadmin other than its
-- proposer approves it. payload is the change asked for and before the
-- state it was asked against, both JSON written by the kind's applier;
-- an approval that finds the state no longer matching before marks the
-- proposal stale and applies nothing.
CREATE TABLE policy_proposals (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           TEXT NOT NULL,
    subject        TEXT NOT NULL,
    payload        TEXT NOT NULL,
    before         TEXT NOT NULL,
    reason         TEXT NOT NULL,
    proposed_by    BIGINT NOT NULL REFERENCES staff (id),
    proposer_email TEXT NOT NULL,
    proposed_at    TIMESTAMPTZ NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn', 'stale')),
    decided_by     BIGINT REFERENCES staff (id),
    decider_email  TEXT NOT NULL DEFAULT '',
    decided_at     TIMESTAMPTZ,
    decision_note  TEXT NOT NULL DEFAULT '',
    -- Nobody approves or rejects their own proposal (a withdrawal is the
    -- proposer's own decision).
    CHECK (decided_by IS NULL OR status = 'withdrawn' OR decided_by <> proposed_by),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE INDEX policy_proposals_status ON policy_proposals (status, id);
-- At most one pending proposal per subject of a kind: a second would be
-- approved against a state the first may change.
CREATE UNIQUE INDEX policy_proposals_one_pending ON policy_proposals (kind, subject) WHERE status = 'pending';

-- +goose Down
DROP INDEX policy_proposals_one_pending;
DROP INDEX policy_proposals_status;
DROP TABLE policy_proposals;
