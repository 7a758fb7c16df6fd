-- +goose NO TRANSACTION
-- +goose Up
-- Custom roles: sets of permissions from the catalogue (policy.All) that
-- sysadmins define next to the built-in tiers of policy.csv. A staff
-- member's tier column now holds a built-in tier or one of these names
-- (a name that is neither holds nothing), so its CHECK allows any role
-- name's shape instead of the five tiers. SQLite cannot drop a CHECK: the
-- staff table is rebuilt (SQLite's documented procedure, with foreign
-- keys off on the one write connection and all of it in one transaction).
-- Permissions are stored as sorted, comma-separated "object:action"
-- names (policy.FormatPermissions).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE staff_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    tier                TEXT NOT NULL CHECK (tier GLOB '[a-z]*' AND NOT tier GLOB '*[^a-z0-9-]*' AND length(tier) BETWEEN 3 AND 40),
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'offboarded')),
    oidc_issuer         TEXT,
    oidc_subject        TEXT,
    agreement_version   TEXT NOT NULL DEFAULT '',
    agreement_signed_at DATETIME,
    training_at         DATETIME,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL,
    offboarded_at       DATETIME,
    UNIQUE (oidc_issuer, oidc_subject)
);
INSERT INTO staff_new SELECT * FROM staff;
DROP TABLE staff;
ALTER TABLE staff_new RENAME TO staff;
CREATE INDEX staff_name ON staff (name, id);
CREATE INDEX staff_tier ON staff (tier, id);
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    scope       TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);
COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
-- Fails while anyone holds a custom role: give them a tier first.
PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE roles;
CREATE TABLE staff_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    tier                TEXT NOT NULL CHECK (tier IN ('engineer', 'support', 'senior', 'sysadmin', 'auditor')),
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'offboarded')),
    oidc_issuer         TEXT,
    oidc_subject        TEXT,
    agreement_version   TEXT NOT NULL DEFAULT '',
    agreement_signed_at DATETIME,
    training_at         DATETIME,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL,
    offboarded_at       DATETIME,
    UNIQUE (oidc_issuer, oidc_subject)
);
INSERT INTO staff_new SELECT * FROM staff;
DROP TABLE staff;
ALTER TABLE staff_new RENAME TO staff;
CREATE INDEX staff_name ON staff (name, id);
CREATE INDEX staff_tier ON staff (tier, id);
COMMIT;
PRAGMA foreign_keys = ON;
