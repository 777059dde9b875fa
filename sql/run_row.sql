-- run_row: one run's row, with its ordinal: the run's number within its own segmentation (1 = its
-- first run; run ids are shared by every segmentation). Every run recorded in segdb.runs counts,
-- pruned runs included, so the ordinal never changes. Parameters: 1 run_id.
SELECT *
FROM (SELECT *, row_number() OVER (PARTITION BY segmentation ORDER BY run_id) AS ordinal
      FROM segdb.runs) AS segdb_runs
WHERE run_id = ?;
