-- run_rules: a run's rule tree figures (no row for a run without rules). Parameters: 1 run_id.
SELECT run_id, max_depth, leaves, sample_rows, fidelity, seconds
FROM segdb.run_rules
WHERE run_id = ?;
