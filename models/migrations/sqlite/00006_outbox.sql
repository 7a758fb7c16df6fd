-- +goose Up
-- The mail outbox: a mail is a row written in the transaction of the change
-- it tells about; a worker claims due rows and sends them. The body (text
-- and HTML parts) is sealed with AES-256-GCM under a key derived from the
-- session key, as it may carry a consent link; recipient and subject are
-- kept in clear for the dev mailbox and operations, and never hold a token.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            BLOB NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    claimed_until   DATETIME,
    claimed_by      TEXT NOT NULL DEFAULT '',
    workspace       TEXT NOT NULL DEFAULT '',
    request_id      INTEGER,
    created_at      DATETIME NOT NULL,
    sent_at         DATETIME
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at, id) WHERE status = 'queued';

-- +goose Down
DROP TABLE mail_outbox;
