-- run_centroids: one run's centroids, long form, with the feature names and statistics.
-- Parameters: 1 run_id.
SELECT c.segment_id, c.feature_no, f.feature, c.value_raw, c.value_scaled,
       (c.value_raw - f.mean) / nullif(f.stddev, 0) AS z_vs_population
FROM segdb.centroids AS c
JOIN segdb.feature_stats AS f ON f.run_id = c.run_id AND f.feature_no = c.feature_no
WHERE c.run_id = ?
ORDER BY c.segment_id, c.feature_no;
