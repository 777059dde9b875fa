-- 0003_living_segments
-- Living segments: stable segment ids across refreshes, segment names, transitions between runs,
-- drift checks, rollback and pruning.
--   segment_ids      ledger of every segment id a segmentation ever used (ids are never reused),
--                    with the segment's name, the run that introduced it and the run that retired it
--   segment_matches  per run and segment: which segment of the previous run it continues, and at what
--                    cost (Euclidean distance between the two centroids in source units)
--   transitions      per run: how many customers moved from each previous segment to each new one
--                    (from NULL = new customer, to NULL = gone customer)
--   drift_checks     one row per `segdb drift` check; drift_features its per-feature figures
--   rollbacks        every `segdb rollback`: who made which run current again, when
--   runs.pruned_at   set by `segdb prune` when a run's data rows were deleted (the run row stays)

CREATE TABLE segdb.segment_ids (
    segmentation    VARCHAR NOT NULL,
    segment_id      INTEGER NOT NULL,
    name            VARCHAR,            -- set by `segdb name`; follows the id through refreshes
    first_run_id    BIGINT NOT NULL,    -- the run that introduced the id
    retired_run_id  BIGINT,             -- the run that became current without it; NULL while in use
    named_at        TIMESTAMP,
    PRIMARY KEY (segmentation, segment_id)
);

CREATE TABLE segdb.segment_matches (
    run_id                  BIGINT NOT NULL,
    previous_run_id         BIGINT,     -- the run that was current when this one was written
    segment_id              INTEGER NOT NULL,
    matched_from_segment_id INTEGER,    -- NULL: a fresh id (first run, or no previous segment left)
    match_cost              DOUBLE,     -- distance between the two centroids, source units
    PRIMARY KEY (run_id, segment_id)
);

CREATE TABLE segdb.transitions (
    run_id           BIGINT NOT NULL,
    previous_run_id  BIGINT,            -- NULL for a segmentation's first run
    from_segment_id  INTEGER,           -- NULL: the customer is new in this run
    to_segment_id    INTEGER,           -- NULL: the customer is gone from this run
    customers        BIGINT NOT NULL
);

CREATE SEQUENCE segdb.drift_check_id_seq START 1;

CREATE TABLE segdb.drift_checks (
    check_id                  BIGINT PRIMARY KEY,
    segmentation              VARCHAR NOT NULL,
    run_id                    BIGINT NOT NULL,   -- the run the source was compared with
    checked_at                TIMESTAMP NOT NULL,
    triggered_by              VARCHAR,
    customers_run             BIGINT NOT NULL,   -- customers labelled by the run
    customers_now             BIGINT NOT NULL,   -- source rows that could be labelled now
    customers_new             BIGINT NOT NULL,   -- now, but not in the run
    customers_gone            BIGINT NOT NULL,   -- in the run, not in the source any more
    customers_changed         BIGINT NOT NULL,   -- in both, nearest centroid now differs from the label
    new_share                 DOUBLE,            -- customers_new / customers_now
    gone_share                DOUBLE,            -- customers_gone / customers_run
    changed_share             DOUBLE,            -- customers_changed / customers in both
    inertia_per_customer_fit  DOUBLE,            -- runs.inertia / runs.rows_used, scaled units
    inertia_per_customer_now  DOUBLE,            -- mean squared distance to the nearest centroid now
    inertia_ratio             DOUBLE,            -- now / fit
    max_mean_shift            DOUBLE,            -- largest |mean now - mean run| / sd run over features
    max_sd_change             DOUBLE,            -- largest |sd now - sd run| / sd run over features
    thresholds                VARCHAR NOT NULL,  -- JSON: the rule's limits used by this check
    refresh_advised           BOOLEAN NOT NULL,
    reasons                   VARCHAR            -- which limits were exceeded, '; '-separated
);

CREATE TABLE segdb.drift_features (
    check_id    BIGINT NOT NULL,
    feature_no  INTEGER NOT NULL,
    feature     VARCHAR NOT NULL,
    mean_run    DOUBLE,
    mean_now    DOUBLE,
    sd_run      DOUBLE,
    sd_now      DOUBLE,
    mean_shift  DOUBLE,   -- (mean now - mean run) / sd run
    sd_change   DOUBLE,   -- (sd now - sd run) / sd run
    PRIMARY KEY (check_id, feature_no)
);

CREATE TABLE segdb.rollbacks (
    segmentation   VARCHAR NOT NULL,
    rolled_back_at TIMESTAMP NOT NULL,
    from_run_id    BIGINT NOT NULL,
    to_run_id      BIGINT NOT NULL,
    triggered_by   VARCHAR
);

ALTER TABLE segdb.runs ADD COLUMN pruned_at TIMESTAMP;
