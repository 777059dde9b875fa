-- set_current_run: the mirror segdb.segmentations.current_run_id of the newest commit record
-- (migration 0005); segdb reads segdb.current_runs, never this column.
-- Parameters: 1 run_id, 2 segmentation name.
UPDATE segdb.segmentations SET current_run_id = ? WHERE name = ?;
