-- +goose Up
-- Detection (policy/detection.toml). detection_position is the seq of the
-- last audit event the rules have evaluated; the evaluator locks it, reads
-- the events after it, raises their alerts and moves it, all in one
-- transaction, so each event is evaluated exactly once however many
-- replicas run the job.
CREATE TABLE detection_position (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    seq          BIGINT NOT NULL CHECK (seq >= 0),
    evaluated_at DATETIME
);
-- A new installation starts at the head: history before detection existed
-- raises nothing.
INSERT INTO detection_position (id, seq) SELECT 1, seq FROM audit_head WHERE id = 1;

-- Small aggregates the evaluator keeps so it never rescans the log:
-- counts per subject and time bucket (views per minute and per hour,
-- refusals, reveals), and the distinct items a subject touched with when
-- it last did (workspaces, records, break-glass uses awaiting review).
CREATE TABLE detection_counts (
    counter TEXT NOT NULL,
    subject TEXT NOT NULL,
    bucket  DATETIME NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (counter, subject, bucket)
);
CREATE INDEX detection_counts_bucket ON detection_counts (bucket);
CREATE TABLE detection_items (
    counter TEXT NOT NULL,
    subject TEXT NOT NULL,
    item    TEXT NOT NULL,
    last_at DATETIME NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (counter, subject, item)
);
CREATE INDEX detection_items_last ON detection_items (counter, last_at);

-- Alerts: one open (not resolved) alert per rule and subject; a repeat
-- adds evidence (audit seqs) to it.
CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    rule              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    subject_kind      TEXT NOT NULL CHECK (subject_kind IN ('staff', 'address', 'workspace')),
    subject           TEXT NOT NULL,
    workspace         TEXT NOT NULL DEFAULT '',
    severity          TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    summary           TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_at         DATETIME NOT NULL,
    last_seen_at      DATETIME NOT NULL,
    evidence_count    INTEGER NOT NULL DEFAULT 0,
    acknowledged_by   TEXT NOT NULL DEFAULT '',
    acknowledged_at   DATETIME,
    acknowledged_note TEXT NOT NULL DEFAULT '',
    resolved_by       TEXT NOT NULL DEFAULT '',
    resolved_at       DATETIME,
    resolved_note     TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (rule, subject_kind, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_list ON alerts (state, id);
CREATE INDEX alerts_workspace ON alerts (workspace, opened_at) WHERE workspace <> '';
CREATE TABLE alert_evidence (
    alert_id BIGINT NOT NULL REFERENCES alerts (id),
    seq      BIGINT NOT NULL,
    PRIMARY KEY (alert_id, seq)
);

-- Webhook deliveries of new alerts, queued with the alert and posted by a
-- worker afterwards, so a slow or failing webhook never holds up the
-- evaluator or the audit log.
CREATE TABLE alert_webhooks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        BIGINT NOT NULL REFERENCES alerts (id),
    body            BLOB NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    claimed_until   DATETIME,
    last_error      TEXT NOT NULL DEFAULT '',
    sent_at         DATETIME
);
CREATE INDEX alert_webhooks_due ON alert_webhooks (next_attempt_at, id) WHERE status = 'queued';

-- +goose Down
DROP TABLE alert_webhooks;
DROP TABLE alert_evidence;
DROP TABLE alerts;
DROP TABLE detection_items;
DROP TABLE detection_counts;
DROP TABLE detection_position;
