-- +goose Up
-- Which workspaces a staff member may touch (policy.ParseScope text, such
-- as "region=eu"); '' admits every workspace. Read through
-- models.ScopeOf, never on its own.
ALTER TABLE staff ADD COLUMN scope TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE staff DROP COLUMN scope;
