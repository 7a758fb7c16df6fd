-- +goose Up
-- The security epoch: one number every replica reads on each request and
-- that moves, in the same transaction as its audit event, with every
-- change of consequence (every event but views, refusals and the pages
-- shown). A replica uses what it cached of sessions, staff, grants and the
-- registry only while the epoch is the one it read them under, so an end
-- of access made anywhere applies everywhere on the next request.
CREATE TABLE security_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO security_epoch (id, epoch) VALUES (1, 0);

-- +goose Down
DROP TABLE security_epoch;
