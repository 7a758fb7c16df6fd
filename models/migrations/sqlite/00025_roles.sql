-- +goose Up
-- Custom roles: sets of permissions from the catalogue (policy.All) that
-- sysadmins define next to the built-in tiers of policy.csv. A staff
-- member's tier column holds a built-in tier or one of these names; a
-- name that is neither holds nothing. Permissions are stored as sorted,
-- comma-separated "object:action" names (policy.FormatPermissions).
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

-- +goose Down
DROP TABLE roles;
