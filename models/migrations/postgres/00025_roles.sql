-- +goose Up
-- Custom roles: sets of permissions from the catalogue (policy.All) that
-- sysadmins define next to the built-in tiers of policy.csv. A staff
-- member's tier column now holds a built-in tier or one of these names
-- (a name that is neither holds nothing), so its CHECK allows any role
-- name's shape instead of the five tiers. Permissions are stored as
-- sorted, comma-separated "object:action" names
-- (policy.FormatPermissions).
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    scope       TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
ALTER TABLE staff DROP CONSTRAINT staff_tier_check;
ALTER TABLE staff ADD CONSTRAINT staff_tier_check CHECK (tier ~ '^[a-z][a-z0-9-]{2,39}$');

-- +goose Down
-- Fails while anyone holds a custom role: give them a tier first.
ALTER TABLE staff DROP CONSTRAINT staff_tier_check;
ALTER TABLE staff ADD CONSTRAINT staff_tier_check CHECK (tier IN ('engineer', 'support', 'senior', 'sysadmin', 'auditor'));
DROP TABLE roles;
