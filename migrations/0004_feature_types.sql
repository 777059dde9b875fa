-- 0004_feature_types
-- Typed features (likert items, categories), survey weights:
--   feature_columns   per run and matrix column: which feature (and category level) it comes from,
--                     and the SQL expression over the source that gives its value. feature_no is
--                     the column's number in feature_stats and centroids; a category feature with
--                     L levels has L columns named "<feature>=<level>".
--   category_shares   per run, segment, category feature and level: rows of the segment with that
--                     level and their share of the segment (weighted too when the run had weights;
--                     level NULL counts rows whose value was NULL under nulls=mean).
--   segments.weighted_size / weighted_share: sum of the members' weights and its share of the
--                     total weight (NULL for segmentations without a weight column).

CREATE TABLE segdb.feature_columns (
    run_id             BIGINT NOT NULL,
    feature_no         INTEGER NOT NULL,  -- matrix column, as feature_stats.feature_no
    column_name        VARCHAR NOT NULL,  -- as feature_stats.feature and the <name>_centroids column
    source_feature_no  INTEGER NOT NULL,  -- 1-based position of the feature in the definition
    source_feature     VARCHAR NOT NULL,
    kind               VARCHAR NOT NULL,  -- numeric | likert | category
    level              VARCHAR,           -- the category level of an indicator column, else NULL
    expression         VARCHAR NOT NULL,  -- SQL over the source: the column's value before scaling
    PRIMARY KEY (run_id, feature_no)
);

CREATE TABLE segdb.category_shares (
    run_id          BIGINT NOT NULL,
    segment_id      INTEGER NOT NULL,
    feature         VARCHAR NOT NULL,
    level           VARCHAR,          -- NULL: the feature was NULL (nulls=mean)
    size            BIGINT NOT NULL,  -- rows of the segment with this level
    share           DOUBLE NOT NULL,  -- size / rows of the segment
    weighted_size   DOUBLE,           -- sum of their weights (NULL without a weight column)
    weighted_share  DOUBLE
);

ALTER TABLE segdb.segments ADD COLUMN weighted_size DOUBLE;

ALTER TABLE segdb.segments ADD COLUMN weighted_share DOUBLE;
