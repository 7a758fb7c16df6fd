-- +goose Up
-- Data views per UTC day and tier, for the dashboards' charts
-- (models.DataViewsPerDay): the detector adds each batch's views in the
-- transaction that moves detection_position, so these rows count exactly
-- the views up to that position and a chart reads 30 days of rows and the
-- few events after it, not a month of the log.
CREATE TABLE audit_view_days (
    day  TEXT NOT NULL,
    tier TEXT NOT NULL,
    n    BIGINT NOT NULL,
    PRIMARY KEY (day, tier)
);
-- The views already evaluated, all of them (an embedded log is small).
INSERT INTO audit_view_days (day, tier, n)
SELECT date(at), actor_tier, COUNT(*)
FROM audit_events
WHERE action = 'data.viewed'
  AND seq <= (SELECT seq FROM detection_position WHERE id = 1)
GROUP BY 1, 2;

-- +goose Down
DROP TABLE audit_view_days;
