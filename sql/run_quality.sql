-- run_quality: a run's quality row. Parameters: 1 run_id.
SELECT * FROM segdb.run_quality WHERE run_id = ?;
