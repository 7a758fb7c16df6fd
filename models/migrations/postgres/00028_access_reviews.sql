-- +goose Up
-- Periodic access reviews (models/review.go): one review per period
-- (e.g. 2026-Q4), opened by whichever replica's job gets there first (the
-- unique period makes the others' inserts do nothing), with one row per
-- active or suspended staff member: a snapshot of their access at the
-- opening, which a sysadmin other than the person certifies once.
CREATE TABLE access_reviews (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period        TEXT NOT NULL UNIQUE,
    opened_at     TIMESTAMPTZ NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    closed_at     TIMESTAMPTZ,
    -- The SHA-256 of the first export of the closed review: the evidence
    -- as it was first handed out.
    export_sha256 TEXT NOT NULL DEFAULT ''
);
CREATE TABLE access_review_rows (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    review_id           BIGINT NOT NULL REFERENCES access_reviews (id),
    staff_id            BIGINT NOT NULL REFERENCES staff (id),
    email               TEXT NOT NULL,
    name                TEXT NOT NULL,
    role                TEXT NOT NULL,
    scope               TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    agreement_current   BOOLEAN NOT NULL,
    agreement_version   TEXT NOT NULL DEFAULT '',
    training_at         TIMESTAMPTZ,
    last_sign_in_at     TIMESTAMPTZ,
    last_data_access_at TIMESTAMPTZ,
    unused              BOOLEAN NOT NULL,
    decision            TEXT NOT NULL DEFAULT '' CHECK (decision IN ('', 'keep', 'change', 'offboard')),
    note                TEXT NOT NULL DEFAULT '',
    certified_by        TEXT NOT NULL DEFAULT '',
    certified_at        TIMESTAMPTZ,
    UNIQUE (review_id, staff_id)
);
-- What the review job reads for overdue rows, and the pages for progress.
CREATE INDEX access_review_rows_open ON access_review_rows (review_id, id) WHERE certified_at IS NULL;

-- +goose Down
DROP INDEX access_review_rows_open;
DROP TABLE access_review_rows;
DROP TABLE access_reviews;
