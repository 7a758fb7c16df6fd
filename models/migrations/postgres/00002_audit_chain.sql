-- +goose Up
-- The audit log becomes a hash chain (see models/auditchain.go): every event
-- carries the hash of the one before it, and audit_head holds the newest
-- (seq, hash) so that appenders know where to continue.
ALTER TABLE audit_events
    ADD COLUMN table_name    TEXT NOT NULL DEFAULT '',
    ADD COLUMN record_ids    TEXT NOT NULL DEFAULT '',
    ADD COLUMN grant_id      BIGINT,
    ADD COLUMN breakglass_id BIGINT,
    ADD COLUMN prev_hash     TEXT NOT NULL DEFAULT '',
    ADD COLUMN hash          TEXT NOT NULL DEFAULT '';
-- seq is assigned by the appender (head.seq + 1 under the head's row lock),
-- so it has no gaps even when transactions roll back; an identity would.
ALTER TABLE audit_events ALTER COLUMN seq DROP IDENTITY;
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

-- Still append-only (UPDATE, DELETE, TRUNCATE refused), with one exception:
-- while the head is unsealed, a legacy row (hash = '') may be sealed,
-- changing only seq, prev_hash and hash.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND OLD.hash = '' AND NEW.hash <> '' AND NEW.prev_hash <> ''
        AND (SELECT hash FROM audit_head WHERE id = 1) = ''
        AND ROW(NEW.at, NEW.actor, NEW.actor_tier, NEW.action, NEW.workspace, NEW.target,
                NEW.reason, NEW.detail, NEW.ip, NEW.user_agent, NEW.request_id,
                NEW.table_name, NEW.record_ids, NEW.grant_id, NEW.breakglass_id)
            IS NOT DISTINCT FROM
            ROW(OLD.at, OLD.actor, OLD.actor_tier, OLD.action, OLD.workspace, OLD.target,
                OLD.reason, OLD.detail, OLD.ip, OLD.user_agent, OLD.request_id,
                OLD.table_name, OLD.record_ids, OLD.grant_id, OLD.breakglass_id)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END;
$$;
-- +goose StatementEnd

-- The head only moves forward and is never removed.
-- +goose StatementBegin
CREATE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq >= OLD.seq AND NEW.hash <> '' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_head only moves forward (% refused)', TG_OP;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_forward();

-- +goose Down
DROP TABLE audit_head;
DROP FUNCTION audit_head_forward();
DROP INDEX audit_events_workspace;
ALTER TABLE audit_events
    DROP COLUMN hash,
    DROP COLUMN prev_hash,
    DROP COLUMN breakglass_id,
    DROP COLUMN grant_id,
    DROP COLUMN record_ids,
    DROP COLUMN table_name;
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('ALTER TABLE audit_events ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (START WITH %s)',
                   (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events));
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END;
$$;
-- +goose StatementEnd
