-- insert_feature_stats: one row per run and feature (see migrations/0001 for the columns).
-- Parameters: run_id, feature_no, feature, n_rows, n_null, mean, stddev, min, max, center, scale.
INSERT INTO segdb.feature_stats
    (run_id, feature_no, feature, n_rows, n_null, mean, stddev, min, max, center, scale)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);
