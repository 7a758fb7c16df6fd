-- +goose Up
-- "Who viewed record X of workspace W" (the audit search's Record filter
-- with a workspace) without reading every event of the workspace:
-- audit_record_keys turns an event's comma-separated record_ids into the
-- distinct blocks of 16 ids it touches, qualified by the workspace
-- ('acme' and '7,12,70' give {acme<US>0, acme<US>4}); an id that is not a
-- plain number is its own key ('acme<US>r' || id). A page of 50
-- consecutive ids is 4 or 5 keys, not 50: over 10 M events the index is
-- 191 MB (one key per id: about 3.6 GB), each view adds a handful of
-- entries, and a search still fetches only about 1.3 candidate rows per
-- real match. The search asks for the block of its
-- own (workspace, id) through the same function, so both sides agree, and
-- re-checks the comma-separated list exactly on the rows the index
-- returns (7 and 12 share a block; only one is the record).
-- Index maintenance needs no privilege: the portal role keeps INSERT and
-- SELECT only, and the append-only triggers are untouched.
CREATE FUNCTION audit_record_keys(workspace TEXT, record_ids TEXT) RETURNS TEXT[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY(
        SELECT DISTINCT workspace || E'\x1f' || CASE WHEN id ~ '^[0-9]{1,18}$' THEN (id::BIGINT / 16)::TEXT ELSE 'r' || id END
        FROM unnest(string_to_array(NULLIF(record_ids, ''), ',')) AS id
    );
CREATE INDEX audit_events_record_keys ON audit_events USING gin (audit_record_keys(workspace, record_ids));
-- The filter's other half, target = the record, uses audit_events_target
-- (migration 00007).

-- +goose Down
DROP INDEX audit_events_record_keys;
DROP FUNCTION audit_record_keys(TEXT, TEXT);
