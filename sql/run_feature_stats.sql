-- run_feature_stats: the statistics a run standardised with. Parameters: 1 run_id.
SELECT feature_no, feature, n_rows, n_null, mean, stddev, min, max, center, scale
FROM segdb.feature_stats WHERE run_id = ? ORDER BY feature_no;
