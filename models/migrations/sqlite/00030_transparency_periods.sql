-- +goose Up
-- The periods whose transparency reports are all made (models/transparency.go):
-- a run that finds its period here reads nothing more, where it read the
-- period's events to find the active workspaces at every start and every
-- hour in each replica (2.9 s of PostgreSQL at 10M events). Written only
-- once the period has been over for an hour, so that no event of it can
-- still be committing.
CREATE TABLE transparency_periods (
    period_start DATETIME NOT NULL,
    period_end   DATETIME NOT NULL,
    quiet        BOOLEAN NOT NULL,
    completed_at DATETIME NOT NULL,
    PRIMARY KEY (period_start, period_end, quiet)
);

-- +goose Down
DROP TABLE transparency_periods;
