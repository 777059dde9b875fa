-- set_current_run: make a run the one the <name>_segments / <name>_centroids views show.
-- Parameters: 1 run_id, 2 segmentation name.
UPDATE segdb.segmentations SET current_run_id = ? WHERE name = ?;
