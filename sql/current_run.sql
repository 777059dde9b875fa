-- current_run: a segmentation's current run (its newest commit record; no row before its first run).
-- Parameters: 1 segmentation.
SELECT run_id FROM segdb.current_runs WHERE segmentation = ?;
