-- insert_run_rules: a run's rule tree figures (inside the write-back transaction).
-- Parameters: 1 run_id  2 max_depth  3 leaves  4 sample_rows  5 fidelity  6 seconds
INSERT INTO segdb.run_rules (run_id, max_depth, leaves, sample_rows, fidelity, seconds)
VALUES (?, ?, ?, ?, ?, ?);
