-- +goose Up
-- The audit log becomes a hash chain (see models/auditchain.go): every event
-- carries the hash of the one before it, and audit_head holds the newest
-- (seq, hash) so that appenders know where to continue.
ALTER TABLE audit_events ADD COLUMN table_name TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN record_ids TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN grant_id BIGINT;
ALTER TABLE audit_events ADD COLUMN breakglass_id BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_workspace ON audit_events (workspace, seq);

-- One row. hash = '' means "rows written before this migration are not yet
-- sealed into the chain" (SealAuditChain does it); an empty log starts
-- sealed at the genesis hash.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
SELECT 1, 0, CASE WHEN EXISTS (SELECT 1 FROM audit_events) THEN ''
                  ELSE '0000000000000000000000000000000000000000000000000000000000000000' END;

-- Still append-only, with one exception: while the head is unsealed, a
-- legacy row (hash = '') may be sealed, changing only seq, prev_hash and hash.
DROP TRIGGER audit_events_no_update;
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (
    OLD.hash = '' AND NEW.hash <> '' AND NEW.prev_hash <> ''
    AND (SELECT hash FROM audit_head WHERE id = 1) = ''
    AND NEW.at IS OLD.at AND NEW.actor IS OLD.actor AND NEW.actor_tier IS OLD.actor_tier
    AND NEW.action IS OLD.action AND NEW.workspace IS OLD.workspace AND NEW.target IS OLD.target
    AND NEW.reason IS OLD.reason AND NEW.detail IS OLD.detail AND NEW.ip IS OLD.ip
    AND NEW.user_agent IS OLD.user_agent AND NEW.request_id IS OLD.request_id
    AND NEW.table_name IS OLD.table_name AND NEW.record_ids IS OLD.record_ids
    AND NEW.grant_id IS OLD.grant_id AND NEW.breakglass_id IS OLD.breakglass_id
)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- The head only moves forward and is never removed.
-- +goose StatementBegin
CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
WHEN NEW.id IS NOT OLD.id OR NEW.seq < OLD.seq OR NEW.hash = ''
BEGIN
    SELECT RAISE(ABORT, 'audit_head only moves forward');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head cannot be deleted');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_head_no_delete;
DROP TRIGGER audit_head_forward;
DROP TABLE audit_head;
DROP TRIGGER audit_events_no_update;
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd
DROP INDEX audit_events_workspace;
ALTER TABLE audit_events DROP COLUMN hash;
ALTER TABLE audit_events DROP COLUMN prev_hash;
ALTER TABLE audit_events DROP COLUMN breakglass_id;
ALTER TABLE audit_events DROP COLUMN grant_id;
ALTER TABLE audit_events DROP COLUMN record_ids;
ALTER TABLE audit_events DROP COLUMN table_name;
