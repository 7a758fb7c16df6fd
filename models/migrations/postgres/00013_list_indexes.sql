-- +goose Up
-- Keyset orders of /requests and /staff (models.RequestSorts, StaffSorts):
-- each sort column with the id that breaks its ties.
CREATE INDEX access_requests_ticket ON access_requests (ticket, id);
CREATE INDEX staff_name ON staff (name, id);
CREATE INDEX staff_tier ON staff (tier, id);

-- +goose Down
DROP INDEX staff_tier;
DROP INDEX staff_name;
DROP INDEX access_requests_ticket;
