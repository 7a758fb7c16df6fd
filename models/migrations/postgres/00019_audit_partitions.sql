-- +goose Up
-- audit_events becomes partitioned by month on `at` (declarative range
-- partitioning), so the log stays fast as it grows and a closed month can be
-- archived and detached on its own. The chain is unchanged: seq and hashes
-- run on across partitions; appenders still take seq from audit_head under
-- its row lock, so seq stays unique though the key is now (seq, at) (a
-- partitioned table's key must hold the partition column).
--
-- The existing table, with every row, is attached as the partition
-- audit_events_before (everything before the first month that gets a
-- partition of its own: the month after its newest row, and at least the
-- next month), without copying a row. Every index of the old table is
-- recreated on the new parent under its own name (whatever migrations
-- created it), so later migrations that drop or replace one still work;
-- PostgreSQL matches each to the old table's index on attach. The old
-- table's grants are given to the parent, and every partition gets the
-- append-only triggers and the same grants (audit_events_ensure_partitions).

-- Gives table `dst` every grant `src` has (but its owner's): how the
-- parent passes its grants to each partition.
-- +goose StatementBegin
CREATE FUNCTION audit_events_copy_grants(src regclass, dst regclass) RETURNS void
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT a.grantee, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
              WHERE c.oid = src AND a.grantee <> c.relowner LOOP
        EXECUTE format('GRANT %s ON %s TO %s', g.privilege_type, dst,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
    END LOOP;
END;
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION audit_events_copy_grants(regclass, regclass) FROM PUBLIC;

-- +goose StatementBegin
DO $$
DECLARE
    defs  text[];
    def   text;
    idx   record;
    bound timestamptz;
BEGIN
    -- The old table's indexes other than its primary key, as SQL.
    SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid) ORDER BY c.relname), '{}')
      INTO defs
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = 'audit_events'::regclass AND NOT i.indisprimary;
    FOR idx IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = 'audit_events'::regclass AND NOT i.indisprimary LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.relname, left(idx.relname, 50) || '_before');
    END LOOP;
    ALTER TABLE audit_events RENAME CONSTRAINT audit_events_pkey TO audit_events_before_pkey;
    ALTER TABLE audit_events RENAME TO audit_events_before;
    -- Its own triggers go: the parent's are cloned onto it on attach.
    DROP TRIGGER audit_events_no_update_delete ON audit_events_before;
    DROP TRIGGER audit_events_no_truncate ON audit_events_before;

    CREATE TABLE audit_events (LIKE audit_events_before INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
        PARTITION BY RANGE (at);
    ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY (seq, at);
    FOREACH def IN ARRAY defs LOOP
        EXECUTE def; -- still names audit_events: defs were taken before the rename
    END LOOP;
    PERFORM audit_events_copy_grants('audit_events_before', 'audit_events');

    -- The primary key on the old table becomes (seq, at) too, to be the
    -- partition of the parent's key.
    ALTER TABLE audit_events_before DROP CONSTRAINT audit_events_before_pkey;
    ALTER TABLE audit_events_before ADD CONSTRAINT audit_events_before_pkey PRIMARY KEY (seq, at);

    -- Months are UTC months.
    bound := greatest((date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC',
                      (SELECT (date_trunc('month', max(at) AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
                         FROM audit_events_before));
    -- A constraint proving the bound spares the attach a second scan.
    EXECUTE format('ALTER TABLE audit_events_before ADD CONSTRAINT audit_events_before_bound CHECK (at IS NOT NULL AND at < %L)', bound);
    EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION audit_events_before FOR VALUES FROM (MINVALUE) TO (%L)', bound);
    ALTER TABLE audit_events_before DROP CONSTRAINT audit_events_before_bound;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
-- A TRUNCATE of a partition itself fires only the partition's own
-- statement trigger: each partition gets one.
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events_before
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The default partition takes an event of a month that has no partition of
-- its own yet (the portal stopped longer than the months it prepared, or a
-- clock far ahead): the log never refuses an audit row for want of a table.
-- audit_events_ensure_partitions leaves such a month in it.
CREATE TABLE audit_events_later PARTITION OF audit_events DEFAULT;
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events_later
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
SELECT audit_events_copy_grants('audit_events', 'audit_events_later');

-- Creates the monthly (UTC) partitions from the current month to `ahead`
-- months after it that do not exist yet (a month audit_events_before
-- covers is skipped, and so is one whose events are already in the
-- default partition audit_events_later), each with the append-only TRUNCATE trigger (row
-- triggers are cloned from the parent), and gives every partition the
-- parent's grants (so grants given after a partition was made reach it
-- too). Called by the portal at start and hourly; SECURITY DEFINER so the
-- portal needs only EXECUTE, not the right to create tables. Returns how
-- many partitions it created.
-- +goose StatementBegin
CREATE FUNCTION audit_events_ensure_partitions(ahead integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    m       timestamp; -- the month's start, UTC
    name    text;
    before  timestamptz;
    created integer := 0;
    p       record;
BEGIN
    IF ahead IS NULL OR ahead < 0 OR ahead > 36 THEN
        RAISE EXCEPTION 'audit_events_ensure_partitions: ahead must be 0 to 36 months, not %', ahead;
    END IF;
    -- One caller at a time (every replica calls it).
    PERFORM pg_advisory_xact_lock(hashtext('audit_events_ensure_partitions'));
    -- Where the catch-all partition of older rows ends.
    SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']*)''\)')::timestamptz INTO before
      FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
     WHERE h.inhparent = 'audit_events'::regclass AND c.relname = 'audit_events_before';
    FOR i IN 0..ahead LOOP
        m := date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i);
        name := 'audit_events_' || to_char(m, 'YYYY_MM');
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        CONTINUE WHEN before IS NOT NULL AND m AT TIME ZONE 'UTC' < before;
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                           name, m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
        EXCEPTION WHEN check_violation THEN
            -- The default partition already holds events of this month:
            -- they stay there, and so does the rest of the month.
            CONTINUE;
        END;
        EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()', name);
        created := created + 1;
    END LOOP;
    FOR p IN SELECT h.inhrelid::regclass AS part FROM pg_inherits h WHERE h.inhparent = 'audit_events'::regclass LOOP
        PERFORM audit_events_copy_grants('audit_events', p.part);
    END LOOP;
    RETURN created;
END;
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION audit_events_ensure_partitions(integer) FROM PUBLIC;
SELECT audit_events_ensure_partitions(3);

-- +goose Down
-- Back to one table: every row copied out of the partitions (a rollback
-- is rare and the log must stay whole).
-- +goose StatementBegin
DO $$
DECLARE
    defs text[];
    def  text;
    idx  record;
BEGIN
    SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid) ORDER BY c.relname), '{}')
      INTO defs
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = 'audit_events'::regclass AND NOT i.indisprimary;
    ALTER TABLE audit_events RENAME TO audit_events_partitioned;
    FOR idx IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = 'audit_events_partitioned'::regclass LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.relname, left(idx.relname, 50) || '_part');
    END LOOP;
    CREATE TABLE audit_events (LIKE audit_events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    INSERT INTO audit_events SELECT * FROM audit_events_partitioned;
    ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY (seq);
    FOREACH def IN ARRAY defs LOOP
        EXECUTE def;
    END LOOP;
    PERFORM audit_events_copy_grants('audit_events_partitioned', 'audit_events');
    ALTER TABLE audit_events_partitioned DISABLE TRIGGER USER;
    DROP TABLE audit_events_partitioned;
END;
$$;
-- +goose StatementEnd
DROP FUNCTION audit_events_ensure_partitions(integer);
DROP FUNCTION audit_events_copy_grants(regclass, regclass);
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
