-- insert_centroid: one row per run, segment and feature.
-- Parameters: run_id, segment_id, feature_no, value_raw, value_scaled.
INSERT INTO segdb.centroids (run_id, segment_id, feature_no, value_raw, value_scaled)
VALUES (?, ?, ?, ?, ?);
