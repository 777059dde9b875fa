-- run_profiles: a run's profiles, per segment by rank. Parameters: 1 run_id.
SELECT segment_id, rank, feature_no, feature, label, n_values, mean_raw, z_diff, effect_size
FROM segdb.profiles WHERE run_id = ? ORDER BY segment_id, rank;
