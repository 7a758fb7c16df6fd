-- +goose Up
-- A break-glass is a sysadmin's emergency access to a whole workspace for
-- an incident: it opens a grant at once (grants.breakglass_id points back
-- here) and stays unreviewed until a second sysadmin reviews it.
CREATE TABLE breakglass (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace      TEXT NOT NULL,
    opener_id      BIGINT NOT NULL REFERENCES staff (id),
    incident       TEXT NOT NULL,
    justification  TEXT NOT NULL,
    opened_at      TIMESTAMPTZ NOT NULL,
    ends_at        TIMESTAMPTZ NOT NULL,
    grant_id       BIGINT REFERENCES grants (id),
    reviewed_by_id BIGINT REFERENCES staff (id),
    reviewed_at    TIMESTAMPTZ,
    review_note    TEXT NOT NULL DEFAULT '',
    CHECK (ends_at > opened_at),
    -- The two-person rule, kept by the database too.
    CHECK (reviewed_by_id IS NULL OR reviewed_by_id <> opener_id),
    CHECK ((reviewed_at IS NULL) = (reviewed_by_id IS NULL))
);
CREATE INDEX breakglass_unreviewed ON breakglass (opened_at) WHERE reviewed_at IS NULL;
CREATE INDEX breakglass_workspace ON breakglass (workspace, id);

-- +goose Down
DROP TABLE breakglass;
