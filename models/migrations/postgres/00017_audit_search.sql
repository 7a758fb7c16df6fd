-- +goose Up
-- The audit search's filters each served by an index (models/auditsearch.go).
-- Actor, workspace and action have theirs since 00001/00002, the record
-- with a workspace since 00005 (with audit_events_target of 00007).
--
-- Time: a search with since/until is ordered by (at, seq) and read from
-- this index, so an old "until" reads one page, not the log above it.
CREATE INDEX audit_events_at ON audit_events (at, seq);
-- The events of one break-glass (the break-glass page's link).
CREATE INDEX audit_events_breakglass ON audit_events (breakglass_id, seq) WHERE breakglass_id IS NOT NULL;
-- A workspace's retention history (models.RetentionHistory): a handful of
-- events among the workspace's millions of data views. The action list
-- is models.RetentionActions; the query repeats it as literals, so the
-- planner can prove it matches (TestAuditFilterPlans).
CREATE INDEX audit_events_retention ON audit_events (workspace, seq)
    WHERE action IN ('retention.noticed', 'retention.marked', 'legal_hold.placed', 'legal_hold.lifted',
                     'deletion.requested', 'deletion.shown', 'deletion.confirmed', 'deletion.cancelled',
                     'deletion.expired', 'workspace.deletion_started', 'workspace.deletion_stopped', 'workspace.deleted');

-- +goose Down
DROP INDEX audit_events_retention;
DROP INDEX audit_events_breakglass;
DROP INDEX audit_events_at;
