-- +goose Up
-- A request, and the grant made from it, states what the customer
-- consents to about personal fields: 'masked' (no field can be revealed),
-- 'reveal' (masked; a single field may be revealed, each time with a
-- recorded reason) or 'unmasked'. The unmask column stays, kept equal to
-- access_mode = 'unmasked'.
ALTER TABLE access_requests ADD COLUMN access_mode TEXT NOT NULL DEFAULT 'masked'
    CHECK (access_mode IN ('masked', 'reveal', 'unmasked'));
ALTER TABLE grants ADD COLUMN access_mode TEXT NOT NULL DEFAULT 'masked'
    CHECK (access_mode IN ('masked', 'reveal', 'unmasked'));
-- Existing rows keep what they allowed until now: unmask meant unmasked;
-- without it fields were masked, yet nothing refused revealing a single
-- field, so they become 'reveal' (not 'masked', which would take away
-- what was granted, nor 'unmasked', which would add to it).
UPDATE access_requests SET access_mode = CASE WHEN unmask THEN 'unmasked' ELSE 'reveal' END;
UPDATE grants SET access_mode = CASE WHEN unmask THEN 'unmasked' ELSE 'reveal' END;

-- +goose Down
ALTER TABLE grants DROP COLUMN access_mode;
ALTER TABLE access_requests DROP COLUMN access_mode;
