-- +goose Up
-- A deletion records its intent before it removes anything: this is set,
-- with a workspace.deletion_started event, in a transaction of its own,
-- and cleared when the deletion is recorded (or recorded as stopped). One
-- left set means the portal or a database failed in the middle; the
-- retention job settles it by what is left of the data.
ALTER TABLE retention ADD COLUMN deletion_started_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE retention DROP COLUMN deletion_started_at;
