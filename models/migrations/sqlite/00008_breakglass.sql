-- +goose Up
-- A break-glass is a sysadmin's emergency access to a whole workspace for
-- an incident: it opens a grant at once (grants.breakglass_id points back
-- here) and stays unreviewed until a second sysadmin reviews it.
CREATE TABLE breakglass (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace      TEXT NOT NULL,
    opener_id      INTEGER NOT NULL REFERENCES staff (id),
    incident       TEXT NOT NULL,
    justification  TEXT NOT NULL,
    opened_at      DATETIME NOT NULL,
    ends_at        DATETIME NOT NULL,
    grant_id       INTEGER REFERENCES grants (id),
    reviewed_by_id INTEGER REFERENCES staff (id),
    reviewed_at    DATETIME,
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
