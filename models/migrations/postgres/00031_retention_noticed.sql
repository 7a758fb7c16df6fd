-- +goose Up
-- The retention job and its census read the notices sent in the last
-- FreeNotice days (models.readIdle) each hour: through this index that is
-- O(those notices), where the table keeps a row for every workspace ever
-- noticed.
CREATE INDEX retention_noticed ON retention (noticed_at);

-- +goose Down
DROP INDEX retention_noticed;
