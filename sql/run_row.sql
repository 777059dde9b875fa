-- run_row: one run's row. Parameters: 1 run_id.
SELECT * FROM segdb.runs WHERE run_id = ?;
