-- 0001_initial_schema
-- Creates segdb's core tables in the schema "segdb":
--   segmentations  one row per segmentation: its current definition version and current run
--   definitions    every version of every definition (source, key, features, k, scaling, options)
--   runs           every refresh, whatever its outcome (running / succeeded / failed / abandoned)
--   feature_stats  per run and feature: the SQL statistics used to standardise
--   segments       per run and segment: size, share, within-segment sum of squares, description
--   centroids      per run, segment and feature: the centroid in raw units and in scaled units
-- Per-customer labels live in one table per segmentation, segdb."<name>_labels", created when the
-- segmentation is defined (its key column keeps the source key's type).
-- The ledger segdb.schema_migrations is created by segdb itself before the first migration.

CREATE SEQUENCE segdb.run_id_seq START 1;

CREATE TABLE segdb.segmentations (
    name             VARCHAR PRIMARY KEY,
    created_at       TIMESTAMP NOT NULL,
    current_version  INTEGER NOT NULL,
    current_run_id   BIGINT
);

CREATE TABLE segdb.definitions (
    segmentation  VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    source        VARCHAR NOT NULL,   -- a table name or a SELECT, exactly as given
    source_kind   VARCHAR NOT NULL,   -- 'table' or 'select'
    key_column    VARCHAR NOT NULL,
    key_type      VARCHAR NOT NULL,   -- the key's SQL type at definition time
    features      VARCHAR NOT NULL,   -- JSON list of feature specs: {"name", "type", "label", ...}
    k             INTEGER,            -- NULL when k is chosen automatically
    k_min         INTEGER,
    k_max         INTEGER,
    scale         VARCHAR NOT NULL,   -- zscore | minmax | none
    nulls         VARCHAR NOT NULL,   -- skip | error | mean
    seed          BIGINT NOT NULL,
    n_init        INTEGER NOT NULL,
    max_fit_rows  BIGINT,             -- NULL: fit on every row
    options       VARCHAR NOT NULL DEFAULT '{}',  -- JSON for options added by later versions
    PRIMARY KEY (segmentation, version)
);

CREATE TABLE segdb.runs (
    run_id              BIGINT PRIMARY KEY,
    segmentation        VARCHAR NOT NULL,
    definition_version  INTEGER NOT NULL,
    status              VARCHAR NOT NULL,  -- running | succeeded | failed | abandoned
    triggered_by        VARCHAR,           -- what started it: 'cli', 'api', user@host
    started_at          TIMESTAMP NOT NULL,
    finished_at         TIMESTAMP,
    rows_total          BIGINT,            -- rows in the source
    rows_used           BIGINT,            -- rows that received a label
    rows_skipped        BIGINT,            -- rows left out (NULL features under nulls=skip)
    fit_rows            BIGINT,            -- rows the fit saw (less than rows_used when sampled)
    k                   INTEGER,
    inertia             DOUBLE,            -- within-segment sum of squares, scaled units, all rows used
    seed                BIGINT,
    n_init              INTEGER,
    n_iter              INTEGER,
    package_versions    VARCHAR,           -- JSON
    input_fingerprint   VARCHAR,           -- order-independent hash of keys and features
    stage_seconds       VARCHAR,           -- JSON {stage: seconds}
    error               VARCHAR
);

CREATE TABLE segdb.feature_stats (
    run_id      BIGINT NOT NULL,
    feature_no  INTEGER NOT NULL,  -- 1-based position in the definition
    feature     VARCHAR NOT NULL,
    n_rows      BIGINT NOT NULL,   -- non-NULL values among the source rows
    n_null      BIGINT NOT NULL,
    mean        DOUBLE,            -- over the rows used for the fit
    stddev      DOUBLE,            -- population standard deviation, as scikit-learn's StandardScaler
    min         DOUBLE,
    max         DOUBLE,
    center      DOUBLE NOT NULL,   -- scaled = (raw - center) / scale
    scale       DOUBLE NOT NULL,
    PRIMARY KEY (run_id, feature_no)
);

CREATE TABLE segdb.segments (
    run_id       BIGINT NOT NULL,
    segment_id   INTEGER NOT NULL,
    size         BIGINT NOT NULL,
    share        DOUBLE NOT NULL,
    sse          DOUBLE NOT NULL,   -- within-segment sum of squared distances, scaled units
    rms_radius   DOUBLE NOT NULL,   -- sqrt(sse / size)
    description  VARCHAR,
    PRIMARY KEY (run_id, segment_id)
);

CREATE TABLE segdb.centroids (
    run_id        BIGINT NOT NULL,
    segment_id    INTEGER NOT NULL,
    feature_no    INTEGER NOT NULL,
    value_raw     DOUBLE NOT NULL,
    value_scaled  DOUBLE NOT NULL,
    PRIMARY KEY (run_id, segment_id, feature_no)
);
