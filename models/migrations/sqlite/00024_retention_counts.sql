-- +goose Up
-- The retention queue's counts of the states that need every notice
-- retention sent (first notice due, noticed, marking due) and of the
-- active workspaces (most of the registry): counted by the retention job
-- at the end of each run (models.RetentionJob), so the queue reads ten
-- rows instead of evaluating tens of thousands of notices on each view.
-- The active count is the registry's size (PostgreSQL's estimate on a
-- large registry) less the other states.
CREATE TABLE retention_counts (
    state      TEXT PRIMARY KEY,
    n          BIGINT NOT NULL,
    about      BOOLEAN NOT NULL, -- n is an estimate
    counted_at DATETIME NOT NULL
);
-- What the queue reads of the retention table on each view: the rows
-- that are more than a plain first notice (models.RetentionClasses).
CREATE INDEX retention_acted ON retention (slug)
    WHERE NOT (noticed_at IS NOT NULL AND marked_at IS NULL AND second_noticed_at IS NULL AND deleted_at IS NULL AND deletion_started_at IS NULL);

-- +goose Down
DROP INDEX retention_acted;
DROP TABLE retention_counts;
