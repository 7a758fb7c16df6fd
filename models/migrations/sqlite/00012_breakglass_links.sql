-- +goose Up
-- A workspace owner's link to an opened break-glass: it shows them the
-- access and what was viewed under it, and lets them end it. Only the
-- SHA-256 of the link's token is stored, as for consent links; the link
-- is valid until 30 days after the break-glass ended.
CREATE TABLE breakglass_links (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    breakglass_id INTEGER NOT NULL REFERENCES breakglass (id),
    recipient     TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    DATETIME NOT NULL
);
CREATE INDEX breakglass_links_breakglass ON breakglass_links (breakglass_id);

-- +goose Down
DROP TABLE breakglass_links;
