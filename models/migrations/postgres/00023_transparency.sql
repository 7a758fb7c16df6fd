-- +goose Up
-- Transparency reports (models/transparency.go): one row per workspace and
-- period, made by whichever replica's job gets there first (the unique key
-- makes the others' inserts do nothing), in the transaction that queues
-- its mails. figures is the report as it was sent, as JSON.
CREATE TABLE transparency_reports (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace    TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end   TIMESTAMPTZ NOT NULL,
    figures      TEXT NOT NULL,
    recipients   INTEGER NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace, period_start)
);
-- An owner's link to a report, as for consent links: only the SHA-256 of
-- its token is stored.
CREATE TABLE transparency_links (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id  BIGINT NOT NULL REFERENCES transparency_reports (id),
    recipient  TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX transparency_links_report ON transparency_links (report_id);
-- Owners who turned the report's mail off, per workspace.
CREATE TABLE transparency_mail_off (
    workspace  TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace, recipient)
);

-- +goose Down
DROP TABLE transparency_mail_off;
DROP TABLE transparency_links;
DROP TABLE transparency_reports;
