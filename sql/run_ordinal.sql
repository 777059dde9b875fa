-- run_ordinal: a run's number within its own segmentation (1 = its first run), as in run_row.
-- Parameters: 1 run_id.
SELECT ordinal
FROM (SELECT run_id, row_number() OVER (PARTITION BY segmentation ORDER BY run_id) AS ordinal
      FROM segdb.runs) AS segdb_runs
WHERE run_id = ?;
