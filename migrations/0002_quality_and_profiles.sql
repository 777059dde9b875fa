-- 0002_quality_and_profiles
-- Adds the answers to "how many segments, are they any good, what makes each one different",
-- all keyed by run_id so every run keeps its own:
--   k_scan           per run and k (k=1 included for the elbow): inertia and quality of a k-means
--                    fit at that k on the scan sample; stored for k=auto runs and `refresh --scan`
--   run_quality      per run: how k was chosen (rule and reason in words), silhouette,
--                    Calinski-Harabasz, Davies-Bouldin, bootstrap stability, a plain-words verdict
--   segment_quality  per run and segment: silhouette of its members, bootstrap stability (Jaccard)
--   profiles         per run, segment and feature: raw mean, difference from the population mean
--                    in population standard deviations, Cohen's d against the rest, its rank

CREATE TABLE segdb.k_scan (
    run_id                   BIGINT NOT NULL,
    k                        INTEGER NOT NULL,
    inertia                  DOUBLE NOT NULL,  -- within-cluster sum of squares on the scan rows, scaled units
    silhouette               DOUBLE,           -- NULL for k=1
    calinski_harabasz        DOUBLE,           -- NULL for k=1
    davies_bouldin           DOUBLE,           -- NULL for k=1
    seconds                  DOUBLE NOT NULL,  -- fit and metrics at this k
    scan_rows                BIGINT NOT NULL,  -- rows the fit at this k saw (a seeded sample beyond the cap)
    silhouette_sample_size   BIGINT,           -- rows the silhouette was computed on
    PRIMARY KEY (run_id, k)
);

CREATE TABLE segdb.run_quality (
    run_id                   BIGINT PRIMARY KEY,
    k                        INTEGER NOT NULL,
    k_rule                   VARCHAR NOT NULL,  -- fixed | knee+silhouette | knee | silhouette
    k_reason                 VARCHAR NOT NULL,  -- one sentence: why this k
    k_min                    INTEGER,           -- scanned range (NULL when no scan was stored)
    k_max                    INTEGER,
    silhouette               DOUBLE,            -- mean silhouette, exact or on a seeded sample
    silhouette_sample_size   BIGINT,
    calinski_harabasz        DOUBLE,            -- on every row used
    davies_bouldin           DOUBLE,            -- on every row used
    stability_ari            DOUBLE,            -- mean adjusted Rand index, run vs bootstrap refits
    stability_ari_min        DOUBLE,
    stability_bootstraps     INTEGER,           -- refits that entered the mean
    stability_sample_size    BIGINT,            -- rows the refits were fitted and compared on
    verdict                  VARCHAR NOT NULL,  -- plain words: strong | reasonable | weak | no structure ...
    seconds                  DOUBLE NOT NULL
);

CREATE TABLE segdb.segment_quality (
    run_id          BIGINT NOT NULL,
    segment_id      INTEGER NOT NULL,
    silhouette      DOUBLE,   -- mean silhouette of the segment's rows in the silhouette sample
    silhouette_rows BIGINT,   -- how many of its rows were in that sample
    stability       DOUBLE,   -- mean Jaccard with the best-matching cluster of each bootstrap refit
    PRIMARY KEY (run_id, segment_id)
);

CREATE TABLE segdb.profiles (
    run_id       BIGINT NOT NULL,
    segment_id   INTEGER NOT NULL,
    feature_no   INTEGER NOT NULL,
    feature      VARCHAR NOT NULL,
    label        VARCHAR NOT NULL,  -- the feature's label, defaulting to its column name
    n_values     BIGINT NOT NULL,   -- the segment's non-NULL values of the feature
    mean_raw     DOUBLE,            -- the segment's mean in source units
    z_diff       DOUBLE,            -- (segment mean - population mean) / population sd
    effect_size  DOUBLE,            -- Cohen's d: (segment mean - rest mean) / pooled sample sd
    rank         INTEGER NOT NULL,  -- 1 = the feature that separates this segment most (|d|)
    PRIMARY KEY (run_id, segment_id, feature_no)
);
