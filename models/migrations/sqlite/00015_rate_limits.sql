-- +goose Up
-- The per-address budgets (failed link and sign-in attempts, recorded
-- views of customer links), counted here so that every replica spends the
-- same one. A row is one budget's current fixed window for one client
-- address, stored as is (the audit log holds the same addresses); rows
-- whose window has ended are deleted as new windows start.
CREATE TABLE rate_limits (
    limiter      TEXT NOT NULL,
    client       TEXT NOT NULL,
    window_start DATETIME NOT NULL,
    hits         INTEGER NOT NULL CHECK (hits >= 0),
    PRIMARY KEY (limiter, client)
);
CREATE INDEX rate_limits_window ON rate_limits (limiter, window_start);

-- +goose Down
DROP TABLE rate_limits;
